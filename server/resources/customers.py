"""What a customer does with the token it got when opening a query: follow, cancel, rate.

The token travels in the `X-Customer-Token` header. Without the header the answer is 401;
with a token that does not belong to the query it is 404, so query ids cannot be probed.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from models.base import format_timestamp
from models.company_users import CompanyUser
from models.queries import Query, QueryQueue, Rating
from models.users import User
from server import auth, query_actions, self_management
from server.api import Ctx, api
from server.conventions import path_id
from server.errors import Forbidden, Unauthenticated, not_found
from server.fields import Text

log = logging.getLogger("connectnow.customers")
HEADER = "X-Customer-Token"
PACE_SAMPLE = 20


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: Text | None = None


class CustomerViewOut(BaseModel):
    id: int
    queue_id: int
    status: str
    place_in_line: int | None
    estimated_wait_seconds: int | None
    answered_by_name: str | None
    is_rated: bool
    created_at: str
    answered_at: str | None
    done_at: str | None
    ended_at: str | None


class CustomerRatingOut(BaseModel):
    id: int
    query_id: int
    score: int
    comment: str | None
    created_at: str


TOKEN_HEADER = {
    "name": HEADER,
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "The customer_token returned when the query was opened.",
}


async def own_query(ctx: Ctx) -> Query:
    """The query the customer token belongs to; 401 without a token, 404 for a wrong one."""
    query_id = path_id(ctx, "query_id", "query")
    secret = ctx.request.headers.get(HEADER)
    if not secret:
        raise Unauthenticated(f"Send the query's customer token in the {HEADER} header.")
    async with ctx.services.db.session() as session:
        query = await session.get(Query, query_id)
    if query is None or not hmac.compare_digest(query.customer_token_hash, auth.digest(secret)):
        raise not_found("query")
    ctx.customer_token = secret
    return query


async def place_in_line(session: Any, query: Query) -> int:
    """1 for the oldest waiting query of its queue; order is by creation, as served."""
    ahead = await session.execute(
        select(func.count())
        .select_from(Query)
        .where(
            col(Query.queue_id) == query.queue_id,
            col(Query.status) == "waiting",
            or_(
                col(Query.created_at) < query.created_at,
                and_(col(Query.created_at) == query.created_at, col(Query.id) < query.id),
            ),
        )
    )
    return int(ahead.scalar_one()) + 1


async def seconds_between_answers(session: Any, queue_id: int) -> float | None:
    """The queue's recent pace: the mean gap between its last 20 answers (None below 2)."""
    times = list(
        (
            await session.execute(
                select(col(QueryQueue.answered_at))
                .where(
                    col(QueryQueue.queue_id) == queue_id,
                    col(QueryQueue.answered_at).is_not(None),
                )
                .order_by(col(QueryQueue.answered_at).desc())
                .limit(PACE_SAMPLE)
            )
        ).scalars()
    )
    if len(times) < 2:
        return None
    newest: datetime = times[0]
    oldest: datetime = times[-1]
    return (newest - oldest).total_seconds() / (len(times) - 1)


async def answerer_first_name(session: Any, company_user_id: int | None) -> str | None:
    if company_user_id is None:
        return None
    name = await session.execute(
        select(col(User.name))
        .join(CompanyUser, col(CompanyUser.user_id) == col(User.id))
        .where(col(CompanyUser.id) == company_user_id)
    )
    found = name.scalar_one_or_none()
    return None if found is None else str(found).split(" ")[0]


async def customer_view(session: Any, query: Query) -> dict[str, Any]:
    """What the customer sees: status, place in line and estimated wait, who answered.

    The estimate is the place in line times the queue's recent pace (the mean gap between
    its last 20 answers); null while the queue has fewer than 2 answers to go by.
    """
    place = wait = None
    if query.status == "waiting":
        place = await place_in_line(session, query)
        pace = await seconds_between_answers(session, query.queue_id)
        wait = None if pace is None else round(place * pace)
    answered = query.status in {"ongoing", "done"}
    rated = await session.execute(select(col(Rating.id)).where(col(Rating.query_id) == query.id))
    return {
        "id": query.id,
        "queue_id": query.queue_id,
        "status": query.status,
        "place_in_line": place,
        "estimated_wait_seconds": wait,
        "answered_by_name": await answerer_first_name(session, query.holder_company_user_id)
        if answered
        else None,
        "is_rated": rated.first() is not None,
        "created_at": format_timestamp(query.created_at),
        "answered_at": format_timestamp(query.answered_at),
        "done_at": format_timestamp(query.done_at),
        "ended_at": format_timestamp(query.ended_at),
    }


@api.route(
    "GET",
    "/api/queries/{query_id}/customer",
    summary="The customer's view of its query: status, place in line, who answered",
    tag="customers",
    response=CustomerViewOut,
    auth="public",
    params=(TOKEN_HEADER,),
    errors=(401, 404),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    query = await own_query(ctx)
    async with ctx.services.db.session() as session:
        return await customer_view(session, query)


@api.route(
    "POST",
    "/api/queries/{query_id}/cancel",
    summary="The customer cancels its query while it waits",
    tag="customers",
    response=CustomerViewOut,
    auth="public",
    params=(TOKEN_HEADER,),
    errors=(401, 403, 404),
)
async def cancel(ctx: Ctx) -> dict[str, Any]:
    query = await own_query(ctx)
    assert query.id is not None
    try:
        await query_actions.cancel(ctx.services.db, query.id, now=ctx.services.clock.now())
    except query_actions.Refused as exc:
        raise Forbidden(str(exc)) from exc
    log.info("query.cancelled query=%s", query.id)
    await ctx.services.hooks.query_cancelled(query.id)
    async with ctx.services.db.session() as session:
        stored = await session.get(Query, query.id)
        assert stored is not None
        return await customer_view(session, stored)


@api.route(
    "POST",
    "/api/queries/{query_id}/rating",
    summary="The customer rates its done query, once",
    tag="customers",
    body=RatingIn,
    response=CustomerRatingOut,
    status=201,
    auth="public",
    params=(TOKEN_HEADER,),
    errors=(401, 403, 404, 422),
)
async def rate(ctx: Ctx) -> dict[str, Any]:
    query = await own_query(ctx)
    body: RatingIn = ctx.body
    if query.status != "done" or query.holder_company_user_id is None:
        raise Forbidden("Only a done query can be rated.")
    now = ctx.services.clock.now()
    assert query.id is not None
    rating = Rating(
        query_id=query.id,
        company_id=query.company_id,
        company_user_id=query.holder_company_user_id,
        queue_id=query.queue_id,
        score=body.score,
        comment=body.comment,
        created_at=now,
        updated_at=now,
    )
    try:
        async with ctx.services.db.write() as session:
            taken = await session.execute(
                select(col(Rating.id)).where(col(Rating.query_id) == query.id)
            )
            if taken.first() is not None:
                raise Forbidden("This query has already been rated.")
            session.add(rating)
    except IntegrityError as exc:
        raise Forbidden("This query has already been rated.") from exc
    log.info("query.rated query=%s company_user=%s", query.id, rating.company_user_id)
    await _self_manage(ctx, rating.company_user_id, now)
    return {
        "id": rating.id,
        "query_id": rating.query_id,
        "score": rating.score,
        "comment": rating.comment,
        "created_at": format_timestamp(rating.created_at),
    }


async def _self_manage(ctx: Ctx, company_user_id: int, now: datetime) -> None:
    changes = await self_management.review(ctx.services.db, company_user_id, now=now)
    if changes:
        await ctx.services.hooks.company_user_changed(company_user_id)

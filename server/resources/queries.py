"""Queries: customers open them; members list, read, answer, finish and transfer them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from models.base import format_timestamp, table_of
from models.companies import Company
from models.company_users import CompanyUser, CompanyUserState
from models.public import query_public as public
from models.queries import Query, QueryCompanyUser, QueryNote, QueryQueue
from models.queues import Queue
from server import auth, hours, query_actions
from server.access import membership, require, visible_company_ids
from server.api import Ctx, api
from server.conventions import (
    Relation,
    Resource,
    Scope,
    expand,
    list_response,
    one_response,
    parse_expansion,
    path_id,
    register,
)
from server.errors import Forbidden, invalid, not_found
from server.fields import Bool, Email, Id, Name, Text
from server.loaders import children, parent, through

log = logging.getLogger("connectnow.queries")
LINK_SCHEMES = ("http", "https", "mailto", "tel")


def _no_whitespace(value: str) -> str:
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Source = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_no_whitespace)]


def _is_link(source: str) -> bool:
    parsed = urlparse(source)
    if parsed.scheme in {"http", "https"}:
        return bool(parsed.netloc)
    return parsed.scheme in {"mailto", "tel"} and bool(parsed.path)


class QueryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Source
    email: Email
    is_link: Bool = True
    name: Name
    surname: Text | None = None
    queue_id: Id
    password: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _source_is_a_link(self) -> QueryCreate:
        if self.is_link and not _is_link(self.source):
            raise ValueError(
                "source must be an http, https, mailto or tel URL when is_link is true"
            )
        return self


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_id: Id


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_user_id: Id | None = None


class QueryOut(BaseModel):
    id: int
    company_id: int
    queue_id: int
    source: str
    is_link: bool
    email: str
    name: str
    surname: str | None
    status: str
    holder_company_user_id: int | None
    created_at: str
    updated_at: str
    answered_at: str | None
    done_at: str | None
    ended_at: str | None


class QueryCreatedOut(QueryOut):
    customer_token: str


class QueryQueueOut(BaseModel):
    id: int
    query_id: int
    queue_id: int
    entered_at: str
    answered_at: str | None
    answered_by: int | None
    left_at: str | None


def stay(row: QueryQueue) -> dict[str, Any]:
    return {
        "id": row.id,
        "query_id": row.query_id,
        "queue_id": row.queue_id,
        "entered_at": format_timestamp(row.entered_at),
        "answered_at": format_timestamp(row.answered_at),
        "answered_by": row.answered_by,
        "left_at": format_timestamp(row.left_at),
    }


async def _latest_stays(session: Any, parents: list[Any]) -> dict[int, Any]:
    grouped = await children(QueryQueue, "query_id")(session, parents)
    return {query_id: rows[-1] for query_id, rows in grouped.items() if rows}


async def _answerers(session: Any, parents: list[Any]) -> dict[int, Any]:
    """Each company user that answered a query once, even if it answered it again later."""
    grouped = await through(QueryCompanyUser, "query_id", "company_user_id", CompanyUser)(
        session, parents
    )
    return {query_id: list({m.id: m for m in rows}.values()) for query_id, rows in grouped.items()}


def _answered_by(stmt: Select[Any], value: str, ctx: Ctx) -> Select[Any]:
    answered = select(col(QueryCompanyUser.query_id)).where(
        col(QueryCompanyUser.company_user_id) == int(value)
    )
    return stmt.where(col(Query.id).in_(answered))


class _StayColumns:
    """Stays have no `created_at`: `before`, `after` and `latest` go by `entered_at`."""

    id = col(QueryQueue.id)
    created_at = col(QueryQueue.entered_at)


QUERY_QUEUES = register(
    Resource(
        name="query_queues",
        model=_StayColumns,
        serialize=stay,
        relations={"queue": Relation("queues", parent(Queue, "queue_id"), many=False)},
    )
)
QUERIES = register(
    Resource(
        name="queries",
        model=Query,
        serialize=public,
        relations={
            "companyUsers": Relation("company_users", _answerers),
            "queues": Relation("query_queues", children(QueryQueue, "query_id")),
            "latestQueue": Relation("query_queues", _latest_stays, many=False),
            "notes": Relation("query_notes", children(QueryNote, "query_id")),
        },
        scopes={
            "completed": Scope(lambda stmt, ctx: stmt.where(col(Query.status) == "done")),
            "ongoing": Scope(lambda stmt, ctx: stmt.where(col(Query.status) == "ongoing")),
            "waiting": Scope(lambda stmt, ctx: stmt.where(col(Query.status) == "waiting")),
            "company_id": Scope(
                lambda stmt, value, ctx: stmt.where(col(Query.company_id) == int(value)),
                takes_value=True,
            ),
            "company_user_id": Scope(_answered_by, takes_value=True),
        },
    )
)


async def find(ctx: Ctx, query_id: int) -> Query:
    """A query of a company the caller belongs to, else 404."""
    query = await query_actions.read_query(ctx.services.db, query_id)
    if query is None or await membership(ctx, query.company_id) is None:
        raise not_found("query")
    return query


async def reload(ctx: Ctx, query_id: int) -> dict[str, Any]:
    async with ctx.services.db.session() as session:
        query = await session.get(Query, query_id)
        assert query is not None
        return await one_response(ctx, QUERIES, query, session)


async def respond(ctx: Ctx, query: Query) -> dict[str, Any]:
    """The body `reload` gives, from a query already in hand: it reads only what `with` and
    `withCount` ask for."""
    expansion = parse_expansion(ctx, QUERIES)
    if not expansion.tree and not expansion.counts:
        return public(query)
    async with ctx.services.db.session() as session:
        return (await expand(session, QUERIES, [query], expansion))[0]


@dataclass(frozen=True)
class OpenQueue:
    """What opening a query needs of its queue."""

    id: int
    company_id: int
    password_hash: str | None


_queues = table_of(Queue)
_companies = table_of(Company)
# Built once: every opened query reads it.
_OPEN_QUEUE = (
    select(_queues.c.id, _queues.c.company_id, _queues.c.password_hash)
    .join(_companies, _companies.c.id == _queues.c.company_id)
    .where(
        _queues.c.id == bindparam("b_queue_id"),
        _queues.c.deleted_at.is_(None),
        _queues.c.is_active.is_(True),
        _companies.c.deleted_at.is_(None),
    )
)


async def _open_queue(conn: AsyncConnection, queue_id: int) -> OpenQueue:
    """A queue customers may open queries on; anything else is a 422 on queue_id."""
    row = (await conn.execute(_OPEN_QUEUE, {"b_queue_id": queue_id})).first()
    if row is None:
        raise invalid("queue_id", "The queue_id field must name an active queue.")
    return OpenQueue(row.id, row.company_id, row.password_hash)


def _check_password(queue: OpenQueue, password: str | None) -> None:
    if queue.password_hash is None:
        return
    if not password:
        raise Forbidden("This queue needs a password: send it in the password field.")
    if not auth.verify_password(queue.password_hash, password):
        raise Forbidden("The password for this queue is wrong.")


@api.route(
    "POST",
    "/api/queries",
    summary="Open a query on a queue (customers; no account needed)",
    tag="queries",
    body=QueryCreate,
    response=QueryCreatedOut,
    status=201,
    auth="public",
    errors=(403, 422),
)
async def create(ctx: Ctx) -> dict[str, Any]:
    body: QueryCreate = ctx.body
    now = ctx.services.clock.now()
    async with ctx.services.db.read() as conn:
        queue = await _open_queue(conn, body.queue_id)
        status = await hours.queue_status(conn, queue, now)
    _check_password(queue, body.password)
    if not status.is_open:
        raise Forbidden(
            "This queue is closed now; open the query when it opens.",
            opens_at=format_timestamp(status.opens_at),
        )
    secret = auth.new_secret()
    new = query_actions.NewQuery(
        company_id=queue.company_id,
        queue_id=queue.id,
        source=body.source,
        is_link=body.is_link,
        email=body.email,
        name=body.name,
        surname=body.surname,
        customer_token_hash=auth.digest(secret),
    )
    stored = await query_actions.open_query(ctx.services.db, new, now=now)
    assert stored.id is not None
    log.info("query.opened query=%s queue=%s company=%s", stored.id, queue.id, queue.company_id)
    await ctx.services.hooks.query_opened(stored.id, stored.company_id)
    return {**public(stored), "customer_token": secret}


@api.route(
    "GET",
    "/api/queries",
    summary="The queries of the caller's companies",
    tag="queries",
    response=list[QueryOut],
    errors=(422,),
)
async def index(ctx: Ctx) -> Any:
    stmt = select(Query)
    companies = await visible_company_ids(ctx)
    if companies is not None:
        stmt = stmt.where(col(Query.company_id).in_(companies))
    async with ctx.services.db.session() as session:
        return await list_response(ctx, QUERIES, stmt, session)


@api.route(
    "GET",
    "/api/queries/{query_id}",
    summary="One query",
    tag="queries",
    response=QueryOut,
    errors=(404, 422),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    query = await find(ctx, path_id(ctx, "query_id", "query"))
    async with ctx.services.db.session() as session:
        return await one_response(ctx, QUERIES, query, session)


@api.route(
    "GET",
    "/api/queries/{query_id}/queues",
    summary="Where a query has waited: one entry per stay on a queue",
    tag="queries",
    response=list[QueryQueueOut],
    errors=(404, 422),
)
async def stays(ctx: Ctx) -> Any:
    query = await find(ctx, path_id(ctx, "query_id", "query"))
    stmt = select(QueryQueue).where(col(QueryQueue.query_id) == query.id)
    async with ctx.services.db.session() as session:
        return await list_response(ctx, QUERY_QUEUES, stmt, session)


async def _acting_member(ctx: Ctx, company_id: int, chosen: int | None) -> int:
    """The caller's company user in the company, or the one it names if that is the caller's."""
    own = await membership(ctx, company_id)
    if chosen is None:
        if own is None or own.company_user_id is None:
            raise Forbidden("You need a company user in this query's company to do this.")
        return own.company_user_id
    async with ctx.services.db.session() as session:
        member = await session.get(CompanyUser, chosen)
    if member is None or member.company_id != company_id or member.removed_at is not None:
        raise invalid(
            "company_user_id",
            "The company_user_id field must name a company user of this query's company.",
        )
    if member.user_id != ctx.user_id:
        raise Forbidden("You may only act as your own company user.")
    return chosen


@api.route(
    "POST",
    "/api/queries/{query_id}/answer",
    summary="Answer a waiting query offered to you",
    tag="queries",
    body=AnswerIn,
    response=QueryOut,
    errors=(403, 404, 422),
)
async def answer(ctx: Ctx) -> dict[str, Any]:
    query = await find(ctx, path_id(ctx, "query_id", "query"))
    assert query.id is not None
    body: AnswerIn = ctx.body
    member_id = await _acting_member(ctx, query.company_id, body.company_user_id)
    answered = await _take(ctx, query, member_id)
    log.info("query.answered query=%s company_user=%s", query.id, member_id)
    await ctx.services.hooks.query_answered(answered, member_id)
    return await respond(ctx, answered)


async def _take(ctx: Ctx, query: Query, member_id: int) -> Query:
    """The query as answered by the company user, else 403 with the first reason why not."""
    assert query.id is not None
    reason = await query_actions.answer_refusal(ctx.services.db, query, member_id)
    if reason is None:
        reason = await ctx.services.hooks.may_answer(query.id, member_id)  # the router's words
    if reason is not None:
        raise Forbidden(reason)

    query_id, queue_id = query.id, query.queue_id

    async def attempt() -> Query:
        now = ctx.services.clock.now()
        db = ctx.services.db
        return await query_actions.answer(db, query_id, member_id, now=now, on_queue=queue_id)

    try:
        return await ctx.services.answer_turns.take(query_id, attempt)
    except query_actions.Refused as exc:
        raise Forbidden(str(exc)) from exc


@api.route(
    "POST",
    "/api/queries/{query_id}/mark-as-done",
    summary="Mark a query you hold as done",
    tag="queries",
    response=QueryOut,
    errors=(403, 404),
)
async def mark_as_done(ctx: Ctx) -> dict[str, Any]:
    query = await find(ctx, path_id(ctx, "query_id", "query"))
    assert query.id is not None
    member_id = await _acting_member(ctx, query.company_id, None)
    try:
        now = ctx.services.clock.now()
        done = await query_actions.mark_done(ctx.services.db, query.id, member_id, now=now)
    except query_actions.Refused as exc:
        raise Forbidden(str(exc)) from exc
    log.info("query.done query=%s company_user=%s", query.id, member_id)
    await ctx.services.hooks.query_done(done, member_id)
    return await respond(ctx, done)


async def _target_queue(ctx: Ctx, company_id: int, queue_id: int) -> Queue:
    async with ctx.services.db.session() as session:
        queue = await session.get(Queue, queue_id)
        if (
            queue is None
            or queue.company_id != company_id
            or queue.deleted_at is not None
            or not queue.is_active
        ):
            raise invalid(
                "queue_id", "The queue_id field must name an active queue of this query's company."
            )
        if queue.company_user_id is not None:
            await _require_owner_available(session, queue.company_user_id)
    return queue


async def _require_owner_available(session: Any, company_user_id: int) -> None:
    available = (
        await session.execute(
            select(col(CompanyUserState.is_available))
            .join(CompanyUser, col(CompanyUser.id) == col(CompanyUserState.company_user_id))
            .where(
                col(CompanyUserState.company_user_id) == company_user_id,
                col(CompanyUser.is_active).is_(True),
                col(CompanyUser.removed_at).is_(None),
            )
        )
    ).scalar_one_or_none()
    if not available:
        raise Forbidden("The owner of that personal queue is not available.")


@api.route(
    "POST",
    "/api/queries/{query_id}/transfer",
    summary="Move a query to wait on another queue of the company",
    tag="queries",
    body=TransferIn,
    response=QueryOut,
    errors=(403, 404, 422),
)
async def transfer(ctx: Ctx) -> dict[str, Any]:
    query = await find(ctx, path_id(ctx, "query_id", "query"))
    assert query.id is not None
    body: TransferIn = ctx.body
    own = await require(ctx, query.company_id, "agent", what="query")
    holds = query.status == "ongoing" and own.company_user_id == query.holder_company_user_id
    if query.status not in {"waiting", "ongoing"}:
        raise Forbidden("Only a waiting or ongoing query can be transferred.")
    if not holds and not own.at_least("staffing_manager"):
        raise Forbidden(
            "Only the holder of an ongoing query, or a staffing manager or manager, "
            "may transfer it."
        )
    target = await _target_queue(ctx, query.company_id, body.queue_id)
    assert target.id is not None
    if query.status == "waiting" and query.queue_id == target.id:
        raise invalid("queue_id", "The query already waits on this queue.")
    holder = query.holder_company_user_id if query.status == "ongoing" else None
    try:
        await query_actions.transfer(
            ctx.services.db,
            query.id,
            target.id,
            status=query.status,
            holder=holder,
            now=ctx.services.clock.now(),
        )
    except query_actions.Refused as exc:
        raise Forbidden(str(exc)) from exc
    log.info("query.transferred query=%s queue=%s from=%s", query.id, target.id, holder)
    await ctx.services.hooks.query_transferred(query.id, holder)
    return await reload(ctx, query.id)

"""Ratings: customers score done queries; members read the scores."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlmodel import col

from models.base import format_timestamp
from models.company_users import CompanyUser
from models.queries import Query, Rating
from server.access import visible_company_ids
from server.api import Ctx, api
from server.conventions import Relation, Resource, Scope, list_response, register
from server.loaders import parent


class RatingOut(BaseModel):
    id: int
    query_id: int
    company_id: int
    company_user_id: int
    queue_id: int
    score: int
    comment: str | None
    created_at: str
    updated_at: str


def public(rating: Rating) -> dict[str, Any]:
    return {
        "id": rating.id,
        "query_id": rating.query_id,
        "company_id": rating.company_id,
        "company_user_id": rating.company_user_id,
        "queue_id": rating.queue_id,
        "score": rating.score,
        "comment": rating.comment,
        "created_at": format_timestamp(rating.created_at),
        "updated_at": format_timestamp(rating.updated_at),
    }


def _equals(column: Any) -> Scope:
    def apply(stmt: Select[Any], value: str, ctx: Ctx) -> Select[Any]:
        return stmt.where(column == int(value))

    return Scope(apply, takes_value=True)


RATINGS = register(
    Resource(
        name="ratings",
        model=Rating,
        serialize=public,
        relations={
            "query": Relation("queries", parent(Query, "query_id"), many=False),
            "companyUser": Relation(
                "company_users", parent(CompanyUser, "company_user_id"), many=False
            ),
        },
        scopes={
            "company_user_id": _equals(col(Rating.company_user_id)),
            "queue_id": _equals(col(Rating.queue_id)),
        },
    )
)


@api.route(
    "GET",
    "/api/ratings",
    summary="Customers' ratings of the caller's companies' queries",
    tag="ratings",
    response=list[RatingOut],
    errors=(422,),
)
async def index(ctx: Ctx) -> Any:
    stmt = select(Rating)
    companies = await visible_company_ids(ctx)
    if companies is not None:
        stmt = stmt.where(col(Rating.company_id).in_(companies))
    async with ctx.services.db.session() as session:
        return await list_response(ctx, RATINGS, stmt, session)

"""Query notes: what members write on a query, seen by everyone who can see the query."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlmodel import col

from models.base import format_timestamp
from models.company_users import CompanyUser
from models.queries import Query, QueryNote
from server.access import membership, visible_company_ids
from server.api import Ctx, api
from server.conventions import Relation, Resource, list_response, register
from server.errors import Forbidden, invalid
from server.fields import Id, LongText
from server.loaders import parent

log = logging.getLogger("connectnow.queries")


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_id: Id
    body: LongText


class NoteOut(BaseModel):
    id: int
    query_id: int
    company_user_id: int
    body: str
    created_at: str
    updated_at: str


def public(note: QueryNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "query_id": note.query_id,
        "company_user_id": note.company_user_id,
        "body": note.body,
        "created_at": format_timestamp(note.created_at),
        "updated_at": format_timestamp(note.updated_at),
    }


NOTES = register(
    Resource(
        name="query_notes",
        model=QueryNote,
        serialize=public,
        relations={
            "companyUser": Relation(
                "company_users", parent(CompanyUser, "company_user_id"), many=False
            ),
        },
    )
)

QUERY_ID_PARAM = {
    "name": "query_id",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1},
    "description": "Only the notes of this query.",
}


@api.route(
    "GET",
    "/api/query-notes",
    summary="Notes on the queries of the caller's companies",
    tag="query notes",
    response=list[NoteOut],
    params=(QUERY_ID_PARAM,),
    errors=(422,),
)
async def index(ctx: Ctx) -> Any:
    stmt = select(QueryNote).join(Query, col(Query.id) == col(QueryNote.query_id))
    companies = await visible_company_ids(ctx)
    if companies is not None:
        stmt = stmt.where(col(Query.company_id).in_(companies))
    raw = ctx.query.get("query_id")
    if raw is not None:
        if not raw.isdigit() or not 0 < int(raw) < 2**31:
            raise invalid("query_id", "The query_id field must be a positive whole number.")
        stmt = stmt.where(col(QueryNote.query_id) == int(raw))
    async with ctx.services.db.session() as session:
        return await list_response(ctx, NOTES, stmt, session)


@api.route(
    "POST",
    "/api/query-notes",
    summary="Add a note to a query",
    tag="query notes",
    body=NoteCreate,
    response=NoteOut,
    status=201,
    errors=(403, 422),
)
async def create(ctx: Ctx) -> dict[str, Any]:
    body: NoteCreate = ctx.body
    async with ctx.services.db.session() as session:
        query = await session.get(Query, body.query_id)
    own = None if query is None else await membership(ctx, query.company_id)
    if query is None or own is None:
        raise invalid("query_id", "The query_id field must name a query of your company.")
    if own.company_user_id is None:
        raise Forbidden("You need a company user in this query's company to add notes.")
    now = ctx.services.clock.now()
    note = QueryNote(
        query_id=body.query_id,
        company_user_id=own.company_user_id,
        body=body.body,
        created_at=now,
        updated_at=now,
    )
    async with ctx.services.db.write() as session:
        session.add(note)
        await session.flush()
    assert note.id is not None
    log.info("note.added query=%s note=%s", body.query_id, note.id)
    await ctx.services.hooks.note_added(body.query_id, note.id)
    return public(note)

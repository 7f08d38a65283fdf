"""Company user states: who takes queries now, with a note, and the history of changes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, select
from sqlmodel import col

from models.base import format_timestamp
from models.companies import Company
from models.company_users import CompanyUser, CompanyUserState, CompanyUserStateChange
from models.public import state_public as public
from server import staff
from server.access import require, visible_company_ids
from server.api import Ctx, api
from server.conventions import Relation, Resource, Scope, list_response, path_id, register
from server.errors import not_found
from server.fields import Bool, Text
from server.loaders import parent
from server.resources import company_users


class StateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_available: Bool
    status_text: Text | None = None


class StateOut(BaseModel):
    id: int
    company_user_id: int
    is_available: bool
    status_text: str | None
    created_at: str
    updated_at: str


class StateChangeOut(BaseModel):
    id: int
    company_user_id: int
    is_available: bool
    status_text: str | None
    changed_by_company_user_id: int | None
    reason: str
    created_at: str


def public_change(change: CompanyUserStateChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "company_user_id": change.company_user_id,
        "is_available": change.is_available,
        "status_text": change.status_text,
        "changed_by_company_user_id": change.changed_by_company_user_id,
        "reason": change.reason,
        "created_at": format_timestamp(change.created_at),
    }


def _available(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
    return stmt.where(col(CompanyUserState.is_available).is_(True))


STATES = register(
    Resource(
        name="company_user_states",
        model=CompanyUserState,
        serialize=public,
        relations={
            "companyUser": Relation(
                "company_users", parent(CompanyUser, "company_user_id"), many=False
            )
        },
        scopes={"available": Scope(_available)},
    )
)
STATE_CHANGES = register(
    Resource(
        name="company_user_state_changes", model=CompanyUserStateChange, serialize=public_change
    )
)


@api.route(
    "GET",
    "/api/company-user-states",
    summary="The states of the company users of the caller's companies",
    tag="company user states",
    response=list[StateOut],
    params=[{"name": "company_ids", "in": "query", "schema": {"type": "string"}}],
)
async def index(ctx: Ctx) -> Any:
    stmt = (
        select(CompanyUserState)
        .join(CompanyUser, col(CompanyUser.id) == col(CompanyUserState.company_user_id))
        .join(Company, col(Company.id) == col(CompanyUser.company_id))
        .where(col(CompanyUser.removed_at).is_(None), col(Company.deleted_at).is_(None))
    )
    visible = await visible_company_ids(ctx)
    if visible is not None:
        stmt = stmt.where(col(CompanyUser.company_id).in_(visible))
    wanted = company_users.company_ids_filter(ctx)
    if wanted is not None:
        stmt = stmt.where(col(CompanyUser.company_id).in_(wanted))
    async with ctx.services.db.session() as session:
        return await list_response(ctx, STATES, stmt, session)


async def _state_of(ctx: Ctx, company_user_id: int) -> CompanyUserState:
    async with ctx.services.db.session() as session:
        state = (
            await session.execute(
                select(CompanyUserState).where(
                    col(CompanyUserState.company_user_id) == company_user_id
                )
            )
        ).scalar_one_or_none()
    if state is None:
        raise not_found("company user")
    return state


@api.route(
    "GET",
    "/api/company-user-states/{company_user_id}",
    summary="One company user's state",
    tag="company user states",
    response=StateOut,
    errors=(404,),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    member = await company_users.find(ctx, path_id(ctx, "company_user_id", "company user"))
    assert member.id is not None
    return public(await _state_of(ctx, member.id))


@api.route(
    "PUT",
    "/api/company-user-states/{company_user_id}",
    summary="Set availability: one's own, or another's (staffing managers and managers)",
    tag="company user states",
    body=StateUpdate,
    response=StateOut,
    errors=(403, 404, 422),
)
async def edit(ctx: Ctx) -> dict[str, Any]:
    member = await company_users.find(ctx, path_id(ctx, "company_user_id", "company user"))
    assert member.id is not None
    body: StateUpdate = ctx.body
    own = member.user_id == ctx.user_id and member.accepted_at is not None
    caller = await require(
        ctx, member.company_id, "agent" if own else "staffing_manager", what="company user"
    )
    note = body.status_text
    if "status_text" in body.model_fields_set and note is None:
        note = ""
    result = await staff.set_availability(
        ctx.services.db,
        member.id,
        body.is_available,
        reason="manual" if own else "manager",
        changed_by=caller.company_user_id,
        status_text=note,
        clock=ctx.services.clock,
    )
    if result.changed:
        await ctx.services.hooks.state_changed(member.id)
    return public(result.state)


@api.route(
    "GET",
    "/api/company-user-states/{company_user_id}/history",
    summary="A company user's availability history (staffing managers and managers)",
    tag="company user states",
    response=list[StateChangeOut],
    errors=(403, 404, 422),
)
async def history(ctx: Ctx) -> Any:
    member = await company_users.find(
        ctx, path_id(ctx, "company_user_id", "company user"), "staffing_manager"
    )
    stmt = select(CompanyUserStateChange).where(
        col(CompanyUserStateChange.company_user_id) == member.id
    )
    async with ctx.services.db.session() as session:
        return await list_response(ctx, STATE_CHANGES, stmt, session)

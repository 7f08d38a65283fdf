"""Company users: invite people into a company, change their limits and role, remove them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.companies import Company
from models.company_users import CompanyUser, CompanyUserSkill, CompanyUserState
from models.public import company_user_public as public
from models.queries import Query, QueryCompanyUser
from models.queues import Queue
from models.skills import Skill
from models.users import User
from server import billing, staff
from server.access import Membership, membership, require, visible_company_ids
from server.api import Ctx, api
from server.conventions import (
    Relation,
    Resource,
    Scope,
    list_response,
    multi,
    one_response,
    path_id,
    register,
)
from server.errors import Forbidden, ValidationFailed, invalid, not_found
from server.fields import Bool, Email, Id
from server.loaders import parent, through

Role = Literal["agent", "staffing_manager", "manager"]


class CompanyUserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id | None = None
    company_id: Id
    invited_email: Email
    max_ongoing_queries_handled: int = Field(default=1, ge=1, le=1000)
    is_auto_max_number_handled: Bool = True
    ability_to_pick_from_queue: Bool = False
    is_auto_ability_to_pick_from_queue: Bool = True
    role: Role = "agent"
    is_active: Bool = True


class CompanyUserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_ongoing_queries_handled: int | None = Field(default=None, ge=1, le=1000)
    is_auto_max_number_handled: Bool | None = None
    ability_to_pick_from_queue: Bool | None = None
    is_auto_ability_to_pick_from_queue: Bool | None = None
    role: Role | None = None
    is_active: Bool | None = None


class CompanyUserOut(BaseModel):
    id: int
    user_id: int | None
    company_id: int
    created_at: str
    accepted_at: str | None
    invited_email: str
    max_ongoing_queries_handled: int
    is_auto_max_number_handled: bool
    ability_to_pick_from_queue: bool
    is_auto_ability_to_pick_from_queue: bool
    role: str
    is_active: bool


async def _load_personal_queue(session: AsyncSession, parents: list[Any]) -> dict[int, Any]:
    ids = {p.id for p in parents}
    stmt = select(Queue).where(
        col(Queue.company_user_id).in_(ids), col(Queue.deleted_at).is_(None)
    )
    found: dict[Any, Any] = {}
    for queue in (await session.execute(stmt)).scalars():
        found[queue.company_user_id] = queue
    return found


async def _load_answered(session: AsyncSession, parents: list[Any]) -> dict[int, Any]:
    ids = {p.id for p in parents}
    stmt = (
        select(col(QueryCompanyUser.company_user_id), Query)
        .join(Query, col(Query.id) == col(QueryCompanyUser.query_id))
        .where(col(QueryCompanyUser.company_user_id).in_(ids))
        .distinct()
        .order_by(col(Query.id))
    )
    grouped: dict[int, list[Any]] = {}
    for member_id, query in await session.execute(stmt):
        grouped.setdefault(member_id, []).append(query)
    return grouped


def _available(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
    states = select(col(CompanyUserState.company_user_id)).where(
        col(CompanyUserState.is_available).is_(True)
    )
    return stmt.where(col(CompanyUser.id).in_(states))


def _active(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
    return stmt.where(col(CompanyUser.is_active).is_(True))


def _within_limits(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
    return stmt.where(
        col(CompanyUser.ongoing_count) < col(CompanyUser.max_ongoing_queries_handled)
    )


def _can_take_query(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
    stmt = _within_limits(_active(_available(stmt, ctx), ctx), ctx)
    return stmt.where(
        col(CompanyUser.user_id).is_not(None), col(CompanyUser.accepted_at).is_not(None)
    )


def _manager(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
    return stmt.where(col(CompanyUser.role) == "manager")


COMPANY_USERS = register(
    Resource(
        name="company_users",
        model=CompanyUser,
        serialize=public,
        relations={
            "user": Relation("users", parent(User, "user_id"), many=False),
            "personalQueue": Relation("queues", _load_personal_queue, many=False),
            "company": Relation("companies", parent(Company, "company_id"), many=False),
            "skills": Relation(
                "skills",
                through(CompanyUserSkill, "company_user_id", "skill_id", Skill, keep_pivot=True),
            ),
            "answeredQueries": Relation("queries", _load_answered),
        },
        scopes={
            "available": Scope(_available),
            "active": Scope(_active),
            "withinMaxOngoingQueryLimits": Scope(_within_limits),
            "canTakeQuery": Scope(_can_take_query),
            "manager": Scope(_manager),
        },
    )
)


def live_members() -> Select[Any]:
    """Company users not removed, of companies not deleted."""
    return (
        select(CompanyUser)
        .join(Company, col(Company.id) == col(CompanyUser.company_id))
        .where(col(CompanyUser.removed_at).is_(None), col(Company.deleted_at).is_(None))
    )


def company_ids_filter(ctx: Ctx) -> list[int] | None:
    """The `company_ids` filter (`company_ids[]=1&company_ids[]=2` or `company_ids=1,2`)."""
    raw = multi(ctx.query, "company_ids")
    if not raw:
        return None
    if not all(value.isdigit() and 0 < int(value) < 2**31 for value in raw):
        raise invalid("company_ids", "The company_ids filter must list positive whole numbers.")
    return [int(value) for value in raw]


async def find(ctx: Ctx, company_user_id: int, role: str = "agent") -> CompanyUser:
    """A live company user the caller reaches at `role`: 404 for outsiders, 403 below it."""
    async with ctx.services.db.session() as session:
        member = (
            await session.execute(live_members().where(col(CompanyUser.id) == company_user_id))
        ).scalar_one_or_none()
    if member is None:
        raise not_found("company user")
    await require(ctx, member.company_id, role, what="company user")
    assert isinstance(member, CompanyUser)
    return member


def editor_role(*roles: str | None) -> str:
    """Managers alone create or edit managers; staffing managers do the rest."""
    return "manager" if "manager" in roles else "staffing_manager"


@api.route(
    "GET",
    "/api/company-users",
    summary="The company users of the caller's companies",
    tag="company users",
    response=list[CompanyUserOut],
    params=[{"name": "company_ids", "in": "query", "schema": {"type": "string"}}],
)
async def index(ctx: Ctx) -> Any:
    stmt = live_members()
    visible = await visible_company_ids(ctx)
    if visible is not None:
        stmt = stmt.where(col(CompanyUser.company_id).in_(visible))
    wanted = company_ids_filter(ctx)
    if wanted is not None:
        stmt = stmt.where(col(CompanyUser.company_id).in_(wanted))
    async with ctx.services.db.session() as session:
        return await list_response(ctx, COMPANY_USERS, stmt, session)


@api.route(
    "GET",
    "/api/company-users/{company_user_id}",
    summary="One company user",
    tag="company users",
    response=CompanyUserOut,
    errors=(404, 422),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    member = await find(ctx, path_id(ctx, "company_user_id", "company user"))
    async with ctx.services.db.session() as session:
        return await one_response(ctx, COMPANY_USERS, member, session)


async def _creator(ctx: Ctx, body: CompanyUserCreate) -> Membership:
    """The caller's standing: someone who cannot see the company gets a 422 on company_id."""
    found = await membership(ctx, body.company_id)
    if found is None:
        raise invalid("company_id", "The company_id must name a company you belong to.")
    return await require(ctx, body.company_id, editor_role(body.role), what="company")


async def _check_new_member(session: AsyncSession, body: CompanyUserCreate, email: str) -> None:
    errors: dict[str, list[str]] = {}
    same_email = await session.execute(
        select(col(CompanyUser.id)).where(
            col(CompanyUser.company_id) == body.company_id,
            col(CompanyUser.removed_at).is_(None),
            func.lower(CompanyUser.invited_email) == email,
        )
    )
    if same_email.first() is not None:
        errors["invited_email"] = ["This email address is already invited to this company."]
    if body.user_id is not None:
        if await session.get(User, body.user_id) is None:
            errors["user_id"] = ["The user_id must name an existing user."]
        else:
            already = await session.execute(
                select(col(CompanyUser.id)).where(
                    col(CompanyUser.company_id) == body.company_id,
                    col(CompanyUser.removed_at).is_(None),
                    col(CompanyUser.user_id) == body.user_id,
                )
            )
            if already.first() is not None:
                errors["user_id"] = ["This user is already a member of this company."]
    if errors:
        raise ValidationFailed(errors)


@api.route(
    "POST",
    "/api/company-users",
    summary="Invite someone into a company (staffing managers; managers for managers)",
    tag="company users",
    body=CompanyUserCreate,
    response=CompanyUserOut,
    status=201,
    errors=(403, 422),
)
async def create(ctx: Ctx) -> dict[str, Any]:
    body: CompanyUserCreate = ctx.body
    await _creator(ctx, body)
    email = body.invited_email.lower()
    password_hash = await staff.personal_queue_password_hash()
    member = CompanyUser(
        **body.model_dump(exclude={"invited_email"}), invited_email=email, created_at=utcnow()
    )
    secret = staff.invite(member)
    async with ctx.services.db.write() as session:
        company = await billing.lock_company(session, body.company_id)
        if company is None or company.deleted_at is not None:
            raise invalid("company_id", "The company_id must name a company you belong to.")
        await _check_new_member(session, body, email)
        if body.is_active:
            await billing.check_cap(session, company)
        await staff.add_company_user(
            session, member, label=email.split("@")[0], password_hash=password_hash
        )
    await staff.send_invitation(ctx.services, member, secret, company.name)
    assert member.id is not None
    await ctx.services.hooks.company_user_changed(member.id)
    return public(member)


async def _other_managers(session: AsyncSession, member: CompanyUser) -> int:
    stmt = select(func.count()).where(
        col(CompanyUser.company_id) == member.company_id,
        col(CompanyUser.id) != member.id,
        col(CompanyUser.role) == "manager",
        col(CompanyUser.removed_at).is_(None),
        col(CompanyUser.is_active).is_(True),
        col(CompanyUser.accepted_at).is_not(None),
    )
    return int((await session.execute(stmt)).scalar_one())


async def _keep_a_manager(session: AsyncSession, member: CompanyUser, action: str) -> None:
    if member.role == "manager" and await _other_managers(session, member) == 0:
        raise Forbidden(f"A company needs an active manager; appoint another before you {action}.")


@api.route(
    "PUT",
    "/api/company-users/{company_user_id}",
    summary="Update a company user (staffing managers; managers for managers)",
    tag="company users",
    body=CompanyUserUpdate,
    response=CompanyUserOut,
    errors=(403, 404, 422),
)
async def edit(ctx: Ctx) -> dict[str, Any]:
    member = await find(ctx, path_id(ctx, "company_user_id", "company user"))
    body: CompanyUserUpdate = ctx.body
    changes = body.model_dump(exclude_unset=True)
    nulls = {
        key: [f"The {key} field must not be null."] for key, v in changes.items() if v is None
    }
    if nulls:
        raise ValidationFailed(nulls)
    caller = await require(
        ctx, member.company_id, editor_role(member.role, changes.get("role")), what="company user"
    )
    switched_off = False
    async with ctx.services.db.write() as session:
        company = await billing.lock_company(session, member.company_id)
        stored = await session.get(CompanyUser, member.id)
        assert company is not None and stored is not None
        activating = changes.get("is_active") is True and not stored.is_active
        demoting = "role" in changes and changes["role"] != "manager"
        if demoting or changes.get("is_active") is False:
            await _keep_a_manager(session, stored, "change this one")
        if activating:
            await billing.check_cap(session, company)
        for key, value in changes.items():
            setattr(stored, key, value)
        stored.updated_at = utcnow()
        await session.flush()
        if "is_active" in changes:
            await billing.record(session, stored.company_id, utcnow())
        if changes.get("is_active") is False:
            assert stored.id is not None
            switched_off = await staff.make_unavailable(
                session, stored.id, changed_by=caller.company_user_id, at=ctx.services.clock.now()
            )
        member = stored
    assert member.id is not None
    await ctx.services.hooks.company_user_changed(member.id)
    if switched_off:
        await ctx.services.hooks.state_changed(member.id)
    return public(member)


@api.route(
    "DELETE",
    "/api/company-users/{company_user_id}",
    summary="Remove a company user from its company (managers)",
    tag="company users",
    status=204,
    errors=(403, 404),
)
async def destroy(ctx: Ctx) -> None:
    member = await find(ctx, path_id(ctx, "company_user_id", "company user"), "manager")
    caller = await require(ctx, member.company_id, "manager", what="company user")
    assert member.id is not None
    now = utcnow()
    async with ctx.services.db.write() as session:
        await billing.lock_company(session, member.company_id)
        stored = await session.get(CompanyUser, member.id)
        assert stored is not None
        await _keep_a_manager(session, stored, "remove this one")
        stored.removed_at = now
        stored.updated_at = now
        stored.invitation_token_hash = None
        queue_ids, cancelled = await staff.close_personal_queue(session, member.id, now)
        switched_off = await staff.make_unavailable(
            session, member.id, changed_by=caller.company_user_id, at=ctx.services.clock.now()
        )
        await billing.record(session, member.company_id, now)
    # TODO: ongoing queries the removed company user holds stay with it; a manager should
    # transfer them. Deciding that automatically needs the router's transfer path.
    await ctx.services.hooks.company_user_changed(member.id)
    if switched_off:
        await ctx.services.hooks.state_changed(member.id)
    for queue_id in queue_ids:
        await ctx.services.hooks.queue_changed(queue_id)
    for query_id in cancelled:
        await ctx.services.hooks.query_cancelled(query_id)

"""Queues: list, read, create, update and delete, and the queues a company user serves.

Shared queues are run by managers. A personal queue (`company_user_id` set) belongs to one
company user and follows its own rules:

- it cannot be deleted (403) and never requires skills (422 on `skill_ids`);
- only its owner sets its password, whatever the owner's role; `password: null` locks it again
  with a random password nobody knows, so the public can only reach a person through a
  password the person handed out (`has_password` is therefore always true);
- managers may change its other fields (name, activity, priority delay) but not its password;
  anyone else gets 403.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Select, and_, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.companies import Company
from models.company_users import CompanyUser, CompanyUserSkill, CompanyUserState
from models.public import queue_public as public
from models.queries import Query, QueryQueue
from models.queues import Queue, QueueSkill
from models.skills import Skill
from server import auth, hours
from server.access import Membership, membership, require, visible_company_ids
from server.api import Ctx, api
from server.conventions import (
    Relation,
    Resource,
    Scope,
    list_response,
    one_response,
    path_id,
    register,
)
from server.errors import Forbidden, ValidationFailed, not_found
from server.fields import Bool, Id, Name, Password
from server.loaders import children, parent, through
from server.resources import skills as skills_resource

PriorityDelay = Field(default=None, ge=0, le=86400)


class QueueCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    company_id: Id
    password: Password | None = None
    priority_delay: int | None = PriorityDelay
    priority_delay_in_seconds: int | None = PriorityDelay
    is_active: Bool = True
    skill_ids: list[Id] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _one_delay(self) -> QueueCreate:
        _check_delays(self)
        return self


class QueueUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    password: Password | None = None
    priority_delay: int | None = PriorityDelay
    priority_delay_in_seconds: int | None = PriorityDelay
    is_active: Bool | None = None
    skill_ids: list[Id] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one_delay(self) -> QueueUpdate:
        _check_delays(self)
        return self


def _check_delays(body: QueueCreate | QueueUpdate) -> None:
    given = body.model_fields_set & {"priority_delay", "priority_delay_in_seconds"}
    if len(given) == 2 and body.priority_delay != body.priority_delay_in_seconds:
        raise ValueError(
            "priority_delay and priority_delay_in_seconds name the same setting; "
            "send one, or the same value in both"
        )


class QueueOut(BaseModel):
    id: int
    name: str
    company_id: int
    company_user_id: int | None
    priority_delay: int | None
    priority_delay_in_seconds: int | None
    is_active: bool
    has_password: bool
    created_at: str
    updated_at: str
    deleted_at: str | None


class PivotOut(BaseModel):
    queue_id: int
    skill_id: int


class QueueSkillOut(BaseModel):
    id: int
    name: str
    company_id: int
    created_at: str
    updated_at: str
    pivot: PivotOut


class EligibleQueueOut(QueueOut):
    skills: list[QueueSkillOut]


class CompanyUserQueuesOut(BaseModel):
    queues: list[EligibleQueueOut]
    personal_queue: EligibleQueueOut | None


class PublicCompanyOut(BaseModel):
    name: str
    logo_url: str


class PublicQueueOut(BaseModel):
    id: int
    name: str
    company: PublicCompanyOut
    has_password: bool
    is_open: bool
    opens_at: str | None
    closes_at: str | None


async def _latest_queries(session: AsyncSession, parents: list[Any]) -> dict[int, Any]:
    ids = {p.id for p in parents}
    newest = (
        select(func.max(col(Query.id)))
        .where(col(Query.queue_id).in_(ids))
        .group_by(col(Query.queue_id))
    )
    rows = (await session.execute(select(Query).where(col(Query.id).in_(newest)))).scalars()
    return {row.queue_id: row for row in rows}


def _eligible_available() -> Any:
    """A company user is active, accepted, available, and eligible for the queue in scope."""
    holds_it = (
        select(col(CompanyUserSkill.skill_id))
        .where(
            col(CompanyUserSkill.company_user_id) == col(CompanyUser.id),
            col(CompanyUserSkill.skill_id) == col(QueueSkill.skill_id),
        )
        .correlate(CompanyUser, QueueSkill)
        .exists()
    )
    missing_skill = (
        select(col(QueueSkill.skill_id))
        .where(col(QueueSkill.queue_id) == col(Queue.id), not_(holds_it))
        .correlate(Queue, CompanyUser)
        .exists()
    )
    return (
        select(col(CompanyUser.id))
        .join(CompanyUserState, col(CompanyUserState.company_user_id) == col(CompanyUser.id))
        .where(
            col(CompanyUser.company_id) == col(Queue.company_id),
            col(CompanyUser.is_active).is_(True),
            col(CompanyUser.accepted_at).is_not(None),
            col(CompanyUser.removed_at).is_(None),
            col(CompanyUserState.is_available).is_(True),
            or_(
                col(Queue.company_user_id) == col(CompanyUser.id),
                and_(col(Queue.company_user_id).is_(None), not_(missing_skill)),
            ),
        )
        .exists()
    )


def _scope_available(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
    return stmt.where(col(Queue.is_active).is_(True), _eligible_available())


def _scope_active(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
    return stmt.where(col(Queue.is_active).is_(True))


QUEUES = register(
    Resource(
        name="queues",
        model=Queue,
        serialize=public,
        relations={
            "queries": Relation("queries", children(Query, "queue_id")),
            "unansweredQueries": Relation(
                "queries", children(Query, "queue_id", col(Query.status) == "waiting")
            ),
            "latestQuery": Relation("queries", _latest_queries, many=False),
            "skills": Relation("skills", through(QueueSkill, "queue_id", "skill_id", Skill)),
            "companyUser": Relation(
                "company_users", parent(CompanyUser, "company_user_id"), many=False
            ),
        },
        scopes={"available": Scope(_scope_available), "active": Scope(_scope_active)},
    )
)


def live() -> Select[Any]:
    return select(Queue).where(col(Queue.deleted_at).is_(None))


async def find(session: AsyncSession, ctx: Ctx, queue_id: int) -> tuple[Queue, Membership]:
    """A live queue of a company the caller belongs to, with the caller's standing there."""
    queue = (await session.execute(live().where(col(Queue.id) == queue_id))).scalar_one_or_none()
    if queue is None:
        raise not_found("queue")
    return queue, await require(ctx, queue.company_id, "agent", what="queue")


async def _check_skills(session: AsyncSession, company_id: int, skill_ids: list[int]) -> None:
    found = set(
        (
            await session.execute(
                select(col(Skill.id)).where(
                    col(Skill.id).in_(skill_ids), col(Skill.company_id) == company_id
                )
            )
        ).scalars()
    )
    unknown = sorted(set(skill_ids) - found)
    if unknown:
        listed = ", ".join(map(str, unknown))
        raise ValidationFailed(
            {
                "skill_ids": [
                    "The skill_ids field must name skills of the queue's company; "
                    f"these are not: {listed}."
                ]
            }
        )


async def _set_skills(session: AsyncSession, queue_id: int, skill_ids: list[int]) -> None:
    current = await session.execute(select(QueueSkill).where(col(QueueSkill.queue_id) == queue_id))
    for link in current.scalars():
        await session.delete(link)
    await session.flush()
    for skill_id in sorted(set(skill_ids)):
        session.add(QueueSkill(queue_id=queue_id, skill_id=skill_id))


async def _hash(password: str) -> str:
    return await anyio.to_thread.run_sync(auth.hash_password, password)


async def _company_for_create(ctx: Ctx, company_id: int) -> None:
    """422 unless the caller belongs to this live company, 403 unless as a manager."""
    standing = await membership(ctx, company_id)
    if standing is not None and standing.is_admin:
        async with ctx.services.db.session() as session:
            company = await session.get(Company, company_id)
        if company is None or company.deleted_at is not None:
            standing = None
    if standing is None:
        raise ValidationFailed(
            {"company_id": ["The company_id must name a company you belong to."]}
        )
    if not standing.at_least("manager"):
        raise Forbidden("Only a manager of this company may create queues.")


@api.route(
    "GET",
    "/api/queues",
    summary="The queues of the caller's companies",
    tag="queues",
    response=list[QueueOut],
)
async def index(ctx: Ctx) -> Any:
    stmt = live()
    companies = await visible_company_ids(ctx)
    if companies is not None:
        stmt = stmt.where(col(Queue.company_id).in_(companies))
    async with ctx.services.db.session() as session:
        return await list_response(ctx, QUEUES, stmt, session)


@api.route(
    "GET",
    "/api/queues/{queue_id}",
    summary="One queue",
    tag="queues",
    response=QueueOut,
    errors=(404,),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as session:
        queue, _ = await find(session, ctx, path_id(ctx, "queue_id", "queue"))
        return await one_response(ctx, QUEUES, queue, session)


@api.route(
    "POST",
    "/api/queues",
    summary="Create a shared queue (managers)",
    tag="queues",
    body=QueueCreate,
    response=QueueOut,
    status=201,
    errors=(403, 422),
)
async def create(ctx: Ctx) -> dict[str, Any]:
    body: QueueCreate = ctx.body
    await _company_for_create(ctx, body.company_id)
    delay = body.priority_delay
    if "priority_delay" not in body.model_fields_set:
        delay = body.priority_delay_in_seconds
    queue = Queue(
        name=body.name,
        company_id=body.company_id,
        password_hash=await _hash(body.password) if body.password else None,
        priority_delay=delay,
        is_active=body.is_active,
    )
    async with ctx.services.db.write() as session:
        await _check_skills(session, body.company_id, body.skill_ids)
        session.add(queue)
        await session.flush()
        assert queue.id is not None
        await _set_skills(session, queue.id, body.skill_ids)
    await ctx.services.hooks.queue_changed(queue.id)
    return public(queue)


def _check_personal_edit(queue: Queue, standing: Membership, changes: dict[str, Any]) -> None:
    """Apply the personal-queue rules of the module docstring to one update."""
    if "skill_ids" in changes:
        raise ValidationFailed({"skill_ids": ["A personal queue cannot require skills."]})
    owner = standing.company_user_id == queue.company_user_id
    if "password" in changes and not owner:
        raise Forbidden("Only the owner of a personal queue may set its password.")
    if set(changes) - {"password"} and not standing.at_least("manager"):
        raise Forbidden("Only a manager of this company may edit this queue.")


@api.route(
    "PUT",
    "/api/queues/{queue_id}",
    summary="Update a queue: managers; the owner of a personal queue sets its password",
    tag="queues",
    body=QueueUpdate,
    response=QueueOut,
    errors=(403, 404, 422),
)
async def edit(ctx: Ctx) -> dict[str, Any]:
    body: QueueUpdate = ctx.body
    changes = body.model_dump(exclude_unset=True)
    async with ctx.services.db.session() as session:
        queue, standing = await find(session, ctx, path_id(ctx, "queue_id", "queue"))
    if queue.company_user_id is not None:
        _check_personal_edit(queue, standing, changes)
    elif not standing.at_least("manager"):
        raise Forbidden("Only a manager of this company may edit queues.")
    for key in ("name", "is_active"):
        if key in changes and changes[key] is None:
            raise ValidationFailed({key: [f"The {key} field must not be null."]})
    if "priority_delay_in_seconds" in changes:
        changes["priority_delay"] = changes.pop("priority_delay_in_seconds")
    if "password" in changes:
        secret = changes.pop("password")
        if secret is not None:
            changes["password_hash"] = await _hash(secret)
        elif queue.company_user_id is not None:
            changes["password_hash"] = auth.unusable_password_hash()
        else:
            changes["password_hash"] = None
    skill_ids = changes.pop("skill_ids", None)
    async with ctx.services.db.write() as session:
        stored = await session.get(Queue, queue.id)
        if stored is None or stored.deleted_at is not None:
            raise not_found("queue")
        assert stored.id is not None
        if skill_ids is not None:
            await _check_skills(session, stored.company_id, skill_ids)
            await _set_skills(session, stored.id, skill_ids)
        for key, value in changes.items():
            setattr(stored, key, value)
        stored.updated_at = utcnow()
        queue = stored
    assert queue.id is not None
    await ctx.services.hooks.queue_changed(queue.id)
    return public(queue)


@api.route(
    "DELETE",
    "/api/queues/{queue_id}",
    summary="Delete a shared queue and cancel its waiting queries (managers)",
    tag="queues",
    status=204,
    errors=(403, 404),
)
async def destroy(ctx: Ctx) -> None:
    async with ctx.services.db.session() as session:
        queue, standing = await find(session, ctx, path_id(ctx, "queue_id", "queue"))
    if not standing.at_least("manager"):
        raise Forbidden("Only a manager of this company may delete queues.")
    if queue.company_user_id is not None:
        raise Forbidden(
            "A personal queue cannot be deleted; remove its company user from the company."
        )
    now = ctx.services.clock.now()
    async with ctx.services.db.write() as session:
        await session.execute(
            update(Queue)
            .where(col(Queue.id) == queue.id, col(Queue.deleted_at).is_(None))
            .values(deleted_at=now, updated_at=now)
        )
        found = await session.execute(
            select(col(Query.id)).where(
                col(Query.queue_id) == queue.id, col(Query.status) == "waiting"
            )
        )
        waiting = [query_id for query_id in found.scalars() if query_id is not None]
        if waiting:
            await session.execute(
                update(Query)
                .where(col(Query.id).in_(waiting), col(Query.status) == "waiting")
                .values(status="cancelled", ended_at=now, updated_at=now)
            )
            await session.execute(
                update(QueryQueue)
                .where(
                    col(QueryQueue.query_id).in_(waiting),
                    col(QueryQueue.queue_id) == queue.id,
                    col(QueryQueue.left_at).is_(None),
                )
                .values(left_at=now)
            )
    for query_id in waiting:
        await ctx.services.hooks.query_cancelled(query_id)
    assert queue.id is not None
    await ctx.services.hooks.queue_changed(queue.id)


def _with_pivot(queue: Queue, skills: list[Skill]) -> dict[str, Any]:
    row = public(queue)
    row["skills"] = [
        {**skills_resource.public(skill), "pivot": {"queue_id": queue.id, "skill_id": skill.id}}
        for skill in skills
    ]
    return row


@api.route(
    "GET",
    "/api/company-users/{company_user_id}/queues",
    summary="The shared queues a company user is eligible for, and its personal queue",
    tag="queues",
    response=CompanyUserQueuesOut,
    errors=(404,),
)
async def company_user_queues(ctx: Ctx) -> dict[str, Any]:
    """Live shared queues, active or not, whose every skill it holds; then its own queue."""
    member_id = path_id(ctx, "company_user_id", "company user")
    async with ctx.services.db.session() as session:
        member = await session.get(CompanyUser, member_id)
        if member is None or member.removed_at is not None:
            raise not_found("company user")
        await require(ctx, member.company_id, "agent", what="company user")
        queues = list(
            (
                await session.execute(
                    live()
                    .where(col(Queue.company_id) == member.company_id)
                    .where(
                        or_(
                            col(Queue.company_user_id).is_(None),
                            col(Queue.company_user_id) == member.id,
                        )
                    )
                    .order_by(col(Queue.id))
                )
            ).scalars()
        )
        links = await session.execute(
            select(col(QueueSkill.queue_id), Skill)
            .join(Skill, col(Skill.id) == col(QueueSkill.skill_id))
            .where(col(QueueSkill.queue_id).in_([q.id for q in queues]))
            .order_by(col(Skill.id))
        )
        required: dict[int, list[Skill]] = defaultdict(list)
        for queue_id, skill in links:
            required[queue_id].append(skill)
        held = set(
            (
                await session.execute(
                    select(col(CompanyUserSkill.skill_id)).where(
                        col(CompanyUserSkill.company_user_id) == member.id
                    )
                )
            ).scalars()
        )
    personal = next((q for q in queues if q.company_user_id == member.id), None)
    eligible = [
        _with_pivot(q, required[q.id or 0])
        for q in queues
        if q.company_user_id is None and {s.id for s in required[q.id or 0]} <= held
    ]
    return {
        "queues": eligible,
        "personal_queue": None if personal is None else _with_pivot(personal, []),
    }


@api.route(
    "GET",
    "/api/public/queues/{queue_id}",
    summary="What a customer page needs about a queue: names, logo, password, opening",
    tag="queues",
    response=PublicQueueOut,
    auth="public",
    errors=(404,),
)
async def public_show(ctx: Ctx) -> dict[str, Any]:
    queue_id = path_id(ctx, "queue_id", "queue")
    async with ctx.services.db.session() as session:
        found = (
            await session.execute(
                select(Queue, Company)
                .join(Company, col(Company.id) == col(Queue.company_id))
                .where(
                    col(Queue.id) == queue_id,
                    col(Queue.deleted_at).is_(None),
                    col(Queue.is_active).is_(True),
                    col(Company.deleted_at).is_(None),
                )
            )
        ).first()
        if found is None:
            raise not_found("queue")
        queue, company = found
        status = await hours.queue_status(session, queue, ctx.services.clock.now())
    return {
        "id": queue.id,
        "name": queue.name,
        "company": {"name": company.name, "logo_url": company.logo_url},
        "has_password": queue.password_hash is not None,
        **hours.status_fields(status),
    }

"""Users: the signed-in person (`/api/me`) and the people of shared companies."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import format_timestamp
from models.companies import Company
from models.company_users import CompanyUser, CompanyUserSkill
from models.queues import Queue, QueueSkill
from models.skills import Skill
from models.users import User
from server.access import visible_company_ids
from server.api import Ctx, api, current_ctx
from server.conventions import Relation, Resource, one_response, path_id, register
from server.errors import not_found
from server.loaders import Pivoted


class UserOut(BaseModel):
    id: int
    name: str
    surname: str | None
    email: str
    avatar_url: str | None
    email_verified_at: str | None
    created_at: str
    updated_at: str


class MeOut(UserOut):
    is_admin: bool


def public(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "surname": user.surname,
        "email": user.email,
        "avatar_url": user.avatar_url,
        "email_verified_at": format_timestamp(user.email_verified_at),
        "created_at": format_timestamp(user.created_at),
        "updated_at": format_timestamp(user.updated_at),
    }


async def _memberships(users: list[Any]) -> Select[Any]:
    """Accepted memberships of live companies, limited to those the caller may see.

    A user's relations never show a company the caller does not belong to, whoever asks.
    """
    ctx = current_ctx()
    visible = await visible_company_ids(ctx) if ctx is not None else []
    stmt = (
        select(CompanyUser)
        .join(Company, col(Company.id) == col(CompanyUser.company_id))
        .where(
            col(CompanyUser.user_id).in_({u.id for u in users}),
            col(CompanyUser.accepted_at).is_not(None),
            col(CompanyUser.removed_at).is_(None),
            col(Company.deleted_at).is_(None),
        )
    )
    if visible is not None:
        stmt = stmt.where(col(CompanyUser.company_id).in_(visible))
    return stmt


async def load_companies(session: AsyncSession, users: list[Any]) -> dict[int, Any]:
    members = (await _memberships(users)).subquery()
    stmt = (
        select(members.c.user_id, Company)
        .join(Company, col(Company.id) == members.c.company_id)
        .order_by(col(Company.id))
    )
    grouped: dict[int, list[Any]] = defaultdict(list)
    for user_id, company in await session.execute(stmt):
        grouped[user_id].append(company)
    return grouped


async def load_skills(session: AsyncSession, users: list[Any]) -> dict[int, Any]:
    """The skills a user holds in its companies, each with its level."""
    members = (await _memberships(users)).subquery()
    stmt = (
        select(members.c.user_id, Skill, CompanyUserSkill)
        .join(CompanyUserSkill, col(CompanyUserSkill.company_user_id) == members.c.id)
        .join(Skill, col(Skill.id) == col(CompanyUserSkill.skill_id))
        .order_by(col(Skill.id))
    )
    grouped: dict[int, list[Any]] = defaultdict(list)
    for user_id, skill, link in await session.execute(stmt):
        grouped[user_id].append(Pivoted(skill, link))
    return grouped


async def load_queues(session: AsyncSession, users: list[Any]) -> dict[int, Any]:
    """The queues a user is eligible for (SPEC §4), not every queue of its companies.

    That is, per active membership: its personal queue, and the shared queues whose every
    required skill it holds. This answers "where can this person be offered queries".
    """
    stmt = await _memberships(users)
    members = list((await session.execute(stmt.where(col(CompanyUser.is_active)))).scalars())
    if not members:
        return {}
    held: dict[int, set[int]] = defaultdict(set)
    links = await session.execute(
        select(CompanyUserSkill).where(
            col(CompanyUserSkill.company_user_id).in_({m.id for m in members})
        )
    )
    for link in links.scalars():
        held[link.company_user_id].add(link.skill_id)
    queues = list(
        (
            await session.execute(
                select(Queue)
                .where(
                    col(Queue.company_id).in_({m.company_id for m in members}),
                    col(Queue.deleted_at).is_(None),
                )
                .order_by(col(Queue.id))
            )
        ).scalars()
    )
    required: dict[int, set[int]] = defaultdict(set)
    needs = await session.execute(
        select(QueueSkill).where(col(QueueSkill.queue_id).in_({q.id for q in queues}))
    )
    for need in needs.scalars():
        required[need.queue_id].add(need.skill_id)
    grouped: dict[int, list[Any]] = defaultdict(list)
    for member in members:
        assert member.user_id is not None and member.id is not None
        for queue in queues:
            if queue.company_id != member.company_id:
                continue
            if queue.company_user_id is not None:
                eligible = queue.company_user_id == member.id
            else:
                eligible = required[queue.id or 0] <= held[member.id]
            if eligible:
                grouped[member.user_id].append(queue)
    return grouped


USERS = register(
    Resource(
        name="users",
        model=User,
        serialize=public,
        relations={
            "companies": Relation("companies", load_companies),
            "skills": Relation("skills", load_skills),
            "queues": Relation("queues", load_queues),
        },
    )
)


@api.route(
    "GET",
    "/api/me",
    summary="The signed-in user",
    tag="users",
    response=MeOut,
    errors=(422,),
)
async def me(ctx: Ctx) -> dict[str, Any]:
    assert ctx.user is not None
    async with ctx.services.db.session() as session:
        result = await one_response(ctx, USERS, ctx.user, session)
    result["is_admin"] = ctx.user.is_admin
    return result


@api.route(
    "GET",
    "/api/users/{user_id}",
    summary="A user who shares a company",
    tag="users",
    response=UserOut,
    errors=(404, 422),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    user_id = path_id(ctx, "user_id", "user")
    async with ctx.services.db.session() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise not_found("user")
        companies = await visible_company_ids(ctx)
        if companies is not None and user_id != ctx.user_id:
            shared = await session.execute(
                select(col(CompanyUser.id)).where(
                    col(CompanyUser.user_id) == user_id,
                    col(CompanyUser.company_id).in_(companies),
                    col(CompanyUser.removed_at).is_(None),
                )
            )
            if shared.first() is None:
                raise not_found("user")
        return await one_response(ctx, USERS, user, session)

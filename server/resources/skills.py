"""Skills: what a company's queues require and its company users hold, at a level."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import format_timestamp, utcnow
from models.companies import Company
from models.company_users import CompanyUser, CompanyUserSkill
from models.public import company_user_public
from models.queues import QueueSkill
from models.skills import Skill
from server.access import membership, require, visible_company_ids
from server.api import Ctx, api
from server.conventions import Resource, list_response, one_response, path_id, register
from server.errors import ValidationFailed, invalid, not_found
from server.fields import Id, Name
from server.loaders import Pivoted
from server.resources import company_users

MAX_SKILLS = 500


class SkillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    company_id: Id


class SkillUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class SkillOut(BaseModel):
    id: int
    name: str
    company_id: int
    created_at: str
    updated_at: str


class HeldSkillOut(SkillOut):
    level: int


class SkillLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    level: int = Field(default=1, ge=1, le=100)


class SkillSync(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skill_ids: list[Id] | None = Field(default=None, max_length=MAX_SKILLS)
    skills: list[SkillLevel] | None = Field(default=None, max_length=MAX_SKILLS)


class CompanyUserWithSkillsOut(company_users.CompanyUserOut):
    skills: list[HeldSkillOut]


def public(skill: Skill | Pivoted) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": skill.id,
        "name": skill.name,
        "company_id": skill.company_id,
        "created_at": format_timestamp(skill.created_at),
        "updated_at": format_timestamp(skill.updated_at),
    }
    if isinstance(skill, Pivoted) and hasattr(skill.link, "level"):
        row["level"] = skill.link.level
    return row


SKILLS = register(Resource(name="skills", model=Skill, serialize=public))


def live_skills() -> Select[Any]:
    return (
        select(Skill)
        .join(Company, col(Company.id) == col(Skill.company_id))
        .where(col(Company.deleted_at).is_(None))
    )


async def find(ctx: Ctx, skill_id: int, role: str = "agent") -> Skill:
    """A skill of a live company the caller reaches at `role`: 404 outside, 403 below."""
    async with ctx.services.db.session() as session:
        skill = (
            await session.execute(live_skills().where(col(Skill.id) == skill_id))
        ).scalar_one_or_none()
    if skill is None:
        raise not_found("skill")
    await require(ctx, skill.company_id, role, what="skill")
    assert isinstance(skill, Skill)
    return skill


def _name_taken() -> ValidationFailed:
    return invalid("name", "This company already has a skill with that name.")


async def _check_name(
    session: AsyncSession, company_id: int, name: str, skill_id: int | None
) -> None:
    stmt = select(col(Skill.id)).where(
        col(Skill.company_id) == company_id, func.lower(Skill.name) == name.lower()
    )
    if skill_id is not None:
        stmt = stmt.where(col(Skill.id) != skill_id)
    if (await session.execute(stmt)).first() is not None:
        raise _name_taken()


@api.route(
    "GET",
    "/api/skills",
    summary="The skills of the caller's companies",
    tag="skills",
    response=list[SkillOut],
    params=[{"name": "company_ids", "in": "query", "schema": {"type": "string"}}],
)
async def index(ctx: Ctx) -> Any:
    stmt = live_skills()
    visible = await visible_company_ids(ctx)
    if visible is not None:
        stmt = stmt.where(col(Skill.company_id).in_(visible))
    wanted = company_users.company_ids_filter(ctx)
    if wanted is not None:
        stmt = stmt.where(col(Skill.company_id).in_(wanted))
    async with ctx.services.db.session() as session:
        return await list_response(ctx, SKILLS, stmt, session)


@api.route(
    "GET",
    "/api/skills/{skill_id}",
    summary="One skill",
    tag="skills",
    response=SkillOut,
    errors=(404, 422),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    skill = await find(ctx, path_id(ctx, "skill_id", "skill"))
    async with ctx.services.db.session() as session:
        return await one_response(ctx, SKILLS, skill, session)


@api.route(
    "POST",
    "/api/skills",
    summary="Create a skill (managers)",
    tag="skills",
    body=SkillCreate,
    response=SkillOut,
    status=201,
    errors=(403, 422),
)
async def create(ctx: Ctx) -> dict[str, Any]:
    body: SkillCreate = ctx.body
    if await membership(ctx, body.company_id) is None:
        raise invalid("company_id", "The company_id must name a company you belong to.")
    await require(ctx, body.company_id, "manager", what="company")
    skill = Skill(name=body.name, company_id=body.company_id)
    try:
        async with ctx.services.db.write() as session:
            company = await session.get(Company, body.company_id)
            if company is None or company.deleted_at is not None:
                raise invalid("company_id", "The company_id must name a company you belong to.")
            await _check_name(session, body.company_id, body.name, None)
            session.add(skill)
    except IntegrityError as exc:
        raise _name_taken() from exc
    return public(skill)


@api.route(
    "PUT",
    "/api/skills/{skill_id}",
    summary="Rename a skill (managers)",
    tag="skills",
    body=SkillUpdate,
    response=SkillOut,
    errors=(403, 404, 422),
)
async def edit(ctx: Ctx) -> dict[str, Any]:
    skill = await find(ctx, path_id(ctx, "skill_id", "skill"), "manager")
    body: SkillUpdate = ctx.body
    try:
        async with ctx.services.db.write() as session:
            await _check_name(session, skill.company_id, body.name, skill.id)
            stored = await session.get(Skill, skill.id)
            assert stored is not None
            stored.name = body.name
            stored.updated_at = utcnow()
            skill = stored
    except IntegrityError as exc:
        raise _name_taken() from exc
    return public(skill)


@api.route(
    "DELETE",
    "/api/skills/{skill_id}",
    summary="Delete a skill; queues and company users lose it (managers)",
    tag="skills",
    status=204,
    errors=(403, 404),
)
async def destroy(ctx: Ctx) -> None:
    skill = await find(ctx, path_id(ctx, "skill_id", "skill"), "manager")
    async with ctx.services.db.write() as session:
        queue_ids = list(
            (
                await session.execute(
                    select(col(QueueSkill.queue_id)).where(col(QueueSkill.skill_id) == skill.id)
                )
            ).scalars()
        )
        member_ids = list(
            (
                await session.execute(
                    select(col(CompanyUserSkill.company_user_id)).where(
                        col(CompanyUserSkill.skill_id) == skill.id
                    )
                )
            ).scalars()
        )
        await session.execute(delete(QueueSkill).where(col(QueueSkill.skill_id) == skill.id))
        await session.execute(
            delete(CompanyUserSkill).where(col(CompanyUserSkill.skill_id) == skill.id)
        )
        await session.execute(delete(Skill).where(col(Skill.id) == skill.id))
    for queue_id in queue_ids:
        await ctx.services.hooks.queue_changed(queue_id)
    for member_id in member_ids:
        await ctx.services.hooks.company_user_changed(member_id)


def _wanted_levels(body: SkillSync) -> dict[int, int]:
    """The skill ids asked for with their levels; one of the two forms, without conflicts."""
    if (body.skill_ids is None) == (body.skills is None):
        message = "Send either skill_ids or skills (with levels), not both and not neither."
        raise ValidationFailed({"skill_ids": [message], "skills": [message]})
    if body.skill_ids is not None:
        return dict.fromkeys(body.skill_ids, 1)
    levels: dict[int, int] = {}
    for item in body.skills or []:
        if levels.get(item.id, item.level) != item.level:
            raise invalid("skills", f"Skill {item.id} is listed twice with different levels.")
        levels[item.id] = item.level
    return levels


@api.route(
    "PUT",
    "/api/company-users/{company_user_id}/skills",
    summary="Set a company user's skills and levels; those not sent are removed",
    tag="company users",
    body=SkillSync,
    response=CompanyUserWithSkillsOut,
    errors=(403, 404, 422),
)
async def sync(ctx: Ctx) -> dict[str, Any]:
    member = await company_users.find(ctx, path_id(ctx, "company_user_id", "company user"))
    await require(
        ctx, member.company_id, company_users.editor_role(member.role), what="company user"
    )
    body: SkillSync = ctx.body
    levels = _wanted_levels(body)
    field_name = "skill_ids" if body.skill_ids is not None else "skills"
    async with ctx.services.db.write() as session:
        if levels:
            own = set(
                (
                    await session.execute(
                        select(col(Skill.id)).where(
                            col(Skill.id).in_(levels), col(Skill.company_id) == member.company_id
                        )
                    )
                ).scalars()
            )
            foreign = sorted(set(levels) - own)
            if foreign:
                listed = ", ".join(str(i) for i in foreign)
                raise invalid(
                    field_name, f"Each skill must belong to this company; these do not: {listed}."
                )
        await session.execute(
            delete(CompanyUserSkill).where(col(CompanyUserSkill.company_user_id) == member.id)
        )
        assert member.id is not None
        for skill_id, level in levels.items():
            session.add(
                CompanyUserSkill(company_user_id=member.id, skill_id=skill_id, level=level)
            )
        stored = await session.get(CompanyUser, member.id)
        assert stored is not None
        stored.updated_at = utcnow()
    await ctx.services.hooks.company_user_changed(member.id)
    async with ctx.services.db.session() as session:
        loaded = await company_users.COMPANY_USERS.relations["skills"].load(session, [member])
    return {
        **company_user_public(member),
        "skills": [public(s) for s in loaded.get(member.id, [])],
    }

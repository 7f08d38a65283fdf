"""Companies: create, read, update, delete; the creator becomes the first manager."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from models.base import format_timestamp, utcnow
from models.companies import Company
from models.company_users import CompanyUser
from models.queries import Query
from models.queues import Queue
from models.skills import Skill
from models.users import User
from server.access import is_admin, require, visible_company_ids
from server.api import Ctx, api
from server.conventions import Relation, Resource, list_response, one_response, path_id, register
from server.errors import Forbidden, ValidationFailed, not_found
from server.fields import ImageUrl, Name, slugify
from server.loaders import children, through
from server.staff import add_company_user

Minutes = Field(ge=0, le=65535)


class CompanyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    slug: Name
    logo_url: ImageUrl
    query_expiry_time_in_minutes: int = Field(default=60, ge=0, le=65535)
    idle_timeout_in_minutes: int = Field(default=10, ge=0, le=65535)
    reminder_interval_in_minutes: int = Field(default=120, ge=0, le=65535)
    max_active_users: int | None = Field(default=None, ge=0, le=1_000_000)


class CompanyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    slug: Name | None = None
    logo_url: ImageUrl | None = None
    query_expiry_time_in_minutes: int | None = Field(default=None, ge=0, le=65535)
    idle_timeout_in_minutes: int | None = Field(default=None, ge=0, le=65535)
    reminder_interval_in_minutes: int | None = Field(default=None, ge=0, le=65535)
    max_active_users: int | None = Field(default=None, ge=0, le=1_000_000)


class CompanyOut(BaseModel):
    id: int
    name: str
    slug: str
    logo_url: str
    query_expiry_time_in_minutes: int
    idle_timeout_in_minutes: int
    reminder_interval_in_minutes: int
    max_active_users: int | None
    created_at: str
    updated_at: str


def public(company: Company) -> dict[str, Any]:
    return {
        "id": company.id,
        "name": company.name,
        "slug": company.slug,
        "logo_url": company.logo_url,
        "query_expiry_time_in_minutes": company.query_expiry_time_in_minutes,
        "idle_timeout_in_minutes": company.idle_timeout_in_minutes,
        "reminder_interval_in_minutes": company.reminder_interval_in_minutes,
        "max_active_users": company.max_active_users,
        "created_at": format_timestamp(company.created_at),
        "updated_at": format_timestamp(company.updated_at),
    }


_live_member = (CompanyUser.removed_at.is_(None),)  # type: ignore[union-attr]
COMPANIES = register(
    Resource(
        name="companies",
        model=Company,
        serialize=public,
        relations={
            "users": Relation(
                "users",
                through(
                    CompanyUser,
                    "company_id",
                    "user_id",
                    User,
                    CompanyUser.removed_at.is_(None),  # type: ignore[union-attr]
                    CompanyUser.accepted_at.is_not(None),  # type: ignore[union-attr]
                ),
            ),
            "queues": Relation(
                "queues",
                children(Queue, "company_id", Queue.deleted_at.is_(None)),  # type: ignore[union-attr]
            ),
            "skills": Relation("skills", children(Skill, "company_id")),
            "companyUsers": Relation(
                "company_users", children(CompanyUser, "company_id", *_live_member)
            ),
        },
    )
)


def live() -> Select[Any]:
    return select(Company).where(Company.deleted_at.is_(None))  # type: ignore[union-attr]


async def find(ctx: Ctx, company_id: int, role: str) -> Company:
    """A live company the caller reaches at `role`, else 404 (or 403 for a lower role)."""
    await require(ctx, company_id, role, what="company")
    async with ctx.services.db.session() as session:
        company = (
            await session.execute(live().where(col(Company.id) == company_id))
        ).scalar_one_or_none()
    if company is None:
        raise not_found("company")
    assert isinstance(company, Company)
    return company


def _slug_or_422(raw: str) -> str:
    slug = slugify(raw)
    if not slug:
        raise ValidationFailed(
            {"slug": ["The slug field must contain at least one letter or digit."]}
        )
    return slug[:255]


def _slug_taken() -> ValidationFailed:
    return ValidationFailed({"slug": ["The slug has already been taken."]})


async def _check_slug(session: Any, slug: str, company_id: int | None) -> None:
    stmt = select(col(Company.id)).where(col(Company.slug) == slug)
    if company_id is not None:
        stmt = stmt.where(col(Company.id) != company_id)
    if (await session.execute(stmt)).first() is not None:
        raise _slug_taken()


@api.route(
    "GET",
    "/api/companies",
    summary="The companies the caller belongs to",
    tag="companies",
    response=list[CompanyOut],
)
async def index(ctx: Ctx) -> Any:
    stmt = live()
    companies = await visible_company_ids(ctx)
    if companies is not None:
        stmt = stmt.where(Company.id.in_(companies))  # type: ignore[union-attr]
    async with ctx.services.db.session() as session:
        return await list_response(ctx, COMPANIES, stmt, session)


@api.route(
    "POST",
    "/api/companies",
    summary="Create a company; the caller becomes its manager",
    tag="companies",
    body=CompanyCreate,
    response=CompanyOut,
    status=201,
    errors=(403, 422),
)
async def create(ctx: Ctx) -> dict[str, Any]:
    body: CompanyCreate = ctx.body
    if body.max_active_users is not None and not is_admin(ctx):
        raise Forbidden("Only a system administrator may set max_active_users.")
    assert ctx.user is not None
    company = Company(
        name=body.name,
        slug=_slug_or_422(body.slug),
        logo_url=body.logo_url,
        query_expiry_time_in_minutes=body.query_expiry_time_in_minutes,
        idle_timeout_in_minutes=body.idle_timeout_in_minutes,
        reminder_interval_in_minutes=body.reminder_interval_in_minutes,
        max_active_users=body.max_active_users,
    )
    try:
        async with ctx.services.db.write() as session:
            await _check_slug(session, company.slug, None)
            session.add(company)
            await session.flush()
            assert company.id is not None
            manager = CompanyUser(
                user_id=ctx.user_id,
                company_id=company.id,
                invited_email=ctx.user.email,
                accepted_at=utcnow(),
                role="manager",
            )
            await add_company_user(session, manager, label=ctx.user.name)
    except IntegrityError as exc:
        raise _slug_taken() from exc
    return public(company)


@api.route(
    "GET",
    "/api/companies/{company_id}",
    summary="One company",
    tag="companies",
    response=CompanyOut,
    errors=(404, 422),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    company = await find(ctx, path_id(ctx, "company_id", "company"), "agent")
    async with ctx.services.db.session() as session:
        return await one_response(ctx, COMPANIES, company, session)


@api.route(
    "PUT",
    "/api/companies/{company_id}",
    summary="Update a company (managers)",
    tag="companies",
    body=CompanyUpdate,
    response=CompanyOut,
    errors=(403, 404, 422),
)
async def edit(ctx: Ctx) -> dict[str, Any]:
    company = await find(ctx, path_id(ctx, "company_id", "company"), "manager")
    body: CompanyUpdate = ctx.body
    changes = body.model_dump(exclude_unset=True)
    if "max_active_users" in changes and not is_admin(ctx):
        raise Forbidden("Only a system administrator may set max_active_users.")
    for key in (
        "query_expiry_time_in_minutes",
        "idle_timeout_in_minutes",
        "reminder_interval_in_minutes",
        "slug",
        "logo_url",
    ):
        if key in changes and changes[key] is None:
            raise ValidationFailed({key: [f"The {key} field must not be null."]})
    if "slug" in changes:
        changes["slug"] = _slug_or_422(changes["slug"])
    try:
        async with ctx.services.db.write() as session:
            if "slug" in changes:
                await _check_slug(session, changes["slug"], company.id)
            stored = await session.get(Company, company.id)
            assert stored is not None
            for key, value in changes.items():
                setattr(stored, key, value)
            stored.updated_at = utcnow()
            company = stored
    except IntegrityError as exc:
        raise _slug_taken() from exc
    assert company.id is not None
    await ctx.services.hooks.company_changed(company.id)
    return public(company)


@api.route(
    "DELETE",
    "/api/companies/{company_id}",
    summary="Delete a company (managers)",
    tag="companies",
    status=204,
    errors=(403, 404),
)
async def destroy(ctx: Ctx) -> None:
    company = await find(ctx, path_id(ctx, "company_id", "company"), "manager")
    now = utcnow()
    async with ctx.services.db.write() as session:
        await session.execute(
            update(Company)
            .where(col(Company.id) == company.id)
            .values(deleted_at=now, updated_at=now)
        )
        await session.execute(
            update(Query)
            .where(col(Query.company_id) == company.id, col(Query.status) == "waiting")
            .values(status="cancelled", ended_at=now, updated_at=now)
        )
    assert company.id is not None
    await ctx.services.hooks.company_deleted(company.id)

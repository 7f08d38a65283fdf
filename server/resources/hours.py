"""Hours of operation, blacklist hours, and whether a queue is open now.

Two flat resources, each object naming its company and, optionally, its queue:

- `/api/hours`: weekly opening windows `{company_id, queue_id, weekday, opens_at, closes_at,
  timezone}`; `queue_id` null makes it one of the company's windows, which every queue
  without windows of its own uses.
- `/api/blacklist-hours`: absolute closed periods `{company_id, queue_id, starts_at, ends_at,
  reason}`; `queue_id` null closes the whole company.

Both answer `GET` (list, one), `POST`, `PUT` (partial) and `DELETE`; members read, managers
write. Lists take the scopes `company_id` and `queue_id` (with a value) and `company_wide`
(the objects without a queue). `GET /api/queues/{id}/status` says whether a queue is open.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import format_timestamp, utcnow
from models.companies import Company
from models.hours import BlacklistHour, OperatingHour
from models.queues import Queue
from server import hours
from server.access import membership, require, visible_company_ids
from server.api import Ctx, api
from server.conventions import Resource, Scope, list_response, one_response, path_id, register
from server.errors import Forbidden, ValidationFailed, not_found
from server.fields import AwareDatetime, Id, Text
from server.resources import queues as queues_resource


def _clock(value: str) -> str:
    if hours.parse_clock(value) is None:
        raise ValueError("must be a time of day as HH:MM, from 00:00 to 23:59")
    return value


def _zone(value: str) -> str:
    if hours.zone(value) is None:
        raise ValueError("must be an IANA time zone name, such as Europe/London")
    return value


Clock = Annotated[
    str,
    Field(max_length=5, examples=["09:00"], json_schema_extra={"pattern": hours.CLOCK_PATTERN}),
    AfterValidator(_clock),
]
Zone = Annotated[str, Field(max_length=64, examples=["Europe/London"]), AfterValidator(_zone)]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 is Monday, 6 is Sunday.")]


class HourCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: Id
    queue_id: Id | None = None
    weekday: Weekday
    opens_at: Clock
    closes_at: Clock
    timezone: Zone


class HourUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: Weekday | None = None
    opens_at: Clock | None = None
    closes_at: Clock | None = None
    timezone: Zone | None = None


class HourOut(BaseModel):
    id: int
    company_id: int
    queue_id: int | None
    weekday: int
    opens_at: str
    closes_at: str
    timezone: str
    created_at: str
    updated_at: str


class BlacklistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: Id
    queue_id: Id | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: Text | None = None


class BlacklistUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    reason: Text | None = None


class BlacklistOut(BaseModel):
    id: int
    company_id: int
    queue_id: int | None
    starts_at: str
    ends_at: str
    reason: str | None
    created_at: str
    updated_at: str


class QueueStatusOut(BaseModel):
    is_open: bool
    opens_at: str | None
    closes_at: str | None


def public_hour(row: OperatingHour) -> dict[str, Any]:
    return {
        "id": row.id,
        "company_id": row.company_id,
        "queue_id": row.queue_id,
        "weekday": row.weekday,
        "opens_at": row.opens_at,
        "closes_at": row.closes_at,
        "timezone": row.timezone,
        "created_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
    }


def public_blacklist(row: BlacklistHour) -> dict[str, Any]:
    return {
        "id": row.id,
        "company_id": row.company_id,
        "queue_id": row.queue_id,
        "starts_at": format_timestamp(row.starts_at),
        "ends_at": format_timestamp(row.ends_at),
        "reason": row.reason,
        "created_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
    }


def _scopes(model: Any) -> dict[str, Scope]:
    def by_company(stmt: Select[Any], value: str, ctx: Ctx) -> Select[Any]:
        return stmt.where(model.company_id == int(value))

    def by_queue(stmt: Select[Any], value: str, ctx: Ctx) -> Select[Any]:
        return stmt.where(model.queue_id == int(value))

    def company_wide(stmt: Select[Any], ctx: Ctx) -> Select[Any]:
        return stmt.where(model.queue_id.is_(None))

    return {
        "company_id": Scope(by_company, takes_value=True),
        "queue_id": Scope(by_queue, takes_value=True),
        "company_wide": Scope(company_wide),
    }


HOURS = register(
    Resource(
        name="hours", model=OperatingHour, serialize=public_hour, scopes=_scopes(OperatingHour)
    )
)
BLACKLIST_HOURS = register(
    Resource(
        name="blacklist_hours",
        model=BlacklistHour,
        serialize=public_blacklist,
        scopes=_scopes(BlacklistHour),
    )
)


async def _check_target(ctx: Ctx, company_id: int, queue_id: int | None) -> None:
    """422 unless the company is the caller's and the queue a live one of it; 403 for members."""
    standing = await membership(ctx, company_id)
    async with ctx.services.db.session() as session:
        company = await session.get(Company, company_id)
        if company is None or company.deleted_at is not None:
            standing = None
        if standing is None:
            raise ValidationFailed(
                {"company_id": ["The company_id must name a company you belong to."]}
            )
        if not standing.at_least("manager"):
            raise Forbidden("Only a manager of this company may change its hours.")
        if queue_id is None:
            return
        queue = await session.get(Queue, queue_id)
    if queue is None or queue.deleted_at is not None or queue.company_id != company_id:
        raise ValidationFailed(
            {"queue_id": ["The queue_id must name a queue of the company given as company_id."]}
        )


async def _list(ctx: Ctx, resource: Resource) -> Any:
    stmt = select(resource.model)
    companies = await visible_company_ids(ctx)
    if companies is not None:
        stmt = stmt.where(resource.model.company_id.in_(companies))
    async with ctx.services.db.session() as session:
        return await list_response(ctx, resource, stmt, session)


async def _find(ctx: Ctx, session: AsyncSession, model: Any, what: str, role: str) -> Any:
    found = await session.get(model, path_id(ctx, "id", what))
    if found is None:
        raise not_found(what)
    await require(ctx, found.company_id, role, what=what)
    return found


def _no_nulls(changes: dict[str, Any], *keys: str) -> None:
    nulls = {key: [f"The {key} field must not be null."] for key in keys if key in changes}
    nulls = {key: message for key, message in nulls.items() if changes[key] is None}
    if nulls:
        raise ValidationFailed(nulls)


def _check_period(starts_at: Any, ends_at: Any) -> None:
    if ends_at <= starts_at:
        raise ValidationFailed({"ends_at": ["The ends_at field must be after starts_at."]})


@api.route("GET", "/api/hours", summary="Opening windows", tag="hours", response=list[HourOut])
async def hours_index(ctx: Ctx) -> Any:
    return await _list(ctx, HOURS)


@api.route(
    "GET",
    "/api/hours/{id}",
    summary="One opening window",
    tag="hours",
    response=HourOut,
    errors=(404,),
)
async def hours_show(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as session:
        row = await _find(ctx, session, OperatingHour, "opening window", "agent")
        return await one_response(ctx, HOURS, row, session)


@api.route(
    "POST",
    "/api/hours",
    summary="Add an opening window to a queue or a company (managers)",
    tag="hours",
    body=HourCreate,
    response=HourOut,
    status=201,
    errors=(403, 422),
)
async def hours_create(ctx: Ctx) -> dict[str, Any]:
    body: HourCreate = ctx.body
    await _check_target(ctx, body.company_id, body.queue_id)
    row = OperatingHour(**body.model_dump())
    async with ctx.services.db.write() as session:
        session.add(row)
    return public_hour(row)


@api.route(
    "PUT",
    "/api/hours/{id}",
    summary="Change an opening window (managers)",
    tag="hours",
    body=HourUpdate,
    response=HourOut,
    errors=(403, 404, 422),
)
async def hours_edit(ctx: Ctx) -> dict[str, Any]:
    changes = ctx.body.model_dump(exclude_unset=True)
    _no_nulls(changes, "weekday", "opens_at", "closes_at", "timezone")
    async with ctx.services.db.write() as session:
        row = await _find(ctx, session, OperatingHour, "opening window", "manager")
        for key, value in changes.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
    return public_hour(row)


@api.route(
    "DELETE",
    "/api/hours/{id}",
    summary="Remove an opening window (managers)",
    tag="hours",
    status=204,
    errors=(403, 404),
)
async def hours_destroy(ctx: Ctx) -> None:
    async with ctx.services.db.write() as session:
        row = await _find(ctx, session, OperatingHour, "opening window", "manager")
        await session.delete(row)


@api.route(
    "GET",
    "/api/blacklist-hours",
    summary="Closed periods of queues and companies",
    tag="hours",
    response=list[BlacklistOut],
)
async def blacklist_index(ctx: Ctx) -> Any:
    return await _list(ctx, BLACKLIST_HOURS)


@api.route(
    "GET",
    "/api/blacklist-hours/{id}",
    summary="One closed period",
    tag="hours",
    response=BlacklistOut,
    errors=(404,),
)
async def blacklist_show(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as session:
        row = await _find(ctx, session, BlacklistHour, "blacklist period", "agent")
        return await one_response(ctx, BLACKLIST_HOURS, row, session)


@api.route(
    "POST",
    "/api/blacklist-hours",
    summary="Close a queue or a whole company for a period (managers)",
    tag="hours",
    body=BlacklistCreate,
    response=BlacklistOut,
    status=201,
    errors=(403, 422),
)
async def blacklist_create(ctx: Ctx) -> dict[str, Any]:
    body: BlacklistCreate = ctx.body
    _check_period(body.starts_at, body.ends_at)
    await _check_target(ctx, body.company_id, body.queue_id)
    row = BlacklistHour(**body.model_dump())
    async with ctx.services.db.write() as session:
        session.add(row)
    return public_blacklist(row)


@api.route(
    "PUT",
    "/api/blacklist-hours/{id}",
    summary="Change a closed period (managers)",
    tag="hours",
    body=BlacklistUpdate,
    response=BlacklistOut,
    errors=(403, 404, 422),
)
async def blacklist_edit(ctx: Ctx) -> dict[str, Any]:
    changes = ctx.body.model_dump(exclude_unset=True)
    _no_nulls(changes, "starts_at", "ends_at")
    async with ctx.services.db.write() as session:
        row = await _find(ctx, session, BlacklistHour, "blacklist period", "manager")
        _check_period(changes.get("starts_at", row.starts_at), changes.get("ends_at", row.ends_at))
        for key, value in changes.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
    return public_blacklist(row)


@api.route(
    "DELETE",
    "/api/blacklist-hours/{id}",
    summary="Remove a closed period (managers)",
    tag="hours",
    status=204,
    errors=(403, 404),
)
async def blacklist_destroy(ctx: Ctx) -> None:
    async with ctx.services.db.write() as session:
        row = await _find(ctx, session, BlacklistHour, "blacklist period", "manager")
        await session.delete(row)


@api.route(
    "GET",
    "/api/queues/{queue_id}/status",
    summary="Whether a queue is open now, and its next opening and closing",
    tag="hours",
    response=QueueStatusOut,
    errors=(404,),
)
async def status(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as session:
        queue, _ = await queues_resource.find(session, ctx, path_id(ctx, "queue_id", "queue"))
        found = await hours.queue_status(session, queue, ctx.services.clock.now())
    return hours.status_fields(found)

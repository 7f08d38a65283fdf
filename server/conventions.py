"""The list conventions every resource shares: `with`, `withCount`, scopes, dates, pages."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse

from server.api import Ctx
from server.errors import ValidationFailed

LIST_CAP = 1000
PER_PAGE_DEFAULT = 15
PER_PAGE_MAX = 249

Loader = Callable[[AsyncSession, list[Any]], Awaitable[dict[int, Any]]]
ScopeFn = Callable[..., Any]


@dataclass
class Relation:
    """A name clients may pass to `with`: how to load it for many parents at once."""

    target: str
    load: Loader
    many: bool = True


@dataclass
class Scope:
    """A named filter; `takes_value` scopes are written `scopes[name]=value` or `name:value`."""

    apply: ScopeFn
    takes_value: bool = False


@dataclass
class Resource:
    """How one kind of object is listed, filtered, expanded and shown."""

    name: str
    model: Any
    serialize: Callable[[Any], dict[str, Any]]
    relations: dict[str, Relation] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)


RESOURCES: dict[str, Resource] = {}


def register(resource: Resource) -> Resource:
    RESOURCES[resource.name] = resource
    return resource


_INDEXED = re.compile(r"^(?P<name>[A-Za-z_]+)\[(?P<key>[^\]]*)\]$")


def multi(query: QueryParams, name: str) -> list[str]:
    """All values of a list parameter in its three forms: `a[]=x`, `a=x&a=y`, `a=x,y`."""
    values: list[str] = []
    for key, value in query.multi_items():
        match = _INDEXED.match(key)
        if key == name or (match and match["name"] == name and not match["key"].isidentifier()):
            values.extend(part.strip() for part in value.split(",") if part.strip())
    return values


def keyed(query: QueryParams, name: str) -> dict[str, str]:
    """Values written `name[key]=value`, as used by scopes that take a value."""
    found: dict[str, str] = {}
    for key, value in query.multi_items():
        match = _INDEXED.match(key)
        if match and match["name"] == name and match["key"] and not match["key"].isdigit():
            found[match["key"]] = value
    return found


def _with_tree(paths: list[str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    return tree


def _check_tree(resource: Resource, tree: dict[str, Any], field_name: str, prefix: str) -> None:
    for name, children in tree.items():
        relation = resource.relations.get(name)
        if relation is None:
            allowed = ", ".join(sorted(resource.relations)) or "none"
            raise ValidationFailed(
                {
                    field_name: [
                        f"The {field_name} value '{prefix}{name}' is not allowed; "
                        f"the allowed names are: {allowed}."
                    ]
                }
            )
        _check_tree(RESOURCES[relation.target], children, field_name, f"{prefix}{name}.")


@dataclass
class Expansion:
    """The validated `with` and `withCount` of one request."""

    tree: dict[str, Any]
    counts: list[str]


def parse_expansion(ctx: Ctx, resource: Resource) -> Expansion:
    """Read `with` and `withCount`; an unknown name is a 422 listing the allowed ones."""
    for name in ("with", "withCount"):
        if keyed(ctx.query, name):
            raise ValidationFailed(
                {name: [f"The {name} parameter takes a list: {name}[]=a, {name}=a,b."]}
            )
    tree = _with_tree(multi(ctx.query, "with"))
    _check_tree(resource, tree, "with", "")
    counts = multi(ctx.query, "withCount")
    for name in counts:
        if name not in resource.relations or not resource.relations[name].many:
            allowed = ", ".join(sorted(n for n, r in resource.relations.items() if r.many))
            raise ValidationFailed(
                {
                    "withCount": [
                        f"The withCount value '{name}' is not allowed; "
                        f"the allowed names are: {allowed or 'none'}."
                    ]
                }
            )
    return Expansion(tree, counts)


async def expand(
    session: AsyncSession,
    resource: Resource,
    objects: list[Any],
    expansion: Expansion,
) -> list[dict[str, Any]]:
    """Serialize objects with the relations and counts asked for, loading each level once."""
    rows = [resource.serialize(obj) for obj in objects]
    if not objects:
        return rows
    await _attach(session, resource, objects, rows, expansion.tree)
    for name in expansion.counts:
        loaded = await resource.relations[name].load(session, objects)
        for obj, row in zip(objects, rows, strict=True):
            row[f"{name_to_snake(name)}_count"] = len(loaded.get(obj.id, []))
    return rows


async def _attach(
    session: AsyncSession,
    resource: Resource,
    objects: list[Any],
    rows: list[dict[str, Any]],
    tree: dict[str, Any],
) -> None:
    for name, children in tree.items():
        relation = resource.relations[name]
        target = RESOURCES[relation.target]
        loaded = await relation.load(session, objects)
        key = name_to_snake(name)
        for obj, row in zip(objects, rows, strict=True):
            value = loaded.get(obj.id, [] if relation.many else None)
            if relation.many:
                row[key] = await _rows(session, target, list(value or []), children)
            else:
                row[key] = (
                    None if value is None else (await _rows(session, target, [value], children))[0]
                )


async def _rows(
    session: AsyncSession, resource: Resource, objects: list[Any], tree: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = [resource.serialize(obj) for obj in objects]
    if objects and tree:
        await _attach(session, resource, objects, rows, tree)
    return rows


def name_to_snake(name: str) -> str:
    """`companyUsers` is shown as `company_users`, as the seed's fields are."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def parse_scopes(ctx: Ctx, resource: Resource) -> list[tuple[str, str | None]]:
    """Named scopes with their values; `latest` exists on every list."""
    chosen: list[tuple[str, str | None]] = []
    for item in multi(ctx.query, "scopes"):
        name, _, raw = item.partition(":")
        chosen.append((name, raw or None))
    chosen.extend(keyed(ctx.query, "scopes").items())
    allowed = sorted({*resource.scopes, "latest"})
    errors: list[str] = []
    for name, value in chosen:
        scope = resource.scopes.get(name)
        if name != "latest" and scope is None:
            errors.append(
                f"The scopes value '{name}' is not allowed; "
                f"the allowed names are: {', '.join(allowed)}."
            )
        elif scope is not None and scope.takes_value and value is None:
            errors.append(f"The {name} scope needs a value, as scopes[{name}]=<value>.")
        elif scope is not None and scope.takes_value and not _is_id(value):
            errors.append(f"The {name} scope value must be a positive whole number.")
    if errors:
        raise ValidationFailed({"scopes": errors})
    return chosen


def _is_id(value: str | None) -> bool:
    return value is not None and value.isdigit() and 0 < int(value) < 2**31


def _day_or_instant(raw: str, name: str, *, end_of_day: bool) -> datetime:
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time(0), tzinfo=UTC)
            return moment + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else moment
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise ValidationFailed(
            {name: [f"The {name} field must be an ISO 8601 date or date and time."]}
        ) from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def apply_filters(ctx: Ctx, resource: Resource, stmt: Select[Any]) -> Select[Any]:
    """Apply scopes and `before`/`after`, then the order (oldest first unless `latest`)."""
    model = resource.model
    latest = False
    for name, value in parse_scopes(ctx, resource):
        if name == "latest":
            latest = True
            continue
        scope = resource.scopes[name]
        result = scope.apply(stmt, value, ctx) if scope.takes_value else scope.apply(stmt, ctx)
        stmt = await result if inspect.isawaitable(result) else result
    before = ctx.query.get("before")
    after = ctx.query.get("after")
    if before:
        stmt = stmt.where(model.created_at <= _day_or_instant(before, "before", end_of_day=True))
    if after:
        stmt = stmt.where(model.created_at >= _day_or_instant(after, "after", end_of_day=False))
    if latest:
        return stmt.order_by(model.created_at.desc(), model.id.desc())
    return stmt.order_by(model.id)


def _page_params(ctx: Ctx) -> tuple[int, int] | None:
    raw_page = ctx.query.get("page")
    raw_per_page = ctx.query.get("per_page")
    if raw_page is None and raw_per_page is None:
        return None
    errors: dict[str, list[str]] = {}
    page = _bounded(raw_page, "page", 1, None, 1, errors)
    per_page = _bounded(raw_per_page, "per_page", 1, PER_PAGE_MAX, PER_PAGE_DEFAULT, errors)
    if errors:
        raise ValidationFailed(errors)
    return page, per_page


def _bounded(
    raw: str | None,
    name: str,
    low: int,
    high: int | None,
    default: int,
    errors: dict[str, list[str]],
) -> int:
    if raw is None:
        return default
    rule = f"from {low} to {high}" if high else f"of at least {low}"
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        errors[name] = [f"The {name} field must be a whole number {rule}."]
        return default
    return int(raw)


async def list_response(
    ctx: Ctx, resource: Resource, stmt: Select[Any], session: AsyncSession
) -> JSONResponse:
    """Answer a list: a plain array (capped, with headers) or the paginated object."""
    expansion = parse_expansion(ctx, resource)
    paging = _page_params(ctx)
    stmt = await apply_filters(ctx, resource, stmt)
    total = (
        await session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ).scalar_one()
    if paging is None:
        objects = list((await session.execute(stmt.limit(LIST_CAP))).scalars())
        rows = await expand(session, resource, objects, expansion)
        headers = {"X-Total-Count": str(total)}
        if total > LIST_CAP:
            per_page = 200
            next_url = ctx.request.url.include_query_params(
                page=LIST_CAP // per_page + 1, per_page=per_page
            )
            headers["Link"] = f'<{next_url}>; rel="next"'
        return JSONResponse(rows, headers=headers)
    page, per_page = paging
    offset = (page - 1) * per_page
    objects = list((await session.execute(stmt.offset(offset).limit(per_page))).scalars())
    rows = await expand(session, resource, objects, expansion)
    url = ctx.request.url

    def page_url(number: int) -> str:
        return str(url.include_query_params(page=number, per_page=per_page))

    body = {
        "current_page": page,
        "data": rows,
        "first_page_url": page_url(1),
        "from": offset + 1 if rows else None,
        "next_page_url": page_url(page + 1) if offset + per_page < total else None,
        "path": str(url.replace(query="")),
        "per_page": per_page,
        "prev_page_url": page_url(page - 1) if page > 1 else None,
        "to": offset + len(rows) if rows else None,
    }
    return JSONResponse(body, headers={"X-Total-Count": str(total)})


async def one_response(
    ctx: Ctx, resource: Resource, obj: Any, session: AsyncSession
) -> dict[str, Any]:
    """One object with whatever `with` and `withCount` ask for."""
    expansion = parse_expansion(ctx, resource)
    return (await expand(session, resource, [obj], expansion))[0]


def path_id(ctx: Ctx, name: str, what: str) -> int:
    """A path id; anything but a positive whole number is a 404 of that object."""
    from server.errors import not_found

    raw = str(ctx.path.get(name, ""))
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise not_found(what)
    return int(raw)

"""Batch loaders for `with`: one query per relation level, whatever the number of parents."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.conventions import Loader


class Pivoted:
    """A related row together with the pivot row that links it (a skill and its level)."""

    def __init__(self, row: Any, link: Any) -> None:
        self.row = row
        self.link = link
        self.id = row.id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def children(model: Any, fk: str, *where: Any, order: Any = None) -> Loader:
    """Rows of `model` whose `fk` points at a parent, grouped by parent id."""

    async def load(session: AsyncSession, parents: list[Any]) -> dict[int, Any]:
        ids = {p.id for p in parents}
        column = getattr(model, fk)
        stmt = select(model).where(column.in_(ids), *where).order_by(order or model.id)
        grouped: dict[int, list[Any]] = defaultdict(list)
        for row in (await session.execute(stmt)).scalars():
            grouped[getattr(row, fk)].append(row)
        return grouped

    return load


def parent(model: Any, fk: str, *where: Any) -> Loader:
    """The one row of `model` a parent's `fk` points at."""

    async def load(session: AsyncSession, parents: list[Any]) -> dict[int, Any]:
        ids = {getattr(p, fk) for p in parents if getattr(p, fk) is not None}
        if not ids:
            return {}
        stmt = select(model).where(model.id.in_(ids), *where)
        rows = {r.id: r for r in (await session.execute(stmt)).scalars()}
        return {p.id: rows.get(getattr(p, fk)) for p in parents}

    return load


def through(
    pivot: Any, parent_col: str, child_col: str, model: Any, *where: Any, keep_pivot: bool = False
) -> Loader:
    """Rows of `model` reached through a pivot table, wrapped with their pivot row if asked."""

    async def load(session: AsyncSession, parents: list[Any]) -> dict[int, Any]:
        ids = {p.id for p in parents}
        stmt = (
            select(getattr(pivot, parent_col), model, pivot)
            .join(model, model.id == getattr(pivot, child_col))
            .where(getattr(pivot, parent_col).in_(ids), *where)
            .order_by(model.id)
        )
        grouped: dict[int, list[Any]] = defaultdict(list)
        for parent_id, row, link in await session.execute(stmt):
            grouped[parent_id].append(Pivoted(row, link) if keep_pivot else row)
        return grouped

    return load

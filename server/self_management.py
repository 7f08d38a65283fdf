"""Self-management: ratings move a company user's limit and pick mode, within bounds.

After each rating of a company user, each rule it has switched on looks at its latest
ratings. A rule needs `window` ratings given since its own last change (or ever), so a
change always rests on fresh evidence: after a change, the next one needs a full new window.

- `max_ongoing_queries_handled` (with `is_auto_max_number_handled`): over the last 20, an
  average of 4.5 or more raises it by one (at most 5), under 3 lowers it by one (at least 1).
- `ability_to_pick_from_queue` (with `is_auto_ability_to_pick_from_queue`): over the last
  50, an average of 4 or more grants it, under 3 removes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from models.base import table_of
from models.company_users import CompanyUser, LimitChange
from models.db import Database
from models.queries import Rating

log = logging.getLogger("connectnow.self_management")

LIMIT_WINDOW = 20
PICK_WINDOW = 50
LIMIT_MIN = 1
LIMIT_MAX = 5

_company_users = table_of(CompanyUser)
_limit_changes = table_of(LimitChange)


@dataclass(frozen=True)
class Change:
    """One change a rule made, as recorded in the limit history."""

    field_name: str
    old_value: Any
    new_value: Any
    reason: str


async def review(db: Database, company_user_id: int, *, now: datetime) -> list[Change]:
    """Apply every switched-on rule to the company user; returns the changes made."""
    async with db.connect() as conn:
        member = (
            await conn.execute(
                select(_company_users)
                .where(_company_users.c.id == company_user_id)
                .with_for_update()
            )
        ).first()
        if member is None:
            return []
        changes: list[Change] = []
        if member.is_auto_max_number_handled:
            change = await _limit_rule(conn, member, now)
            changes.extend([change] if change else [])
        if member.is_auto_ability_to_pick_from_queue:
            change = await _pick_rule(conn, member, now)
            changes.extend([change] if change else [])
        for change in changes:
            await _record(conn, company_user_id, change, now)
    for change in changes:
        log.info(
            "limits.changed company_user=%s field=%s old=%s new=%s",
            company_user_id,
            change.field_name,
            change.old_value,
            change.new_value,
        )
    return changes


async def _average_of_fresh(
    conn: AsyncConnection, company_user_id: int, field_name: str, window: int
) -> float | None:
    """The average of the last `window` ratings since the field's last change, if enough."""
    last_change = (
        await conn.execute(
            select(func.max(col(LimitChange.created_at))).where(
                col(LimitChange.company_user_id) == company_user_id,
                col(LimitChange.field_name) == field_name,
            )
        )
    ).scalar_one_or_none()
    stmt = select(col(Rating.score)).where(col(Rating.company_user_id) == company_user_id)
    if last_change is not None:
        stmt = stmt.where(col(Rating.created_at) > last_change)
    stmt = stmt.order_by(col(Rating.created_at).desc(), col(Rating.id).desc()).limit(window)
    scores = list((await conn.execute(stmt)).scalars())
    if len(scores) < window:
        return None
    return sum(scores) / len(scores)


async def _limit_rule(conn: AsyncConnection, member: Any, now: datetime) -> Change | None:
    field_name = "max_ongoing_queries_handled"
    average = await _average_of_fresh(conn, member.id, field_name, LIMIT_WINDOW)
    if average is None:
        return None
    old = member.max_ongoing_queries_handled
    if average >= 4.5:
        new = min(old + 1, LIMIT_MAX)
    elif average < 3:
        new = max(old - 1, LIMIT_MIN)
    else:
        return None
    if new == old:
        return None
    reason = f"The average of the last {LIMIT_WINDOW} ratings was {average:.2f}."
    return Change(field_name, old, new, reason)


async def _pick_rule(conn: AsyncConnection, member: Any, now: datetime) -> Change | None:
    field_name = "ability_to_pick_from_queue"
    average = await _average_of_fresh(conn, member.id, field_name, PICK_WINDOW)
    if average is None:
        return None
    old = bool(member.ability_to_pick_from_queue)
    if average >= 4:
        new = True
    elif average < 3:
        new = False
    else:
        return None
    if new == old:
        return None
    reason = f"The average of the last {PICK_WINDOW} ratings was {average:.2f}."
    return Change(field_name, old, new, reason)


async def _record(
    conn: AsyncConnection, company_user_id: int, change: Change, now: datetime
) -> None:
    await conn.execute(
        update(_company_users)
        .where(_company_users.c.id == company_user_id)
        .values({change.field_name: change.new_value, "updated_at": now})
    )
    await conn.execute(
        insert(_limit_changes).values(
            company_user_id=company_user_id,
            field_name=change.field_name,
            old_value=_text(change.old_value),
            new_value=_text(change.new_value),
            reason=change.reason,
            created_at=now,
        )
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

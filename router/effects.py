"""The durable effects of timers, each a conditional update so that it happens once.

Two processes may race to the same effect (a timer re-armed after a restart, a rebuild);
the `WHERE` of each update lets exactly one of them change the row, and only that one goes
on to tell anybody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, bindparam, select, update
from sqlmodel import col

from models.base import table_of
from models.company_users import CompanyUser, CompanyUserState, CompanyUserStateChange
from models.db import Database
from models.queries import Query, QueryQueue
from models.users import User

_users = table_of(User)
_company_users = table_of(CompanyUser)
_PERSON = (
    select(_users.c.email, _users.c.name)
    .join(_company_users, _company_users.c.user_id == _users.c.id)
    .where(_company_users.c.id == bindparam("b_company_user_id"))
)


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


async def expire(db: Database, query_id: int, queue_id: int, now: datetime) -> bool:
    """Expire a query still waiting on `queue_id`; True for the one caller that did it."""
    async with db.write() as session:
        result = await session.execute(
            update(Query)
            .where(
                col(Query.id) == query_id,
                col(Query.status) == "waiting",
                col(Query.queue_id) == queue_id,
            )
            .values(status="expired", ended_at=now, updated_at=now)
        )
        if not _changed(result):
            return False
        await session.execute(
            update(QueryQueue)
            .where(col(QueryQueue.query_id) == query_id, col(QueryQueue.left_at).is_(None))
            .values(left_at=now)
        )
    return True


async def set_unavailable(db: Database, company_user_id: int, reason: str, now: datetime) -> bool:
    """Turn an available company user unavailable, with a history entry; False if it was not."""
    async with db.write() as session:
        result = await session.execute(
            update(CompanyUserState)
            .where(
                col(CompanyUserState.company_user_id) == company_user_id,
                col(CompanyUserState.is_available).is_(True),
            )
            .values(is_available=False, updated_at=now)
        )
        if not _changed(result):
            return False
        state = (
            await session.execute(
                select(CompanyUserState).where(
                    col(CompanyUserState.company_user_id) == company_user_id
                )
            )
        ).scalar_one()
        session.add(
            CompanyUserStateChange(
                company_user_id=company_user_id,
                is_available=False,
                status_text=state.status_text,
                changed_by_company_user_id=None,
                reason=reason,
                created_at=now,
            )
        )
    return True


@dataclass(frozen=True)
class Reminder:
    """What a due reminder needs: whom to write and about what."""

    query_id: int
    email: str | None
    name: str


async def claim_reminder(
    db: Database, query_id: int, interval_minutes: int, now: datetime
) -> tuple[Reminder | None, datetime | None]:
    """Claim a due reminder once; answers it (or None) and when the next one is due."""
    async with db.session() as session:
        query = await session.get(Query, query_id)
    if query is None or query.status != "ongoing" or query.answered_at is None:
        return None, None
    if not interval_minutes:
        return None, None
    interval = timedelta(minutes=interval_minutes)
    last = max(moment for moment in (query.answered_at, query.reminded_at) if moment is not None)
    if now < last + interval:
        return None, last + interval
    async with db.write() as session:
        guard = (
            col(Query.reminded_at).is_(None)
            if query.reminded_at is None
            else col(Query.reminded_at) == query.reminded_at
        )
        result = await session.execute(
            update(Query)
            .where(col(Query.id) == query_id, col(Query.status) == "ongoing", guard)
            .values(reminded_at=now)
        )
        if not _changed(result):
            return None, None
    return await _holder(db, query), now + interval


async def _holder(db: Database, query: Query) -> Reminder:
    assert query.id is not None
    if query.holder_company_user_id is None:
        return Reminder(query.id, None, "")
    email, name = await email_of(db, query.holder_company_user_id)
    return Reminder(query.id, email, name)


async def email_of(db: Database, company_user_id: int) -> tuple[str | None, str]:
    """The email and first name of the person behind a company user.

    Every answer asks it, for the name its customer sees: one statement built once, on a
    bare connection.
    """
    async with db.read() as connection:
        result = await connection.execute(_PERSON, {"b_company_user_id": company_user_id})
        row = result.first()
    if row is None:
        return None, ""
    return row[0], row[1]

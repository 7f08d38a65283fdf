"""The atomic database steps of a query's life: open, answer, done, transfer, cancel.

Each step is one transaction of SQLAlchemy Core statements (`query_statements`), one
statement on PostgreSQL. The decisive checks are
conditional updates (`... WHERE status = 'waiting'`, `... WHERE ongoing_count < max`), so
whatever the number of processes, a query has at most one holder and no company user holds
more than its limit. A step the rules refuse raises `Refused` and changes nothing. Steps
return the query as their own statement stored it (`RETURNING`), so that neither the REST
layer nor the router reads it again. Nothing here knows HTTP: the REST layer, the router and
the benchmarks all call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from models.base import loaded
from models.db import Database
from models.queries import Query
from router.base import ALREADY_ANSWERED
from server import query_statements as sql

NO_FREE_SLOT = "You have no free slot: finish an ongoing query before answering another."
NOT_HOLDER = "Only the company user that last answered this ongoing query may do that."
MOVED = "This query moved to another queue meanwhile; it will be offered anew there."
NOT_WAITING = {
    "ongoing": ALREADY_ANSWERED,
    "done": ALREADY_ANSWERED,
    "expired": "This query expired before anyone answered it.",
    "cancelled": "This query was cancelled.",
}


class Refused(Exception):
    """A step the rules refuse; the message is a sentence fit for the client."""


@dataclass(frozen=True)
class NewQuery:
    """What a customer gives when opening a query, already validated."""

    company_id: int
    queue_id: int
    source: str
    is_link: bool
    email: str
    name: str
    surname: str | None
    customer_token_hash: str


def _stored(row: Row[Any]) -> Query:
    """The query as a `RETURNING` or a select of all its columns gave it back."""
    return loaded(Query, row._mapping)


async def open_query(db: Database, new: NewQuery, *, now: datetime) -> Query:
    """Store a waiting query and its first stay on its queue; returns the stored query."""
    values = {
        "company_id": new.company_id,
        "queue_id": new.queue_id,
        "source": new.source,
        "is_link": new.is_link,
        "email": new.email,
        "name": new.name,
        "surname": new.surname,
        "status": "waiting",
        "customer_token_hash": new.customer_token_hash,
        "created_at": now,
        "updated_at": now,
    }
    if not db.is_sqlite:
        async with db.single() as conn:
            return _stored((await conn.execute(sql.OPEN_AT_ONCE, values)).one())

    async with db.connect() as conn:
        query = _stored((await conn.execute(sql.OPEN, values)).one())
        await conn.execute(
            sql.ENTER, {"query_id": query.id, "queue_id": new.queue_id, "entered_at": now}
        )
    return query


async def read_query(db: Database, query_id: int) -> Query | None:
    """The query as stored now, or None if there is none with that id."""
    async with db.read() as conn:
        row = (await conn.execute(sql.READ, {"b_query_id": query_id})).first()
    return None if row is None else _stored(row)


async def answer_refusal(db: Database, query: Query, company_user_id: int) -> str | None:
    """Why the company user may not answer the query now, or None if it may try.

    `query` is as the caller just read it. Reads without locks: they give the precise reason
    for the usual refusals, while `answer` decides the races atomically.
    """
    if query.status != "waiting":
        return NOT_WAITING.get(query.status, ALREADY_ANSWERED)

    asked = {"b_company_user_id": company_user_id, "b_queue_id": query.queue_id}
    async with db.read() as conn:
        facts = (await conn.execute(sql.ANSWER_FACTS, asked)).first()
    if facts is None or facts.company_id != query.company_id:
        return "You are not a company user of this query's company."
    return _member_refusal(facts) or _skill_refusal(facts, company_user_id)


def _member_refusal(member: Any) -> str | None:
    if member.removed_at is not None or member.user_id is None or member.accepted_at is None:
        return "Your membership of this company is not accepted."
    if not member.is_active:
        return "Your company user is not active."
    if not member.is_available:
        return "You are not available: set yourself available before answering."
    if member.ongoing_count >= member.max_ongoing_queries_handled:
        return NO_FREE_SLOT
    return None


def _skill_refusal(facts: Any, company_user_id: int) -> str | None:
    """A personal queue takes only its owner; a shared one, whoever holds its every skill."""
    if facts.queue_owner is not None:
        if facts.queue_owner != company_user_id:
            return "This query waits on another company user's personal queue."
        return None
    if facts.skills_missing:
        return "You do not hold every skill this query's queue requires."
    return None


async def answer(
    db: Database,
    query_id: int,
    company_user_id: int,
    *,
    now: datetime,
    on_queue: int | None = None,
) -> Query:
    """Make the company user the holder of a waiting query, if it has a free slot.

    With `on_queue`, only while the query still waits on that queue: the caller checked the
    company user's skills against it, and a transfer meanwhile must not be answered past
    them.

    Both conditional updates must hit one row, in this order (query, then company user,
    the order every step here locks them in), or the transaction rolls back.
    """
    bound = {"b_query_id": query_id, "b_company_user_id": company_user_id, "b_now": now}
    if on_queue is not None:
        bound["b_queue_id"] = on_queue
    if not db.is_sqlite:
        return await _answer_at_once(db, bound)

    async with db.connect() as conn:
        taken = await conn.execute(sql.TAKE if on_queue is None else sql.TAKE_ON_QUEUE, bound)
        answered = taken.one_or_none()
        if answered is None:
            raise Refused(await _why_not_taken(conn, query_id))
        claimed = await conn.execute(sql.CLAIM_SLOT, {"b_company_user_id": company_user_id})
        if claimed.rowcount != 1:
            raise Refused(NO_FREE_SLOT)
        await conn.execute(sql.LEAVE_ANSWERED, bound)
        await conn.execute(
            sql.HOLD,
            {"query_id": query_id, "company_user_id": company_user_id, "answered_at": now},
        )
    return _stored(answered)


async def _answer_at_once(db: Database, bound: dict[str, Any]) -> Query:
    """`answer` in one statement; a slot taken meanwhile rolls the whole of it back."""
    statement = sql.ANSWER_AT_ONCE if "b_queue_id" not in bound else sql.ANSWER_ON_QUEUE_AT_ONCE
    async with db.connect() as conn:
        answered = (await conn.execute(statement, bound)).one_or_none()
        if answered is None:
            raise Refused(await _why_not_taken(conn, bound["b_query_id"]))
        if not answered.claimed:
            raise Refused(NO_FREE_SLOT)
    return loaded(Query, {key: answered._mapping[key] for key in sql.QUERY_KEYS})


async def _why_not_taken(conn: AsyncConnection, query_id: int) -> str:
    """The reason an answer found the query no longer as its checks saw it."""
    now_seen = (await conn.execute(sql.STATUS, {"b_query_id": query_id})).first()
    if now_seen is None:
        return "This query no longer exists."
    if now_seen.status != "waiting":
        return NOT_WAITING.get(now_seen.status, ALREADY_ANSWERED)
    return MOVED


async def mark_done(db: Database, query_id: int, company_user_id: int, *, now: datetime) -> Query:
    """Finish an ongoing query its holder marks done, and free the holder's slot."""
    bound = {"b_query_id": query_id, "b_company_user_id": company_user_id, "b_now": now}
    if not db.is_sqlite:
        async with db.single() as conn:
            done = (await conn.execute(sql.FINISH_AT_ONCE, bound)).one_or_none()
        if done is None:
            raise Refused(NOT_HOLDER)
        return _stored(done)

    async with db.connect() as conn:
        done = (await conn.execute(sql.FINISH, bound)).one_or_none()
        if done is None:
            raise Refused(NOT_HOLDER)
        await _free_slot(conn, query_id, company_user_id, now, done=True)
    return _stored(done)


async def _free_slot(
    conn: AsyncConnection, query_id: int, company_user_id: int, now: datetime, *, done: bool
) -> None:
    await conn.execute(sql.FREE_SLOT, {"b_company_user_id": company_user_id})
    values: dict[str, Any] = {
        "b_query_id": query_id,
        "b_company_user_id": company_user_id,
        "released_at": now,
    }
    if done:
        values["done_at"] = now
    await conn.execute(sql.RELEASE, values)


async def transfer(
    db: Database,
    query_id: int,
    target_queue_id: int,
    *,
    status: str,
    holder: int | None,
    now: datetime,
) -> None:
    """Move a query seen as `status` held by `holder` to wait on another queue.

    The update only applies if the query is still as the caller saw it, so a transfer never
    races an answer or a done into an inconsistent state. `created_at` stays: the query keeps
    its place in line.
    """
    async with db.connect() as conn:
        moved = await conn.execute(
            update(sql.queries)
            .where(
                sql.queries.c.id == query_id,
                sql.queries.c.status == status,
                *_as_seen(holder, target_queue_id),
            )
            .values(
                status="waiting",
                holder_company_user_id=None,
                queue_id=target_queue_id,
                updated_at=now,
            )
        )
        if moved.rowcount != 1:
            raise Refused("This query changed meanwhile; read it again before transferring it.")
        if holder is not None:
            await _free_slot(conn, query_id, holder, now, done=False)
        await conn.execute(
            update(sql.query_queues)
            .where(sql.query_queues.c.query_id == query_id, sql.query_queues.c.left_at.is_(None))
            .values(left_at=now)
        )
        await conn.execute(
            insert(sql.query_queues).values(
                query_id=query_id, queue_id=target_queue_id, entered_at=now
            )
        )


def _as_seen(holder: int | None, target_queue_id: int) -> list[ColumnElement[bool]]:
    """Still held by `holder`; or, if it waits, on some queue other than the target."""
    if holder is not None:
        return [sql.queries.c.holder_company_user_id == holder]
    return [
        sql.queries.c.holder_company_user_id.is_(None),
        sql.queries.c.queue_id != target_queue_id,
    ]


async def cancel(db: Database, query_id: int, *, now: datetime) -> None:
    """The customer withdraws a query that still waits."""
    async with db.connect() as conn:
        cancelled = await conn.execute(
            update(sql.queries)
            .where(sql.queries.c.id == query_id, sql.queries.c.status == "waiting")
            .values(status="cancelled", ended_at=now, updated_at=now)
        )
        if cancelled.rowcount != 1:
            raise Refused("Only a waiting query can be cancelled.")
        await conn.execute(
            update(sql.query_queues)
            .where(sql.query_queues.c.query_id == query_id, sql.query_queues.c.left_at.is_(None))
            .values(left_at=now)
        )

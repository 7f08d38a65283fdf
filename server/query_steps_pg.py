"""The hot steps of `query_actions` as one statement each, for PostgreSQL.

A data-modifying `WITH` runs every part of a step in one round trip, where the same step as
separate statements costs one each plus BEGIN and COMMIT. Each later part runs only if the
part before it changed a row (`EXISTS (SELECT ... FROM <part>)`), and the parts lock their
rows in the order the separate statements do: the query, then the company user. SQLite has
no data-modifying `WITH`; it runs the separate statements of `query_actions`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, exists, func, insert, select, update
from sqlalchemy.sql import Select

from models.company_users import CompanyUser
from models.queries import Query, QueryCompanyUser, QueryQueue

_queries = Query.__table__  # type: ignore[attr-defined]
_query_queues = QueryQueue.__table__  # type: ignore[attr-defined]
_query_company_users = QueryCompanyUser.__table__  # type: ignore[attr-defined]
_company_users = CompanyUser.__table__  # type: ignore[attr-defined]

OPENED_COLUMNS = (
    "company_id",
    "queue_id",
    "source",
    "is_link",
    "email",
    "name",
    "surname",
    "status",
    "customer_token_hash",
    "created_at",
    "updated_at",
)


def _open() -> Select[Any]:
    """The query, and its first stay on its queue."""
    opened = (
        insert(_queries)
        .values({name: bindparam(name) for name in OPENED_COLUMNS})
        .returning(*_queries.c)
        .cte("opened")
    )
    entered = (
        insert(_query_queues)
        .from_select(
            ["query_id", "queue_id", "entered_at"],
            select(opened.c.id, opened.c.queue_id, opened.c.created_at),
        )
        .cte("entered")
    )
    return select(opened).add_cte(entered)


def _answer(*, on_queue: bool) -> Select[Any]:
    """Take the query if it waits (on the queue, with `on_queue`), then a free slot of the
    company user, then close its stay and record the holding. The caller runs it in a
    transaction and rolls back when `claimed` is 0: a slot taken meanwhile."""
    conditions = [_queries.c.id == bindparam("b_query_id"), _queries.c.status == "waiting"]
    if on_queue:
        conditions.append(_queries.c.queue_id == bindparam("b_queue_id"))
    taken = (
        update(_queries)
        .where(*conditions)
        .values(
            status="ongoing",
            holder_company_user_id=bindparam("b_company_user_id"),
            answered_at=bindparam("b_now"),
            updated_at=bindparam("b_now"),
        )
        .returning(*_queries.c)
        .cte("taken")
    )
    claimed = (
        update(_company_users)
        .where(
            _company_users.c.id == bindparam("b_company_user_id"),
            _company_users.c.ongoing_count < _company_users.c.max_ongoing_queries_handled,
            exists(select(taken.c.id)),
        )
        .values(ongoing_count=_company_users.c.ongoing_count + 1)
        .returning(_company_users.c.id)
        .cte("claimed")
    )
    left = (
        update(_query_queues)
        .where(
            _query_queues.c.query_id == bindparam("b_query_id"),
            _query_queues.c.left_at.is_(None),
            exists(select(claimed.c.id)),
        )
        .values(
            answered_at=bindparam("b_now"),
            answered_by=bindparam("b_company_user_id"),
            left_at=bindparam("b_now"),
        )
        .cte("left_queue")
    )
    held = (
        insert(_query_company_users)
        .from_select(
            ["query_id", "company_user_id", "answered_at"],
            select(taken.c.id, claimed.c.id, taken.c.answered_at).join_from(
                taken, claimed, claimed.c.id == taken.c.holder_company_user_id
            ),
        )
        .cte("held")
    )
    slot = select(func.count(claimed.c.id)).scalar_subquery()
    return select(taken, slot.label("claimed")).add_cte(left).add_cte(held)


def _finish() -> Select[Any]:
    """Mark the query done if the company user holds it, free its slot, end its holding."""
    done = (
        update(_queries)
        .where(
            _queries.c.id == bindparam("b_query_id"),
            _queries.c.status == "ongoing",
            _queries.c.holder_company_user_id == bindparam("b_company_user_id"),
        )
        .values(
            status="done",
            done_at=bindparam("b_now"),
            ended_at=bindparam("b_now"),
            updated_at=bindparam("b_now"),
        )
        .returning(*_queries.c)
        .cte("done")
    )
    ongoing = _company_users.c.ongoing_count
    freed = (
        update(_company_users)
        .where(
            _company_users.c.id == bindparam("b_company_user_id"),
            exists(select(done.c.id)),
        )
        .values(ongoing_count=case((ongoing > 0, ongoing - 1), else_=0))
        .cte("freed")
    )
    released = (
        update(_query_company_users)
        .where(
            _query_company_users.c.query_id == bindparam("b_query_id"),
            _query_company_users.c.company_user_id == bindparam("b_company_user_id"),
            _query_company_users.c.released_at.is_(None),
            exists(select(done.c.id)),
        )
        .values(released_at=bindparam("b_now"), done_at=bindparam("b_now"))
        .cte("released")
    )
    return select(done).add_cte(freed).add_cte(released)


OPEN = _open()
ANSWER = _answer(on_queue=False)
ANSWER_ON_QUEUE = _answer(on_queue=True)
FINISH = _finish()

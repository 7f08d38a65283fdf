"""The statements of a query's steps (`query_actions`), each built once.

Building a statement and its cache key costs more CPU than sending it, so the steps on every
query's path are built here, at import, with bound values. Bound names start with `b_` so as
not to clash with the columns an update sets.

On PostgreSQL each step runs as one statement (`OPEN_AT_ONCE`, `ANSWER_AT_ONCE`,
`FINISH_AT_ONCE`): a data-modifying `WITH` whose later parts are the same statements as the
separate steps', run only if the part before changed a row (`EXISTS (SELECT ... FROM part)`),
locking the query before the company user as the separate steps do. SQLite has no
data-modifying `WITH`; it runs the separate statements.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, exists, func, insert, select, update
from sqlalchemy.sql import Select

from models.base import table_of
from models.company_users import CompanyUser, CompanyUserSkill, CompanyUserState
from models.queries import Query, QueryCompanyUser, QueryQueue
from models.queues import Queue, QueueSkill

queries = table_of(Query)
QUERY_KEYS = tuple(column.key for column in queries.c)
query_queues = table_of(QueryQueue)
query_company_users = table_of(QueryCompanyUser)
company_users = table_of(CompanyUser)
_states = table_of(CompanyUserState)
_queues = table_of(Queue)
_queue_skills = table_of(QueueSkill)
_held_skills = table_of(CompanyUserSkill)

OPEN = insert(queries).returning(*queries.c)
ENTER = insert(query_queues)
READ = select(queries).where(queries.c.id == bindparam("b_query_id"))
_queue_owner = (
    select(_queues.c.company_user_id)
    .where(_queues.c.id == bindparam("b_queue_id"))
    .scalar_subquery()
)
_skills_missing = (
    select(func.count())
    .select_from(_queue_skills)
    .where(
        _queue_skills.c.queue_id == bindparam("b_queue_id"),
        _queue_skills.c.skill_id.not_in(
            select(_held_skills.c.skill_id).where(
                _held_skills.c.company_user_id == bindparam("b_company_user_id")
            )
        ),
    )
    .scalar_subquery()
)
# Everything an answer's pre-checks weigh, in one round trip: no row means no such company user.
ANSWER_FACTS = (
    select(
        company_users.c.company_id,
        company_users.c.user_id,
        company_users.c.accepted_at,
        company_users.c.removed_at,
        company_users.c.is_active,
        company_users.c.ongoing_count,
        company_users.c.max_ongoing_queries_handled,
        _states.c.is_available,
        _queue_owner.label("queue_owner"),
        _skills_missing.label("skills_missing"),
    )
    .outerjoin(_states, _states.c.company_user_id == company_users.c.id)
    .where(company_users.c.id == bindparam("b_company_user_id"))
)
TAKE = (
    update(queries)
    .where(queries.c.id == bindparam("b_query_id"), queries.c.status == "waiting")
    .values(
        status="ongoing",
        holder_company_user_id=bindparam("b_company_user_id"),
        answered_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
    .returning(*queries.c)
)
TAKE_ON_QUEUE = TAKE.where(queries.c.queue_id == bindparam("b_queue_id"))
STATUS = select(queries.c.status, queries.c.queue_id).where(
    queries.c.id == bindparam("b_query_id")
)
CLAIM_SLOT = (
    update(company_users)
    .where(
        company_users.c.id == bindparam("b_company_user_id"),
        company_users.c.ongoing_count < company_users.c.max_ongoing_queries_handled,
    )
    .values(ongoing_count=company_users.c.ongoing_count + 1)
)
LEAVE_ANSWERED = (
    update(query_queues)
    .where(query_queues.c.query_id == bindparam("b_query_id"), query_queues.c.left_at.is_(None))
    .values(
        answered_at=bindparam("b_now"),
        answered_by=bindparam("b_company_user_id"),
        left_at=bindparam("b_now"),
    )
)
HOLD = insert(query_company_users)
FINISH = (
    update(queries)
    .where(
        queries.c.id == bindparam("b_query_id"),
        queries.c.status == "ongoing",
        queries.c.holder_company_user_id == bindparam("b_company_user_id"),
    )
    .values(
        status="done",
        done_at=bindparam("b_now"),
        ended_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
    .returning(*queries.c)
)
_ongoing = company_users.c.ongoing_count
FREE_SLOT = (
    update(company_users)
    .where(company_users.c.id == bindparam("b_company_user_id"))
    .values(ongoing_count=case((_ongoing > 0, _ongoing - 1), else_=0))
)
RELEASE = update(query_company_users).where(
    query_company_users.c.query_id == bindparam("b_query_id"),
    query_company_users.c.company_user_id == bindparam("b_company_user_id"),
    query_company_users.c.released_at.is_(None),
)


def _open_at_once() -> Select[Any]:
    """The query, and its first stay on its queue."""
    opened = OPEN.values({name: bindparam(name) for name in OPENED_COLUMNS}).cte("opened")
    entered = ENTER.from_select(
        ["query_id", "queue_id", "entered_at"],
        select(opened.c.id, opened.c.queue_id, opened.c.created_at),
    ).cte("entered")
    return select(opened).add_cte(entered)


def _answer_at_once(take: Any) -> Select[Any]:
    """Take the query, then a free slot of the company user, then close its stay and record
    the holding. The caller runs it in a transaction and rolls back when `claimed` is 0."""
    taken = take.cte("taken")
    claimed = (
        CLAIM_SLOT.where(exists(select(taken.c.id))).returning(company_users.c.id).cte("claimed")
    )
    left = LEAVE_ANSWERED.where(exists(select(claimed.c.id))).cte("left_queue")
    held = HOLD.from_select(
        ["query_id", "company_user_id", "answered_at"],
        select(taken.c.id, claimed.c.id, taken.c.answered_at).join_from(
            taken, claimed, claimed.c.id == taken.c.holder_company_user_id
        ),
    ).cte("held")
    slot = select(func.count(claimed.c.id)).scalar_subquery()
    return select(taken, slot.label("claimed")).add_cte(left).add_cte(held)


def _finish_at_once() -> Select[Any]:
    """Mark the query done if the company user holds it, free its slot, end its holding."""
    done = FINISH.cte("done")
    freed = FREE_SLOT.where(exists(select(done.c.id))).cte("freed")
    released = (
        RELEASE.where(exists(select(done.c.id)))
        .values(released_at=bindparam("b_now"), done_at=bindparam("b_now"))
        .cte("released")
    )
    return select(done).add_cte(freed).add_cte(released)


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
OPEN_AT_ONCE = _open_at_once()
ANSWER_AT_ONCE = _answer_at_once(TAKE)
ANSWER_ON_QUEUE_AT_ONCE = _answer_at_once(TAKE_ON_QUEUE)
FINISH_AT_ONCE = _finish_at_once()

"""Reads one company's routing inputs from the database, the source of truth.

`load` reads the whole company; `refresh` rereads only the queries and company users one
change touched and puts them into an earlier snapshot, for the hooks that name them. Both run
statements built once, on tables rather than ORM classes, so that `refresh`, which runs on
most changes, costs neither a statement build nor an ORM session (it takes a Core connection).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from models.base import table_of
from models.companies import Company
from models.company_users import CompanyUser, CompanyUserSkill, CompanyUserState
from models.queries import Query, QueryQueue
from models.queues import Queue, QueueSkill
from router.rules import AgentInfo, QueueInfo, Snapshot, WaitingQuery

Reader = AsyncSession | AsyncConnection
"""What runs the reads: a session for `load`, which also reads the company, or a connection."""

_queries = table_of(Query)
_stays = table_of(QueryQueue)
_queues = table_of(Queue)
_queue_skills = table_of(QueueSkill)
_members = table_of(CompanyUser)
_member_skills = table_of(CompanyUserSkill)
_member_states = table_of(CompanyUserState)
_COMPANY_ID = "b_company_id"


def _waiting_read(*only: Any) -> Select[Any]:
    query, stay = _queries.c, _stays.c
    return (
        select(query.id, query.queue_id, query.created_at, stay.entered_at)
        .outerjoin(
            _stays,
            (stay.query_id == query.id)
            & (stay.queue_id == query.queue_id)
            & stay.left_at.is_(None),
        )
        .where(query.company_id == bindparam(_COMPANY_ID), query.status == "waiting", *only)
    )


@dataclass(frozen=True)
class _AgentReads:
    """The statements that read company users: who they are, their skills, their state."""

    members: Select[Any]
    skills: Select[Any]
    states: Select[Any]


def _agent_reads(*only: Any) -> _AgentReads:
    member, skill, state = _members.c, _member_skills.c, _member_states.c
    of_company = member.company_id == bindparam(_COMPANY_ID)
    members = select(
        member.id,
        member.user_id,
        member.accepted_at,
        member.is_active,
        member.ongoing_count,
        member.max_ongoing_queries_handled,
        member.ability_to_pick_from_queue,
    ).where(of_company, member.removed_at.is_(None), *only)
    ids = select(member.id).where(of_company, *only).scalar_subquery()
    return _AgentReads(
        members,
        select(skill.company_user_id, skill.skill_id, skill.level).where(
            skill.company_user_id.in_(ids)
        ),
        select(state.company_user_id, state.is_available).where(state.company_user_id.in_(ids)),
    )


_QUEUES = select(
    _queues.c.id, _queues.c.priority_delay, _queues.c.company_user_id, _queues.c.is_active
).where(_queues.c.company_id == bindparam(_COMPANY_ID), _queues.c.deleted_at.is_(None))
_QUEUE_SKILLS = (
    select(_queue_skills.c.queue_id, _queue_skills.c.skill_id)
    .join(_queues, _queues.c.id == _queue_skills.c.queue_id)
    .where(_queues.c.company_id == bindparam(_COMPANY_ID), _queues.c.deleted_at.is_(None))
)
_WAITING = _waiting_read()
_WAITING_NAMED = _waiting_read(_queries.c.id.in_(bindparam("b_query_ids", expanding=True)))
_AGENTS = _agent_reads()
_AGENTS_NAMED = _agent_reads(_members.c.id.in_(bindparam("b_company_user_ids", expanding=True)))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def load(session: AsyncSession, company_id: int) -> Snapshot:
    """The company as routing sees it; a deleted company has no agents, queues or queries."""
    company = await session.get(Company, company_id)
    if company is None or company.deleted_at is not None:
        return Snapshot(company_id, {}, {}, ())
    of_company = {_COMPANY_ID: company_id}
    queues = await _queues_of(session, of_company)
    agents = await _agents_of(session, _AGENTS, of_company)
    waiting = await _waiting_of(session, _WAITING, of_company, queues)
    return Snapshot(
        company_id,
        queues,
        agents,
        waiting,
        expiry_minutes=company.query_expiry_time_in_minutes,
        idle_minutes=company.idle_timeout_in_minutes,
        reminder_minutes=company.reminder_interval_in_minutes,
    )


async def refresh(
    reader: Reader,
    snapshot: Snapshot,
    *,
    query_ids: Collection[int] = (),
    company_user_ids: Collection[int] = (),
) -> Snapshot:
    """`snapshot` with the named queries and company users read again, the rest kept."""
    company_id = snapshot.company_id
    waiting = snapshot.waiting
    if query_ids:
        named = {_COMPANY_ID: company_id, "b_query_ids": list(query_ids)}
        fresh = await _waiting_of(reader, _WAITING_NAMED, named, snapshot.queues)
        kept = tuple(query for query in waiting if query.id not in query_ids)
        waiting = kept + fresh
    agents = snapshot.agents
    if company_user_ids:
        named = {_COMPANY_ID: company_id, "b_company_user_ids": list(company_user_ids)}
        reread = await _agents_of(reader, _AGENTS_NAMED, named)
        agents = {key: agent for key, agent in agents.items() if key not in company_user_ids}
        agents.update(reread)
    return replace(snapshot, agents=agents, waiting=waiting)


async def _queues_of(reader: Reader, of_company: dict[str, Any]) -> dict[int, QueueInfo]:
    # Columns, not ORM objects: a company of a thousand agents has a thousand personal queues.
    rows = await reader.execute(_QUEUES, of_company)
    queues = {row[0]: row for row in rows.tuples() if row[0] is not None}
    skills: dict[int, set[int]] = {queue_id: set() for queue_id in queues}
    for queue_id, skill_id in (await reader.execute(_QUEUE_SKILLS, of_company)).tuples():
        if queue_id in skills:
            skills[queue_id].add(skill_id)
    return {
        queue_id: QueueInfo(
            id=queue_id,
            priority_delay=priority_delay,
            owner_id=owner_id,
            skill_ids=frozenset(skills[queue_id]),
            is_active=is_active,
        )
        for queue_id, (_, priority_delay, owner_id, is_active) in queues.items()
    }


async def _agents_of(
    reader: Reader, reads: _AgentReads, params: dict[str, Any]
) -> dict[int, AgentInfo]:
    rows = await reader.execute(reads.members, params)
    members = {row[0]: row for row in rows.tuples() if row[0] is not None}
    skills: dict[int, dict[int, int]] = {member_id: {} for member_id in members}
    available: set[int] = set()
    if members:
        for member_id, skill_id, level in await reader.execute(reads.skills, params):
            if member_id in skills:
                skills[member_id][skill_id] = level
        available = {
            member_id
            for member_id, is_available in await reader.execute(reads.states, params)
            if is_available
        }
    return {
        member_id: AgentInfo(
            id=member_id,
            accepted=user_id is not None and accepted_at is not None,
            is_active=is_active,
            is_available=member_id in available,
            ongoing=ongoing,
            max_ongoing=max_ongoing,
            can_pick=can_pick,
            skills=skills[member_id],
        )
        for member_id, (
            _,
            user_id,
            accepted_at,
            is_active,
            ongoing,
            max_ongoing,
            can_pick,
        ) in members.items()
    }


async def _waiting_of(
    reader: Reader, read: Select[Any], params: dict[str, Any], queues: dict[int, QueueInfo]
) -> tuple[WaitingQuery, ...]:
    rows = (await reader.execute(read, params)).tuples()
    found: dict[int, WaitingQuery] = {}
    for query_id, queue_id, created_at, entered_at in rows:
        if query_id is None or queue_id not in queues:
            continue
        entered = _aware(entered_at or created_at)
        earlier = found.get(query_id)
        if earlier is None or entered > earlier.entered_at:
            found[query_id] = WaitingQuery(query_id, queue_id, _aware(created_at), entered)
    return tuple(found.values())

"""Reads one company's routing inputs from the database, the source of truth.

`load` reads the whole company; `refresh` rereads only the queries and company users one
change touched and puts them into an earlier snapshot, for the hooks that name them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.companies import Company
from models.company_users import CompanyUser, CompanyUserSkill, CompanyUserState
from models.queries import Query, QueryQueue
from models.queues import Queue, QueueSkill
from router.rules import AgentInfo, QueueInfo, Snapshot, WaitingQuery


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def load(session: AsyncSession, company_id: int) -> Snapshot:
    """The company as routing sees it; a deleted company has no agents, queues or queries."""
    company = await session.get(Company, company_id)
    if company is None or company.deleted_at is not None:
        return Snapshot(company_id, {}, {}, ())
    queues = await _queues(session, company_id)
    agents = await _agents(session, company_id)
    waiting = await _waiting(session, company_id, queues)
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
    session: AsyncSession,
    snapshot: Snapshot,
    *,
    query_ids: Collection[int] = (),
    company_user_ids: Collection[int] = (),
) -> Snapshot:
    """`snapshot` with the named queries and company users read again, the rest kept."""
    company_id = snapshot.company_id
    waiting = snapshot.waiting
    if query_ids:
        fresh = await _waiting(
            session, company_id, snapshot.queues, col(Query.id).in_(list(query_ids))
        )
        kept = tuple(query for query in waiting if query.id not in query_ids)
        waiting = kept + fresh
    agents = snapshot.agents
    if company_user_ids:
        ids = list(company_user_ids)
        reread = await _agents(session, company_id, col(CompanyUser.id).in_(ids))
        agents = {key: agent for key, agent in agents.items() if key not in company_user_ids}
        agents.update(reread)
    return replace(snapshot, agents=agents, waiting=waiting)


async def _queues(session: AsyncSession, company_id: int) -> dict[int, QueueInfo]:
    # Columns, not ORM objects: a company of a thousand agents has a thousand personal queues.
    rows = await session.execute(
        select(
            col(Queue.id),
            col(Queue.priority_delay),
            col(Queue.company_user_id),
            col(Queue.is_active),
        ).where(col(Queue.company_id) == company_id, col(Queue.deleted_at).is_(None))
    )
    queues = {row[0]: row for row in rows.tuples() if row[0] is not None}
    skills: dict[int, set[int]] = {queue_id: set() for queue_id in queues}
    links = await session.execute(
        select(col(QueueSkill.queue_id), col(QueueSkill.skill_id))
        .join(Queue, col(Queue.id) == col(QueueSkill.queue_id))
        .where(col(Queue.company_id) == company_id, col(Queue.deleted_at).is_(None))
    )
    for queue_id, skill_id in links.tuples():
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


async def _agents(session: AsyncSession, company_id: int, *only: Any) -> dict[int, AgentInfo]:
    members = {
        row[0]: row
        for row in (
            await session.execute(
                select(
                    col(CompanyUser.id),
                    col(CompanyUser.user_id),
                    col(CompanyUser.accepted_at),
                    col(CompanyUser.is_active),
                    col(CompanyUser.ongoing_count),
                    col(CompanyUser.max_ongoing_queries_handled),
                    col(CompanyUser.ability_to_pick_from_queue),
                ).where(
                    col(CompanyUser.company_id) == company_id,
                    col(CompanyUser.removed_at).is_(None),
                    *only,
                )
            )
        ).tuples()
        if row[0] is not None
    }
    skills: dict[int, dict[int, int]] = {member_id: {} for member_id in members}
    available: set[int] = set()
    if members:
        of_company = (
            select(col(CompanyUser.id))
            .where(col(CompanyUser.company_id) == company_id, *only)
            .scalar_subquery()
        )
        for member_id, skill_id, level in await session.execute(
            select(
                col(CompanyUserSkill.company_user_id),
                col(CompanyUserSkill.skill_id),
                col(CompanyUserSkill.level),
            ).where(col(CompanyUserSkill.company_user_id).in_(of_company))
        ):
            if member_id in skills:
                skills[member_id][skill_id] = level
        available = {
            member_id
            for member_id, is_available in await session.execute(
                select(
                    col(CompanyUserState.company_user_id), col(CompanyUserState.is_available)
                ).where(col(CompanyUserState.company_user_id).in_(of_company))
            )
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


async def _waiting(
    session: AsyncSession, company_id: int, queues: dict[int, QueueInfo], *only: Any
) -> tuple[WaitingQuery, ...]:
    rows = (
        await session.execute(
            select(
                col(Query.id),
                col(Query.queue_id),
                col(Query.created_at),
                col(QueryQueue.entered_at),
            )
            .outerjoin(
                QueryQueue,
                (col(QueryQueue.query_id) == col(Query.id))
                & (col(QueryQueue.queue_id) == col(Query.queue_id))
                & col(QueryQueue.left_at).is_(None),
            )
            .where(col(Query.company_id) == company_id, col(Query.status) == "waiting", *only)
        )
    ).tuples()
    found: dict[int, WaitingQuery] = {}
    for query_id, queue_id, created_at, entered_at in rows:
        if query_id is None or queue_id not in queues:
            continue
        entered = _aware(entered_at or created_at)
        earlier = found.get(query_id)
        if earlier is None or entered > earlier.entered_at:
            found[query_id] = WaitingQuery(query_id, queue_id, _aware(created_at), entered)
    return tuple(found.values())

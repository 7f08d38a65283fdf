"""The live per-queue figures managers watch, from a routing snapshot and two hourly counts.

One function serves both the router's throttled `queues.figures` event and the dashboard
channel's own reads, so the two never disagree on what "ready" or "busy" means.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import format_timestamp
from models.queries import Query, QueryQueue
from router import rules

HOUR = timedelta(hours=1)


def queue_figures(
    snapshot: rules.Snapshot, now: datetime, answered: dict[int, int], expired: dict[int, int]
) -> list[dict[str, Any]]:
    """Per queue, by id: waiting, the oldest wait, ready and busy company users, hourly ends.

    Each queue looks only at the company users who may be eligible (`rules.EligiblePools`):
    a thousand agents on fifty teams, each with a personal queue, cost a few thousand steps
    here, not a million.
    """
    waiting: dict[int, list[rules.WaitingQuery]] = {}
    for query in snapshot.waiting:
        waiting.setdefault(query.queue_id, []).append(query)
    pools = rules.EligiblePools(snapshot.agents)
    found = []
    for queue_id in sorted(snapshot.queues):
        queue = snapshot.queues[queue_id]
        here = waiting.get(queue_id, [])
        oldest = min((query.entered_at for query in here), default=None)
        eligible = [
            agent for agent in pools.of(queue) if rules.level_for(agent, queue) is not None
        ]
        found.append(
            {
                "queue_id": queue_id,
                "is_active": queue.is_active,
                "company_user_id": queue.owner_id,
                "waiting": len(here),
                "oldest_waiting_since": format_timestamp(oldest),
                "longest_wait_seconds": _seconds(now, oldest),
                "ready": sum(1 for agent in eligible if rules.is_ready(agent)),
                "busy": sum(1 for agent in eligible if agent.ongoing > 0),
                "answered_last_hour": answered.get(queue_id, 0),
                "expired_last_hour": expired.get(queue_id, 0),
            }
        )
    return found


async def hourly_counts(
    session: AsyncSession, company_id: int, now: datetime
) -> tuple[dict[int, int], dict[int, int]]:
    """Per queue: queries answered there, and queries that expired there, in the last hour."""
    since = now - HOUR
    answered = await session.execute(
        select(col(QueryQueue.queue_id), func.count())
        .join(Query, col(Query.id) == col(QueryQueue.query_id))
        .where(col(Query.company_id) == company_id, col(QueryQueue.answered_at) >= since)
        .group_by(col(QueryQueue.queue_id))
    )
    expired = await session.execute(
        select(col(Query.queue_id), func.count())
        .where(
            col(Query.company_id) == company_id,
            col(Query.status) == "expired",
            col(Query.ended_at) >= since,
        )
        .group_by(col(Query.queue_id))
    )
    return (
        {queue_id: int(count) for queue_id, count in answered.tuples()},
        {queue_id: int(count) for queue_id, count in expired.tuples()},
    )


def _seconds(now: datetime, since: datetime | None) -> int:
    return 0 if since is None else max(0, int((now - since).total_seconds()))

"""The offer rules of SPEC §4 as one pure function, shared by both stores.

Given what a company looks like now (its queues, company users and waiting queries) and the
current instant, `desired_offers` says which queries each company user should be offered and
at which level, and when the next level unlocks by time alone. The stores keep state and diff
against this; nothing here reads a clock, a database or Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class QueueInfo:
    """What routing needs of a queue; `owner_id` set means a personal queue."""

    id: int
    priority_delay: int | None
    owner_id: int | None = None
    skill_ids: frozenset[int] = frozenset()
    is_active: bool = True


@dataclass(frozen=True)
class AgentInfo:
    """What routing needs of a company user; `skills` maps skill id to level."""

    id: int
    accepted: bool
    is_active: bool
    is_available: bool
    ongoing: int
    max_ongoing: int
    can_pick: bool
    skills: dict[int, int] = field(default_factory=dict)

    @property
    def free_slots(self) -> int:
        return max(0, self.max_ongoing - self.ongoing)


@dataclass(frozen=True)
class WaitingQuery:
    """A query waiting on a queue since `entered_at`; served in `created_at` order."""

    id: int
    queue_id: int
    created_at: datetime
    entered_at: datetime


@dataclass(frozen=True)
class Snapshot:
    """One company's routing inputs at one moment."""

    company_id: int
    queues: dict[int, QueueInfo]
    agents: dict[int, AgentInfo]
    waiting: tuple[WaitingQuery, ...]
    expiry_minutes: int = 0
    idle_minutes: int = 0


@dataclass(frozen=True)
class Decision:
    """The offers each company user should hold: query id to (queue id, level)."""

    offers: dict[int, dict[int, tuple[int, int]]]
    next_unlock: datetime | None


def level_for(agent: AgentInfo, queue: QueueInfo) -> int | None:
    """The agent's level for the queue, or None when it is not eligible."""
    if not (agent.accepted and agent.is_active and queue.is_active):
        return None
    if queue.owner_id is not None:
        return 1 if queue.owner_id == agent.id else None
    if not queue.skill_ids:
        return 1
    if not queue.skill_ids <= agent.skills.keys():
        return None
    return max(agent.skills[skill] for skill in queue.skill_ids)


def is_ready(agent: AgentInfo) -> bool:
    """Accepted, active, available and below its limit (eligibility is per queue)."""
    return agent.accepted and agent.is_active and agent.is_available and agent.free_slots > 0


def visible_level(queue: QueueInfo, entered_at: datetime, now: datetime) -> int | None:
    """The highest level that sees a query waiting since `entered_at`; None means every level."""
    if not queue.priority_delay:
        return None
    waited = max(0.0, (now - entered_at).total_seconds())
    return 1 + int(waited // queue.priority_delay)


def order(waiting: tuple[WaitingQuery, ...]) -> list[WaitingQuery]:
    """Oldest first by creation, so a transferred query keeps its place."""
    return sorted(waiting, key=lambda query: (query.created_at, query.id))


def desired_offers(snapshot: Snapshot, now: datetime) -> Decision:
    """Every offer SPEC §4 asks for now, and when time alone will change the answer."""
    queue_order = order(snapshot.waiting)
    offers: dict[int, dict[int, tuple[int, int]]] = {}
    for agent in snapshot.agents.values():
        if not is_ready(agent):
            continue
        visible = _visible_to(agent, snapshot, queue_order, now)
        if not agent.can_pick:
            visible = visible[: agent.free_slots]
        if visible:
            offers[agent.id] = {query.id: (query.queue_id, level) for query, level in visible}
    return Decision(offers, _next_unlock(snapshot, now))


def _visible_to(
    agent: AgentInfo, snapshot: Snapshot, queue_order: list[WaitingQuery], now: datetime
) -> list[tuple[WaitingQuery, int]]:
    found = []
    for query in queue_order:
        queue = snapshot.queues.get(query.queue_id)
        if queue is None:
            continue
        level = level_for(agent, queue)
        if level is None:
            continue
        highest = visible_level(queue, query.entered_at, now)
        if highest is None or level <= highest:
            found.append((query, level))
    return found


def _next_unlock(snapshot: Snapshot, now: datetime) -> datetime | None:
    """The earliest moment a waiting query becomes visible to a level that cannot see it yet."""
    soonest: datetime | None = None
    for query in snapshot.waiting:
        queue = snapshot.queues.get(query.queue_id)
        if queue is None or not queue.priority_delay:
            continue
        highest = visible_level(queue, query.entered_at, now)
        assert highest is not None
        levels = (level_for(agent, queue) for agent in snapshot.agents.values())
        if not any(level is not None and level > highest for level in levels):
            continue
        unlock = query.entered_at + timedelta(seconds=highest * queue.priority_delay)
        if soonest is None or unlock < soonest:
            soonest = unlock
    return soonest


def next_expiry(snapshot: Snapshot) -> datetime | None:
    """When the first waiting query expires (0 minutes: never)."""
    if not snapshot.expiry_minutes or not snapshot.waiting:
        return None
    oldest = min(query.entered_at for query in snapshot.waiting)
    return oldest + timedelta(minutes=snapshot.expiry_minutes)


def overdue(snapshot: Snapshot, now: datetime) -> list[int]:
    """The waiting queries whose expiry time has come."""
    if not snapshot.expiry_minutes:
        return []
    limit = timedelta(minutes=snapshot.expiry_minutes)
    return [query.id for query in snapshot.waiting if now - query.entered_at >= limit]


def positions(snapshot: Snapshot) -> dict[int, int]:
    """Each waiting query's place in line on its queue, 1 for the next served."""
    places: dict[int, int] = {}
    counts: dict[int, int] = {}
    for query in order(snapshot.waiting):
        counts[query.queue_id] = counts.get(query.queue_id, 0) + 1
        places[query.id] = counts[query.queue_id]
    return places

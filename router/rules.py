"""The offer rules of SPEC §4 as one pure function, shared by both stores.

Given what a company looks like now (its queues, company users and waiting queries) and the
current instant, `desired_offers` says which queries each company user should be offered and
at which level, and when the next level unlocks by time alone. The stores keep state and diff
against this; nothing here reads a clock, a database or Redis.
"""

from __future__ import annotations

from collections.abc import Collection
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
    reminder_minutes: int = 0


@dataclass(frozen=True)
class Decision:
    """The offers each company user should hold: query id to (queue id, level); and the
    company users that are ready, which the decision had to find anyway."""

    offers: dict[int, dict[int, tuple[int, int]]]
    next_unlock: datetime | None
    ready: frozenset[int] = frozenset()


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
    return max(map(agent.skills.__getitem__, queue.skill_ids))


def is_ready(agent: AgentInfo) -> bool:
    """Accepted, active, available and below its limit (eligibility is per queue)."""
    if not (agent.accepted and agent.is_active and agent.is_available):
        return False
    return agent.ongoing < agent.max_ongoing  # free_slots > 0, without its max()


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
    """Every offer SPEC §4 asks for now, and when time alone will change the answer.

    Queries are handed out oldest first to the ready company users of their queue, grouped by
    level, so a company user without pick mode leaves every list once its free slots are
    spoken for: the cost grows with queries plus offers, not with queries times agents.
    """
    ready = {agent.id: agent for agent in snapshot.agents.values() if is_ready(agent)}
    if not snapshot.waiting:
        return Decision({}, None, frozenset(ready))
    queue_order = order(snapshot.waiting)
    candidates = _candidates(snapshot, ready, {query.queue_id for query in queue_order})
    room = {agent.id: agent.free_slots for agent in ready.values() if not agent.can_pick}
    offers: dict[int, dict[int, tuple[int, int]]] = {}
    for query in queue_order:
        levels = candidates.get(query.queue_id)
        if not levels:
            continue
        highest = visible_level(snapshot.queues[query.queue_id], query.entered_at, now)
        for level, agents in levels.items():
            if highest is not None and level > highest:
                break
            levels[level] = _offer_to(query, level, agents, room, offers)
    return Decision(offers, _next_unlock(snapshot, now, candidates), frozenset(ready))


def _candidates(
    snapshot: Snapshot, ready: dict[int, AgentInfo], queue_ids: set[int]
) -> dict[int, dict[int, list[int]]]:
    """Per queue with waiting queries: its `ready` company users by level, lowest level first.

    Within a level, company users keep their order in `ready`.
    """
    pools = EligiblePools(ready)
    found: dict[int, dict[int, list[int]]] = {}
    for queue_id in queue_ids:
        queue = snapshot.queues.get(queue_id)
        if queue is None:
            continue
        levels: dict[int, list[int]] = {}
        for agent in pools.of(queue):
            level = level_for(agent, queue)
            if level is not None:
                levels.setdefault(level, []).append(agent.id)
        found[queue_id] = dict(sorted(levels.items()))
    return found


def eligible_pool(queue: QueueInfo, agents: dict[int, AgentInfo]) -> list[AgentInfo]:
    """Who among `agents` may be eligible: the owner alone for a personal queue, else all."""
    if queue.owner_id is None:
        return list(agents.values())
    owner = agents.get(queue.owner_id)
    return [] if owner is None else [owner]


class EligiblePools:
    """Who among `agents` may be eligible for each of many queues, without walking them all.

    A queue that needs skills looks only at the holders of its rarest one, a personal queue at
    its owner, a queue without skills at everyone: with a thousand company users on fifty
    team queues, each queue looks at its own team rather than at the whole company. A pool
    keeps the order of `agents` and may hold company users `level_for` turns down.
    """

    def __init__(self, agents: dict[int, AgentInfo]) -> None:
        self.agents = agents
        self._holders: dict[int, list[AgentInfo]] | None = None

    def of(self, queue: QueueInfo) -> Collection[AgentInfo]:
        """The company users `level_for` may accept for `queue`, in the order of `agents`."""
        if not queue.is_active:
            return ()
        if queue.owner_id is not None:
            return eligible_pool(queue, self.agents)
        if not queue.skill_ids:
            return self.agents.values()
        holders = self._holders_by_skill()
        return min((holders.get(skill, ()) for skill in queue.skill_ids), key=len)

    def _holders_by_skill(self) -> dict[int, list[AgentInfo]]:
        if self._holders is None:
            self._holders = {}
            for agent in self.agents.values():
                for skill in agent.skills:
                    self._holders.setdefault(skill, []).append(agent)
        return self._holders


def _offer_to(
    query: WaitingQuery,
    level: int,
    agents: list[int],
    room: dict[int, int],
    offers: dict[int, dict[int, tuple[int, int]]],
) -> list[int]:
    """Offer the query to `agents` at `level`; answers who may still take another query."""
    staying = []
    for agent_id in agents:
        left = room.get(agent_id)
        if left == 0:
            continue
        offers.setdefault(agent_id, {})[query.id] = (query.queue_id, level)
        if left is not None:
            room[agent_id] = left - 1
            if left == 1:
                continue
        staying.append(agent_id)
    return staying


def _next_unlock(
    snapshot: Snapshot, now: datetime, candidates: dict[int, dict[int, list[int]]]
) -> datetime | None:
    """The earliest moment a waiting query becomes visible to a level that cannot see it yet."""
    top_level = _top_levels(snapshot, set(candidates))
    soonest: datetime | None = None
    for query in snapshot.waiting:
        queue = snapshot.queues.get(query.queue_id)
        if queue is None or not queue.priority_delay:
            continue
        highest = visible_level(queue, query.entered_at, now)
        assert highest is not None
        if top_level.get(queue.id, 0) <= highest:
            continue
        unlock = query.entered_at + timedelta(seconds=highest * queue.priority_delay)
        if soonest is None or unlock < soonest:
            soonest = unlock
    return soonest


def _top_levels(snapshot: Snapshot, queue_ids: set[int]) -> dict[int, int]:
    """Per queue, the highest level of any eligible company user, ready or not."""
    top: dict[int, int] = {}
    pools = EligiblePools(snapshot.agents)
    for queue_id in queue_ids:
        queue = snapshot.queues.get(queue_id)
        if queue is None or not queue.priority_delay:
            continue
        levels = (level_for(agent, queue) for agent in pools.of(queue))
        top[queue_id] = max((level for level in levels if level is not None), default=0)
    return top


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

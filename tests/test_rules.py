"""The offer rules against a plain reading of SPEC §4, on random companies.

`rules.desired_offers` hands queries out by queue and level so that its cost follows the
offers it makes; the reading here walks every agent over every query, as the SPEC says it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from router import rules

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def plain_offers(snapshot: rules.Snapshot, now: datetime) -> dict[int, dict[int, tuple[int, int]]]:
    """Each ready agent: the queries visible to it, oldest first, cut to its free slots."""
    offers: dict[int, dict[int, tuple[int, int]]] = {}
    for agent in snapshot.agents.values():
        if not rules.is_ready(agent):
            continue
        seen: list[tuple[int, int, int]] = []
        for query in rules.order(snapshot.waiting):
            queue = snapshot.queues.get(query.queue_id)
            level = None if queue is None else rules.level_for(agent, queue)
            if queue is None or level is None:
                continue
            highest = rules.visible_level(queue, query.entered_at, now)
            if highest is None or level <= highest:
                seen.append((query.id, query.queue_id, level))
        if not agent.can_pick:
            seen = seen[: agent.free_slots]
        if seen:
            offers[agent.id] = {query: (queue, level) for query, queue, level in seen}
    return offers


def plain_next_unlock(snapshot: rules.Snapshot, now: datetime) -> datetime | None:
    """The first moment a waiting query becomes visible to a level that exists but cannot."""
    moments = []
    for query in snapshot.waiting:
        queue = snapshot.queues.get(query.queue_id)
        if queue is None or not queue.priority_delay:
            continue
        highest = rules.visible_level(queue, query.entered_at, now)
        assert highest is not None
        levels = [rules.level_for(agent, queue) for agent in snapshot.agents.values()]
        if any(level is not None and level > highest for level in levels):
            moments.append(query.entered_at + timedelta(seconds=highest * queue.priority_delay))
    return min(moments, default=None)


@st.composite
def companies(draw: st.DrawFn) -> rules.Snapshot:
    agent_ids = list(range(1, draw(st.integers(1, 7)) + 1))
    skills = [1, 2, 3]
    agents = {
        agent_id: rules.AgentInfo(
            id=agent_id,
            accepted=draw(st.booleans()) or draw(st.booleans()),
            is_active=draw(st.integers(0, 5)) > 0,
            is_available=draw(st.integers(0, 3)) > 0,
            ongoing=draw(st.integers(0, 3)),
            max_ongoing=draw(st.integers(1, 4)),
            can_pick=draw(st.booleans()),
            skills=draw(st.dictionaries(st.sampled_from(skills), st.integers(1, 4))),
        )
        for agent_id in agent_ids
    }
    queues = {}
    for queue_id in range(10, 10 + draw(st.integers(1, 5))):
        personal = draw(st.integers(0, 3)) == 0
        queues[queue_id] = rules.QueueInfo(
            id=queue_id,
            priority_delay=draw(st.sampled_from([None, 0, 30, 60])),
            owner_id=draw(st.sampled_from([*agent_ids, 99])) if personal else None,
            skill_ids=frozenset()
            if personal
            else frozenset(draw(st.sets(st.sampled_from(skills)))),
            is_active=draw(st.integers(0, 5)) > 0,
        )
    waiting = []
    for query_id in range(100, 100 + draw(st.integers(0, 9))):
        created = NOW - timedelta(seconds=draw(st.integers(0, 400)))
        entered = created + timedelta(seconds=draw(st.integers(0, 200)))
        queue_id = draw(st.sampled_from([*queues, 77]))
        waiting.append(rules.WaitingQuery(query_id, queue_id, created, min(entered, NOW)))
    return rules.Snapshot(1, queues, agents, tuple(waiting))


@st.composite
def many_level_companies(draw: st.DrawFn) -> rules.Snapshot:
    """What `companies` cannot make: levels far above 4 under short priority delays, waits on
    a level's exact boundary, a query entered after `NOW` (another process's clock), queries
    created at the same instant, personal queues that carry skills and owners that are not
    ready, and agents eligible on many queues for few slots."""
    agent_ids = list(range(1, draw(st.integers(1, 10)) + 1))
    skills = [1, 2, 3, 4]
    agents = {
        agent_id: rules.AgentInfo(
            id=agent_id,
            accepted=draw(st.integers(0, 6)) > 0,
            is_active=draw(st.integers(0, 6)) > 0,
            is_available=draw(st.integers(0, 2)) > 0,
            ongoing=draw(st.integers(0, 5)),
            max_ongoing=draw(st.integers(1, 5)),
            can_pick=draw(st.booleans()),
            skills=draw(st.dictionaries(st.sampled_from(skills), st.integers(1, 12))),
        )
        for agent_id in agent_ids
    }
    queues = {}
    for queue_id in range(10, 10 + draw(st.integers(1, 6))):
        personal = draw(st.integers(0, 2)) == 0
        queues[queue_id] = rules.QueueInfo(
            id=queue_id,
            priority_delay=draw(st.sampled_from([None, 0, 1, 2, 5, 7, 30])),
            owner_id=draw(st.sampled_from([*agent_ids, 99])) if personal else None,
            skill_ids=frozenset(draw(st.sets(st.sampled_from(skills), max_size=2))),
            is_active=draw(st.integers(0, 6)) > 0,
        )
    moments = st.sampled_from([NOW - timedelta(seconds=n) for n in (0, 1, 5, 7, 14, 35, 60)])
    waiting = []
    for query_id in range(100, 100 + draw(st.integers(0, 14))):
        created = draw(moments)
        entered = draw(st.one_of(moments, st.just(NOW + timedelta(seconds=3))))
        queue_id = draw(st.sampled_from([*queues, 77]))
        waiting.append(rules.WaitingQuery(query_id, queue_id, created, entered))
    return rules.Snapshot(1, queues, agents, tuple(waiting))


@settings(max_examples=400, deadline=None)
@given(companies())
def test_offers_are_the_plain_reading_of_the_rules(snapshot: rules.Snapshot) -> None:
    decision = rules.desired_offers(snapshot, NOW)

    assert decision.offers == plain_offers(snapshot, NOW)
    assert decision.next_unlock == plain_next_unlock(snapshot, NOW)


@settings(max_examples=300, deadline=None)
@given(many_level_companies())
def test_offers_of_companies_with_many_levels_are_the_plain_reading(
    snapshot: rules.Snapshot,
) -> None:
    decision = rules.desired_offers(snapshot, NOW)
    again = rules.desired_offers(snapshot, NOW)

    assert decision.offers == plain_offers(snapshot, NOW)
    assert decision.next_unlock == plain_next_unlock(snapshot, NOW)
    assert again == decision


def test_a_thousand_agents_without_pick_share_the_oldest_query() -> None:
    queue = rules.QueueInfo(id=1, priority_delay=None)
    agents = {
        n: rules.AgentInfo(n, True, True, True, ongoing=0, max_ongoing=1, can_pick=False)
        for n in range(1, 1001)
    }
    waiting = tuple(
        rules.WaitingQuery(q, 1, NOW - timedelta(seconds=q), NOW - timedelta(seconds=q))
        for q in range(1, 51)
    )

    offers = rules.desired_offers(rules.Snapshot(1, {1: queue}, agents, waiting), NOW).offers

    assert len(offers) == 1000
    assert all(held == {50: (1, 1)} for held in offers.values())

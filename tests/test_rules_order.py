"""The offer rules decide as walking every ready company user over every queue would, in order.

`rules.desired_offers` looks for a queue's company users among the holders of its rarest
skill, its owner, or everyone; the reading here tries every ready company user on every queue
with waiting queries. Both must give the same offers at the same levels, in the same order
(oldest query first, lowest level first, then the company's order of its users), since the
order of the offers is the order in which events name their audiences.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from router import rules
from router.figures import queue_figures
from tests.test_rules import plain_next_unlock

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
Offers = dict[int, dict[int, tuple[int, int]]]


def walked_offers(snapshot: rules.Snapshot, now: datetime) -> Offers:
    """Every ready company user tried on every queue with waiting queries, no index."""
    ready = [agent for agent in snapshot.agents.values() if rules.is_ready(agent)]
    room = {agent.id: agent.free_slots for agent in ready if not agent.can_pick}
    offers: Offers = {}
    for query in rules.order(snapshot.waiting):
        queue = snapshot.queues.get(query.queue_id)
        if queue is None:
            continue
        levels: dict[int, list[int]] = {}
        for agent in ready:
            level = rules.level_for(agent, queue)
            if level is not None and room.get(agent.id) != 0:
                levels.setdefault(level, []).append(agent.id)
        highest = rules.visible_level(queue, query.entered_at, now)
        for level, agent_ids in sorted(levels.items()):
            if highest is not None and level > highest:
                break
            for agent_id in agent_ids:
                offers.setdefault(agent_id, {})[query.id] = (queue.id, level)
                if agent_id in room:
                    room[agent_id] -= 1
    return offers


def in_order(offers: Offers) -> list[tuple[int, list[tuple[int, Any]]]]:
    """The offers with their order made part of what compares equal."""
    return [(agent_id, list(held.items())) for agent_id, held in offers.items()]


def random_company(seed: int) -> rules.Snapshot:
    """A company whose users are listed in no particular id order, with few or many skills."""
    draw = random.Random(seed)
    skills = list(range(1, draw.randint(1, 6) + 1))
    agent_ids = draw.sample(range(1, 500), draw.randint(1, 60))
    agents = {
        agent_id: rules.AgentInfo(
            id=agent_id,
            accepted=draw.random() < 0.9,
            is_active=draw.random() < 0.9,
            is_available=draw.random() < 0.75,
            ongoing=draw.randint(0, 3),
            max_ongoing=draw.randint(1, 4),
            can_pick=draw.random() < 0.3,
            skills={
                skill: draw.randint(1, 5)
                for skill in draw.sample(skills, draw.randint(0, len(skills)))
            },
        )
        for agent_id in agent_ids
    }
    queues = {}
    for queue_id in range(1000, 1000 + draw.randint(1, 12)):
        personal = draw.random() < 0.25
        queues[queue_id] = rules.QueueInfo(
            id=queue_id,
            priority_delay=draw.choice([None, 0, 1, 5, 30, 60]),
            owner_id=draw.choice([*agent_ids, 999]) if personal else None,
            skill_ids=needs(draw, skills),
            is_active=draw.random() < 0.9,
        )
    waiting = []
    for query_id in range(5000, 5000 + draw.randint(0, 25)):
        created = NOW - timedelta(seconds=draw.randint(0, 400))
        entered = created + timedelta(seconds=draw.randint(0, 300))
        queue_id = draw.choice([*queues, 7])
        waiting.append(rules.WaitingQuery(query_id, queue_id, created, min(entered, NOW)))
    return rules.Snapshot(1, queues, agents, tuple(waiting))


def needs(draw: random.Random, skills: list[int]) -> frozenset[int]:
    """Up to three skills of the company, now and then one that nobody holds."""
    needed = set(draw.sample(skills, draw.randint(0, min(3, len(skills)))))
    if draw.random() < 0.1:
        needed.add(77)
    return frozenset(needed)


@pytest.mark.parametrize("batch", range(4))
def test_offers_are_those_of_walking_every_company_user_in_the_same_order(batch: int) -> None:
    for seed in range(batch * 250, (batch + 1) * 250):
        snapshot = random_company(seed)

        decision = rules.desired_offers(snapshot, NOW)

        assert in_order(decision.offers) == in_order(walked_offers(snapshot, NOW)), seed
        assert decision.next_unlock == plain_next_unlock(snapshot, NOW), seed
        assert decision.ready == {
            agent.id for agent in snapshot.agents.values() if rules.is_ready(agent)
        }, seed


def test_company_users_of_a_level_are_offered_in_the_company_order_not_by_id() -> None:
    skilled = {1: 2}
    agents = {
        agent_id: rules.AgentInfo(agent_id, True, True, True, 0, 1, False, skilled)
        for agent_id in (30, 10, 20)
    }
    queue = rules.QueueInfo(1, None, skill_ids=frozenset({1}))
    query = rules.WaitingQuery(7, 1, NOW, NOW)

    decision = rules.desired_offers(rules.Snapshot(1, {1: queue}, agents, (query,)), NOW)

    assert list(decision.offers) == [30, 10, 20]
    assert all(held == {7: (1, 2)} for held in decision.offers.values())


def walked_figures(snapshot: rules.Snapshot) -> dict[int, tuple[int, int]]:
    """Per queue, its ready and busy company users, found by trying every one of them."""
    counted = {}
    for queue_id, queue in snapshot.queues.items():
        eligible = [a for a in snapshot.agents.values() if rules.level_for(a, queue) is not None]
        ready = sum(1 for agent in eligible if rules.is_ready(agent))
        counted[queue_id] = (ready, sum(1 for agent in eligible if agent.ongoing > 0))
    return counted


def test_dashboard_figures_count_whom_walking_every_company_user_would() -> None:
    for seed in range(300):
        snapshot = random_company(seed)

        figures = queue_figures(snapshot, NOW, {}, {})

        counted = {row["queue_id"]: (row["ready"], row["busy"]) for row in figures}
        assert counted == walked_figures(snapshot), seed

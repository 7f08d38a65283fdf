"""Answers racing each other: one query never gets two holders, no agent exceeds its limit.

The requests really run at once: the in-process client sends them together and the database
pool serves them on separate connections.
"""

from __future__ import annotations

import asyncio

import pytest

from server import query_actions
from tests.helpers import Client
from tests.test_queries_setup import agent, desk, member_row, open_query, queue, record_hooks

pytestmark = pytest.mark.anyio


async def test_fifty_agents_answering_one_query_give_one_holder(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    agents = [await agent(client, place.company_id, name=f"A{n}") for n in range(50)]
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}/answer"

    answers = await asyncio.gather(*(client.post(path, a.person) for a in agents))

    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 1, statuses
    assert statuses.count(403) == 49
    (winner,) = [a for a, r in zip(agents, answers, strict=True) if r.status_code == 200]
    shown = await client.get(f"/api/queries/{opened['id']}", place.manager)
    assert shown.json()["holder_company_user_id"] == winner.id
    counts = [(await member_row(client, a.id)).ongoing_count for a in agents]
    assert sum(counts) == 1
    stays = await client.get(f"/api/queries/{opened['id']}/queues", place.manager)
    assert [s["answered_by"] for s in stays.json()] == [winner.id]


async def test_one_agent_racing_for_twenty_queries_holds_its_limit(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, max_ongoing=2)
    queries = [await open_query(client, place.queue_id) for _ in range(20)]

    answers = await asyncio.gather(
        *(client.post(f"/api/queries/{q['id']}/answer", ana.person) for q in queries)
    )

    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 2, statuses
    assert statuses.count(403) == 18
    assert all("no free slot" in a.json()["message"] for a in answers if a.status_code == 403)
    assert (await member_row(client, ana.id)).ongoing_count == 2
    ongoing = await client.get("/api/queries", place.manager, params={"scopes": "ongoing"})
    assert len(ongoing.json()) == 2


async def test_the_atomic_claims_alone_hold_under_concurrency(client: Client) -> None:
    """Without the friendly pre-checks, the conditional updates still admit one and two."""
    place = await desk(client)
    agents = [await agent(client, place.company_id, name=f"B{n}") for n in range(30)]
    ana = await agent(client, place.company_id, name="Ana", max_ongoing=2)
    shared = await open_query(client, place.queue_id)
    own = [await open_query(client, place.queue_id) for _ in range(10)]
    now = client.services.clock.now()

    async def attempt(query_id: int, company_user_id: int) -> bool:
        try:
            await query_actions.answer(client.services.db, query_id, company_user_id, now=now)
        except query_actions.Refused:
            return False
        return True

    for_one = await asyncio.gather(*(attempt(shared["id"], a.id) for a in agents))
    for_ana = await asyncio.gather(*(attempt(q["id"], ana.id) for q in own))

    assert for_one.count(True) == 1
    assert for_ana.count(True) == 2
    assert (await member_row(client, ana.id)).ongoing_count == 2
    unclaimed = await client.get("/api/queries", place.manager, params={"scopes": "waiting"})
    assert len(unclaimed.json()) == 8


async def test_an_answer_checked_against_one_queue_misses_the_query_moved_to_another(
    client: Client,
) -> None:
    """A transfer between the checks and the answer: the answer is refused, with why."""
    place = await desk(client)
    ana = await agent(client, place.company_id)
    other_queue = await queue(client, place.company_id)
    moved = await open_query(client, place.queue_id)
    cancelled = await open_query(client, place.queue_id)
    now = client.services.clock.now()
    await query_actions.transfer(
        client.services.db, moved["id"], other_queue, status="waiting", holder=None, now=now
    )
    await query_actions.cancel(client.services.db, cancelled["id"], now=now)

    refusals = []
    for query_id in (moved["id"], cancelled["id"]):
        with pytest.raises(query_actions.Refused) as refused:
            await query_actions.answer(
                client.services.db, query_id, ana.id, now=now, on_queue=place.queue_id
            )
        refusals.append(str(refused.value))

    assert refusals == [query_actions.MOVED, "This query was cancelled."]
    assert (await member_row(client, ana.id)).ongoing_count == 0
    shown = await client.get(f"/api/queries/{moved['id']}", place.manager)
    assert (shown.json()["status"], shown.json()["queue_id"]) == ("waiting", other_queue)

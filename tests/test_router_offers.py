"""The offer rules of SPEC §4, on both stores, driven through the router's hooks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers import Client
from tests.test_router_world import World, about, to

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(client: Client) -> AsyncIterator[World]:
    yield World(client.services)


async def test_new_query_is_offered_at_once_to_a_ready_agent(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company)
    async with world.events() as events:
        query = await world.open(company, queue)
        offered = await events.next("query.offered", to(agent))
    assert offered.data["query"]["id"] == query
    assert offered.data["queue"]["id"] == queue
    assert offered.data["level"] == 1
    assert await world.offers(agent) == {query: 1}


async def test_less_proficient_agent_sees_the_query_after_the_priority_delay(
    world: World,
) -> None:
    company = await world.company()
    skill = await world.skill(company)
    queue = await world.queue(company, [skill], delay=60)
    expert = await world.agent(company, {skill: 1})
    novice = await world.agent(company, {skill: 2})
    query = await world.open(company, queue)
    assert await world.offers(expert) == {query: 1}
    assert await world.offers(novice) == {}
    async with world.events() as events:
        world.clock.advance(61)
        offered = await events.next("query.offered", to(novice))
    assert offered.data["level"] == 2
    assert await world.offers(novice) == {query: 2}


async def test_agent_without_every_skill_is_never_offered(world: World) -> None:
    company = await world.company()
    english, german = await world.skill(company), await world.skill(company)
    queue = await world.queue(company, [english, german])
    partial = await world.agent(company, {english: 1})
    full = await world.agent(company, {english: 1, german: 3})
    query = await world.open(company, queue)
    assert await world.offers(partial) == {}
    assert await world.offers(full) == {query: 3}


async def test_pick_agent_gets_every_visible_query_others_only_the_oldest(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    picker = await world.agent(company, pick=True, limit=1)
    chooser = await world.agent(company, limit=2)
    first = await world.open(company, queue)
    second = await world.open(company, queue)
    third = await world.open(company, queue)
    assert set(await world.offers(picker)) == {first, second, third}
    assert set(await world.offers(chooser)) == {first, second}


async def test_answer_withdraws_the_other_offers_and_refuses_latecomers(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    ada = await world.agent(company)
    bob = await world.agent(company)
    query = await world.open(company, queue)
    async with world.events() as events:
        assert await world.answer(query, ada) is None
        withdrawn = await events.next("query.withdrawn", about(query, bob))
        answered = await events.next("query.answered", to(ada))
        customer = await events.next("answered", about(query))
    assert withdrawn.data == {"query_id": query, "reason": "answered"}
    assert answered.data["query"]["id"] == query
    assert customer.customer and customer.data == {"agent_name": "Ada"}
    assert await world.answer(query, bob) is not None
    assert await world.offers(bob) == {}


async def test_answer_without_an_offer_is_refused(world: World) -> None:
    company = await world.company()
    skill = await world.skill(company)
    queue = await world.queue(company, [skill])
    outsider = await world.agent(company)
    await world.agent(company, {skill: 1})
    query = await world.open(company, queue)
    refusal = await world.router.may_answer(query, outsider)
    assert refusal == "This query was not offered to you."


async def test_going_unavailable_withdraws_and_coming_back_offers_what_waits(
    world: World,
) -> None:
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company)
    query = await world.open(company, queue)
    async with world.events() as events:
        await world.set_available(agent, False)
        withdrawn = await events.next("query.withdrawn", to(agent))
        assert withdrawn.data["reason"] == "not_ready"
        await world.set_available(agent, True)
        offered = await events.next("query.offered", to(agent))
    assert offered.data["query"]["id"] == query


async def test_queries_that_waited_while_nobody_was_available_are_offered_later(
    world: World,
) -> None:
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company, available=False, limit=2)
    first = await world.open(company, queue)
    second = await world.open(company, queue)
    await world.set_available(agent, True)
    assert set(await world.offers(agent)) == {first, second}


async def test_done_frees_the_slot_for_the_oldest_waiting_query(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company)
    first = await world.open(company, queue)
    second = await world.open(company, queue)
    third = await world.open(company, queue)
    assert await world.answer(first, agent) is None
    assert await world.offers(agent) == {}
    async with world.events() as events:
        await world.done(first, agent)
        offered = await events.next("query.offered", to(agent))
    assert offered.data["query"]["id"] == second
    assert await world.offers(agent) == {second: 1}
    assert third not in await world.offers(agent)


async def test_limit_change_follows_at_once(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company, limit=1)
    first = await world.open(company, queue)
    second = await world.open(company, queue)
    assert await world.offers(agent) == {first: 1}
    async with world.events() as events:
        await world.set_member(agent, max_ongoing_queries_handled=2)
        changed = await events.next("limits.changed", to(agent))
        await events.next("query.offered", about(second, agent))
    assert changed.data["company_user"]["max_ongoing_queries_handled"] == 2
    assert await world.offers(agent) == {first: 1, second: 1}


async def test_losing_a_skill_withdraws_as_not_ready(world: World) -> None:
    company = await world.company()
    skill = await world.skill(company)
    queue = await world.queue(company, [skill])
    agent = await world.agent(company, {skill: 1})
    query = await world.open(company, queue)
    async with world.events() as events:
        await world.set_skills(agent, {})
        withdrawn = await events.next("query.withdrawn", about(query, agent))
    assert withdrawn.data["reason"] == "not_ready"


async def test_transfer_moves_offers_and_keeps_the_place_in_line(world: World) -> None:
    company = await world.company()
    sales, support = await world.skill(company), await world.skill(company)
    sales_queue = await world.queue(company, [sales])
    support_queue = await world.queue(company, [support])
    seller = await world.agent(company, {sales: 1})
    helper = await world.agent(company, {support: 1}, available=False)
    moved = await world.open(company, sales_queue)
    later = await world.open(company, support_queue)
    async with world.events() as events:
        await world.transfer(moved, support_queue, status="waiting", holder=None)
        withdrawn = await events.next("query.withdrawn", about(moved, seller))
    assert withdrawn.data["reason"] == "transferred"
    await world.set_available(helper, True)
    assert await world.offers(helper) == {moved: 1}
    assert later not in await world.offers(helper)


async def test_transfer_by_the_holder_frees_its_slot(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    other_queue = await world.queue(company)
    agent = await world.agent(company)
    query = await world.open(company, queue)
    waiting = await world.open(company, queue)
    assert await world.answer(query, agent) is None
    async with world.events() as events:
        await world.transfer(query, other_queue, status="ongoing", holder=agent)
        told = await events.next("query.transferred", to(agent))
    assert told.data["query"]["id"] == query
    assert await world.offers(agent) == {query: 1}
    assert waiting not in await world.offers(agent)


async def test_cancelled_query_is_withdrawn(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company)
    query = await world.open(company, queue)
    async with world.events() as events:
        await world.cancel(query)
        withdrawn = await events.next("query.withdrawn", about(query, agent))
    assert withdrawn.data["reason"] == "cancelled"


async def test_personal_queue_is_offered_to_its_owner_alone(world: World) -> None:
    company = await world.company()
    owner = await world.agent(company)
    other = await world.agent(company)
    query = await world.open(company, await world.personal_queue(owner))
    assert await world.offers(owner) == {query: 1}
    assert await world.offers(other) == {}


async def test_older_query_unlocking_reorders_a_non_pick_agents_offer(world: World) -> None:
    company = await world.company()
    skill = await world.skill(company)
    slow = await world.queue(company, [skill], delay=60)
    fast = await world.queue(company, [skill])
    agent = await world.agent(company, {skill: 2})
    older = await world.open(company, slow)
    newer = await world.open(company, fast)
    assert await world.offers(agent) == {newer: 2}
    async with world.events() as events:
        world.clock.advance(61)
        withdrawn = await events.next("query.withdrawn", about(newer, agent))
        await events.next("query.offered", about(older, agent))
    assert withdrawn.data["reason"] == "reordered"


async def test_dashboard_gets_queue_figures(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    await world.agent(company)
    async with world.events() as events:
        await world.open(company, queue)
        await world.open(company, queue)
        figures = await events.next(
            "queues.figures",
            lambda event: (
                event.company_id == company
                and any(row["waiting"] == 2 for row in event.data["queues"])
            ),
        )
    row = next(row for row in figures.data["queues"] if row["queue_id"] == queue)
    assert figures.dashboard
    assert row["ready"] == 1 and row["busy"] == 0


async def test_an_answer_withdraws_the_query_from_everyone_offered_it_in_one_event(
    world: World,
) -> None:
    company = await world.company()
    queue = await world.queue(company)
    ada = await world.agent(company)
    team = [await world.agent(company) for _ in range(4)]
    query = await world.open(company, queue)
    async with world.events() as events:
        assert await world.answer(query, ada) is None
        await events.next("query.answered", to(ada))
        withdrawn = await events.next("query.withdrawn", about(query))
        others = [e for e in await events.drain() if e.type == "query.withdrawn"]

    assert sorted(withdrawn.company_user_ids) == sorted([ada, *team])
    assert withdrawn.data == {"query_id": query, "reason": "answered"}
    assert others == []

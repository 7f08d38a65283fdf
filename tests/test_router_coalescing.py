"""Recomputations of one company coalesce: what callers are promised when changes share one,
and when the router stops under them. Both stores, through the router's hooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from router.engine import RecomputeAbandoned
from server import query_actions, routing
from tests.helpers import Client
from tests.test_router_world import World, about

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(client: Client) -> AsyncIterator[World]:
    yield World(client.services)


@asynccontextmanager
async def _recomputing(world: World, company_id: int) -> AsyncIterator[None]:
    """Hold the company as a long recomputation would, so changes meanwhile share the next."""
    lock = world.router._batches.locks.setdefault(company_id, asyncio.Lock())
    async with lock:
        yield


async def _joined(world: World, company_id: int, causes: int, within: float = 5.0) -> None:
    """Wait until `causes` changes wait together for the company's next recomputation."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        batch = world.router._batches.waiting.get(company_id)
        if batch is not None and len(batch.causes) >= causes:
            return
        assert loop.time() < deadline, f"{causes} changes did not join one recomputation"
        await asyncio.sleep(0.01)


async def _ended(task: asyncio.Task[None], within: float = 5.0) -> None:
    done, _ = await asyncio.wait({task}, timeout=within)
    assert done, "the caller still waits for a recomputation that will never come"


async def test_a_recompute_asked_just_before_the_router_stops_ends(world: World) -> None:
    company = await world.company()
    caller = asyncio.create_task(world.router.recompute(company, cause="test"))
    await asyncio.sleep(0)  # the caller joined; the recomputation's task has not run yet
    await routing.stop(world.services)
    try:
        await _ended(caller)
    finally:
        await routing.start(world.services)

    assert not caller.cancelled()
    assert isinstance(caller.exception(), RecomputeAbandoned)


async def test_a_recompute_waiting_when_the_router_stops_fails_without_a_cancellation(
    world: World,
) -> None:
    company = await world.company()
    async with _recomputing(world, company):
        caller = asyncio.create_task(world.router.recompute(company, cause="test"))
        await _joined(world, company, 1)
        await routing.stop(world.services)
    try:
        await _ended(caller)
    finally:
        await routing.start(world.services)

    # The caller was not cancelled: it must not end as if it were, nor hang.
    assert not caller.cancelled()
    assert isinstance(caller.exception(), RecomputeAbandoned)


async def test_answered_then_transferred_together_withdraws_as_answered(world: World) -> None:
    """A query answered, then moved by a manager before the answer's recomputation ran: the
    other agent lost it to the answer, as it would have if the two had not coalesced."""
    company = await world.company()
    skill = await world.skill(company)
    here = await world.queue(company)
    there = await world.queue(company, [skill])
    answerer = await world.agent(company, name="Ada")
    other = await world.agent(company, name="Bob")
    query = await world.open(company, here)
    assert await world.offers(other) == {query: 1}
    now = world.clock.now()

    async with world.events() as events:
        async with _recomputing(world, company):
            stored = await query_actions.answer(world.db, query, answerer, now=now)
            answered = asyncio.create_task(world.router.query_answered(stored, answerer))
            await _joined(world, company, 1)
            await query_actions.transfer(
                world.db, query, there, status="ongoing", holder=answerer, now=now
            )
            transferred = asyncio.create_task(world.router.query_transferred(query, answerer))
            await _joined(world, company, 2)
        await asyncio.gather(answered, transferred)
        withdrawn = await events.next("query.withdrawn", about(query, other))

    assert withdrawn.data["reason"] == "answered"
    assert await world.offers(other) == {}

"""Presence when processes share one Redis: a process taken for dead while it only stalled, and
a rebuild after a flush while another live process holds agents' websockets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from router import presence
from server import routing
from tests.helpers import Client
from tests.test_router_recovery import _flush_prefix, _needs_redis, _until
from tests.test_router_world import World

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(client: Client) -> AsyncIterator[World]:
    yield World(client.services)


@pytest.mark.parametrize("opened", ["before the stall", "once awake"])
async def test_a_process_taken_for_dead_while_it_stalled_keeps_its_agents(
    world: World, opened: str
) -> None:
    """The stalled process beats again between the sweep's claim and its forgetting: the
    websockets it records then must survive the sweep, and its agent stay available."""
    _needs_redis(world)
    company = await world.company()
    agent = await world.agent(company)
    stalled = routing.build(world.services)
    try:
        await stalled.store.heartbeat(stalled.process_id)
        if opened == "before the stall":
            await stalled.agent_connected(agent, "socket-1")
        sweeper = world.router
        dead = await sweeper.store.claim_dead_processes(sweeper.process_id, 0.0)
        assert dead == [stalled.process_id]
        await stalled.presence.heartbeat()  # awake again: it learns it was forgotten
        if opened == "once awake":
            await stalled.agent_connected(agent, "socket-1")
        for process_id in dead:
            for company_id, company_user_id in await sweeper.store.forget_process(process_id):
                await sweeper.presence.start_grace(company_id, company_user_id, move=False)
        counted = await sweeper.store.connection_count(company, agent)
        world.clock.advance(presence.PROCESS_DEAD_SECONDS + 31)
        await sweeper.run_due_timers()

        assert counted == 1
        assert await world.is_available(agent)
    finally:
        await stalled.store.close()


async def test_an_agent_back_on_another_process_before_the_sweep_stays_available(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_redis(world)
    monkeypatch.setattr(presence, "PROCESS_DEAD_SECONDS", 0.5)
    company = await world.company()
    agent = await world.agent(company)
    gone = routing.build(world.services)
    await gone.store.heartbeat(gone.process_id)
    await gone.agent_connected(agent, "socket-1")
    await gone.store.close()
    await world.router.agent_connected(agent, "socket-2")

    async def swept() -> bool:
        return await world.router.store.connection_count(company, agent) == 1

    await _until(swept)
    world.clock.advance(31)
    await world.router.run_due_timers()

    assert await world.is_available(agent)


async def test_a_rebuild_after_a_flush_spares_agents_of_another_live_process(
    world: World,
) -> None:
    """A live process records its websockets again at its next beat (every 2 s); a short
    grace started by another process's rebuild must not run out before that."""
    _needs_redis(world)
    world.router.presence_grace_seconds = 1.0
    company = await world.company()
    agent = await world.agent(company)
    other = routing.build(world.services)
    try:
        await other.store.heartbeat(other.process_id)
        await other.agent_connected(agent, "socket-1")
        await _flush_prefix(world)
        await world.router.rebuild()
        world.clock.advance(1.5)
        await world.router.run_due_timers()
        before_the_beat = await world.is_available(agent)
        await other.presence.heartbeat()
        world.clock.advance(presence.PROCESS_DEAD_SECONDS + 1)
        await world.router.run_due_timers()

        assert before_the_beat
        assert await world.is_available(agent)
    finally:
        await other.store.close()

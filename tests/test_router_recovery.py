"""Recovery and sharing: rebuilding from the database, Redis flushed or its pub/sub cut, two
routers on one Redis prefix, and the operations endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from router import presence
from router.bus import RedisBus
from server import routing
from tests.helpers import Client
from tests.test_router_world import World, about, to

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(client: Client) -> AsyncIterator[World]:
    yield World(client.services)


def _needs_redis(world: World) -> None:
    if not world.services.settings.redis_url:
        pytest.skip("Only several routers on one Redis share state; memory is per process.")


async def _flush_prefix(world: World) -> None:
    """Remove every key of the test at once, as a restart of Redis without persistence does."""
    settings = world.services.settings
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    try:
        found = [key async for key in client.scan_iter(match=f"*{settings.redis_prefix}*")]
        if found:
            await client.delete(*found)
    finally:
        await client.aclose()


async def _until(check: object, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_new_router_rebuilds_the_offers_from_the_database(world: World) -> None:
    company = await world.company()
    skill = await world.skill(company)
    queue = await world.queue(company, [skill])
    ada = await world.agent(company, {skill: 1}, pick=True, limit=2)
    bob = await world.agent(company, {skill: 2})
    first = await world.open(company, queue)
    second = await world.open(company, queue)
    assert await world.answer(first, bob) is None
    fresh = routing.build(world.services)
    if not world.services.settings.redis_url:
        await fresh.start()
    else:
        await _flush_prefix(world)
        await fresh.start()
    try:
        assert await fresh.offers_of(ada) == await world.router.offers_of(ada)
        assert {offer["query"]["id"] for offer in await fresh.offers_of(ada)} == {second}
        assert await fresh.offers_of(bob) == []
    finally:
        await fresh.stop()


async def test_router_rebuilds_when_redis_comes_back_empty(world: World) -> None:
    _needs_redis(world)
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company)
    query = await world.open(company, queue)
    await _flush_prefix(world)
    assert await world.offers(agent) == {}

    async def rebuilt() -> bool:
        return await world.offers(agent) == {query: 1}

    await _until(rebuilt)
    assert await world.router.ready()


async def test_a_presence_grace_pending_during_a_flush_still_ends_unavailable(
    world: World,
) -> None:
    _needs_redis(world)
    company = await world.company()
    left = await world.agent(company, name="Ada")
    stays = await world.agent(company, name="Bob")
    await world.router.agent_connected(left, "socket-1")
    await world.router.agent_disconnected(left, "socket-1")
    await world.router.agent_connected(stays, "socket-2")
    await _flush_prefix(world)

    async def rebuilt() -> bool:
        return bool(await world.router.store.is_built())

    await _until(rebuilt)
    async with world.events() as events:
        world.clock.advance(31)
        state = await events.next("state.changed", to(left))
    await world.router.run_due_timers()

    assert state.data["state"]["is_available"] is False
    assert state.data["reason"] == "disconnected"
    assert await world.is_available(stays)


async def test_sockets_of_a_router_that_stops_beating_are_swept_and_graced(
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

    async def swept() -> bool:
        return await world.router.store.connection_count(company, agent) == 0

    await _until(swept)
    async with world.events() as events:
        world.clock.advance(31)
        state = await events.next("state.changed", to(agent))

    assert state.data["reason"] == "disconnected"


async def test_pubsub_reader_reconnects_and_resynchronises(world: World) -> None:
    _needs_redis(world)
    bus = world.router.bus
    assert isinstance(bus, RedisBus)
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company)
    client = redis.asyncio.Redis.from_url(world.services.settings.redis_url)
    try:
        mine = [row for row in await client.client_list() if row["name"] == bus.client_name]
        assert len(mine) == 1
        await client.client_kill_filter(_id=mine[0]["id"])
    finally:
        await client.aclose()

    async def resubscribed() -> bool:
        return bool(bus.reconnects >= 1)

    await _until(resubscribed)
    async with world.events() as events:
        query = await world.open(company, queue)
        await events.next("query.offered", about(query, agent))


async def test_two_routers_on_one_prefix_agree_and_fire_a_timer_once(world: World) -> None:
    _needs_redis(world)
    other = routing.build(world.services)
    await other.start()
    try:
        company = await world.company(query_expiry_time_in_minutes=1)
        queue = await world.queue(company)
        agent = await world.agent(company)
        async with world.events() as events:
            query = await world.open(company, queue)
            assert await other.offers_of(agent) == await world.router.offers_of(agent)
            world.clock.advance(61)
            await events.next("expired", about(query))
            await events.next("query.withdrawn", about(query, agent))
            later = await events.drain(settle=1.0)
        assert [event for event in later if event.type == "expired"] == []
        assert await other.offers_of(agent) == []
    finally:
        await other.stop()


async def test_timer_set_by_another_router_still_fires(world: World) -> None:
    _needs_redis(world)
    company = await world.company(query_expiry_time_in_minutes=1)
    queue = await world.queue(company)
    agent = await world.agent(company)
    gone = routing.build(world.services)
    query = await world.open(company, queue)
    await gone.query_opened(query, company)
    await gone.store.close()
    async with world.events() as events:
        world.clock.advance(61)
        expired = await events.next("expired", about(query))
        withdrawn = await events.next("query.withdrawn", about(query, agent))
    assert expired.query_id == query
    assert withdrawn.data["reason"] == "expired"
    assert await world.offers(agent) == {}


async def test_ready_and_metrics_report_the_router(client: Client, world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company)
    async with world.events() as events:
        await world.open(company, queue)
        await events.next("query.offered", to(agent))
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "routing": True}
    page = await client.get("/metrics")
    assert page.status_code == 200
    assert 'connectnow_queries{status="waiting"} 1.0' in page.text
    assert "connectnow_offers_total" in page.text
    assert "connectnow_create_to_offer_seconds_bucket" in page.text


async def test_ready_is_503_before_the_router_runs(client: Client) -> None:
    services = client.services
    router = services.hooks
    await routing.stop(services)
    try:
        answer = await client.get("/ready")
        assert answer.status_code == 503
        assert answer.json()["checks"]["routing"] is False
    finally:
        await routing.start(services)
        del router

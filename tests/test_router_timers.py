"""Timers of SPEC §4: level unlocks, expiry, presence grace, idle agents and reminders."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.company_users import CompanyUserStateChange
from models.queries import Query
from server import routing
from tests.helpers import Client
from tests.test_router_world import World, about, to

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(client: Client) -> AsyncIterator[World]:
    yield World(client.services)


async def _status(world: World, query_id: int) -> str:
    async with world.db.session() as session:
        query = await session.get(Query, query_id)
    assert query is not None
    return query.status


async def _last_reason(world: World, company_user_id: int) -> str:
    async with world.db.session() as session:
        change = (
            (
                await session.execute(
                    select(CompanyUserStateChange)
                    .where(col(CompanyUserStateChange.company_user_id) == company_user_id)
                    .order_by(col(CompanyUserStateChange.id).desc())
                )
            )
            .scalars()
            .first()
        )
    assert change is not None
    return change.reason


async def test_waiting_query_expires_and_its_offers_are_withdrawn(world: World) -> None:
    company = await world.company(query_expiry_time_in_minutes=5)
    queue = await world.queue(company)
    agent = await world.agent(company)
    query = await world.open(company, queue)
    async with world.events() as events:
        world.clock.advance(5 * 60 + 1)
        expired = await events.next("expired", about(query))
        withdrawn = await events.next("query.withdrawn", about(query, agent))
    assert expired.customer
    assert withdrawn.data["reason"] == "expired"
    assert await _status(world, query) == "expired"
    assert await world.offers(agent) == {}


async def test_query_does_not_expire_before_its_time(world: World) -> None:
    company = await world.company(query_expiry_time_in_minutes=5)
    queue = await world.queue(company)
    query = await world.open(company, queue)
    world.clock.advance(4 * 60)
    await world.router.run_due_timers()
    assert await _status(world, query) == "waiting"


async def test_expiry_zero_means_never(world: World) -> None:
    company = await world.company(query_expiry_time_in_minutes=0)
    queue = await world.queue(company)
    query = await world.open(company, queue)
    world.clock.advance(365 * 24 * 3600)
    await world.router.run_due_timers()
    assert await _status(world, query) == "waiting"


async def test_expiry_counts_from_entering_the_current_queue(world: World) -> None:
    company = await world.company(query_expiry_time_in_minutes=5)
    queue, other = await world.queue(company), await world.queue(company)
    query = await world.open(company, queue)
    world.clock.advance(4 * 60)
    await world.transfer(query, other, status="waiting", holder=None)
    world.clock.advance(2 * 60)
    await world.router.run_due_timers()
    assert await _status(world, query) == "waiting"


async def test_disconnected_agent_goes_unavailable_after_the_grace(world: World) -> None:
    company = await world.company()
    queue = await world.queue(company)
    agent = await world.agent(company)
    query = await world.open(company, queue)
    await world.router.agent_connected(agent, "socket-1")
    await world.router.agent_disconnected(agent, "socket-1")
    async with world.events() as events:
        world.clock.advance(31)
        state = await events.next("state.changed", to(agent))
        withdrawn = await events.next("query.withdrawn", about(query, agent))
    assert state.data["state"]["is_available"] is False
    assert state.data["reason"] == "disconnected"
    assert withdrawn.data["reason"] == "not_ready"
    assert await _last_reason(world, agent) == "disconnected"


async def test_reconnecting_within_the_grace_keeps_the_agent_available(world: World) -> None:
    company = await world.company()
    agent = await world.agent(company)
    await world.router.agent_connected(agent, "socket-1")
    await world.router.agent_disconnected(agent, "socket-1")
    world.clock.advance(10)
    await world.router.agent_connected(agent, "socket-2")
    world.clock.advance(60)
    await world.router.run_due_timers()
    assert await world.is_available(agent)


async def test_closing_one_of_two_sockets_keeps_the_agent_available(world: World) -> None:
    company = await world.company()
    agent = await world.agent(company)
    await world.router.agent_connected(agent, "socket-1")
    await world.router.agent_connected(agent, "socket-2")
    await world.router.agent_disconnected(agent, "socket-1")
    world.clock.advance(60)
    await world.router.run_due_timers()
    assert await world.is_available(agent)


async def test_a_restart_starts_the_grace_of_available_agents_whose_console_is_gone(
    world: World,
) -> None:
    company = await world.company()
    gone = await world.agent(company, name="Ada")
    back = await world.agent(company, name="Bob")
    await routing.stop(world.services)
    await routing.start(world.services)
    await world.router.agent_connected(back, "socket-2")
    await world.router.run_due_timers()
    available_within_the_grace = await world.is_available(gone)
    async with world.events() as events:
        world.clock.advance(31)
        state = await events.next("state.changed", to(gone))
    await world.router.run_due_timers()

    assert available_within_the_grace
    assert state.data["reason"] == "disconnected"
    assert await _last_reason(world, gone) == "disconnected"
    assert await world.is_available(back)


async def test_idle_agent_is_set_unavailable_told_and_emailed(world: World) -> None:
    company = await world.company(idle_timeout_in_minutes=3)
    queue = await world.queue(company)
    agent = await world.agent(company)
    await world.open(company, queue)
    async with world.events() as events:
        world.clock.advance(3 * 60 + 1)
        state = await events.next("state.changed", to(agent))
    assert state.data["reason"] == "idle"
    assert not await world.is_available(agent)
    assert await _last_reason(world, agent) == "idle"
    sent = await world.mail.wait(1)
    assert sent[0].to.startswith("agent")


async def test_answering_resets_the_idle_clock(world: World) -> None:
    company = await world.company(idle_timeout_in_minutes=3)
    queue = await world.queue(company)
    agent = await world.agent(company, pick=True, limit=2)
    first = await world.open(company, queue)
    await world.open(company, queue)
    world.clock.advance(2 * 60)
    assert await world.answer(first, agent) is None
    world.clock.advance(2 * 60)
    await world.router.run_due_timers()
    assert await world.is_available(agent)


async def test_idle_off_never_sets_unavailable(world: World) -> None:
    company = await world.company(idle_timeout_in_minutes=0)
    queue = await world.queue(company)
    agent = await world.agent(company)
    await world.open(company, queue)
    world.clock.advance(10 * 3600)
    await world.router.run_due_timers()
    assert await world.is_available(agent)


async def test_reminder_is_emailed_once_per_interval(world: World) -> None:
    company = await world.company(reminder_interval_in_minutes=30)
    queue = await world.queue(company)
    agent = await world.agent(company)
    query = await world.open(company, queue)
    assert await world.answer(query, agent) is None
    world.clock.advance(29 * 60)
    await world.router.run_due_timers()
    assert world.mail.sent == []
    world.clock.advance(2 * 60)
    await world.router.run_due_timers()
    await world.router.run_due_timers()
    assert len(world.mail.sent) == 1
    assert str(query) in world.mail.sent[0].subject
    world.clock.advance(30 * 60)
    await world.router.run_due_timers()
    assert len(world.mail.sent) == 2


async def test_no_reminder_after_done(world: World) -> None:
    company = await world.company(reminder_interval_in_minutes=30)
    queue = await world.queue(company)
    agent = await world.agent(company)
    query = await world.open(company, queue)
    assert await world.answer(query, agent) is None
    await world.done(query, agent)
    world.clock.advance(31 * 60)
    await world.router.run_due_timers()
    assert world.mail.sent == []

"""Deleting a company while its queries are being answered, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlmodel import col

from models.companies import Company
from server import query_actions
from tests.helpers import Client
from tests.test_router_world import World

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(client: Client) -> AsyncIterator[World]:
    yield World(client.services)


async def _delete(world: World, company_id: int) -> None:
    """What `DELETE /api/companies/{id}` stores and tells the router."""
    now = world.clock.now()
    async with world.db.write() as session:
        await session.execute(
            update(Company).where(col(Company.id) == company_id).values(deleted_at=now)
        )
    await world.router.company_deleted(company_id)


async def test_a_query_answered_as_its_company_is_deleted_is_never_reminded(
    world: World,
) -> None:
    """Its holder lost access with the company and can never mark it done."""
    gone = await world.company(reminder_interval_in_minutes=1)
    gone_agent = await world.agent(gone)
    answered = await world.open(gone, await world.queue(gone))
    stored = await query_actions.answer(world.db, answered, gone_agent, now=world.clock.now())
    await _delete(world, gone)  # between the answer's commit and its hook
    await world.router.query_answered(stored, gone_agent)
    world.clock.advance(1)
    live = await world.company(reminder_interval_in_minutes=1)
    live_agent = await world.agent(live)
    control = await world.open(live, await world.queue(live))
    assert await world.answer(control, live_agent) is None

    world.clock.advance(61)
    await world.router.run_due_timers()  # the deleted company's reminder is due first
    await world.mail.wait(1)
    world.clock.advance(61)
    await world.router.run_due_timers()
    sent = await world.mail.wait(2)

    assert len(sent) == 2
    assert all(str(control) in mail.subject for mail in sent)

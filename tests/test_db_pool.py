"""Pooled PostgreSQL connections the server closed are replaced before a request uses them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import anyio
import asyncpg
import pytest

from server.settings import Settings
from tests import test_hours_api as hours
from tests import test_identity_users as users
from tests import test_queues as queues
from tests.helpers import Client
from tests.test_queries_setup import desk, open_query

pytestmark = pytest.mark.anyio

OTHERS = "datname = current_database() AND pid <> pg_backend_pid()"


async def _terminate_every_connection(settings: Settings) -> None:
    """What a PostgreSQL restart does to the pool, from an admin connection of our own."""
    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    try:
        await admin.fetch(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {OTHERS}")
        deadline = time.monotonic() + 10
        while await admin.fetchval(f"SELECT count(*) FROM pg_stat_activity WHERE {OTHERS}"):
            assert time.monotonic() < deadline, "the terminated backends did not go away"
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_requests_after_every_connection_was_terminated_succeed(
    client: Client, settings: Settings
) -> None:
    place = await desk(client)
    await asyncio.gather(*(open_query(client, place.queue_id) for _ in range(8)))
    pooled = client.services.db.engine.sync_engine.pool.checkedin()
    assert pooled > 1

    await _terminate_every_connection(settings)
    opened = await asyncio.gather(*(open_query(client, place.queue_id) for _ in range(8)))
    listed = await client.get("/api/queries", place.manager)

    assert len({query["id"] for query in opened}) == 8
    assert listed.status_code == 200, listed.text
    assert len(listed.json()) == 16


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "scenario",
    [
        hours.test_members_read_hours_and_only_managers_write,
        hours.test_public_queue_shows_company_password_and_opening,
        users.test_user_with_companies_skills_and_queues,
        queues.test_owner_sets_personal_password_and_others_cannot,
        queues.test_with_relations_are_loaded,
    ],
    ids=lambda scenario: scenario.__name__.removeprefix("test_"),
)
async def test_no_request_holds_one_pooled_connection_while_it_waits_for_another(
    settings: Settings, scenario: Callable[[Client], Awaitable[None]]
) -> None:
    """With the pool spent, such a request would wait for itself: with one connection, now."""
    one = replace(settings, db_pool_size=1, db_max_overflow=0)
    async with Client.running(one) as client:
        with anyio.fail_after(25):  # the pool gives up on a checkout after 30 s
            await scenario(client)

"""Fixtures: every behaviour test runs on the embedded default and on PostgreSQL with Redis.

Each test run makes its own PostgreSQL database and Redis key prefix, and removes them at the
end, so runs on a shared machine never see each other.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
import redis

from models import migrate
from server.settings import Settings
from tests.helpers import Client
from tests.leftovers import remove_leftovers, run_id

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = run_id()

os.environ.setdefault("LOG_LEVEL", "WARNING")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remove what runs killed outright (a worker ended by a timeout) could not."""
    remove_leftovers(PG_ADMIN_DSN, REDIS_URL)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _base_settings(**changes: object) -> Settings:
    settings = Settings()
    return replace(
        settings,
        auto_migrate=False,
        rate_limit_per_minute=100_000,
        public_rate_limit_per_minute=100_000,
        smtp_url="",
        presence_grace_seconds=30.0,
        # Test runs share one PostgreSQL (100 connections) between workers and live servers.
        db_pool_size=8,
        db_max_overflow=6,
        **changes,  # type: ignore[arg-type]
    )


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this run, migrated once."""
    name = f"cn_test_{RUN_ID}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{url}/{name}"
    migrate.upgrade(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, cheaper than migrating each time."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    prefix = f"cntest:{RUN_ID}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    # Keys carry the prefix inside a hash tag (`{cntest:...}:...`), channels outside it.
    for key in client.scan_iter(match=f"*{prefix}*", count=1000):
        client.delete(key)
    client.close()


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> Iterator[Settings]:
    """The server's settings for one backend: SQLite with memory routing, or Postgres+Redis."""
    if request.param == "sqlite":
        path = tmp_path / "connectnow.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield _base_settings(database_url=f"sqlite+aiosqlite:///{path}", redis_url="")
        return
    url = request.getfixturevalue("pg_url")
    asyncio.run(_truncate(url))
    prefix = f"{redis_prefix}:{uuid.uuid4().hex[:6]}"
    yield _base_settings(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    """An HTTP client talking to a fresh app in this process, lifespan included."""
    async with Client.running(settings) as running:
        yield running


from tests.smtp import Mailbox, smtp  # noqa: E402, F401  (the `smtp` fixture for every test)


@pytest.fixture
async def mail_client(settings: Settings, smtp: Mailbox) -> AsyncIterator[Client]:  # noqa: F811
    """Like `client`, but the app sends its mail over SMTP to the `smtp` fixture's server."""
    async with Client.running(replace(settings, smtp_url=smtp.url)) as running:
        yield running

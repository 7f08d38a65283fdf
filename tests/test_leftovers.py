"""A run killed before its cleanup leaves a database and keys; a later run removes them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid

import asyncpg
import redis

from tests.conftest import PG_ADMIN_DSN, REDIS_URL
from tests.leftovers import STALE_SECONDS, remove_leftovers


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


async def _databases(*names: str) -> set[str]:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname = ANY($1)", names)
        return {row["datname"] for row in rows}
    finally:
        await conn.close()


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def test_only_old_databases_of_dead_runs_are_removed_with_their_keys() -> None:
    dead, old, now = _dead_pid(), int(time.time()) - STALE_SECONDS - 60, int(time.time())
    tag = uuid.uuid4().hex[:6]
    stale = f"cn_test_{dead}_{old}_{tag}"
    recent = f"cn_test_{dead}_{now}_{tag}"
    alive = f"cn_live_{os.getpid()}_{old}_{tag}"
    asyncio.run(_admin(*(f'CREATE DATABASE "{name}"' for name in (stale, recent, alive))))
    keys = redis.Redis.from_url(REDIS_URL)
    stale_key = f"{{cntest:{dead}_{old}_{tag}}}:state"
    kept_key = f"{{cntest:{dead}_{now}_{tag}}}:state"
    keys.set(stale_key, "1")
    keys.set(kept_key, "1")
    try:
        removed = remove_leftovers(PG_ADMIN_DSN, REDIS_URL)
        left = asyncio.run(_databases(stale, recent, alive))
        stale_key_left, kept_key_left = keys.exists(stale_key), keys.exists(kept_key)
    finally:
        keys.delete(stale_key, kept_key)
        keys.close()
        drops = (f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in (recent, alive, stale))
        asyncio.run(_admin(*drops))

    assert stale in removed
    assert left == {recent, alive}
    assert (stale_key_left, kept_key_left) == (0, 1)

"""Databases and Redis keys of test runs that died before their own cleanup.

A run names what it makes `cn_test_<pid>_<started>_<random>` (and `cnlive:`/`cntest:` key
prefixes alike). A run whose process is gone and which began over an hour ago (runs are
bounded well below that) left its things behind; the next run removes them. Both conditions
must hold, so a run of another process namespace sharing these servers is never touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid

import asyncpg
import redis

STALE_SECONDS = 3600
_NAME = re.compile(r"^cn_(test|live)_(\d+)_(\d+)_[0-9a-f]+$")


def run_id() -> str:
    return f"{os.getpid()}_{int(time.time())}_{uuid.uuid4().hex[:6]}"


def _is_stale(pid: int, started: int) -> bool:
    if time.time() - started < STALE_SECONDS:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def _stale_databases(admin_dsn: str) -> list[str]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'cn\\_%'")
        stale = []
        for row in rows:
            found = _NAME.match(row["datname"])
            if found and _is_stale(int(found.group(2)), int(found.group(3))):
                stale.append(row["datname"])
        for name in stale:
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except asyncpg.PostgresError:
                pass  # another run is removing it at the same moment
        return stale
    finally:
        await conn.close()


def remove_leftovers(admin_dsn: str, redis_url: str) -> list[str]:
    """Drop stale databases and delete their runs' Redis keys; the names removed."""
    stale = asyncio.run(_stale_databases(admin_dsn))
    client = redis.Redis.from_url(redis_url)
    try:
        for name in stale:
            kind, unique = name.split("_", 2)[1], name.split("_", 2)[2]
            for key in client.scan_iter(match=f"*cn{kind}:{unique}*", count=1000):
                client.delete(key)
    finally:
        client.close()
    return stale

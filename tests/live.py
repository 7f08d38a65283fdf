"""Real server processes for tests: uvicorn on free loopback ports, sharing Postgres and Redis.

`cluster(n)` makes a fresh PostgreSQL database and Redis key prefix, migrates once, starts
`n` processes with `uvicorn server.app:app`, waits for each `/health`, and at the end stops
each by its PID and removes the database and the keys.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from httpx_ws import aconnect_ws

from models import migrate
from tests.conftest import PG_ADMIN_DSN, REDIS_URL
from tests.helpers import Client
from tests.leftovers import run_id

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 60.0
UVICORN = [sys.executable, "-m", "uvicorn", "server.app:app"]


_STARTED: list[subprocess.Popen[bytes]] = []


@atexit.register
def _stop_leftovers() -> None:
    """Processes a test interrupted mid-teardown still die with the test run."""
    for process in _STARTED:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """One uvicorn process; `client` speaks HTTP to it with the tests' helpers."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    client: Client = field(init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path: str) -> Any:
        """A websocket to this process (use with `async with`)."""
        return aconnect_ws(f"ws://127.0.0.1:{self.port}{path}", self.client.http)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine dies."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Cluster:
    """Server processes over one database and one Redis prefix."""

    database_url: str
    redis_url: str
    redis_prefix: str
    servers: list[LiveServer]

    async def sql(self, statement: str, *args: Any) -> str:
        """Run one statement on the cluster's database (test setup the API cannot do)."""
        dsn = self.database_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            return str(await conn.execute(statement, *args))
        finally:
            await conn.close()

    async def flush_redis(self) -> int:
        """Remove every key of this cluster, as a Redis restart without persistence does."""
        return await _delete_keys(self.redis_url, self.redis_prefix)


def _environment(database_url: str, redis_prefix: str, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": redis_prefix,
            "AUTO_MIGRATE": "0",
            "SMTP_URL": "",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "PUBLIC_RATE_LIMIT_PER_MINUTE": "1000000",
            "TIMER_POLL_SECONDS": "0.1",
            "DB_POOL_SIZE": "4",
            "DB_MAX_OVERFLOW": "4",
            **extra,
        }
    )
    return env


def _start(name: str, env: dict[str, str], log_dir: Path) -> LiveServer:
    port = free_port()
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*UVICORN, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _STARTED.append(process)
    return LiveServer(name, port, process, log_path)


def _stop_all(servers: list[LiveServer]) -> None:
    """Stop each gently; whatever an interruption leaves running is killed."""
    try:
        for server in servers:
            server.stop()
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.kill()


async def _wait_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + START_SECONDS
    async with httpx.AsyncClient(base_url=server.url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited at start:\n{server.log_tail()}")
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer /health in time:\n{server.log_tail()}")


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _delete_keys(redis_url: str, prefix: str) -> int:
    client = aioredis.Redis.from_url(redis_url)
    deleted = 0
    try:
        async for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            deleted += int(await client.delete(key))
    finally:
        await client.aclose()
    return deleted


@asynccontextmanager
async def cluster(
    count: int, log_dir: Path, env: dict[str, str] | None = None
) -> AsyncIterator[Cluster]:
    """`count` server processes sharing a fresh database and Redis prefix, stopped at the end."""
    unique = run_id()
    name = f"cn_live_{unique}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    database_url = f"{base}/{name}"
    prefix = f"cnlive:{unique}"
    servers: list[LiveServer] = []
    try:
        await asyncio.to_thread(migrate.upgrade, database_url)
        environment = _environment(database_url, prefix, env or {})
        servers = [_start(f"server-{n}", environment, log_dir) for n in range(count)]
        await asyncio.gather(*(_wait_healthy(server) for server in servers))
        async with _clients(servers):
            yield Cluster(database_url, REDIS_URL, prefix, servers)
    finally:
        _stop_all(servers)
        await _delete_keys(REDIS_URL, prefix)
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def _clients(servers: list[LiveServer]) -> AsyncIterator[None]:
    https = [
        httpx.AsyncClient(
            base_url=server.url, timeout=60.0, limits=httpx.Limits(max_connections=200)
        )
        for server in servers
    ]
    try:
        for server, http in zip(servers, https, strict=True):
            server.client = Client(http, app=None)
        yield
    finally:
        for http in https:
            await http.aclose()

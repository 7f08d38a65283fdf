"""The database engine, sessions, and the one-writer rule of the embedded default."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger("connectnow.db")

# Connections opened past the pool are closed again on return: under a sustained burst that
# is a connect and a disconnect per request, for the server and for PostgreSQL alike. So the
# pool holds them all and a request beyond it waits its turn (no request ever holds one
# connection while it waits for another: tests/test_db_pool.py).
POOL_SIZE = 60
MAX_OVERFLOW = 0
IDLE_PING_SECONDS = 10.0
_IDLE_SINCE = "connectnow_idle_since"


class Database:
    """Owns the engine. On SQLite, writes take one lock: SQLite allows a single writer.

    On a server database the pool keeps up to `pool_size` connections, so that a burst of
    requests reuses them instead of opening and closing overflow connections, and checks a
    connection only when it may have died unseen (see `PoolGuard`).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = POOL_SIZE,
        max_overflow: int = MAX_OVERFLOW,
        **engine_options: Any,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            engine_options.setdefault("connect_args", {"timeout": 30})
        else:
            engine_options.update(pool_size=pool_size, max_overflow=max_overflow)
        self.engine: AsyncEngine = create_async_engine(url, **engine_options)
        # Reads need no transaction of their own: at READ COMMITTED every statement sees its
        # own snapshot anyway, and BEGIN and ROLLBACK would be two more round trips each.
        # SQLite's driver begins only before a write, so its reads are as cheap already.
        self._reader = self.engine
        if not self.is_sqlite:
            self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            PoolGuard(self.engine, IDLE_PING_SECONDS).install()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads, or for writes the caller commits inside `write()`."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed on success, serialised on SQLite."""
        if self.is_sqlite:
            async with self._write_lock:
                async with self.session() as session, session.begin():
                    yield session
            return
        async with self.session() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in one transaction, for the hot query path."""
        if self.is_sqlite:
            async with self._write_lock:
                async with self.engine.begin() as conn:
                    yield conn
            return
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for reads only, one round trip per statement.

        Nothing written on it is atomic: every statement commits by itself.
        """
        async with self._reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def single(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a step that is one statement, which commits by itself.

        One statement is atomic on its own, so BEGIN and COMMIT would only add round trips.
        SQLite gets `connect()`, for its one-writer lock.
        """
        if self.is_sqlite:
            async with self.connect() as conn:
                yield conn
            return
        async with self._reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """An ORM session for reads only, with `read`'s round trips; it must not write."""
        async with AsyncSession(self._reader, expire_on_commit=False, autoflush=False) as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class PoolGuard:
    """Hands out only live connections, for far fewer round trips than a ping per checkout.

    A connection the server closed (a restart, `pg_terminate_backend`) is seen as closed by
    the driver as soon as the event loop reads the end of its socket, at no cost. One that sat
    idle longer than `idle_ping_seconds` may have been cut without a word (a firewall, a
    failover), so it is pinged first. Raising `DisconnectionError` on checkout makes the pool
    throw the connection away and hand out a fresh one, so the request never sees it.
    """

    def __init__(self, engine: AsyncEngine, idle_ping_seconds: float) -> None:
        self.engine = engine
        self.idle_ping_seconds = idle_ping_seconds

    def install(self) -> None:
        pool = self.engine.sync_engine.pool
        event.listen(pool, "checkin", self._on_checkin)
        event.listen(pool, "checkout", self._on_checkout)

    def _on_checkin(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    def _on_checkout(
        self, dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any
    ) -> None:
        if _is_closed(dbapi_connection):
            log.warning("db.connection_replaced reason=closed")
            raise DisconnectionError("The server closed this pooled connection.")
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since <= self.idle_ping_seconds:
            return
        try:
            self.engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            log.warning("db.connection_replaced reason=ping error=%s", type(exc).__name__)
            raise DisconnectionError("A pooled connection did not answer a ping.") from exc


def _is_closed(dbapi_connection: Any) -> bool:
    """What the driver already knows, without a round trip (asyncpg's `is_closed()`)."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    return bool(is_closed()) if callable(is_closed) else False

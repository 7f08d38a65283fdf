"""Whether each console and dashboard of this process may still be open.

Deleting a company or changing or removing a company user reaches the sockets as events at
once: the company user's own consoles, and every socket of the company watching someone
else's console or a dashboard, are checked. Those watching sockets are also re-checked every
`seconds`, in case such an event was lost. An agent's own console is
checked only when told: ten thousand of them re-read every few seconds would keep a core
busy for nothing. One task does this for the whole process: a watcher per socket would cost
every idle socket a task of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from router.tasks import Signal, stop_tasks, wait_set
from server.ws.connection import CLOSE_FORBIDDEN, Connection

log = logging.getLogger("connectnow.ws")

Check = Callable[[], Awaitable[bool]]
"""True while the socket's user may still follow what it follows."""

REVOKED_REASON = "Access to this channel has ended."


class Guard:
    """Checks a socket at once when nudged, and the periodic ones every `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._checks: dict[Connection, Check] = {}
        self._periodic: dict[Connection, None] = {}
        self._nudged: dict[Connection, None] = {}
        self._signal = Signal()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="ws-guard")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])

    def watch(self, connection: Connection, still_allowed: Check, *, periodic: bool) -> None:
        self._checks[connection] = still_allowed
        if periodic:
            self._periodic[connection] = None

    def forget(self, connection: Connection) -> None:
        self._checks.pop(connection, None)
        self._periodic.pop(connection, None)
        self._nudged.pop(connection, None)

    def nudge(self, connection: Connection) -> None:
        """Check this socket soon: something about its user changed."""
        if connection in self._checks:
            self._nudged[connection] = None
            self._signal.set()

    def nudge_watchers(self, connections: Iterable[Connection]) -> None:
        """Check those of these sockets that watch someone else's console or a dashboard: a
        company user of their company changed, and it may be the one watching."""
        for connection in connections:
            if connection in self._periodic:
                self._nudged[connection] = None
                self._signal.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        sweep_at = loop.time() + self.seconds
        while True:
            await wait_set(self._signal, max(0.0, sweep_at - loop.time()))
            self._signal.clear()
            await self._check_nudged()
            if loop.time() >= sweep_at:
                for connection in list(self._periodic):
                    await self._check(connection)
                    await self._check_nudged()  # a nudge does not wait for the sweep
                sweep_at = loop.time() + self.seconds

    async def _check_nudged(self) -> None:
        while self._nudged:
            connection = next(iter(self._nudged))
            del self._nudged[connection]
            await self._check(connection)

    async def _check(self, connection: Connection) -> None:
        still_allowed = self._checks.get(connection)
        if still_allowed is None or connection.closed:
            return
        try:
            allowed = await still_allowed()
        except Exception:
            log.exception(
                "ws.check_failed channel=%s connection=%s", connection.channel, connection.id
            )
            return
        if not allowed and not connection.closed:
            log.info("ws.revoked channel=%s connection=%s", connection.channel, connection.id)
            connection.close_soon(CLOSE_FORBIDDEN, REVOKED_REASON)

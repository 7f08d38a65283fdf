"""Channels that show a view of the database (dashboards, customers) rather than events.

Any event of the company marks the view stale; one task per connection re-reads it, at most
once at a time however many events come, and sends a frame only when something changed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from router.tasks import Signal, wait_set
from server.ws.connection import Connection

log = logging.getLogger("connectnow.ws")

RETRY_SECONDS = 1.0

Reader = Callable[[], Awaitable[list[tuple[str, dict[str, Any]]]]]
"""Reads the view and returns the frames to send now (none when nothing changed)."""


class View:
    """Re-reads a connection's view when told it is stale, and on each ping interval.

    A read that fails (the database busy or away) is tried again after RETRY_SECONDS, not
    left until the next event or interval: the change it missed may have been the last.
    """

    def __init__(self, connection: Connection, read: Reader) -> None:
        self.connection = connection
        self.read = read
        self._stale = Signal()
        self._farewell: tuple[int, str] | None = None
        self._failed = False

    def stale(self) -> None:
        self._stale.set()

    def last_word(self, code: int, reason: str) -> None:
        """Read once more, send what changed, then close with `code`."""
        self._farewell = (code, reason)
        self._stale.set()

    async def run(self) -> None:
        while not self.connection.closed:
            await self._until_stale()
            farewell = self._farewell  # asked before this read began, so the read sees why
            for frame_type, data in await self._read():
                self.connection.push(frame_type, data)
            if farewell is not None:
                self.connection.close_when_sent(*farewell)
                return

    async def _until_stale(self) -> None:
        # Past the interval it refreshes anyway: time alone moves waits and hourly counts.
        seconds = RETRY_SECONDS if self._failed else self.connection.ping_seconds
        await wait_set(self._stale, min(seconds, self.connection.ping_seconds))
        self._stale.clear()

    async def _read(self) -> list[tuple[str, dict[str, Any]]]:
        try:
            frames = await self.read()
        except Exception:
            self._failed = True
            log.exception(
                "ws.view_failed channel=%s connection=%s",
                self.connection.channel,
                self.connection.id,
            )
            return []
        self._failed = False
        return frames

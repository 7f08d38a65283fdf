"""Channels that show a view of the database (dashboards, customers) rather than events.

Any event of the company marks the view stale; one task per connection re-reads it, at most
once at a time however many events come, and sends a frame only when something changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from server.ws.connection import Connection

log = logging.getLogger("connectnow.ws")

Reader = Callable[[], Awaitable[list[tuple[str, dict[str, Any]]]]]
"""Reads the view and returns the frames to send now (none when nothing changed)."""


class View:
    """Re-reads a connection's view when told it is stale, and on each ping interval."""

    def __init__(self, connection: Connection, read: Reader) -> None:
        self.connection = connection
        self.read = read
        self._stale = asyncio.Event()

    def stale(self) -> None:
        self._stale.set()

    async def run(self) -> None:
        while not self.connection.closed:
            try:
                await asyncio.wait_for(self._stale.wait(), self.connection.ping_seconds)
            except TimeoutError:
                pass  # refresh anyway: time alone moves waits and hourly counts
            self._stale.clear()
            try:
                frames = await self.read()
            except Exception:
                log.exception(
                    "ws.view_failed channel=%s connection=%s",
                    self.connection.channel,
                    self.connection.id,
                )
                continue
            for frame_type, data in frames:
                self.connection.push(frame_type, data)

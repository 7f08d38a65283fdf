"""One websocket as the server sees it: a bounded outbox drained by its own sender task.

Nothing else writes to the socket, so `seq` is the order on the wire. Pushing never blocks:
a client that stops reading fills its outbox and is dropped, and the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from models.base import format_timestamp, utcnow
from router.events import Event
from router.tasks import within

log = logging.getLogger("connectnow.ws")

OUTBOX_LIMIT = 256
"""Frames a connection may have waiting; past this its client is too slow and is dropped."""

CLOSE_TIMEOUT_SECONDS = 1.0

# Close codes of the application range (4000-4999) that clients may act on.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_DEAD = 4408
CLOSE_TOO_SLOW = 4429


class Connection:
    """A websocket after its handshake: frames in order, sent by one task, closed once."""

    def __init__(self, websocket: WebSocket, channel: str, ping_seconds: float) -> None:
        self.websocket = websocket
        self.channel = channel
        self.id = uuid.uuid4().hex
        self.ping_seconds = ping_seconds
        self.seq = 0
        self.started = False
        self.closed = False
        self.closed_event = asyncio.Event()
        self.on_event: Callable[[Event], None] = lambda event: None
        self.labels = ""
        self._outbox: deque[dict[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._last_heard = time.monotonic()
        self._last_sent = time.monotonic()
        self._closing: asyncio.Task[None] | None = None
        self._farewell: tuple[int, str] | None = None

    def begin(self, hello: dict[str, Any]) -> None:
        """Send `hello` first, then whatever events came while it was being prepared."""
        self._outbox.appendleft({"type": "hello", **hello})
        self.started = True
        self._wakeup.set()

    def push(self, frame_type: str, data: dict[str, Any] | None = None) -> None:
        """Queue a frame; never blocks. A full outbox drops the connection instead."""
        if self.closed or self._farewell is not None:
            return
        if len(self._outbox) >= OUTBOX_LIMIT:
            log.warning(
                "ws.dropped reason=slow channel=%s connection=%s %s",
                self.channel,
                self.id,
                self.labels,
            )
            self.close_soon(CLOSE_TOO_SLOW, "The client did not read its frames in time.")
            return
        self._outbox.append({"type": frame_type, **(data or {})})
        self._wakeup.set()

    def heard(self) -> None:
        """The client sent something: it is alive."""
        self._last_heard = time.monotonic()

    def close_soon(self, code: int, reason: str) -> None:
        """Close from any task: the sender stops, and the socket closes once, safely."""
        if self.closed:
            return
        self.closed = True
        self._outbox.clear()
        self._wakeup.set()
        self.closed_event.set()
        self._closing = asyncio.get_running_loop().create_task(self._close(code, reason))

    def close_when_sent(self, code: int, reason: str) -> None:
        """Close once the frames queued so far are sent; frames pushed after are dropped."""
        if self.closed or self._farewell is not None:
            return
        self._farewell = (code, reason)
        self._wakeup.set()

    async def finish(self) -> None:
        """Close normally unless already closing, and wait for the close to be sent."""
        self.close_soon(1000, "")
        if self._closing is not None:
            await asyncio.gather(self._closing, return_exceptions=True)

    async def _close(self, code: int, reason: str) -> None:
        # The socket may already be gone, or a stalled send may hold it: either way, give up
        # quickly and let the channel's handler return, which ends the connection for good.
        with contextlib.suppress(Exception):
            await within(self.websocket.close(code=code, reason=reason), CLOSE_TIMEOUT_SECONDS)

    async def send_now(self, frame_type: str, data: dict[str, Any]) -> None:
        """Send before the sender runs (handshake errors); failures mean the client left."""
        with contextlib.suppress(Exception):
            await self.websocket.send_text(self._encode({"type": frame_type, **data}))

    async def run_sender(self) -> None:
        """Drain the outbox in order; ends when the connection closes or a send fails."""
        while not self.closed:
            if not self._outbox and self.started and self._farewell is not None:
                self.close_soon(*self._farewell)
                return
            if not self._outbox or not self.started:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            frame = self._outbox.popleft()
            try:
                await within(self.websocket.send_text(self._encode(frame)), self.ping_seconds)
            except TimeoutError:
                log.warning(
                    "ws.dropped reason=send_timeout channel=%s connection=%s %s",
                    self.channel,
                    self.id,
                    self.labels,
                )
                self.close_soon(CLOSE_DEAD, "A frame could not be delivered in time.")
                return
            except Exception:
                # The client left or another task closed the socket under us: not an error.
                self.closed = True
                self.closed_event.set()
                return
            self._last_sent = time.monotonic()

    async def run_pinger(self) -> None:
        """Send a `ping` frame after `ping_seconds` of quiet, so proxies keep the socket open.

        Clients may answer with `ping` or `pong` but need not: a dead peer is found by the
        transport's own pings (uvicorn's) and by a send that does not finish in time.
        """
        while not self.closed:
            await asyncio.sleep(self.ping_seconds / 4)
            quiet_since = max(self._last_heard, self._last_sent)
            if time.monotonic() - quiet_since >= self.ping_seconds:
                self.push("ping")
                self._last_sent = time.monotonic()

    def _encode(self, frame: dict[str, Any]) -> str:
        self.seq += 1
        head = {"type": frame["type"], "seq": self.seq, "at": format_timestamp(utcnow())}
        return json.dumps({**frame, **head})

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
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from models.base import format_timestamp, utcnow
from router.events import Event
from router.tasks import Signal, wait_set, within

log = logging.getLogger("connectnow.ws")

OUTBOX_LIMIT = 256
"""Frames a connection may have waiting; past this its client is too slow and is dropped."""

CLOSE_TIMEOUT_SECONDS = 1.0
MIN_WAIT_SECONDS = 0.05

# Close codes of the application range (4000-4999) that clients may act on.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_DEAD = 4408
CLOSE_TOO_SLOW = 4429


class Connection:
    """A websocket after its handshake: frames in order, sent by one task, closed once."""

    # Ten thousand idle consoles hold ten thousand of these: no per-instance dict, a list for
    # the (nearly always empty) outbox, single-waiter signals rather than events.
    __slots__ = (
        "_closed_event",
        "_closing",
        "_farewell",
        "_last_heard",
        "_last_sent",
        "_outbox",
        "_stopping",
        "_wakeup",
        "channel",
        "closed",
        "id",
        "labels",
        "on_event",
        "ping_seconds",
        "seq",
        "started",
        "websocket",
    )

    def __init__(self, websocket: WebSocket, channel: str, ping_seconds: float) -> None:
        self.websocket = websocket
        self.channel = channel
        self.id = uuid.uuid4().hex
        self.ping_seconds = ping_seconds
        self.seq = 0
        self.started = False
        self.closed = False
        self.on_event: Callable[[Event], None] = lambda event: None
        self.labels = ""
        self._closed_event: asyncio.Event | None = None
        self._outbox: list[dict[str, Any] | tuple[str, str]] = []
        self._wakeup = Signal()
        self._last_heard = time.monotonic()
        self._last_sent = time.monotonic()
        self._closing: asyncio.Task[None] | None = None
        self._farewell: tuple[int, str] | None = None
        self._stopping = False

    @property
    def closed_event(self) -> asyncio.Event:
        """Set once the connection is closed; made when first asked for."""
        if self._closed_event is None:
            self._closed_event = asyncio.Event()
            if self.closed:
                self._closed_event.set()
        return self._closed_event

    def _mark_closed(self) -> None:
        self.closed = True
        if self._closed_event is not None:
            self._closed_event.set()

    def begin(self, hello: dict[str, Any]) -> None:
        """Send `hello` first, then whatever events came while it was being prepared."""
        self._outbox.insert(0, {"type": "hello", **hello})
        self.started = True
        self._wakeup.set()

    def push(self, frame_type: str, data: dict[str, Any] | None = None) -> None:
        """Queue a frame; never blocks. A full outbox drops the connection instead."""
        if not self._may_push():
            return
        self._outbox.append({"type": frame_type, **(data or {})})
        self._wakeup.set()

    def push_encoded(self, frame_type: str, data_json: str) -> None:
        """`push` for fields already encoded as one JSON object, shared by many sockets."""
        if self._may_push():
            self._outbox.append((frame_type, data_json))
            self._wakeup.set()

    def _may_push(self) -> bool:
        if self.closed or self._farewell is not None:
            return False
        if len(self._outbox) >= OUTBOX_LIMIT:
            log.warning(
                "ws.dropped reason=slow channel=%s connection=%s %s",
                self.channel,
                self.id,
                self.labels,
            )
            self.close_soon(CLOSE_TOO_SLOW, "The client did not read its frames in time.")
            return False
        return True

    def heard(self) -> None:
        """The client sent something: it is alive."""
        self._last_heard = time.monotonic()

    def close_soon(self, code: int, reason: str) -> None:
        """Close from any task: the sender stops, and the socket closes once, safely."""
        if self.closed:
            return
        self._mark_closed()
        self._outbox.clear()
        self._wakeup.set()
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

    def stop_sending(self, _ended: object = None) -> None:
        """End the sender once the farewell, if one is due, is sent: the channel is ending.

        Also a done callback of the channel's tasks, which pass the task that ended.
        """
        self._stopping = True
        self._wakeup.set()

    async def run_sender(self) -> None:
        """Drain the outbox in order, and send a `ping` frame after `ping_seconds` of quiet.

        One task does both, so an idle connection costs one waiting task. Pings keep proxies
        from closing a quiet socket; clients may answer with `ping` or `pong` but need not: a
        dead peer is found by the transport's own pings (uvicorn's) and by a send that does
        not finish in time. Ends when the connection closes, a send fails, or on
        `stop_sending`.
        """
        while not self.closed and (not self._stopping or self._farewell is not None):
            if not self._outbox and self.started and self._farewell is not None:
                self.close_soon(*self._farewell)
                return
            if not self._outbox or not self.started:
                self._wakeup.clear()
                if not await wait_set(self._wakeup, self._until_ping()):
                    self._ping_if_quiet()
                continue
            if not await self._send_next():
                return

    async def _send_next(self) -> bool:
        """Send the oldest queued frame; whether the sender may go on.

        The frame lives only in this call: the sender then waits, for hours maybe, and the
        first frame of all, the hello, is a connection's largest.
        """
        frame = self._outbox.pop(0)
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
            return False
        except Exception:
            # The client left or another task closed the socket under us: not an error.
            self._mark_closed()
            return False
        self._last_sent = time.monotonic()
        return True

    def _until_ping(self) -> float:
        quiet_since = max(self._last_heard, self._last_sent)
        return max(MIN_WAIT_SECONDS, quiet_since + self.ping_seconds - time.monotonic())

    def _ping_if_quiet(self) -> None:
        quiet_since = max(self._last_heard, self._last_sent)
        if self.started and time.monotonic() - quiet_since >= self.ping_seconds:
            self.push("ping")
            self._last_sent = time.monotonic()

    def _encode(self, frame: dict[str, Any] | tuple[str, str]) -> str:
        self.seq += 1
        at = format_timestamp(utcnow())
        if isinstance(frame, tuple):
            # The shared fields first, then this socket's own: on a clash, the last one counts.
            frame_type, data_json = frame
            head = json.dumps({"type": frame_type, "seq": self.seq, "at": at})
            return head if data_json == "{}" else f"{data_json[:-1]}, {head[1:]}"
        return json.dumps({**frame, "type": frame["type"], "seq": self.seq, "at": at})

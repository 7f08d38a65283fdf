"""Event buses: in-process fan-out, and Redis pub/sub fan-out across processes."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from router.events import Event
from router.tasks import stop_tasks, within

log = logging.getLogger("connectnow.router")

QUEUE_SIZE = 10_000
SENT_MEMORY = 10_000


class MemoryBus:
    """Hands each published event to every listener of this process.

    A listener whose queue is full loses the event and a warning is logged, so one stuck
    consumer never blocks routing for everyone else.
    """

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    async def publish_many(self, events: list[Event]) -> None:
        """Publish in order; on Redis in one round trip."""
        for event in events:
            self.deliver(event)

    def deliver(self, event: Event) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning(
                    "router.event_dropped type=%s company=%s", event.type, event.company_id
                )

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue receiving every event from now on, until the block ends."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def listen(self) -> AsyncIterator[Event]:
        async with self.subscribe() as queue:
            while True:
                yield await queue.get()


def _fields(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "company_id": event.company_id,
        "data": event.data,
        "company_user_ids": list(event.company_user_ids),
        "query_id": event.query_id,
        "customer": event.customer,
        "dashboard": event.dashboard,
        "meta": event.meta,
    }


def _event(fields: dict[str, Any]) -> Event:
    fields["company_user_ids"] = tuple(fields.get("company_user_ids", ()))
    return Event(**fields)


def encode(event: Event) -> str:
    return json.dumps(_fields(event), default=str)


def decode(raw: bytes | str) -> Event:
    return _event(json.loads(raw))


def encode_many(events: list[Event]) -> bytes:
    """Events published together travel as one message: one encoding, one PUBLISH."""
    return json.dumps([_fields(event) for event in events], default=str).encode()


def decode_many(raw: bytes | str) -> list[Event]:
    """The events of one message; a lone object is one event (as older processes send)."""
    parsed = json.loads(raw)
    if isinstance(parsed, dict):
        return [_event(parsed)]
    return [_event(fields) for fields in parsed]


class RedisBus(MemoryBus):
    """Publishes to one Redis channel; a reader task fans every process's events out locally.

    When Redis goes away the reader retries with backoff, resubscribes, then calls
    `on_reconnect` so the router can resynchronise what it may have missed.
    """

    def __init__(
        self,
        redis: Redis,
        channel: str,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.redis = redis
        self.channel = channel
        self.on_reconnect = on_reconnect
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.pubsub: PubSub | None = None
        self.client_name = f"connectnow-bus-{uuid.uuid4().hex[:12]}"
        self.reconnects = 0
        self._stopping = False
        self._sent: dict[bytes, list[Event]] = {}
        """This process's own messages by their encoding, until they come back from Redis."""

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="router-bus-reader")
        await within(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        self._stopping = True
        if self._reader is not None:
            await stop_tasks([self._reader])

    async def publish(self, event: Event) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: list[Event]) -> None:
        if not events:
            return
        if len(self._sent) >= SENT_MEMORY:
            self._sent.clear()  # lost on a broken subscription: decoded again, never wrong
        raw = encode_many(events)
        self._sent[raw] = events
        try:
            await self.redis.publish(self.channel, raw)
        except (RedisError, OSError) as exc:
            self._sent.pop(raw, None)
            # Delivered locally at least; other processes resynchronise on reconnect.
            log.warning("router.publish_failed events=%d error=%s", len(events), exc)
            for event in events:
                self.deliver(event)

    def _events_of(self, raw: bytes) -> list[Event]:
        """Decode a message read back, unless this process sent it and still holds it."""
        sent = self._sent.pop(raw, None)
        return sent if sent is not None else decode_many(raw)

    async def _read_forever(self) -> None:
        delay = 0.1
        first = True
        while not self._stopping:
            try:
                await self._read_once(first)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("router.bus_lost error=%s retry_in=%.1fs", exc, delay)
            except Exception:
                log.exception("router.bus_reader_failed")
            first = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _read_once(self, first: bool) -> None:
        pubsub = self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            assert pubsub.connection is not None
            # Named so that operators (and tests) can find this process's subscriber.
            await pubsub.connection.send_command("CLIENT", "SETNAME", self.client_name)
            await pubsub.connection.read_response()
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            if not first:
                self.reconnects += 1
                log.info("router.bus_resubscribed channel=%s", self.channel)
                if self.on_reconnect is not None:
                    await self.on_reconnect()
            while not self._stopping:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    for event in self._events_of(message["data"]):
                        self.deliver(event)
        finally:
            await pubsub.aclose()

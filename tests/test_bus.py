"""Events cross processes through Redis unchanged, whoever reads them back."""

from __future__ import annotations

import asyncio
import uuid

import anyio
import pytest

from router.bus import RedisBus, decode, decode_many, encode, encode_many
from router.events import Event
from router.stores.redis import connect
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.anyio

EVENT = Event(
    "query.offered",
    3,
    {"query": {"id": 9, "name": "Ana"}, "level": 2},
    (4, 5),
    query_id=9,
    customer=True,
    dashboard=True,
    meta={"cause": "query_opened"},
)


def test_every_field_survives_encoding() -> None:
    assert decode(encode(EVENT)) == EVENT
    assert decode_many(encode_many([EVENT, EVENT])) == [EVENT, EVENT]


def test_a_message_of_one_event_from_an_older_process_still_reads() -> None:
    assert decode_many(encode(EVENT)) == [EVENT]


async def test_events_published_together_are_one_message_on_redis(redis_prefix: str) -> None:
    channel = f"{redis_prefix}:bus:{uuid.uuid4().hex[:6]}"
    redis, watcher = connect(REDIS_URL), connect(REDIS_URL)
    bus = RedisBus(redis, channel)
    pubsub = watcher.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    await bus.start()
    try:
        await bus.publish_many([EVENT, EVENT, EVENT])
        messages = []
        with anyio.fail_after(5):
            while not messages:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    messages.append(message["data"])
        await bus.publish(EVENT)  # a marker: nothing else came before it
        with anyio.fail_after(5):
            while (marker := await pubsub.get_message(timeout=1.0)) is None:
                pass
    finally:
        await bus.stop()
        await pubsub.aclose()
        await redis.aclose()
        await watcher.aclose()

    assert [decode_many(raw) for raw in messages] == [[EVENT, EVENT, EVENT]]
    assert decode_many(marker["data"]) == [EVENT]


async def test_a_process_hears_its_own_events_and_others_alike(redis_prefix: str) -> None:
    channel = f"{redis_prefix}:bus:{uuid.uuid4().hex[:6]}"
    mine, theirs = connect(REDIS_URL), connect(REDIS_URL)
    sender, listener = RedisBus(mine, channel), RedisBus(theirs, channel)
    await sender.start()
    await listener.start()
    try:
        async with sender.subscribe() as own, listener.subscribe() as other:
            await sender.publish(EVENT)
            await sender.publish(EVENT)

            for queue in (own, own, other, other):
                assert await _next(queue) == EVENT
    finally:
        await sender.stop()
        await listener.stop()
        await mine.aclose()
        await theirs.aclose()


async def _next(queue: asyncio.Queue[Event]) -> Event:
    return await asyncio.wait_for(queue.get(), 5)


async def test_events_published_together_arrive_in_order_everywhere(redis_prefix: str) -> None:
    channel = f"{redis_prefix}:bus:{uuid.uuid4().hex[:6]}"
    mine, theirs = connect(REDIS_URL), connect(REDIS_URL)
    sender, listener = RedisBus(mine, channel), RedisBus(theirs, channel)
    events = [Event("position", 3, {"position": n}, query_id=n, customer=True) for n in (3, 1, 2)]
    await sender.start()
    await listener.start()
    try:
        async with sender.subscribe() as own, listener.subscribe() as other:
            await sender.publish_many(events)

            assert [await _next(own) for _ in events] == events
            assert [await _next(other) for _ in events] == events
    finally:
        await sender.stop()
        await listener.stop()
        await mine.aclose()
        await theirs.aclose()

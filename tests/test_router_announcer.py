"""Dashboard figures: throttled, yet never leaving a change without a later event.

Dashboards and customers re-read what they show when a figures event goes by; a change that
lands while the last event is being prepared must get an event of its own, or a customer's
place in line stays stale until its next refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
import pytest

from router import rules
from router.announcer import Announcer
from router.clock import Clock
from router.events import Event
from router.present import Presenters

pytestmark = pytest.mark.anyio

COMPANY = 7


class Recorder:
    """A bus that keeps what was published."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.arrived = asyncio.Event()

    async def publish(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()

    async def publish_many(self, events: list[Event]) -> None:
        for event in events:
            await self.publish(event)

    async def listen(self) -> AsyncIterator[Event]:
        raise NotImplementedError
        yield


class HeldAnnouncer(Announcer):
    """Reads figures only when the test lets it, counting each read."""

    def __init__(self, bus: Recorder) -> None:
        super().__init__(cast(Any, None), bus, Clock(), Presenters(), lambda company_id: None)
        self.reading = asyncio.Event()
        self.go_on = asyncio.Event()
        self.reads = 0

    async def figures(self, company_id: int) -> list[dict[str, Any]]:
        self.reads += 1
        self.reading.set()
        await self.go_on.wait()
        return [{"queue_id": 1, "reads": self.reads}]


def _snapshot() -> rules.Snapshot:
    return cast(rules.Snapshot, type("Held", (), {"company_id": COMPANY})())


async def _figures_events(bus: Recorder, count: int) -> list[Event]:
    with anyio.fail_after(5):
        while len(bus.events) < count:
            bus.arrived.clear()
            await bus.arrived.wait()
    return bus.events


async def test_a_change_during_the_figures_read_gets_a_later_event() -> None:
    bus = Recorder()
    announcer = HeldAnnouncer(bus)

    await announcer.after(_snapshot())
    with anyio.fail_after(5):
        await announcer.reading.wait()
    await announcer.after(_snapshot())  # lands while the first read is under way
    announcer.go_on.set()
    events = await _figures_events(bus, 2)

    assert [event.data["queues"][0]["reads"] for event in events] == [1, 2]
    for task in announcer.stop():
        task.cancel()


async def test_a_burst_of_changes_before_the_read_costs_one_event() -> None:
    bus = Recorder()
    announcer = HeldAnnouncer(bus)
    announcer.go_on.set()

    for _ in range(50):
        await announcer.after(_snapshot())
    events = await _figures_events(bus, 1)
    await asyncio.sleep(0)

    assert len(events) == 1
    assert announcer.reads == 1
    assert announcer.stop() == []  # and no second event is on its way

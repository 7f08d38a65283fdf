"""The process-wide dispatcher: reads the event bus once, hands each event to local sockets.

Delivery only queues frames (or marks a view stale), so one slow or dead socket never holds
up the others. A bus that fails is re-read after a pause; the loop ends only on cancellation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from models import changes
from router.events import Event, EventBus
from server.services import Services
from server.ws.connection import Connection
from server.ws.guard import Guard

log = logging.getLogger("connectnow.ws")

HUB_KEY = "ws_hub"
RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)

LIMITS_CHANGED = "limits.changed"
"""The router's event for a changed or removed company user."""

ACCESS_CHANGED = "access.changed"
"""A process committed a change of tokens, users or memberships: cached ones are stale."""

COMPANY_DELETED = "company.deleted"
"""The router's event for a deleted company: every local socket of the company hears it."""


class LocalBus:
    """Fan-out inside one process, for a server that runs without a routing engine's bus."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[Event]] = set()

    async def publish(self, event: Event) -> None:
        for queue in self._listeners:
            queue.put_nowait(event)

    async def publish_many(self, events: list[Event]) -> None:
        for event in events:
            await self.publish(event)

    async def listen(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listeners.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._listeners.discard(queue)


class Hub:
    """Local connections by what they follow: company user, company, or query."""

    def __init__(self, bus: EventBus, guard_seconds: float = 20.0) -> None:
        self.bus = bus
        self.guard = Guard(guard_seconds)
        self.agents: dict[int, set[Connection]] = {}
        self.agents_by_company: dict[int, set[Connection]] = {}
        self.dashboards: dict[int, set[Connection]] = {}
        self.customers: dict[int, set[Connection]] = {}
        self.customers_by_company: dict[int, set[Connection]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self.guard.start()

    async def stop(self) -> None:
        await self.guard.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def add(self, index: dict[int, set[Connection]], key: int, connection: Connection) -> None:
        index.setdefault(key, set()).add(connection)

    def remove(self, index: dict[int, set[Connection]], key: int, connection: Connection) -> None:
        found = index.get(key)
        if found is None:
            return
        found.discard(connection)
        if not found:
            del index[key]

    def count(self) -> int:
        every = (self.agents, self.dashboards, self.customers)
        return sum(len(group) for index in every for group in index.values())

    def deliver(self, event: Event) -> None:
        """Hand one event to every local connection concerned; never awaits a socket."""
        if event.type == ACCESS_CHANGED:
            changes.bump()
            return
        if event.type == LIMITS_CHANGED:
            self._recheck_access(event)
        for connection in self._concerned(event):
            try:
                connection.on_event(event)
            except Exception:
                log.exception(
                    "ws.delivery_failed type=%s connection=%s", event.type, connection.id
                )

    def _recheck_access(self, event: Event) -> None:
        """A company user changed, perhaps removed: its consoles, and whatever it may be
        watching of its company (others' consoles, the dashboard), are checked again."""
        for company_user_id in event.company_user_ids:
            for connection in self.agents.get(company_user_id, ()):
                self.guard.nudge(connection)
        self.guard.nudge_watchers(self.agents_by_company.get(event.company_id, ()))
        self.guard.nudge_watchers(self.dashboards.get(event.company_id, ()))

    def _concerned(self, event: Event) -> list[Connection]:
        found: set[Connection] = set()
        for company_user_id in event.company_user_ids:
            found |= self.agents.get(company_user_id, set())
        if event.type == COMPANY_DELETED:
            found |= self.agents_by_company.get(event.company_id, set())
        # Dashboards and customers show figures and places in line of the whole company, which
        # almost any routing event may change; their views re-read and send only what changed.
        # TODO: with thousands of customers waiting in one company this is one read per
        # customer per burst of events; narrow it to the queries the event moves once the
        # router tells customers of cancellations too.
        found |= self.dashboards.get(event.company_id, set())
        found |= self.customers_by_company.get(event.company_id, set())
        return list(found)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async for event in self.bus.listen():
                    failures = 0
                    self.deliver(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.exception("ws.bus_failed retry_in=%ss", pause)
                await asyncio.sleep(pause)
                continue
            log.warning("ws.bus_ended listening_again=true")
            await asyncio.sleep(RETRY_SECONDS[-1])


def hub_of(services: Services) -> Hub:
    """This process's hub; `start` makes it, on the routing engine's bus when there is one."""
    hub = services.extras.get(HUB_KEY)
    if hub is None:
        bus = getattr(services.hooks, "bus", None)
        hub = Hub(bus if bus is not None else LocalBus(), services.settings.ws_ping_seconds)
        services.extras[HUB_KEY] = hub
    assert isinstance(hub, Hub)
    return hub

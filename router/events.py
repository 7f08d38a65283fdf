"""Events the router emits and the websocket layer delivers, in this process or across many."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """One thing that happened, and who should hear of it.

    `type` is the frame type clients see (`query.offered`, `query.withdrawn`, ...), `data` the
    frame's fields. Agent channels of `company_user_ids` receive it; the customer channel of
    `query_id` receives it when `customer` is set; the company's dashboards when `dashboard` is.
    """

    type: str
    company_id: int
    data: dict[str, Any]
    company_user_ids: tuple[int, ...] = ()
    query_id: int | None = None
    customer: bool = False
    dashboard: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def data_json(self) -> str:
        """`data` as JSON, encoded once however many sockets the event goes out on."""
        return json.dumps(self.data)


class EventBus(Protocol):
    """Publishes events to every server process; `listen` yields every process's events."""

    async def publish(self, event: Event) -> None: ...

    async def publish_many(self, events: list[Event]) -> None:
        """Publish several events in order, at the cost of one."""

    def listen(self) -> AsyncIterator[Event]: ...

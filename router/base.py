"""The routing engine's interface, shared by the memory and the Redis stores.

The REST layer tells the router of durable changes through the `RoutingHooks` methods; the
websocket layer asks it for a company user's offers, tells it of connections coming and going,
and listens to its events on `bus`. Both stores pass the same behaviour tests.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from router.events import EventBus
from router.hooks import RoutingHooks

ALREADY_ANSWERED = "This query has already been answered on all the queues it waited on."
"""Why an answer is refused once the query is no longer waiting: the router and the atomic
steps of the REST layer say it alike."""


class Router(RoutingHooks):
    bus: EventBus

    @abstractmethod
    async def start(self) -> None:
        """Rebuild routing state from the database, then start timers and subscriptions."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop timers and subscriptions; state in Redis stays for other processes."""

    @abstractmethod
    async def offers_of(self, company_user_id: int) -> list[dict[str, Any]]:
        """The outstanding offers of a company user, oldest query first.

        Each is the payload of a `query.offered` frame: `{"query": …, "queue": …, "level": n}`.
        """

    @abstractmethod
    async def agent_connected(self, company_user_id: int, connection_id: str) -> None:
        """A websocket of the company user opened (cancels a pending presence grace)."""

    @abstractmethod
    async def agent_disconnected(self, company_user_id: int, connection_id: str) -> None:
        """A websocket closed; after the grace period with none open, it goes unavailable."""

    @abstractmethod
    async def ready(self) -> bool:
        """True once the routing state has been rebuilt and the store answers."""

"""The routing state's storage: one small async interface, a memory and a Redis implementation.

A store keeps, per company, the offers each company user holds (with a version that every
commit bumps), the waiting queries and ready company users of the last recomputation, the
open websockets of each company user; and, for all companies, the timers and the sentinel
that says the state was rebuilt from the database. Each method is one atomic step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime

from router.rules import Snapshot

Offers = dict[int, dict[int, tuple[int, int]]]
"""Company user id → query id → (queue id, level)."""


@dataclass
class CompanyState:
    """What a company's offers look like in the store, as read before a recomputation."""

    offers: Offers = field(default_factory=dict)
    offered_since: dict[int, datetime] = field(default_factory=dict)
    version: int = 0


class Store(ABC):
    @abstractmethod
    def locked(self, company_id: int) -> AbstractAsyncContextManager[None]:
        """Hold the company's recomputation lock, across processes for a shared store."""

    @abstractmethod
    async def load(self, company_id: int) -> CompanyState: ...

    @abstractmethod
    async def commit(
        self, company_id: int, state: CompanyState, snapshot: Snapshot, ready: set[int]
    ) -> bool:
        """Write offers and inputs if the version is still `state.version`; False otherwise."""

    @abstractmethod
    async def offers_of(
        self, company_id: int, company_user_id: int
    ) -> dict[int, tuple[int, int]]: ...

    @abstractmethod
    async def schedule(self, name: str, due: datetime) -> None:
        """Set (or move) the timer `name` to fire at `due`."""

    @abstractmethod
    async def cancel(self, name: str) -> None: ...

    @abstractmethod
    async def pop_due(self, now: datetime, limit: int = 100) -> list[str]:
        """Claim the timers due by `now`: each is handed to exactly one caller."""

    @abstractmethod
    async def connection_opened(self, company_id: int, company_user_id: int, key: str) -> None: ...

    @abstractmethod
    async def connection_closed(self, company_id: int, company_user_id: int, key: str) -> int:
        """Forget one websocket; answers how many the company user still has open."""

    @abstractmethod
    async def connection_count(self, company_id: int, company_user_id: int) -> int: ...

    @abstractmethod
    async def is_built(self) -> bool: ...

    @abstractmethod
    async def mark_built(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool: ...

    @abstractmethod
    async def close(self) -> None: ...

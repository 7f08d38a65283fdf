"""The routing state's storage: one small async interface, a memory and a Redis implementation.

A store keeps, per company, the offers each company user holds (with a version that every
commit bumps), the waiting queries and ready company users of the last recomputation, the
open websockets of each company user; and, for all companies, the timers, the sentinel that
says the state was rebuilt from the database, and the heartbeats of the server processes with
the websockets each holds, so that the websockets of a process that died unannounced are
found and forgotten. Each method is one atomic step.
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
    async def schedule_if_absent(self, name: str, due: datetime) -> bool:
        """Set the timer `name` to fire at `due` unless it is set already; True if set now."""

    @abstractmethod
    async def cancel(self, name: str) -> None: ...

    @abstractmethod
    async def pop_due(self, now: datetime, limit: int = 100) -> list[str]:
        """Claim the timers due by `now`: each is handed to exactly one caller."""

    @abstractmethod
    async def connection_opened(
        self, process_id: str, company_id: int, company_user_id: int, key: str
    ) -> None:
        """Remember one websocket of the company user, held by the server process `process_id`."""

    @abstractmethod
    async def connection_closed(
        self, process_id: str, company_id: int, company_user_id: int, key: str
    ) -> int:
        """Forget one websocket; answers how many the company user still has open."""

    @abstractmethod
    async def connection_count(self, company_id: int, company_user_id: int) -> int: ...

    @abstractmethod
    async def heartbeat(self, process_id: str) -> bool:
        """Mark the process alive now; False if the store did not know it before.

        A process is unknown at its first heartbeat, after a flush, and after another process
        took it for dead: the caller then records its open websockets again.
        """

    @abstractmethod
    async def claim_dead_processes(self, caller: str, silent_seconds: float) -> list[str]:
        """Claim the processes silent for `silent_seconds`, never `caller`: each goes to one."""

    @abstractmethod
    async def forget_process(self, process_id: str) -> list[tuple[int, int]]:
        """Forget a claimed process's websockets; answers (company, company user) of each
        company user that this left with none open."""

    @abstractmethod
    async def is_built(self) -> bool: ...

    @abstractmethod
    async def mark_built(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool: ...

    @abstractmethod
    async def close(self) -> None: ...

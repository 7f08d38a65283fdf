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

from router.rules import Snapshot, WaitingQuery

Offers = dict[int, dict[int, tuple[int, int]]]
"""Company user id → query id → (queue id, level)."""


@dataclass
class CompanyState:
    """What a company's offers look like in the store, as read before a recomputation."""

    offers: Offers = field(default_factory=dict)
    offered_since: dict[int, datetime] = field(default_factory=dict)
    version: int = 0


@dataclass
class Commit:
    """What one recomputation changes in the store, sent as a difference.

    A company of a thousand agents changes a few of them per event; writing only those keeps
    a commit's cost with the change, not with the company. `full` replaces everything, for a
    writer that does not know what the store held before.
    """

    version: int
    offers: Offers = field(default_factory=dict)
    offers_removed: set[int] = field(default_factory=set)
    since: dict[int, datetime] = field(default_factory=dict)
    since_removed: set[int] = field(default_factory=set)
    waiting_added: list[WaitingQuery] = field(default_factory=list)
    waiting_removed: set[int] = field(default_factory=set)
    ready_added: set[int] = field(default_factory=set)
    ready_removed: set[int] = field(default_factory=set)
    full: bool = False


def commit_of(
    before: CompanyState,
    after: CompanyState,
    snapshot: Snapshot,
    ready: set[int],
    previous: tuple[Snapshot, set[int]] | None,
) -> Commit:
    """The difference from `before` (and the `previous` inputs, when known) to `after`."""
    change = Commit(before.version, full=previous is None)
    old_offers: Offers = {} if change.full else before.offers
    old_since = {} if change.full else before.offered_since
    change.offers = {
        user: offers
        for user, offers in after.offers.items()
        if offers and old_offers.get(user) != offers
    }
    change.offers_removed = {user for user in old_offers if not after.offers.get(user)}
    change.since = {
        user: moment
        for user, moment in after.offered_since.items()
        if old_since.get(user) != moment
    }
    change.since_removed = set(old_since) - set(after.offered_since)
    old_waiting = {} if previous is None else {query.id: query for query in previous[0].waiting}
    now_waiting = {query.id: query for query in snapshot.waiting}
    change.waiting_added = [
        query for query_id, query in now_waiting.items() if old_waiting.get(query_id) != query
    ]
    change.waiting_removed = set(old_waiting) - set(now_waiting)
    old_ready = set() if previous is None else previous[1]
    change.ready_added = ready - old_ready
    change.ready_removed = old_ready - ready
    return change


class Store(ABC):
    @abstractmethod
    def locked(self, company_id: int) -> AbstractAsyncContextManager[None]:
        """Hold the company's recomputation lock, across processes for a shared store."""

    @abstractmethod
    async def load(self, company_id: int) -> CompanyState: ...

    @abstractmethod
    async def version(self, company_id: int) -> int:
        """The version of the company's offers, bumped by every commit."""

    @abstractmethod
    async def commit(self, company_id: int, change: Commit) -> bool:
        """Apply the change if the version is still `change.version`; False otherwise."""

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
    async def set_timers(self, due: dict[str, datetime], cancelled: list[str]) -> None:
        """Set (or move) many timers and cancel others in one step."""

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

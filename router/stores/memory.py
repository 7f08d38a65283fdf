"""The embedded default: routing state in this process's memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

from router.store import Commit, CompanyState, Store


class MemoryStore(Store):
    """Every step runs without awaiting in between, so each is atomic within the process."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._states: dict[int, CompanyState] = {}
        self._waiting: dict[int, dict[int, tuple[int, datetime]]] = {}
        self._ready: dict[int, set[int]] = {}
        self._timers: dict[str, datetime] = {}
        self._connections: dict[tuple[int, int], set[str]] = {}
        self._held: dict[str, dict[str, tuple[int, int]]] = {}
        self._heartbeats: dict[str, float] = {}
        self._built = False

    @asynccontextmanager
    async def _locked(self, company_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(company_id, asyncio.Lock())
        async with lock:
            yield

    def locked(self, company_id: int) -> AbstractAsyncContextManager[None]:
        return self._locked(company_id)

    async def load(self, company_id: int) -> CompanyState:
        state = self._states.get(company_id, CompanyState())
        return CompanyState(
            {user: dict(offers) for user, offers in state.offers.items()},
            dict(state.offered_since),
            state.version,
        )

    async def version(self, company_id: int) -> int:
        return self._states.get(company_id, CompanyState()).version

    async def commit(self, company_id: int, change: Commit) -> bool:
        current = self._states.get(company_id, CompanyState())
        if current.version != change.version:
            return False
        offers = {} if change.full else dict(current.offers)
        since = {} if change.full else dict(current.offered_since)
        for user in change.offers_removed:
            offers.pop(user, None)
        offers.update({user: dict(held) for user, held in change.offers.items()})
        for user in change.since_removed:
            since.pop(user, None)
        since.update(change.since)
        self._states[company_id] = CompanyState(offers, since, change.version + 1)
        waiting = {} if change.full else self._waiting.setdefault(company_id, {})
        for query_id in change.waiting_removed:
            waiting.pop(query_id, None)
        waiting.update(
            {query.id: (query.queue_id, query.created_at) for query in change.waiting_added}
        )
        self._waiting[company_id] = waiting
        ready = set() if change.full else self._ready.setdefault(company_id, set())
        self._ready[company_id] = (ready - change.ready_removed) | change.ready_added
        return True

    async def offers_of(self, company_id: int, company_user_id: int) -> dict[int, tuple[int, int]]:
        state = self._states.get(company_id)
        if state is None:
            return {}
        return dict(state.offers.get(company_user_id, {}))

    async def schedule(self, name: str, due: datetime) -> None:
        self._timers[name] = due

    async def schedule_if_absent(self, name: str, due: datetime) -> bool:
        if name in self._timers:
            return False
        self._timers[name] = due
        return True

    async def cancel(self, name: str) -> None:
        self._timers.pop(name, None)

    async def set_timers(self, due: dict[str, datetime], cancelled: list[str]) -> None:
        for name in cancelled:
            self._timers.pop(name, None)
        self._timers.update(due)

    async def pop_due(self, now: datetime, limit: int = 100) -> list[str]:
        due = sorted((when, name) for name, when in self._timers.items() if when <= now)
        claimed = [name for _, name in due[:limit]]
        for name in claimed:
            del self._timers[name]
        return claimed

    async def connection_opened(
        self, process_id: str, company_id: int, company_user_id: int, key: str
    ) -> None:
        self._held.setdefault(process_id, {})[key] = (company_id, company_user_id)
        self._connections.setdefault((company_id, company_user_id), set()).add(key)

    async def connection_closed(
        self, process_id: str, company_id: int, company_user_id: int, key: str
    ) -> int:
        self._held.get(process_id, {}).pop(key, None)
        keys = self._connections.get((company_id, company_user_id), set())
        keys.discard(key)
        return len(keys)

    async def connection_count(self, company_id: int, company_user_id: int) -> int:
        return len(self._connections.get((company_id, company_user_id), set()))

    async def heartbeat(self, process_id: str) -> bool:
        known = process_id in self._heartbeats
        self._heartbeats[process_id] = time.monotonic()
        return known

    async def claim_dead_processes(self, caller: str, silent_seconds: float) -> list[str]:
        cutoff = time.monotonic() - silent_seconds
        dead = [
            process
            for process, beat in self._heartbeats.items()
            if beat <= cutoff and process != caller
        ]
        for process in dead:
            del self._heartbeats[process]
        return dead

    async def forget_process(self, process_id: str) -> list[tuple[int, int]]:
        emptied: dict[tuple[int, int], None] = {}
        for key, owner in self._held.pop(process_id, {}).items():
            keys = self._connections.get(owner, set())
            keys.discard(key)
            if not keys:
                emptied[owner] = None
        return list(emptied)

    async def is_built(self) -> bool:
        return self._built

    async def mark_built(self) -> None:
        self._built = True

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

"""Which agents have a console open, over every process that shares the store.

Each process records the websockets it holds in the store and heartbeats there, so that the
websockets of one that died unannounced are swept by another, which starts the presence grace
they hold off. An agent left with no websocket open goes unavailable only once its grace runs
out (the engine's `presence` timer), so a reload or a hop to another process costs nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from models.companies import Company
from models.company_users import CompanyUser, CompanyUserState
from models.db import Database
from router import metrics
from router.clock import Clock
from router.store import Store

log = logging.getLogger("connectnow.router")

PROCESS_DEAD_SECONDS = 10.0
"""A process silent this long is dead: its websockets are forgotten, its agents' grace runs."""


class Presence:
    """The websockets this process holds, its heartbeat, and the graces of absent agents."""

    def __init__(self, db: Database, store: Store, clock: Clock, *, grace_seconds: float) -> None:
        self.db = db
        self.store = store
        self.clock = clock
        self.grace_seconds = grace_seconds
        self.process_id = _new_process_id()
        self._local_connections: dict[str, tuple[int, int]] = {}
        """Connection id to (company, company user) of each agent websocket held here."""

    async def connected(self, company_id: int, company_user_id: int, connection_id: str) -> None:
        """Record the websocket and cancel the company user's pending grace."""
        self._local_connections[connection_id] = (company_id, company_user_id)
        metrics.CONNECTED_AGENTS.inc()
        process_id = self.process_id
        key = f"{process_id}:{connection_id}"
        await self.store.connection_opened(process_id, company_id, company_user_id, key)
        await self.store.cancel(f"presence:{company_id}:{company_user_id}")

    async def disconnected(
        self, company_id: int, company_user_id: int, connection_id: str
    ) -> None:
        """Forget the websocket; with none left open, (re)start the company user's grace."""
        if self._local_connections.pop(connection_id, None) is not None:
            metrics.CONNECTED_AGENTS.dec()
        process_id = self.process_id
        key = f"{process_id}:{connection_id}"
        left = await self.store.connection_closed(process_id, company_id, company_user_id, key)
        if left == 0:
            await self.start_grace(company_id, company_user_id, move=True)

    async def register_local_connections(self) -> None:
        """Record again the websockets this process holds, in a store that lost or swept them."""
        for connection_id, (company_id, company_user_id) in list(self._local_connections.items()):
            process_id = self.process_id
            key = f"{process_id}:{connection_id}"
            await self.store.connection_opened(process_id, company_id, company_user_id, key)

    async def grace_for_the_absent(self) -> int:
        """Start the presence grace of every available company user with no websocket open.

        This catches agents whose grace was lost with the store, and, on an embedded server's
        start, agents whose consoles do not come back. A running grace keeps its time.
        After a flush, another live process records its websockets again only at its next
        beat, at the latest PROCESS_DEAD_SECONDS on, so these graces last at least that long:
        none runs out for an agent whose console is still open there. Answers how many started.
        """
        seconds = max(self.grace_seconds, PROCESS_DEAD_SECONDS)
        started = 0
        for company_id, company_user_id in await self._available_members():
            if await self.store.connection_count(company_id, company_user_id) > 0:
                continue
            if await self.start_grace(company_id, company_user_id, move=False, seconds=seconds):
                started += 1
        return started

    async def _available_members(self) -> list[tuple[int, int]]:
        """(company, company user) of every available member of a live company."""
        async with self.db.read_session() as session:
            rows = await session.execute(
                select(col(CompanyUser.company_id), col(CompanyUser.id))
                .join(
                    CompanyUserState, col(CompanyUserState.company_user_id) == col(CompanyUser.id)
                )
                .join(Company, col(Company.id) == col(CompanyUser.company_id))
                .where(
                    col(CompanyUserState.is_available).is_(True),
                    col(CompanyUser.removed_at).is_(None),
                    col(Company.deleted_at).is_(None),
                )
            )
            return [(company, member) for company, member in rows.tuples() if member is not None]

    async def heartbeat(self) -> None:
        """Beat once; a process the store no longer knows records its websockets again."""
        if await self.store.heartbeat(self.process_id):
            return
        # The store was flushed, or took this process for dead after a stall; then a sweep may
        # be forgetting its websockets by their keys at this very moment, and would forget them
        # again if recorded under the same keys. So record them under a new process id, before
        # the graces that the sweep started run out, and forget the old id (which this beat
        # brought back, so that anything left under it is swept as a dead process's).
        old = self.process_id
        self.process_id = _new_process_id()
        log.warning(
            "router.process_unknown process=%s renamed=%s connections=%d; recording them again",
            old,
            self.process_id,
            len(self._local_connections),
        )
        await self.store.heartbeat(self.process_id)
        await self.register_local_connections()
        for company_id, company_user_id in await self.store.forget_process(old):
            await self.start_grace(company_id, company_user_id, move=False)

    async def sweep_dead_processes(self) -> None:
        """Forget the websockets of processes that stopped beating, and start their graces."""
        dead = await self.store.claim_dead_processes(self.process_id, PROCESS_DEAD_SECONDS)
        for process_id in dead:
            emptied = await self.store.forget_process(process_id)
            log.warning(
                "router.process_dead process=%s swept_by=%s company_users_left=%d",
                process_id,
                self.process_id,
                len(emptied),
            )
            for company_id, company_user_id in emptied:
                await self.start_grace(company_id, company_user_id, move=False)

    async def start_grace(
        self, company_id: int, company_user_id: int, *, move: bool, seconds: float | None = None
    ) -> bool:
        """Set the presence timer; `move` restarts a running grace, else it keeps its time."""
        name = f"presence:{company_id}:{company_user_id}"
        wait = self.grace_seconds if seconds is None else seconds
        due = self.clock.now() + timedelta(seconds=wait)
        if move:
            await self.store.schedule(name, due)
            return True
        started = await self.store.schedule_if_absent(name, due)
        if started:
            log.info(
                "router.presence_grace company=%s company_user=%s due=%s",
                company_id,
                company_user_id,
                due.isoformat(),
            )
        return started


def _new_process_id() -> str:
    return uuid.uuid4().hex[:12]

"""Changes of one company that wait together for the same recomputation.

Under a burst, recomputing once per change would make the work grow with the number of
changes; instead each change joins the company's waiting batch, one recomputation per company
runs at a time, and it reads the database once for the whole batch. The engine says what a
recomputation is; this module only says who waits for which one, and how each wait ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("connectnow.router")


@dataclass(frozen=True)
class Touched:
    """The queries and company users one change is about; the rest of the company stands."""

    query_ids: frozenset[int] = frozenset()
    company_user_ids: frozenset[int] = frozenset()


class RecomputeAbandoned(RuntimeError):
    """The router stopped before recomputing a change; the database keeps it for a rebuild."""


@dataclass
class Batch:
    """The changes of one company waiting for the same recomputation."""

    done: asyncio.Future[None]
    causes: list[str] = field(default_factory=list)
    hints: dict[int, str] = field(default_factory=dict)
    answered_by: frozenset[int] = frozenset()
    touched: Touched | None = Touched()

    @property
    def cause(self) -> str:
        return "+".join(dict.fromkeys(self.causes))

    def join(
        self,
        cause: str,
        hints: dict[int, str],
        answered_by: int | None,
        touched: Touched | None,
    ) -> None:
        """Add one change; a change that names nothing makes the whole company be read again.

        The first reason given for a query stands: an offer held before the batch was lost to
        the first change of the query (answered, then moved by a manager: `answered`).
        """
        self.causes.append(cause)
        for query_id, reason in hints.items():
            self.hints.setdefault(query_id, reason)
        if answered_by is not None:
            self.answered_by |= {answered_by}
        if self.touched is None or touched is None:
            self.touched = None
        else:
            self.touched = Touched(
                self.touched.query_ids | touched.query_ids,
                self.touched.company_user_ids | touched.company_user_ids,
            )


Recompute = Callable[[int, Batch], Awaitable[None]]
"""Recomputes the company once for every change of the batch, and tells what changed."""


class Batches:
    """The waiting batch of each company, and one recomputation at a time per company."""

    def __init__(self, recompute: Recompute) -> None:
        self._recompute = recompute
        self.waiting: dict[int, Batch] = {}
        """The batch that a change of each company joins now."""
        self.tasks: set[asyncio.Task[None]] = set()
        """The running recomputations, for the router to stop."""
        self.locks: dict[int, asyncio.Lock] = {}
        """Held by the one recomputation of each company that may run in this process."""

    async def add(
        self,
        company_id: int,
        cause: str,
        hints: dict[int, str],
        answered_by: int | None,
        touched: Touched | None,
    ) -> None:
        """Join the company's waiting batch; return once its recomputation has been told."""
        batch = self.waiting.get(company_id)
        if batch is None:
            batch = self._open(company_id)
        batch.join(cause, hints, answered_by, touched)
        await asyncio.shield(batch.done)

    def _open(self, company_id: int) -> Batch:
        batch = Batch(asyncio.get_running_loop().create_future())
        self.waiting[company_id] = batch
        task = asyncio.create_task(
            self._run(company_id, batch), name=f"router-recompute-{company_id}"
        )
        self.tasks.add(task)
        task.add_done_callback(lambda ended: self._close(company_id, batch, ended))
        return batch

    async def _run(self, company_id: int, batch: Batch) -> None:
        lock = self.locks.setdefault(company_id, asyncio.Lock())
        try:
            async with lock:
                if self.waiting.get(company_id) is batch:
                    del self.waiting[company_id]  # from here on, changes join the next one
                await self._recompute(company_id, batch)
        except Exception as error:
            batch.done.set_exception(error)
            batch.done.exception()  # retrieved here, raised again in every caller
        else:
            batch.done.set_result(None)

    def _close(self, company_id: int, batch: Batch, task: asyncio.Task[None]) -> None:
        """End the batch however its task ended, even cancelled before its first step (on
        stop): no caller waits forever or sees a cancellation that was not its own, and no
        later change joins a batch that will never run."""
        self.tasks.discard(task)
        if self.waiting.get(company_id) is batch:
            del self.waiting[company_id]
        if not batch.done.done():
            log.warning("router.recompute_abandoned company=%s cause=%s", company_id, batch.cause)
            batch.done.set_exception(RecomputeAbandoned(f"company {company_id}: {batch.cause}"))
            batch.done.exception()

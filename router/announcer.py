"""Telling what the router decided, as events on the bus.

A recomputation decides under the company's lock; this module turns what it changed into
`query.offered` and `query.withdrawn` events for agents, places in line for customers, and
figures for dashboards. Figures are throttled per company, so that a burst of changes costs
one dashboard event every DASHBOARD_EVERY_SECONDS rather than one per change.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import col

from models.company_users import CompanyUserState, CompanyUserStateChange
from models.db import Database
from models.queries import Query
from models.queues import Queue
from router import metrics, rules
from router import snapshot as snapshots
from router.clock import Clock
from router.events import Event, EventBus
from router.figures import hourly_counts, queue_figures
from router.present import Presenters

log = logging.getLogger("connectnow.router")

DASHBOARD_EVERY_SECONDS = 1.0

# Built once, and one round trip: every offer reads its queries and the queues they are on.
_QUERIES_ON_QUEUES = (
    select(Query, Queue)
    .outerjoin(Queue, col(Queue.id) == col(Query.queue_id))
    .where(col(Query.id).in_(bindparam("b_query_ids", expanding=True)))
)

SnapshotOf = Callable[[int], rules.Snapshot | None]
"""The company's snapshot this process last committed, if it still holds one."""


@dataclass
class Change:
    """What one recomputation changed, ready to be told."""

    offered: list[tuple[int, int, int, int]] = field(default_factory=list)
    withdrawn: list[tuple[int, int, str]] = field(default_factory=list)


class Announcer:
    """Publishes the router's decisions, and remembers what it told so as not to repeat it."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        clock: Clock,
        present: Presenters,
        snapshot_of: SnapshotOf,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.present = present
        self._snapshot_of = snapshot_of
        self._offered_once: set[int] = set()
        self._dashboard_at: dict[int, float] = {}
        self._dashboard_pending: dict[int, asyncio.Task[None]] = {}
        self._stopped = False
        self._dashboard_stale: set[int] = set()
        """Companies changed since their pending figures event began its read."""

    def stop(self) -> list[asyncio.Task[None]]:
        """Schedule nothing more; the dashboard events waiting for their turn, to cancel."""
        self._stopped = True
        return list(self._dashboard_pending.values())

    async def tell(self, snapshot: rules.Snapshot, change: Change, cause: str) -> None:
        company_id = snapshot.company_id
        told: list[Event] = []
        for reason, count in Counter(reason for _, _, reason in change.withdrawn).items():
            metrics.WITHDRAWALS.labels(reason=reason).inc(count)
        # One event per query and reason, to everyone it leaves: on an answer, the rest of
        # the team hears it at the cost of one event, not one each.
        leaving: dict[tuple[int, str], list[int]] = {}
        for user, query_id, reason in change.withdrawn:
            leaving.setdefault((query_id, reason), []).append(user)
        for (query_id, reason), users in leaving.items():
            log.info(
                "router.withdrawn company=%s query=%s company_users=%s reason=%s cause=%s",
                company_id,
                query_id,
                ",".join(map(str, users)),
                reason,
                cause,
            )
            told.append(
                Event(
                    "query.withdrawn",
                    company_id,
                    {"query_id": query_id, "reason": reason},
                    company_user_ids=tuple(users),
                    query_id=query_id,
                )
            )
        if change.offered:
            told += await self._offers(snapshot, change.offered, cause)
        await self.bus.publish_many(told)

    async def _offers(
        self, snapshot: rules.Snapshot, offered: list[tuple[int, int, int, int]], cause: str
    ) -> list[Event]:
        """One `query.offered` event per query and level, to everyone offered it so."""
        company_id = snapshot.company_id
        queries, queues = await self.rows({query for _, query, _, _ in offered})
        now = self.clock.now()
        audiences: dict[tuple[int, int, int], list[int]] = {}
        for user, query_id, queue_id, level in offered:
            query, queue = queries.get(query_id), queues.get(queue_id)
            if query is None or queue is None:
                continue
            if query_id not in self._offered_once:
                self._remember_offered(query_id)
                latency = (now - query.created_at).total_seconds()
                metrics.OFFER_LATENCY.observe(max(0.0, latency))
            audiences.setdefault((query_id, queue_id, level), []).append(user)
        metrics.OFFERS.inc(sum(len(users) for users in audiences.values()))
        # Oldest query first, as each company user's own offers are ordered.
        events = []
        for query_id, queue_id, level in sorted(
            audiences, key=lambda key: (queries[key[0]].created_at, key[0], key[2])
        ):
            log.info(
                "router.offered company=%s query=%s queue=%s company_users=%s level=%s cause=%s",
                company_id,
                query_id,
                queue_id,
                ",".join(map(str, audiences[query_id, queue_id, level])),
                level,
                cause,
            )
            payload = {
                "query": self.present.query(queries[query_id]),
                "queue": self.present.queue(queues[queue_id]),
                "level": level,
            }
            users = tuple(audiences[query_id, queue_id, level])
            events.append(Event("query.offered", company_id, payload, users, query_id=query_id))
        return events

    def _remember_offered(self, query_id: int) -> None:
        if len(self._offered_once) > 100_000:
            self._offered_once.clear()
        self._offered_once.add(query_id)

    async def rows(self, query_ids: set[int]) -> tuple[dict[int, Query], dict[int, Queue]]:
        """The queries by id, and the queues they wait on, as offers show them."""
        queries: dict[int, Query] = {}
        queues: dict[int, Queue] = {}
        async with self.db.read_session() as session:
            found = await session.execute(_QUERIES_ON_QUEUES, {"b_query_ids": list(query_ids)})
            for query, queue in found.tuples():
                if query.id is not None:
                    queries[query.id] = query
                if queue is not None and queue.id is not None:
                    queues[queue.id] = queue
        return queries, queues

    async def after(self, snapshot: rules.Snapshot) -> None:
        """The dashboard figures, at most once a second per company.

        Customers are not told their place here: their channel reads it from the database
        whenever an event of the company goes by, so the router has nothing to add.
        """
        self._dashboard_soon(snapshot.company_id)

    def _dashboard_soon(self, company_id: int) -> None:
        self._dashboard_stale.add(company_id)
        if self._stopped or company_id in self._dashboard_pending:
            return  # its read has not begun yet, or it goes round again when it ends
        loop = asyncio.get_running_loop()
        wait = self._dashboard_at.get(company_id, 0.0) + DASHBOARD_EVERY_SECONDS - loop.time()
        task = asyncio.create_task(self._dashboard_later(company_id, max(0.0, wait)))
        self._dashboard_pending[company_id] = task

    async def _dashboard_later(self, company_id: int, wait: float) -> None:
        """Publish the figures; again afterwards if a change came once the read had begun.

        Dashboards and customers re-read what they show when such an event goes by, so a
        change left without a later event would stay unseen until their next refresh.
        """
        try:
            await asyncio.sleep(wait)
            self._dashboard_stale.discard(company_id)
            self._dashboard_at[company_id] = asyncio.get_running_loop().time()
            figures = await self.figures(company_id)
            await self.bus.publish(
                Event("queues.figures", company_id, {"queues": figures}, dashboard=True)
            )
        except asyncio.CancelledError:
            self._dashboard_pending.pop(company_id, None)
            raise
        except Exception:
            log.exception("router.dashboard_failed company=%s", company_id)
        self._dashboard_pending.pop(company_id, None)
        if company_id in self._dashboard_stale:
            self._dashboard_soon(company_id)

    async def figures(self, company_id: int) -> list[dict[str, Any]]:
        """Per queue: waiting, longest wait, ready and busy company users, last hour's counts.

        Right after a recomputation this process holds the company's snapshot, so only the
        hourly counts are read.
        """
        now = self.clock.now()
        held = self._snapshot_of(company_id)
        async with self.db.read_session() as session:
            if held is None:
                snapshot = await snapshots.load(session, company_id)
            else:
                snapshot = held
            answered, expired = await hourly_counts(session, company_id, now)
        return queue_figures(snapshot, now, answered, expired)

    async def tell_state(self, company_id: int, company_user_id: int, reason: str | None) -> None:
        """Tell the company user its availability, and why it last changed."""
        async with self.db.read_session() as session:
            state = (
                await session.execute(
                    select(CompanyUserState).where(
                        col(CompanyUserState.company_user_id) == company_user_id
                    )
                )
            ).scalar_one_or_none()
            if reason is None:
                reason = await session.scalar(
                    select(col(CompanyUserStateChange.reason))
                    .where(col(CompanyUserStateChange.company_user_id) == company_user_id)
                    .order_by(col(CompanyUserStateChange.id).desc())
                    .limit(1)
                )
        if state is None:
            return
        data: dict[str, Any] = {"state": self.present.state(state), "reason": reason or "manual"}
        await self.bus.publish(Event("state.changed", company_id, data, (company_user_id,)))

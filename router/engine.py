"""The routing engine: hooks in, offers and events out, over either store.

Every change ends in `recompute(company_id)`: under the company's lock it reads the company
from the database (or, for a hook that names what it touched, rereads only that into the
snapshot this process cached at the store's current version), asks `rules.desired_offers`
what everyone should hold, commits that to the store with a version check, and publishes the
difference as `query.offered` and `query.withdrawn` events. Timers live in the store, so
whichever process claims one first fires it, and every effect of a timer is a conditional
update in the database. Each process also heartbeats in the store, so that the websockets of
one that died unannounced are swept by another, which starts the presence grace they hold off.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlmodel import col

from models.companies import Company
from models.company_users import CompanyUser, CompanyUserState, CompanyUserStateChange
from models.db import Database
from models.queries import Query, QueryNote
from models.queues import Queue
from router import effects, metrics, rules
from router import snapshot as snapshots
from router.base import Router
from router.bus import MemoryBus, RedisBus, stop_tasks
from router.clock import Clock
from router.events import Event
from router.figures import hourly_counts, queue_figures
from router.present import Presenters
from router.store import CompanyState, Offers, Store, commit_of

log = logging.getLogger("connectnow.router")

DASHBOARD_EVERY_SECONDS = 1.0
SENTINEL_CHECK_SECONDS = 1.0
HEARTBEAT_SECONDS = 2.0
PROCESS_DEAD_SECONDS = 10.0
"""A process silent this long is dead: its websockets are forgotten, its agents' grace runs."""
SWEEP_SECONDS = 3.0
FULL_RELOAD_SECONDS = 5.0
GONE_REASONS = {
    "ongoing": "answered",
    "done": "answered",
    "expired": "expired",
    "cancelled": "cancelled",
}


class MailSender(Protocol):
    async def send(self, to: str, subject: str, text: str) -> bool: ...


@dataclass(frozen=True)
class Touched:
    """The queries and company users one change is about; the rest of the company stands."""

    query_ids: frozenset[int] = frozenset()
    company_user_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Cached:
    """What this process committed at `version`: the snapshot behind it, the offers and
    ready company users it wrote, and when the snapshot was last read whole. While the store
    stays at that version, the next recomputation starts from here instead of reading it all.
    """

    version: int
    snapshot: rules.Snapshot
    loaded_at: float
    state: CompanyState
    ready: frozenset[int]


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


@dataclass
class Change:
    """What one recomputation changed, ready to be told."""

    offered: list[tuple[int, int, int, int]] = field(default_factory=list)
    withdrawn: list[tuple[int, int, str]] = field(default_factory=list)


class RoutingEngine(Router):
    def __init__(
        self,
        db: Database,
        store: Store,
        bus: MemoryBus,
        clock: Clock,
        mailer: MailSender,
        *,
        presence_grace_seconds: float = 30.0,
        timer_poll_seconds: float = 0.25,
        presenters: Presenters | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.bus = bus
        self.clock = clock
        self.mailer = mailer
        self.presence_grace_seconds = presence_grace_seconds
        self.timer_poll_seconds = timer_poll_seconds
        self.present = presenters or Presenters()
        self.process_id = _new_process_id()
        self._built = False
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        self._company_of_user: dict[int, int] = {}
        self._company_of_queue: dict[int, int] = {}
        self._local_connections: dict[str, tuple[int, int]] = {}
        """Connection id to (company, company user) of each agent websocket held here."""
        self._positions: dict[int, int] = {}
        self._offered_once: set[int] = set()
        self._dashboard_at: dict[int, float] = {}
        self._dashboard_pending: dict[int, asyncio.Task[None]] = {}
        self._snapshots: dict[int, Cached] = {}
        self._batches: dict[int, Batch] = {}
        self._batch_tasks: set[asyncio.Task[None]] = set()
        self._recompute_locks: dict[int, asyncio.Lock] = {}

    # Lifecycle

    async def start(self) -> None:
        if isinstance(self.bus, RedisBus):
            self.bus.on_reconnect = self.resync
            await self.bus.start()
        await self.store.heartbeat(self.process_id)
        await self.rebuild()
        self._poller = asyncio.create_task(self._poll_forever(), name="router-timers")
        log.info("router.started process=%s store=%s", self.process_id, type(self.store).__name__)

    async def stop(self) -> None:
        self._stopping = True
        pending = (*self._dashboard_pending.values(), *self._batch_tasks)
        tasks = [task for task in (self._poller, *pending) if task]
        await stop_tasks(tasks)
        if isinstance(self.bus, RedisBus):
            await self.bus.stop()
        await self.store.close()
        log.info("router.stopped process=%s", self.process_id)

    async def ready(self) -> bool:
        return self._built and await self.store.ping()

    async def rebuild(self) -> None:
        """Rebuild every company's routing state from the database, the source of truth."""
        async with self.db.session() as session:
            company_ids = list(
                (
                    await session.execute(
                        select(col(Company.id)).where(col(Company.deleted_at).is_(None))
                    )
                ).scalars()
            )
            ongoing = list(
                (
                    await session.execute(
                        select(col(Query.id), col(Query.company_id)).where(
                            col(Query.status) == "ongoing"
                        )
                    )
                ).tuples()
            )
        await self._register_local_connections()
        for company_id in company_ids:
            assert company_id is not None
            await self._expire_overdue(company_id)
            await self.recompute(company_id, cause="rebuild")
        for query_id, owner_id in ongoing:
            await self.store.schedule(f"remind:{owner_id}:{query_id}", self.clock.now())
        graces = await self._grace_for_the_absent()
        await self.store.mark_built()
        self._built = True
        log.info(
            "router.rebuilt companies=%d ongoing=%d presence_graces=%d",
            len(company_ids),
            len(ongoing),
            graces,
        )

    async def resync(self) -> None:
        """After Redis came back: rebuild if it lost its state, else refresh every company."""
        log.info("router.resync process=%s", self.process_id)
        await self.rebuild()

    async def _register_local_connections(self) -> None:
        """Record again the websockets this process holds, in a store that lost or swept them."""
        for connection_id, (company_id, company_user_id) in list(self._local_connections.items()):
            process_id = self.process_id
            key = f"{process_id}:{connection_id}"
            await self.store.connection_opened(process_id, company_id, company_user_id, key)

    async def _grace_for_the_absent(self) -> int:
        """Start the presence grace of every available company user with no websocket open.

        This catches agents whose grace was lost with the store, and, on an embedded server's
        start, agents whose consoles do not come back. A running grace keeps its time.
        After a flush, another live process records its websockets again only at its next
        beat, at the latest PROCESS_DEAD_SECONDS on, so these graces last at least that long:
        none runs out for an agent whose console is still open there. Answers how many started.
        """
        seconds = max(self.presence_grace_seconds, PROCESS_DEAD_SECONDS)
        started = 0
        for company_id, company_user_id in await self._available_members():
            if await self.store.connection_count(company_id, company_user_id) > 0:
                continue
            if await self._start_grace(company_id, company_user_id, move=False, seconds=seconds):
                started += 1
        return started

    async def _available_members(self) -> list[tuple[int, int]]:
        """(company, company user) of every available member of a live company."""
        async with self.db.session() as session:
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

    # The recomputation

    async def recompute(
        self,
        company_id: int,
        *,
        cause: str,
        hints: dict[int, str] | None = None,
        answered_by: int | None = None,
        touched: Touched | None = None,
    ) -> None:
        """Bring the company's offers in line with the database and tell what changed.

        Changes that arrive while the company is being recomputed wait together for the next
        recomputation, which reads the database once for all of them: under a burst the work
        grows with the company, not with the number of changes. Each caller returns once a
        recomputation that began after its change has been told.
        """
        batch = self._batches.get(company_id)
        if batch is None:
            batch = self._open_batch(company_id)
        batch.join(cause, hints or {}, answered_by, touched)
        await asyncio.shield(batch.done)

    def _open_batch(self, company_id: int) -> Batch:
        batch = Batch(asyncio.get_running_loop().create_future())
        self._batches[company_id] = batch
        task = asyncio.create_task(
            self._run_batch(company_id, batch), name=f"router-recompute-{company_id}"
        )
        self._batch_tasks.add(task)
        task.add_done_callback(lambda ended: self._close_batch(company_id, batch, ended))
        return batch

    async def _run_batch(self, company_id: int, batch: Batch) -> None:
        lock = self._recompute_locks.setdefault(company_id, asyncio.Lock())
        try:
            async with lock:
                if self._batches.get(company_id) is batch:
                    del self._batches[company_id]  # from here on, changes join the next one
                await self._recompute_batch(company_id, batch)
        except Exception as error:
            batch.done.set_exception(error)
            batch.done.exception()  # retrieved here, raised again in every caller
        else:
            batch.done.set_result(None)

    def _close_batch(self, company_id: int, batch: Batch, task: asyncio.Task[None]) -> None:
        """End the batch however its task ended, even cancelled before its first step (on
        stop): no caller waits forever or sees a cancellation that was not its own, and no
        later change joins a batch that will never run."""
        self._batch_tasks.discard(task)
        if self._batches.get(company_id) is batch:
            del self._batches[company_id]
        if not batch.done.done():
            log.warning("router.recompute_abandoned company=%s cause=%s", company_id, batch.cause)
            batch.done.set_exception(RecomputeAbandoned(f"company {company_id}: {batch.cause}"))
            batch.done.exception()

    async def _recompute_batch(self, company_id: int, batch: Batch) -> None:
        cause = batch.cause
        async with self.store.locked(company_id):
            for _ in range(3):
                outcome = await self._recompute_once(
                    company_id, batch.hints, batch.answered_by, batch.touched
                )
                if outcome is not None:
                    snapshot, change = outcome
                    await self._tell(snapshot, change, cause)
                    break
            else:
                log.warning("router.recompute_conflict company=%s cause=%s", company_id, cause)
                return
        await self._after(snapshot)

    async def _recompute_once(
        self,
        company_id: int,
        hints: dict[int, str],
        answered_by: frozenset[int],
        touched: Touched | None,
    ) -> tuple[rules.Snapshot, Change] | None:
        known = self._snapshots.get(company_id)
        version = await self.store.version(company_id)
        if known is not None and known.version == version:
            before = CompanyState(known.state.offers, known.state.offered_since, version)
        else:
            known = None
            before = await self.store.load(company_id)
        cached = self._cached(company_id, before.version, touched)
        snapshot = await self._read(company_id, cached, touched)
        now = self.clock.now()
        decision = rules.desired_offers(snapshot, now)
        since = {
            user: before.offered_since.get(user, now)
            if before.offers.get(user) and user not in answered_by
            else now
            for user in decision.offers
        }
        ready = {agent.id for agent in snapshot.agents.values() if rules.is_ready(agent)}
        after = CompanyState(decision.offers, since, before.version)
        loaded_at = cached.loaded_at if cached else asyncio.get_running_loop().time()
        unchanged = (
            cached is not None
            and snapshot == cached.snapshot
            and decision.offers == before.offers
            and since == before.offered_since
        )
        if unchanged:
            # Nothing another process could miss: the version stays, so do caches.
            return snapshot, Change()
        previous = None if known is None else (known.snapshot, set(known.ready))
        self._snapshots.pop(company_id, None)
        if not await self.store.commit(
            company_id, commit_of(before, after, snapshot, ready, previous)
        ):
            return None
        self._snapshots[company_id] = Cached(
            before.version + 1, snapshot, loaded_at, after, frozenset(ready)
        )
        change = await self._diff(snapshot, before.offers, decision.offers, hints)
        await self._schedule_company(snapshot, decision, before, since, every=cached is None)
        return snapshot, change

    def _cached(self, company_id: int, version: int, touched: Touched | None) -> Cached | None:
        """The cached snapshot when it may stand in for the database, else None."""
        cached = self._snapshots.get(company_id)
        if touched is None or cached is None or cached.version != version:
            return None
        if asyncio.get_running_loop().time() - cached.loaded_at > FULL_RELOAD_SECONDS:
            return None  # bounds how long a change that no hook named can go unseen
        return cached

    async def _read(
        self, company_id: int, cached: Cached | None, touched: Touched | None
    ) -> rules.Snapshot:
        async with self.db.session() as session:
            if cached is None or touched is None:
                return await snapshots.load(session, company_id)
            return await snapshots.refresh(
                session,
                cached.snapshot,
                query_ids=touched.query_ids,
                company_user_ids=touched.company_user_ids,
            )

    async def _diff(
        self, snapshot: rules.Snapshot, old: Offers, new: Offers, hints: dict[int, str]
    ) -> Change:
        change = Change()
        for user, offers in new.items():
            for query_id, (queue_id, level) in offers.items():
                previous = old.get(user, {}).get(query_id)
                if previous is None or previous != (queue_id, level):
                    change.offered.append((user, query_id, queue_id, level))
        waiting = {query.id: query.queue_id for query in snapshot.waiting}
        gone: list[tuple[int, int, int]] = []
        for user, offers in old.items():
            for query_id, (queue_id, _) in offers.items():
                current = new.get(user, {}).get(query_id)
                if current is not None and current[0] == queue_id:
                    continue
                gone.append((user, query_id, queue_id))
        statuses = await self._statuses(
            [query_id for _, query_id, _ in gone if query_id not in waiting]
        )
        for user, query_id, queue_id in gone:
            reason = self._reason(snapshot, user, query_id, queue_id, waiting, statuses, hints)
            change.withdrawn.append((user, query_id, reason))
        return change

    @staticmethod
    def _reason(
        snapshot: rules.Snapshot,
        user: int,
        query_id: int,
        queue_id: int,
        waiting: dict[int, int],
        statuses: dict[int, str],
        hints: dict[int, str],
    ) -> str:
        if query_id in hints:
            return hints[query_id]
        if query_id not in waiting:
            return GONE_REASONS.get(statuses.get(query_id, ""), "cancelled")
        if waiting[query_id] != queue_id:
            return "transferred"
        agent = snapshot.agents.get(user)
        queue = snapshot.queues.get(queue_id)
        if agent is None or queue is None or not rules.is_ready(agent):
            return "not_ready"
        if rules.level_for(agent, queue) is None:
            return "not_ready"
        return "reordered"

    async def _statuses(self, query_ids: list[int]) -> dict[int, str]:
        if not query_ids:
            return {}
        async with self.db.session() as session:
            rows = await session.execute(
                select(col(Query.id), col(Query.status)).where(col(Query.id).in_(query_ids))
            )
            return {query_id: status for query_id, status in rows.tuples() if query_id}

    async def _schedule_company(
        self,
        snapshot: rules.Snapshot,
        decision: rules.Decision,
        before: CompanyState,
        since: dict[int, datetime],
        *,
        every: bool,
    ) -> None:
        """Set the company's timer, and the idle timers of everyone (or of whoever changed)."""
        company_id = snapshot.company_id
        due = [moment for moment in (decision.next_unlock, rules.next_expiry(snapshot)) if moment]
        timers: dict[str, datetime] = {}
        cancelled: list[str] = []
        if due:
            timers[f"company:{company_id}"] = min(due)
        else:
            cancelled.append(f"company:{company_id}")
        idle = timedelta(minutes=snapshot.idle_minutes)
        for user in set(before.offers) | set(decision.offers):
            same = (user in before.offers) == (user in decision.offers)
            if not every and same and before.offered_since.get(user) == since.get(user):
                continue
            name = f"idle:{company_id}:{user}"
            if user in decision.offers and snapshot.idle_minutes:
                timers[name] = since[user] + idle
            else:
                cancelled.append(name)
        await self.store.set_timers(timers, cancelled)

    # Telling

    async def _tell(self, snapshot: rules.Snapshot, change: Change, cause: str) -> None:
        company_id = snapshot.company_id
        for user, query_id, reason in change.withdrawn:
            metrics.WITHDRAWALS.labels(reason=reason).inc()
            log.info(
                "router.withdrawn company=%s query=%s company_user=%s reason=%s cause=%s",
                company_id,
                query_id,
                user,
                reason,
                cause,
            )
            await self.bus.publish(
                Event(
                    "query.withdrawn",
                    company_id,
                    {"query_id": query_id, "reason": reason},
                    company_user_ids=(user,),
                    query_id=query_id,
                )
            )
        if change.offered:
            await self._tell_offers(snapshot, change.offered, cause)

    async def _tell_offers(
        self, snapshot: rules.Snapshot, offered: list[tuple[int, int, int, int]], cause: str
    ) -> None:
        """One `query.offered` event per query and level, to everyone offered it so."""
        company_id = snapshot.company_id
        queries, queues = await self._rows({query for _, query, _, _ in offered})
        now = self.clock.now()
        audiences: dict[tuple[int, int, int], list[int]] = {}
        for user, query_id, queue_id, level in offered:
            query, queue = queries.get(query_id), queues.get(queue_id)
            if query is None or queue is None:
                continue
            metrics.OFFERS.inc()
            if query_id not in self._offered_once:
                self._remember_offered(query_id)
                latency = (now - query.created_at).total_seconds()
                metrics.OFFER_LATENCY.observe(max(0.0, latency))
            log.info(
                "router.offered company=%s query=%s queue=%s company_user=%s level=%s cause=%s",
                company_id,
                query_id,
                queue_id,
                user,
                level,
                cause,
            )
            audiences.setdefault((query_id, queue_id, level), []).append(user)
        # Oldest query first, as each company user's own offers are ordered.
        for query_id, queue_id, level in sorted(
            audiences, key=lambda key: (queries[key[0]].created_at, key[0], key[2])
        ):
            payload = {
                "query": self.present.query(queries[query_id]),
                "queue": self.present.queue(queues[queue_id]),
                "level": level,
            }
            users = tuple(audiences[query_id, queue_id, level])
            await self.bus.publish(
                Event("query.offered", company_id, payload, users, query_id=query_id)
            )

    def _remember_offered(self, query_id: int) -> None:
        if len(self._offered_once) > 100_000:
            self._offered_once.clear()
        self._offered_once.add(query_id)

    async def _rows(self, query_ids: set[int]) -> tuple[dict[int, Query], dict[int, Queue]]:
        async with self.db.session() as session:
            queries = {
                query.id: query
                for query in (
                    await session.execute(select(Query).where(col(Query.id).in_(query_ids)))
                ).scalars()
                if query.id is not None
            }
            queue_ids = {query.queue_id for query in queries.values()}
            queues = {
                queue.id: queue
                for queue in (
                    await session.execute(select(Queue).where(col(Queue.id).in_(queue_ids)))
                ).scalars()
                if queue.id is not None
            }
        return queries, queues

    async def _after(self, snapshot: rules.Snapshot) -> None:
        """Customer places in line, and the dashboard figures (throttled)."""
        await self._tell_positions(snapshot)
        self._dashboard_soon(snapshot.company_id)

    async def _tell_positions(self, snapshot: rules.Snapshot) -> None:
        ready = [agent for agent in snapshot.agents.values() if rules.is_ready(agent)]
        places = rules.positions(snapshot)
        helpers_of: dict[int, int] = {}
        for query in snapshot.waiting:
            place = places[query.id]
            if self._positions.get(query.id) == place:
                continue
            self._positions[query.id] = place
            if query.queue_id not in helpers_of:
                queue = snapshot.queues.get(query.queue_id)
                helpers_of[query.queue_id] = sum(
                    1 for agent in ready if queue and rules.level_for(agent, queue)
                )
            helpers = helpers_of[query.queue_id]
            # TODO: estimate from the queue's recent answer times instead of a fixed pace.
            estimate = int(place * 120 / max(1, helpers))
            await self.bus.publish(
                Event(
                    "position",
                    snapshot.company_id,
                    {"position": place, "estimated_wait_seconds": estimate},
                    query_id=query.id,
                    customer=True,
                )
            )

    def _dashboard_soon(self, company_id: int) -> None:
        if company_id in self._dashboard_pending:
            return
        loop = asyncio.get_running_loop()
        wait = self._dashboard_at.get(company_id, 0.0) + DASHBOARD_EVERY_SECONDS - loop.time()
        task = asyncio.create_task(self._dashboard_later(company_id, max(0.0, wait)))
        self._dashboard_pending[company_id] = task

    async def _dashboard_later(self, company_id: int, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
            self._dashboard_at[company_id] = asyncio.get_running_loop().time()
            figures = await self.figures(company_id)
            await self.bus.publish(
                Event("queues.figures", company_id, {"queues": figures}, dashboard=True)
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("router.dashboard_failed company=%s", company_id)
        finally:
            self._dashboard_pending.pop(company_id, None)

    async def figures(self, company_id: int) -> list[dict[str, Any]]:
        """Per queue: waiting, longest wait, ready and busy company users, last hour's counts.

        Right after a recomputation this process holds the company's snapshot, so only the
        hourly counts are read.
        """
        now = self.clock.now()
        cached = self._snapshots.get(company_id)
        async with self.db.session() as session:
            if cached is None:
                snapshot = await snapshots.load(session, company_id)
            else:
                snapshot = cached.snapshot
            answered, expired = await hourly_counts(session, company_id, now)
        return queue_figures(snapshot, now, answered, expired)

    # Timers

    async def _poll_forever(self) -> None:
        beating = asyncio.create_task(self._beat_forever(), name="router-heartbeat")
        started = asyncio.get_running_loop().time()
        last = {"sentinel": started, "sweep": started}
        try:
            while not self._stopping:
                try:
                    await self._chores(last)
                    await self.run_due_timers()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("router.poll_failed process=%s", self.process_id)
                await asyncio.sleep(self.timer_poll_seconds)
        finally:
            # The beat stops with the poller: a stopped process is swept like a dead one.
            await stop_tasks([beating])

    async def _chores(self, last: dict[str, float]) -> None:
        """Every so often: rebuild a lost state, and sweep processes that stopped beating."""
        now = asyncio.get_running_loop().time()
        if now - last["sentinel"] >= SENTINEL_CHECK_SECONDS:
            last["sentinel"] = now
            if not await self.store.is_built():
                log.warning("router.state_lost process=%s; rebuilding", self.process_id)
                await self.rebuild()
        if now - last["sweep"] >= SWEEP_SECONDS:
            last["sweep"] = now
            await self._sweep_dead_processes()

    async def _beat_forever(self) -> None:
        """Beat beside the poller, so that a long rebuild or timer never makes it look dead."""
        while not self._stopping:
            try:
                await self._heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("router.heartbeat_failed process=%s error=%s", self.process_id, exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _heartbeat(self) -> None:
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
        await self._register_local_connections()
        for company_id, company_user_id in await self.store.forget_process(old):
            await self._start_grace(company_id, company_user_id, move=False)

    async def _sweep_dead_processes(self) -> None:
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
                await self._start_grace(company_id, company_user_id, move=False)

    async def run_due_timers(self) -> int:
        """Fire every timer due by the router's clock; answers how many fired."""
        names = await self.store.pop_due(self.clock.now())
        for name in names:
            kind = name.split(":", 1)[0]
            metrics.TIMERS_FIRED.labels(kind=kind).inc()
            try:
                await self._fire(name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("router.timer_failed timer=%s", name)
        return len(names)

    async def _fire(self, name: str) -> None:
        kind, *ids = name.split(":")
        numbers = [int(part) for part in ids]
        if kind == "company":
            await self._expire_overdue(numbers[0])
            await self.recompute(numbers[0], cause="timer")
        elif kind == "idle":
            await self._idle(numbers[0], numbers[1])
        elif kind == "presence":
            await self._presence(numbers[0], numbers[1])
        elif kind == "remind":
            await self._remind(numbers[0], numbers[1])
        else:
            log.warning("router.unknown_timer timer=%s", name)

    async def _expire_overdue(self, company_id: int) -> None:
        async with self.db.session() as session:
            snapshot = await snapshots.load(session, company_id)
        now = self.clock.now()
        queue_of = {query.id: query.queue_id for query in snapshot.waiting}
        expired = {}
        for query_id in rules.overdue(snapshot, now):
            if await effects.expire(self.db, query_id, queue_of[query_id], now):
                expired[query_id] = "expired"
                log.info("router.expired company=%s query=%s", company_id, query_id)
                await self.bus.publish(
                    Event("expired", company_id, {}, query_id=query_id, customer=True)
                )
        if expired:
            await self.recompute(company_id, cause="expiry", hints=expired)

    async def _idle(self, company_id: int, company_user_id: int) -> None:
        state = await self.store.load(company_id)
        since = state.offered_since.get(company_user_id)
        if not state.offers.get(company_user_id) or since is None:
            return
        async with self.db.session() as session:
            company = await session.get(Company, company_id)
        if company is None or not company.idle_timeout_in_minutes:
            return
        due = since + timedelta(minutes=company.idle_timeout_in_minutes)
        if self.clock.now() < due:
            await self.store.schedule(f"idle:{company_id}:{company_user_id}", due)
            return
        if await self._set_unavailable(company_id, company_user_id, "idle"):
            email, name = await effects.email_of(self.db, company_user_id)
            if email:
                await self.mailer.send(
                    email,
                    "You were set unavailable",
                    f"Hello {name},\n\nyou had queries offered to you for "
                    f"{company.idle_timeout_in_minutes} minutes without answering any, so "
                    "ConnectNow set you unavailable. Go available again when you are back.\n",
                )

    async def _presence(self, company_id: int, company_user_id: int) -> None:
        if await self.store.connection_count(company_id, company_user_id) > 0:
            return
        await self._set_unavailable(company_id, company_user_id, "disconnected")

    async def _set_unavailable(self, company_id: int, company_user_id: int, reason: str) -> bool:
        if not await effects.set_unavailable(self.db, company_user_id, reason, self.clock.now()):
            return False
        log.info(
            "router.set_unavailable company=%s company_user=%s reason=%s",
            company_id,
            company_user_id,
            reason,
        )
        await self._tell_state(company_id, company_user_id, reason)
        await self.recompute(company_id, cause=reason, touched=_users(company_user_id))
        return True

    async def _remind(self, company_id: int, query_id: int) -> None:
        async with self.db.session() as session:
            company = await session.get(Company, company_id)
        interval = 0
        # A deleted company's members lost access: its holder could never mark the query done.
        if company is not None and company.deleted_at is None:
            interval = company.reminder_interval_in_minutes
        reminder, next_due = await effects.claim_reminder(
            self.db, query_id, interval, self.clock.now()
        )
        if next_due is not None:
            await self.store.schedule(f"remind:{company_id}:{query_id}", next_due)
        if reminder is None or reminder.email is None:
            return
        log.info("router.reminded company=%s query=%s", company_id, query_id)
        await self.mailer.send(
            reminder.email,
            f"Query {query_id} is still open",
            f"Hello {reminder.name},\n\nthe query {query_id} you answered is not marked as done "
            "yet. Mark it done when you have finished with it.\n",
        )

    # Looking things up

    async def company_of_user(self, company_user_id: int) -> int | None:
        if company_user_id not in self._company_of_user:
            async with self.db.session() as session:
                member = await session.get(CompanyUser, company_user_id)
            if member is None:
                return None
            self._company_of_user[company_user_id] = member.company_id
        return self._company_of_user[company_user_id]

    async def _company_of_query(self, query_id: int) -> int | None:
        async with self.db.session() as session:
            query = await session.get(Query, query_id)
        return None if query is None else query.company_id

    async def _query(self, query_id: int) -> Query | None:
        async with self.db.session() as session:
            return await session.get(Query, query_id)

    # RoutingHooks

    async def company_changed(self, company_id: int) -> None:
        await self._expire_overdue(company_id)
        await self.recompute(company_id, cause="company_changed")
        async with self.db.session() as session:
            ongoing = (
                await session.execute(
                    select(col(Query.id)).where(
                        col(Query.company_id) == company_id, col(Query.status) == "ongoing"
                    )
                )
            ).scalars()
            for query_id in list(ongoing):
                await self.store.schedule(f"remind:{company_id}:{query_id}", self.clock.now())

    async def company_deleted(self, company_id: int) -> None:
        # First, so that every process closes the company's websockets at once.
        log.info("router.company_deleted company=%s", company_id)
        await self.bus.publish(Event("company.deleted", company_id, {}, dashboard=True))
        await self.recompute(company_id, cause="company_deleted")

    async def company_user_changed(self, company_user_id: int) -> None:
        company_id = await self.company_of_user(company_user_id)
        if company_id is None:
            return
        async with self.db.session() as session:
            member = await session.get(CompanyUser, company_user_id)
        if member is not None:
            await self.bus.publish(
                Event(
                    "limits.changed",
                    company_id,
                    {"company_user": self.present.company_user(member)},
                    (company_user_id,),
                )
            )
        await self.recompute(company_id, cause="company_user_changed")

    async def state_changed(self, company_user_id: int) -> None:
        company_id = await self.company_of_user(company_user_id)
        if company_id is None:
            return
        await self._tell_state(company_id, company_user_id, None)
        await self.recompute(company_id, cause="state_changed", touched=_users(company_user_id))

    async def _tell_state(self, company_id: int, company_user_id: int, reason: str | None) -> None:
        async with self.db.session() as session:
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

    async def queue_changed(self, queue_id: int) -> None:
        async with self.db.session() as session:
            queue = await session.get(Queue, queue_id)
        if queue is not None:
            await self.recompute(queue.company_id, cause="queue_changed")

    async def query_opened(self, query_id: int, company_id: int) -> None:
        touched = Touched(query_ids=frozenset({query_id}))
        await self.recompute(company_id, cause="query_opened", touched=touched)

    async def may_answer(self, query_id: int, company_user_id: int) -> str | None:
        company_id = await self.company_of_user(company_user_id)
        if company_id is None:
            return "This query was not offered to you."
        offers = await self.store.offers_of(company_id, company_user_id)
        if query_id in offers:
            return None
        query = await self._query(query_id)
        if query is not None and query.status != "waiting":
            return "This query was already answered on all the queues it waited on."
        return "This query was not offered to you."

    async def query_answered(self, query: Query, company_user_id: int) -> None:
        assert query.id is not None
        query_id, company_id = query.id, query.company_id
        metrics.ANSWERS.inc()
        await self.recompute(
            company_id,
            cause="answered",
            hints={query_id: "answered"},
            answered_by=company_user_id,
            touched=_query_and_users(query_id, company_user_id),
        )
        await self.bus.publish(
            Event(
                "query.answered",
                company_id,
                {"query": self.present.query(query)},
                (company_user_id,),
                query_id=query_id,
            )
        )
        _, first_name = await effects.email_of(self.db, company_user_id)
        await self.bus.publish(
            Event(
                "answered",
                company_id,
                {"agent_name": first_name},
                query_id=query_id,
                customer=True,
            )
        )
        self._positions.pop(query_id, None)
        await self._schedule_reminder(company_id, query)

    async def _schedule_reminder(self, company_id: int, query: Query) -> None:
        """Remind the holder after the company's interval, as the answer's recomputation read
        it (a change of the interval reschedules every ongoing query's reminder)."""
        cached = self._snapshots.get(company_id)
        if cached is not None:
            minutes = cached.snapshot.reminder_minutes
        else:
            async with self.db.session() as session:
                company = await session.get(Company, company_id)
            minutes = company.reminder_interval_in_minutes if company else 0
        if not minutes or query.id is None:
            return
        answered = query.answered_at or self.clock.now()
        due = answered + timedelta(minutes=minutes)
        await self.store.schedule(f"remind:{company_id}:{query.id}", due)

    async def query_done(self, query: Query, company_user_id: int) -> None:
        assert query.id is not None
        query_id = query.id
        await self.store.cancel(f"remind:{query.company_id}:{query_id}")
        await self.bus.publish(
            Event(
                "query.done",
                query.company_id,
                {"query": self.present.query(query)},
                (company_user_id,),
                query_id=query_id,
            )
        )
        await self.bus.publish(
            Event("done", query.company_id, {}, query_id=query_id, customer=True)
        )
        touched = _query_and_users(query_id, company_user_id, query.holder_company_user_id)
        await self.recompute(query.company_id, cause="done", touched=touched)

    async def query_transferred(self, query_id: int, from_company_user_id: int | None) -> None:
        query = await self._query(query_id)
        if query is None:
            return
        await self.store.cancel(f"remind:{query.company_id}:{query_id}")
        if from_company_user_id is not None:
            async with self.db.session() as session:
                queue = await session.get(Queue, query.queue_id)
            await self.bus.publish(
                Event(
                    "query.transferred",
                    query.company_id,
                    {
                        "query": self.present.query(query),
                        "queue": self.present.queue(queue) if queue else None,
                    },
                    (from_company_user_id,),
                    query_id=query_id,
                )
            )
        self._positions.pop(query_id, None)
        await self.recompute(
            query.company_id,
            cause="transferred",
            hints={query_id: "transferred"},
            touched=_query_and_users(query_id, from_company_user_id, query.holder_company_user_id),
        )

    async def query_cancelled(self, query_id: int) -> None:
        company_id = await self._company_of_query(query_id)
        if company_id is not None:
            self._positions.pop(query_id, None)
            await self.recompute(company_id, cause="cancelled", hints={query_id: "cancelled"})

    async def note_added(self, query_id: int, note_id: int) -> None:
        async with self.db.session() as session:
            query = await session.get(Query, query_id)
            note = await session.get(QueryNote, note_id)
        if query is None or note is None:
            return
        state = await self.store.load(query.company_id)
        audience = {user for user, offers in state.offers.items() if query_id in offers}
        if query.holder_company_user_id is not None:
            audience.add(query.holder_company_user_id)
        data = {"query_id": query_id, "note": _note_public(note)}
        await self.bus.publish(
            Event("note.added", query.company_id, data, tuple(sorted(audience)), query_id=query_id)
        )

    # Router

    async def offers_of(self, company_user_id: int) -> list[dict[str, Any]]:
        company_id = await self.company_of_user(company_user_id)
        if company_id is None:
            return []
        offers = await self.store.offers_of(company_id, company_user_id)
        if not offers:
            return []
        queries, queues = await self._rows(set(offers))
        found = []
        for query_id, (queue_id, level) in offers.items():
            query, queue = queries.get(query_id), queues.get(queue_id)
            if query is None or queue is None:
                continue
            found.append((query.created_at, query_id, query, queue, level))
        found.sort(key=lambda row: (row[0], row[1]))
        return [
            {"query": self.present.query(query), "queue": self.present.queue(queue), "level": lvl}
            for _, _, query, queue, lvl in found
        ]

    async def agent_connected(self, company_user_id: int, connection_id: str) -> None:
        company_id = await self.company_of_user(company_user_id)
        if company_id is None:
            return
        self._local_connections[connection_id] = (company_id, company_user_id)
        metrics.CONNECTED_AGENTS.inc()
        process_id = self.process_id
        key = f"{process_id}:{connection_id}"
        await self.store.connection_opened(process_id, company_id, company_user_id, key)
        await self.store.cancel(f"presence:{company_id}:{company_user_id}")

    async def agent_disconnected(self, company_user_id: int, connection_id: str) -> None:
        company_id = await self.company_of_user(company_user_id)
        if company_id is None:
            return
        if self._local_connections.pop(connection_id, None) is not None:
            metrics.CONNECTED_AGENTS.dec()
        process_id = self.process_id
        key = f"{process_id}:{connection_id}"
        left = await self.store.connection_closed(process_id, company_id, company_user_id, key)
        if left == 0:
            await self._start_grace(company_id, company_user_id, move=True)

    async def _start_grace(
        self, company_id: int, company_user_id: int, *, move: bool, seconds: float | None = None
    ) -> bool:
        """Set the presence timer; `move` restarts a running grace, else it keeps its time."""
        name = f"presence:{company_id}:{company_user_id}"
        wait = self.presence_grace_seconds if seconds is None else seconds
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


def _users(*company_user_ids: int) -> Touched:
    return Touched(company_user_ids=frozenset(company_user_ids))


def _query_and_users(query_id: int, *company_user_ids: int | None) -> Touched:
    users = frozenset(user for user in company_user_ids if user is not None)
    return Touched(frozenset({query_id}), users)


def _note_public(note: QueryNote) -> dict[str, Any]:
    from models.base import format_timestamp

    return {
        "id": note.id,
        "query_id": note.query_id,
        "company_user_id": note.company_user_id,
        "body": note.body,
        "created_at": format_timestamp(note.created_at),
        "updated_at": format_timestamp(note.updated_at),
    }

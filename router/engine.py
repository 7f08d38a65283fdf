"""The routing engine: hooks in, offers and events out, over either store.

Every change ends in `recompute(company_id)`: under the company's lock it reads the company
from the database (or, for a hook that names what it touched, rereads only that into the
snapshot this process cached at the store's current version), asks `rules.desired_offers`
what everyone should hold, commits that to the store with a version check, and publishes the
difference as `query.offered` and `query.withdrawn` events. Timers live in the store, so
whichever process claims one first fires it, and every effect of a timer is a conditional
update in the database. Each process also heartbeats in the store, so that the websockets of
one that died unannounced are swept by another, which starts the presence grace they hold off.

The engine holds the lifecycle, the recomputation and the timers; it hands batching of changes
to `router.batch`, websockets and heartbeats to `router.presence`, and the telling of what
changed to `router.announcer`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlmodel import col

from models import changes
from models.base import table_of
from models.companies import Company
from models.company_users import CompanyUser
from models.db import Database
from models.queries import Query, QueryNote
from models.queues import Queue
from router import effects, metrics, rules
from router import snapshot as snapshots
from router.announcer import Announcer, Change
from router.base import ALREADY_ANSWERED, Router
from router.batch import Batch, Batches, RecomputeAbandoned, Touched
from router.bus import MemoryBus, RedisBus
from router.clock import Clock
from router.events import Event
from router.presence import Presence
from router.present import Presenters
from router.store import CompanyState, Offers, Store, commit_of
from router.tasks import stop_tasks

log = logging.getLogger("connectnow.router")

__all__ = ["MailSender", "RecomputeAbandoned", "RoutingEngine", "Touched"]

SENTINEL_CHECK_SECONDS = 1.0
HEARTBEAT_SECONDS = 2.0
SWEEP_SECONDS = 3.0
FULL_RELOAD_SECONDS = 5.0
PEOPLE_KEPT = 10_000
GONE_REASONS = {
    "ongoing": "answered",
    "done": "answered",
    "expired": "expired",
    "cancelled": "cancelled",
}
_queries = table_of(Query)
_STATUSES = select(_queries.c.id, _queries.c.status).where(
    _queries.c.id.in_(bindparam("b_query_ids", expanding=True))
)


class MailSender(Protocol):
    async def send(self, to: str, subject: str, text: str) -> bool: ...


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
        self.timer_poll_seconds = timer_poll_seconds
        self.present = presenters or Presenters()
        self.presence = Presence(db, store, clock, grace_seconds=presence_grace_seconds)
        self.announcer = Announcer(db, bus, clock, self.present, self._snapshot_of)
        self._built = False
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        self._company_of_user: dict[int, int] = {}
        self._people: changes.Kept[int, tuple[str | None, str]] = changes.Kept(
            math.inf, PEOPLE_KEPT
        )
        self._company_of_queue: dict[int, int] = {}
        self._snapshots: dict[int, Cached] = {}
        self._batches = Batches(self._recompute_batch)

    @property
    def process_id(self) -> str:
        """This process in the store; it changes when the store forgot it (see Presence)."""
        return self.presence.process_id

    @property
    def presence_grace_seconds(self) -> float:
        """How long an agent with no websocket open stays available; Presence keeps it."""
        return self.presence.grace_seconds

    @presence_grace_seconds.setter
    def presence_grace_seconds(self, seconds: float) -> None:
        self.presence.grace_seconds = seconds

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
        pending = (*self.announcer.stop(), *self._batches.tasks)
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
        async with self.db.read_session() as session:
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
        await self.presence.register_local_connections()
        for company_id in company_ids:
            assert company_id is not None
            await self._expire_overdue(company_id)
            await self.recompute(company_id, cause="rebuild")
        for query_id, owner_id in ongoing:
            await self.store.schedule(f"remind:{owner_id}:{query_id}", self.clock.now())
        graces = await self.presence.grace_for_the_absent()
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
        await self._batches.add(company_id, cause, hints or {}, answered_by, touched)

    async def _recompute_batch(self, company_id: int, batch: Batch) -> None:
        cause = batch.cause
        async with self.store.locked(company_id):
            for _ in range(3):
                outcome = await self._recompute_once(
                    company_id, batch.hints, batch.answered_by, batch.touched
                )
                if outcome is not None:
                    snapshot, change = outcome
                    await self.announcer.tell(snapshot, change, cause)
                    break
            else:
                log.warning("router.recompute_conflict company=%s cause=%s", company_id, cause)
                return
        await self.announcer.after(snapshot)

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
            company_id, commit_of(before, after, snapshot, set(decision.ready), previous)
        ):
            return None
        self._snapshots[company_id] = Cached(
            before.version + 1, snapshot, loaded_at, after, decision.ready
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
        if cached is None or touched is None:
            async with self.db.read_session() as session:
                return await snapshots.load(session, company_id)
        if not touched.query_ids and not touched.company_user_ids:
            return cached.snapshot
        # A bare connection: a refresh runs on most changes, and needs no ORM session.
        async with self.db.read() as connection:
            return await snapshots.refresh(
                connection,
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
        # A hinted query's reason is its hint: only the others need their status read.
        unexplained = {query_id for _, query_id, _ in gone} - waiting.keys() - hints.keys()
        statuses = await self._statuses(sorted(unexplained))
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
        """Why offers of queries no longer waiting went: read on most answers, hence Core."""
        if not query_ids:
            return {}
        async with self.db.read() as connection:
            rows = await connection.execute(_STATUSES, {"b_query_ids": query_ids})
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

    def _snapshot_of(self, company_id: int) -> rules.Snapshot | None:
        """The snapshot behind this process's last commit of the company, if it holds one."""
        cached = self._snapshots.get(company_id)
        return None if cached is None else cached.snapshot

    async def figures(self, company_id: int) -> list[dict[str, Any]]:
        """Per queue: waiting, longest wait, ready and busy company users, last hour's counts."""
        return await self.announcer.figures(company_id)

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
            await self.presence.sweep_dead_processes()

    async def _beat_forever(self) -> None:
        """Beat beside the poller, so that a long rebuild or timer never makes it look dead."""
        while not self._stopping:
            try:
                await self.presence.heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("router.heartbeat_failed process=%s error=%s", self.process_id, exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)

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
        async with self.db.read_session() as session:
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
        async with self.db.read_session() as session:
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
        await self.announcer.tell_state(company_id, company_user_id, reason)
        await self.recompute(company_id, cause=reason, touched=_users(company_user_id))
        return True

    async def _remind(self, company_id: int, query_id: int) -> None:
        async with self.db.read_session() as session:
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
            async with self.db.read_session() as session:
                member = await session.get(CompanyUser, company_user_id)
            if member is None:
                return None
            self._company_of_user[company_user_id] = member.company_id
        return self._company_of_user[company_user_id]

    async def _company_of_query(self, query_id: int) -> int | None:
        async with self.db.read_session() as session:
            query = await session.get(Query, query_id)
        return None if query is None else query.company_id

    async def _query(self, query_id: int) -> Query | None:
        async with self.db.read_session() as session:
            return await session.get(Query, query_id)

    # RoutingHooks

    async def company_changed(self, company_id: int) -> None:
        await self._expire_overdue(company_id)
        await self.recompute(company_id, cause="company_changed")
        async with self.db.read_session() as session:
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
        async with self.db.read_session() as session:
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
        await self.announcer.tell_state(company_id, company_user_id, None)
        await self.recompute(company_id, cause="state_changed", touched=_users(company_user_id))

    async def queue_changed(self, queue_id: int) -> None:
        async with self.db.read_session() as session:
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
            return ALREADY_ANSWERED
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
        _, first_name = await self._person(company_user_id)
        await self.bus.publish_many(
            [
                Event(
                    "query.answered",
                    company_id,
                    {"query": self.present.query(query)},
                    (company_user_id,),
                    query_id=query_id,
                ),
                Event(
                    "answered",
                    company_id,
                    {"agent_name": first_name},
                    query_id=query_id,
                    customer=True,
                ),
            ]
        )
        await self._schedule_reminder(company_id, query)

    async def _schedule_reminder(self, company_id: int, query: Query) -> None:
        """Remind the holder after the company's interval, as the answer's recomputation read
        it (a change of the interval reschedules every ongoing query's reminder)."""
        cached = self._snapshots.get(company_id)
        if cached is not None:
            minutes = cached.snapshot.reminder_minutes
        else:
            async with self.db.read_session() as session:
                company = await session.get(Company, company_id)
            minutes = company.reminder_interval_in_minutes if company else 0
        if not minutes or query.id is None:
            return
        answered = query.answered_at or self.clock.now()
        due = answered + timedelta(minutes=minutes)
        await self.store.schedule(f"remind:{company_id}:{query.id}", due)

    async def _person(self, company_user_id: int) -> tuple[str | None, str]:
        """Email and first name, kept until a person or membership changes (`models.changes`):
        every answer tells its customer who answered."""
        found = self._people.get(company_user_id)
        if found is None:
            read_at = changes.version()
            found = await effects.email_of(self.db, company_user_id)
            self._people.put(company_user_id, read_at, found)
        return found

    async def query_done(self, query: Query, company_user_id: int) -> None:
        assert query.id is not None
        query_id = query.id
        await self.store.cancel(f"remind:{query.company_id}:{query_id}")
        await self.bus.publish_many(
            [
                Event(
                    "query.done",
                    query.company_id,
                    {"query": self.present.query(query)},
                    (company_user_id,),
                    query_id=query_id,
                ),
                Event("done", query.company_id, {}, query_id=query_id, customer=True),
            ]
        )
        touched = _query_and_users(query_id, company_user_id, query.holder_company_user_id)
        await self.recompute(query.company_id, cause="done", touched=touched)

    async def query_transferred(self, query_id: int, from_company_user_id: int | None) -> None:
        query = await self._query(query_id)
        if query is None:
            return
        await self.store.cancel(f"remind:{query.company_id}:{query_id}")
        if from_company_user_id is not None:
            async with self.db.read_session() as session:
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
        await self.recompute(
            query.company_id,
            cause="transferred",
            hints={query_id: "transferred"},
            touched=_query_and_users(query_id, from_company_user_id, query.holder_company_user_id),
        )

    async def query_cancelled(self, query_id: int) -> None:
        company_id = await self._company_of_query(query_id)
        if company_id is not None:
            await self.recompute(company_id, cause="cancelled", hints={query_id: "cancelled"})

    async def note_added(self, query_id: int, note_id: int) -> None:
        async with self.db.read_session() as session:
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
        queries, queues = await self.announcer.rows(set(offers))
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
        await self.presence.connected(company_id, company_user_id, connection_id)

    async def agent_disconnected(self, company_user_id: int, connection_id: str) -> None:
        company_id = await self.company_of_user(company_user_id)
        if company_id is None:
            return
        await self.presence.disconnected(company_id, company_user_id, connection_id)


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

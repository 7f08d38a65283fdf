"""The router against a plain model of SPEC §4, under random sequences of changes.

Hypothesis drives creates, answers, dones, transfers, cancels, availability, skill and limit
changes and clock advances; after each step the offers every company user holds must equal
what the model below says, the database must agree with the model's statuses, and the
guarantees hold: one holder per query, nobody above its limit. The model is written from the
SPEC's words, not from `router.rules`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlmodel import col

from models.company_users import CompanyUser
from models.queries import Query, QueryCompanyUser
from tests.helpers import Client
from tests.test_router_world import World

pytestmark = pytest.mark.anyio

T = TypeVar("T")
EXPIRY_MINUTES = 30
SETTLE_SECONDS = 2.0


@dataclass
class ModelQueue:
    id: int
    skills: frozenset[int]
    delay: int | None
    owner: int | None = None


@dataclass
class ModelAgent:
    id: int
    skills: dict[int, int]
    available: bool
    limit: int
    pick: bool
    ongoing: int = 0


@dataclass
class ModelQuery:
    id: int
    queue: int
    created: datetime
    entered: datetime
    status: str = "waiting"
    holder: int | None = None


@dataclass
class Model:
    """SPEC §4 in its plainest form."""

    queues: dict[int, ModelQueue] = field(default_factory=dict)
    agents: dict[int, ModelAgent] = field(default_factory=dict)
    queries: dict[int, ModelQuery] = field(default_factory=dict)

    def level(self, agent: ModelAgent, queue: ModelQueue) -> int | None:
        if queue.owner is not None:
            return 1 if queue.owner == agent.id else None
        if any(skill not in agent.skills for skill in queue.skills):
            return None
        return max((agent.skills[skill] for skill in queue.skills), default=1)

    def expire(self, now: datetime) -> None:
        for query in self.queries.values():
            if query.status == "waiting" and now - query.entered >= timedelta(
                minutes=EXPIRY_MINUTES
            ):
                query.status = "expired"

    def offers(self, now: datetime) -> dict[int, dict[int, int]]:
        waiting = sorted(
            (query for query in self.queries.values() if query.status == "waiting"),
            key=lambda query: (query.created, query.id),
        )
        expected: dict[int, dict[int, int]] = {}
        for agent in self.agents.values():
            expected[agent.id] = {}
            if not agent.available or agent.ongoing >= agent.limit:
                continue
            visible = []
            for query in waiting:
                queue = self.queues[query.queue]
                level = self.level(agent, queue)
                if level is None:
                    continue
                waited = (now - query.entered).total_seconds()
                if queue.delay and level > 1 + int(waited // queue.delay):
                    continue
                visible.append((query.id, level))
            if not agent.pick:
                visible = visible[: agent.limit - agent.ongoing]
            expected[agent.id] = dict(visible)
        return expected


class Frozen:
    """Routing time that moves only when the test says so."""

    def __init__(self, clock: Any) -> None:
        self.base = clock.now()
        self.clock = clock

    def now(self) -> datetime:
        return self.base + timedelta(seconds=self.clock.offset_seconds)


def on_loop(step: Callable[..., Awaitable[T]], *args: Any) -> T:
    return anyio.from_thread.run(step, *args)


class RoutingMachine(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.company = on_loop(self._build)

    async def _build(self) -> int:
        world = self.world
        company = await world.company(
            query_expiry_time_in_minutes=EXPIRY_MINUTES,
            idle_timeout_in_minutes=0,
            reminder_interval_in_minutes=0,
        )
        english, german = await world.skill(company), await world.skill(company)
        self.skills = [english, german]
        for skills, delay in (([english], 60), ([english, german], None), ([german], 120)):
            queue = await world.queue(company, skills, delay)
            self.model.queues[queue] = ModelQueue(queue, frozenset(skills), delay)
        for n, (skills, limit, pick) in enumerate(
            (
                ({english: 1}, 1, False),
                ({english: 2, german: 1}, 2, False),
                ({english: 3, german: 2}, 1, True),
                ({german: 1}, 2, True),
            )
        ):
            agent = await world.agent(company, skills, limit=limit, pick=pick)
            self.model.agents[agent] = ModelAgent(agent, dict(skills), True, limit, pick)
            if n == 0:
                personal = await world.personal_queue(agent)
                self.model.queues[personal] = ModelQueue(personal, frozenset(), None, agent)
        return company

    def _now(self) -> datetime:
        now: datetime = self.world.clock.now()
        return now

    # Steps

    @rule(data=st.data())
    def open_query(self, data: st.DataObject) -> None:
        queue = data.draw(st.sampled_from(sorted(self.model.queues)))
        query = on_loop(self.world.open, self.company, queue)
        now = self._now()
        self.model.queries[query] = ModelQuery(query, queue, now, now)

    @rule(data=st.data(), offered_only=st.booleans())
    def answer(self, data: st.DataObject, offered_only: bool) -> None:
        offers = self.model.offers(self._now())
        pairs = [(query, agent) for agent, held in offers.items() for query in held]
        if not offered_only or not pairs:
            waiting = [q.id for q in self.model.queries.values() if q.status == "waiting"]
            pairs = [(query, agent) for query in waiting for agent in self.model.agents]
        if not pairs:
            return
        query, agent = data.draw(st.sampled_from(sorted(pairs)))
        refusal = on_loop(self.world.answer, query, agent)
        assert (refusal is None) == (query in offers[agent]), refusal
        if refusal is None:
            self.model.queries[query].status = "ongoing"
            self.model.queries[query].holder = agent
            self.model.agents[agent].ongoing += 1

    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        ongoing = [q for q in self.model.queries.values() if q.status == "ongoing"]
        if not ongoing:
            return
        query = data.draw(st.sampled_from(ongoing))
        assert query.holder is not None
        on_loop(self.world.done, query.id, query.holder)
        self.model.agents[query.holder].ongoing -= 1
        query.status = "done"

    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        live = [q for q in self.model.queries.values() if q.status in ("waiting", "ongoing")]
        if not live:
            return
        query = data.draw(st.sampled_from(live))
        target = data.draw(st.sampled_from([q for q in self.model.queues if q != query.queue]))
        on_loop(self._transfer, query.id, target, query.status, query.holder)
        if query.holder is not None:
            self.model.agents[query.holder].ongoing -= 1
        query.status, query.holder, query.queue = "waiting", None, target
        query.entered = self._now()

    async def _transfer(self, query: int, target: int, status: str, holder: int | None) -> None:
        await self.world.transfer(query, target, status=status, holder=holder)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        waiting = [q for q in self.model.queries.values() if q.status == "waiting"]
        if not waiting:
            return
        query = data.draw(st.sampled_from(waiting))
        on_loop(self.world.cancel, query.id)
        query.status = "cancelled"

    @rule(data=st.data(), available=st.booleans())
    def availability(self, data: st.DataObject, available: bool) -> None:
        agent = data.draw(st.sampled_from(sorted(self.model.agents)))
        on_loop(self.world.set_available, agent, available)
        self.model.agents[agent].available = available

    @rule(data=st.data())
    def skills(self, data: st.DataObject) -> None:
        agent = data.draw(st.sampled_from(sorted(self.model.agents)))
        levels = data.draw(
            st.dictionaries(st.sampled_from(self.skills), st.integers(1, 3), max_size=2)
        )
        on_loop(self.world.set_skills, agent, levels)
        self.model.agents[agent].skills = dict(levels)

    @rule(data=st.data(), pick=st.booleans())
    def limits(self, data: st.DataObject, pick: bool) -> None:
        agent = self.model.agents[data.draw(st.sampled_from(sorted(self.model.agents)))]
        limit = data.draw(st.integers(max(1, agent.ongoing), 3))
        on_loop(self._limits, agent.id, limit, pick)
        agent.limit, agent.pick = limit, pick

    async def _limits(self, agent: int, limit: int, pick: bool) -> None:
        await self.world.set_member(
            agent, max_ongoing_queries_handled=limit, ability_to_pick_from_queue=pick
        )

    @rule(seconds=st.sampled_from([1, 30, 59, 61, 130, 600, 1200]))
    def advance(self, seconds: int) -> None:
        self.world.clock.advance(seconds)

    # What must hold after every step

    @invariant()
    def router_matches_the_model(self) -> None:
        self.model.expire(self._now())
        on_loop(self._settle)

    async def _settle(self) -> None:
        """Wait (bounded) for due timers to fire, then compare everything once more."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        while True:
            expected = self.model.offers(self._now())
            actual = {agent: await self.world.offers(agent) for agent in self.model.agents}
            statuses = await self._statuses()
            wanted = {query.id: query.status for query in self.model.queries.values()}
            if (actual, statuses) == (expected, wanted) or loop.time() > deadline:
                break
            await self.world.router.run_due_timers()
            await asyncio.sleep(0.05)
        assert statuses == wanted
        assert actual == expected
        await self._guarantees()

    async def _statuses(self) -> dict[int, str]:
        async with self.world.db.session() as session:
            rows = await session.execute(
                select(col(Query.id), col(Query.status)).where(
                    col(Query.company_id) == self.company
                )
            )
            return {query_id: status for query_id, status in rows.tuples() if query_id}

    async def _guarantees(self) -> None:
        async with self.world.db.session() as session:
            members = (
                await session.execute(
                    select(CompanyUser).where(col(CompanyUser.company_id) == self.company)
                )
            ).scalars()
            for member in members:
                held = await session.scalar(
                    select(func.count()).where(
                        col(Query.holder_company_user_id) == member.id,
                        col(Query.status) == "ongoing",
                    )
                )
                assert held == member.ongoing_count <= member.max_ongoing_queries_handled
            doubles = await session.scalar(
                select(func.count()).select_from(
                    select(col(QueryCompanyUser.query_id))
                    .join(Query, col(Query.id) == col(QueryCompanyUser.query_id))
                    .where(
                        col(Query.company_id) == self.company,
                        col(QueryCompanyUser.done_at).is_(None),
                        col(QueryCompanyUser.released_at).is_(None),
                        col(Query.status) == "ongoing",
                    )
                    .group_by(col(QueryCompanyUser.query_id))
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            assert doubles == 0


@pytest.mark.timeout(900)
async def test_router_follows_the_model_of_spec_section_4(client: Client) -> None:
    world = World(client.services)
    frozen = Frozen(world.clock)
    world.clock.now = frozen.now  # routing time moves only by advance()

    machine = type("Machine", (RoutingMachine,), {"world": world})
    run = settings(
        max_examples=25,
        stateful_step_count=20,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    await anyio.to_thread.run_sync(lambda: run_state_machine_as_test(machine, settings=run))

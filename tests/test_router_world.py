"""A small world for routing tests: companies, agents, queues and queries made in the database,
with the router told through its hooks as the REST layer would, and events awaited with a
deadline. It holds no tests itself.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlmodel import col

from models.companies import Company
from models.company_users import CompanyUser, CompanyUserSkill, CompanyUserState
from models.queues import Queue, QueueSkill
from models.skills import Skill
from models.users import User
from router.events import Event
from server import query_actions

_numbers = itertools.count(1)


@dataclass
class Mail:
    to: str
    subject: str
    text: str


@dataclass
class MailBox:
    sent: list[Mail] = field(default_factory=list)

    async def send(self, to: str, subject: str, text: str) -> bool:
        self.sent.append(Mail(to, subject, text))
        return True

    async def wait(self, count: int, within: float = 5.0) -> list[Mail]:
        """The mail sent once `count` messages went out, failing after `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.sent) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} mails within {within}s, got {self.sent}")
            await asyncio.sleep(0.02)
        return self.sent


class Events:
    """Every event published since the subscription began, awaited with a deadline."""

    def __init__(self, queue: asyncio.Queue[Event]) -> None:
        self.queue = queue
        self.seen: list[Event] = []

    async def next(
        self,
        type_: str,
        where: Callable[[Event], bool] = lambda event: True,
        within: float = 5.0,
    ) -> Event:
        for event in self.seen:
            if event.type == type_ and where(event):
                self.seen.remove(event)
                return event
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {type_} event within {within}s; saw {self.seen}")
            try:
                event = await asyncio.wait_for(self.queue.get(), left)
            except TimeoutError:
                continue
            if event.type == type_ and where(event):
                return event
            self.seen.append(event)

    async def drain(self, settle: float = 0.2) -> list[Event]:
        """Events that arrive within `settle` seconds of quiet (for the pub/sub hop)."""
        while True:
            try:
                self.seen.append(await asyncio.wait_for(self.queue.get(), settle))
            except TimeoutError:
                found, self.seen = self.seen, []
                return found


async def _add_member(session: Any, member: CompanyUser, name: str) -> None:
    """What `server.staff.add_company_user` stores, without the slow password hash."""
    session.add(member)
    await session.flush()
    assert member.id is not None
    session.add(CompanyUserState(company_user_id=member.id, is_available=False))
    session.add(
        Queue(
            name=f"{name} (personal)",
            company_id=member.company_id,
            company_user_id=member.id,
            password_hash="unusable",
        )
    )
    await session.flush()


def to(user: int) -> Callable[[Event], bool]:
    return lambda event: user in event.company_user_ids


def about(query_id: int, user: int | None = None) -> Callable[[Event], bool]:
    return lambda event: (
        event.query_id == query_id and (user is None or user in event.company_user_ids)
    )


class World:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.db = services.db
        self.mail = MailBox()
        services.hooks.mailer = self.mail

    @property
    def router(self) -> Any:
        return self.services.hooks

    @property
    def clock(self) -> Any:
        return self.services.clock

    @asynccontextmanager
    async def events(self) -> AsyncIterator[Events]:
        async with self.router.bus.subscribe() as queue:
            yield Events(queue)

    async def company(self, **fields: Any) -> int:
        n = next(_numbers)
        async with self.db.write() as session:
            company = Company(
                name=f"Company {n}", slug=f"routing-{n}", logo_url="https://e.com/a.png", **fields
            )
            session.add(company)
            await session.flush()
            assert company.id is not None
            return company.id

    async def skill(self, company_id: int) -> int:
        async with self.db.write() as session:
            skill = Skill(name=f"Skill {next(_numbers)}", company_id=company_id)
            session.add(skill)
            await session.flush()
            assert skill.id is not None
            return skill.id

    async def agent(
        self,
        company_id: int,
        skills: dict[int, int] | None = None,
        *,
        limit: int = 1,
        pick: bool = False,
        available: bool = True,
        name: str = "Ada",
    ) -> int:
        n = next(_numbers)
        async with self.db.write() as session:
            user = User(name=name, email=f"agent{n}@example.com", password_hash="x")
            session.add(user)
            await session.flush()
            member = CompanyUser(
                user_id=user.id,
                company_id=company_id,
                invited_email=user.email,
                accepted_at=self.clock.now(),
                max_ongoing_queries_handled=limit,
                ability_to_pick_from_queue=pick,
            )
            await _add_member(session, member, name)
            for skill_id, level in (skills or {}).items():
                session.add(
                    CompanyUserSkill(company_user_id=member.id, skill_id=skill_id, level=level)
                )
            if available:
                await session.execute(
                    update(CompanyUserState)
                    .where(col(CompanyUserState.company_user_id) == member.id)
                    .values(is_available=True)
                )
        await self.router.company_user_changed(member.id)
        return member.id

    async def queue(
        self, company_id: int, skills: list[int] | None = None, delay: int | None = None
    ) -> int:
        async with self.db.write() as session:
            queue = Queue(
                name=f"Queue {next(_numbers)}", company_id=company_id, priority_delay=delay
            )
            session.add(queue)
            await session.flush()
            assert queue.id is not None
            for skill_id in skills or []:
                session.add(QueueSkill(queue_id=queue.id, skill_id=skill_id))
        await self.router.queue_changed(queue.id)
        return queue.id

    async def personal_queue(self, company_user_id: int) -> int:
        async with self.db.session() as session:
            queue = (
                await session.execute(
                    select(Queue).where(col(Queue.company_user_id) == company_user_id)
                )
            ).scalar_one()
        assert queue.id is not None
        return queue.id

    async def open(self, company_id: int, queue_id: int) -> int:
        new = query_actions.NewQuery(
            company_id=company_id,
            queue_id=queue_id,
            source="web",
            is_link=False,
            email="customer@example.com",
            name="Casey",
            surname=None,
            customer_token_hash=f"{next(_numbers):064d}",
        )
        query = await query_actions.open_query(self.db, new, now=self.clock.now())
        assert query.id is not None
        await self.router.query_opened(query.id, company_id)
        return query.id

    async def answer(self, query_id: int, company_user_id: int) -> str | None:
        """None when the answer went through, else why the router or the database refused."""
        refusal = await self.router.may_answer(query_id, company_user_id)
        if refusal is not None:
            return str(refusal)
        try:
            answered = await query_actions.answer(
                self.db, query_id, company_user_id, now=self.clock.now()
            )
        except query_actions.Refused as exc:
            return str(exc)
        await self.router.query_answered(answered, company_user_id)
        return None

    async def done(self, query_id: int, company_user_id: int) -> None:
        done = await query_actions.mark_done(
            self.db, query_id, company_user_id, now=self.clock.now()
        )
        await self.router.query_done(done, company_user_id)

    async def transfer(
        self, query_id: int, queue_id: int, *, status: str, holder: int | None
    ) -> None:
        await query_actions.transfer(
            self.db, query_id, queue_id, status=status, holder=holder, now=self.clock.now()
        )
        await self.router.query_transferred(query_id, holder)

    async def cancel(self, query_id: int) -> None:
        await query_actions.cancel(self.db, query_id, now=self.clock.now())
        await self.router.query_cancelled(query_id)

    async def set_available(self, company_user_id: int, available: bool) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(CompanyUserState)
                .where(col(CompanyUserState.company_user_id) == company_user_id)
                .values(is_available=available)
            )
        await self.router.state_changed(company_user_id)

    async def set_member(self, company_user_id: int, **values: Any) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(CompanyUser).where(col(CompanyUser.id) == company_user_id).values(**values)
            )
        await self.router.company_user_changed(company_user_id)

    async def set_skills(self, company_user_id: int, skills: dict[int, int]) -> None:
        async with self.db.write() as session:
            await session.execute(
                delete(CompanyUserSkill).where(
                    col(CompanyUserSkill.company_user_id) == company_user_id
                )
            )
            if skills:
                await session.execute(
                    insert(CompanyUserSkill),
                    [
                        {"company_user_id": company_user_id, "skill_id": s, "level": lvl}
                        for s, lvl in skills.items()
                    ],
                )
        await self.router.company_user_changed(company_user_id)

    async def is_available(self, company_user_id: int) -> bool:
        async with self.db.session() as session:
            state = (
                await session.execute(
                    select(CompanyUserState).where(
                        col(CompanyUserState.company_user_id) == company_user_id
                    )
                )
            ).scalar_one()
        return state.is_available

    async def offers(self, company_user_id: int) -> dict[int, int]:
        """Query id → level of what the router offers the company user now."""
        return {
            offer["query"]["id"]: offer["level"]
            for offer in await self.router.offers_of(company_user_id)
        }

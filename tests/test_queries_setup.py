"""Setup shared by the query tests: agents, skills and queues stored directly.

Also a record of the routing hooks the endpoints call, to check what they told the router.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from models.base import utcnow
from models.company_users import CompanyUser, CompanyUserSkill, CompanyUserState
from models.queues import Queue, QueueSkill
from models.skills import Skill
from models.users import User
from router.hooks import RoutingHooks
from server import auth
from server.staff import add_company_user
from tests.helpers import Client, Person

_names = itertools.count(1)


@dataclass
class Agent:
    person: Person
    id: int


@dataclass
class Desk:
    """A company with a manager and one shared queue without skills."""

    manager: Person
    company_id: int
    queue_id: int


class RecordingHooks(RoutingHooks):
    """Remembers each hook call as (name, args); `may_answer` refuses the ids in `refuse`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.refuse: dict[int, str] = {}

    def __getattribute__(self, name: str) -> Any:
        found = super().__getattribute__(name)
        if name in {"calls", "refuse", "named"} or name.startswith("_") or not callable(found):
            return found

        async def record(*args: Any) -> Any:
            self.calls.append((name, args))
            return await found(*args)

        return record

    async def may_answer(self, query_id: int, company_user_id: int) -> str | None:
        return self.refuse.get(company_user_id)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]


def record_hooks(client: Client) -> RecordingHooks:
    hooks = RecordingHooks()
    client.services.hooks = hooks
    return hooks


async def desk(client: Client) -> Desk:
    manager = await client.person("Maria")
    company = await client.company(manager)
    queue_id = await queue(client, company["id"])
    return Desk(manager, company["id"], queue_id)


async def skill(client: Client, company_id: int, name: str = "English") -> int:
    async with client.services.db.write() as session:
        row = Skill(name=f"{name} {next(_names)}", company_id=company_id)
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


async def queue(
    client: Client,
    company_id: int,
    *,
    skills: tuple[int, ...] = (),
    password: str | None = None,
    is_active: bool = True,
) -> int:
    async with client.services.db.write() as session:
        row = Queue(
            name=f"Queue {next(_names)}",
            company_id=company_id,
            password_hash=auth.hash_password(password) if password else None,
            is_active=is_active,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        for skill_id in skills:
            session.add(QueueSkill(queue_id=row.id, skill_id=skill_id))
        return row.id


async def agent(
    client: Client,
    company_id: int,
    *,
    name: str = "Ana",
    role: str = "agent",
    skills: dict[int, int] | None = None,
    available: bool = True,
    max_ongoing: int = 1,
    **member_fields: Any,
) -> Agent:
    """A signed-in person with an accepted company user, its skills and availability."""
    person = await quick_person(client, name)
    member = CompanyUser(
        user_id=person.user["id"],
        company_id=company_id,
        invited_email=person.user["email"],
        accepted_at=utcnow(),
        role=role,
        max_ongoing_queries_handled=max_ongoing,
        **member_fields,
    )
    async with client.services.db.write() as session:
        await add_company_user(session, member, label=name, password_hash="x")
        assert member.id is not None
        for skill_id, level in (skills or {}).items():
            session.add(
                CompanyUserSkill(company_user_id=member.id, skill_id=skill_id, level=level)
            )
    await set_available(client, member.id, available)
    return Agent(person, member.id)


async def quick_person(client: Client, name: str) -> Person:
    """A user with a sign-in token, stored directly: no password hashing, so many are cheap."""
    user = User(name=name, email=f"agent.{next(_names)}@example.com", password_hash="-")
    async with client.services.db.write() as session:
        session.add(user)
    assert user.id is not None
    secret, _ = await auth.issue_token(
        client.services.db, user.id, name="tests", kind="session", ttl=None
    )
    return Person(secret, {"id": user.id, "name": name, "email": user.email})


async def set_available(client: Client, company_user_id: int, available: bool) -> None:
    async with client.services.db.write() as session:
        await session.execute(
            update(CompanyUserState)
            .where(col(CompanyUserState.company_user_id) == company_user_id)
            .values(is_available=available)
        )


async def personal_queue_of(client: Client, company_user_id: int) -> int:
    from sqlalchemy import select

    async with client.services.db.session() as session:
        found = await session.execute(
            select(col(Queue.id)).where(col(Queue.company_user_id) == company_user_id)
        )
        return int(found.scalar_one())


async def member_row(client: Client, company_user_id: int) -> CompanyUser:
    async with client.services.db.session() as session:
        row = await session.get(CompanyUser, company_user_id)
        assert row is not None
        return row


async def open_query(client: Client, queue_id: int, **fields: Any) -> dict[str, Any]:
    """Open a query as a customer; the body includes its `customer_token`."""
    payload = {
        "source": "https://example.com/chat/1",
        "email": "customer@example.com",
        "name": "Kim",
        "queue_id": queue_id,
        **fields,
    }
    created = await client.post("/api/queries", json=payload)
    assert created.status_code == 201, created.text
    return dict(created.json())


def customer(opened: dict[str, Any]) -> dict[str, str]:
    return {"X-Customer-Token": opened["customer_token"]}

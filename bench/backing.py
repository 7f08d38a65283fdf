"""The database and Redis prefix of one run: made fresh, seeded, checked, and removed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import redis
from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from models import migrate
from models.companies import Company
from models.company_users import CompanyUser, CompanyUserSkill, CompanyUserState
from models.queues import Queue, QueueSkill
from models.skills import Skill
from models.users import ApiToken, User

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Backing:
    """Where one run keeps its data: `memory` (SQLite file) or `redis` (PostgreSQL + Redis)."""

    store: str
    admin_dsn: str = ADMIN_DSN
    redis_url: str = REDIS_URL
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cnbench-")))
    made_database: bool = False

    @property
    def pg_name(self) -> str:
        return f"cn_bench_{self.run_id}"

    @property
    def pg_dsn(self) -> str:
        """A plain asyncpg DSN of this run's database, also used by the baselines."""
        return f"{self.admin_dsn.rsplit('/', 1)[0]}/{self.pg_name}"

    @property
    def redis_prefix(self) -> str:
        return f"cnbench:{self.run_id}"

    @property
    def database_url(self) -> str:
        if self.store == "memory":
            return f"sqlite+aiosqlite:///{self.workdir / 'connectnow.db'}"
        return self.pg_dsn.replace("postgresql://", "postgresql+asyncpg://")

    def server_env(self) -> dict[str, str]:
        env = {"DATABASE_URL": self.database_url, "AUTO_MIGRATE": "false"}
        if self.store == "redis":
            env |= {"REDIS_URL": self.redis_url, "REDIS_PREFIX": self.redis_prefix}
        else:
            env["REDIS_URL"] = ""
        return env

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self) -> None:
        """Make this run's PostgreSQL database (always: the baselines need it) and migrate."""
        await self._admin(f'CREATE DATABASE "{self.pg_name}"')
        self.made_database = True
        await asyncio.to_thread(migrate.upgrade, self.database_url)

    async def drop(self) -> None:
        """Remove this run's database, Redis keys and server logs."""
        if not os.environ.get("BENCH_KEEP_LOGS"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self.made_database:
            await self._admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            self.made_database = False
        client = redis.Redis.from_url(self.redis_url)
        try:
            for name in (self.redis_prefix, f"bench:{self.run_id}"):
                for key in client.scan_iter(match=f"*{name}*", count=1000):
                    client.delete(key)
        finally:
            client.close()


@dataclass(frozen=True)
class Agent:
    company_user_id: int
    token: str
    limit: int


@dataclass(frozen=True)
class Seeded:
    company_id: int
    queue_ids: list[int]
    idle_queue_id: int
    agents: list[Agent]

    @property
    def queue_id(self) -> int:
        return self.queue_ids[0]


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def seed(
    database_url: str, agents: int, *, limit: int = 1, available: bool = True, teams: int = 1
) -> Seeded:
    """A company with `teams` shared queues, each with its own skill, and `agents` accepted
    agents at level 1, dealt round the queues (agent n on queue n mod `teams`).

    Written straight into the tables: signing up thousands of people through REST would spend
    minutes hashing passwords. A second queue needs a skill nobody holds, for measuring query
    creation without routing work.
    """
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    try:
        async with engine.begin() as conn:

            async def add(table: Any, row: dict[str, Any]) -> int:
                created = await conn.execute(insert(table).returning(table.c.id), [row])
                return int(created.scalar_one())

            company_id = await add(
                _t(Company),
                {"name": "Bench", "slug": f"bench-{tag}", "logo_url": "https://e.x/l.svg",
                 "query_expiry_time_in_minutes": 0, "idle_timeout_in_minutes": 0,
                 "reminder_interval_in_minutes": 0},
            )  # fmt: skip
            skill_ids = [
                await add(_t(Skill), {"name": f"Bench {n}", "company_id": company_id})
                for n in range(teams)
            ]
            rare_id = await add(_t(Skill), {"name": "Rare", "company_id": company_id})
            queue_ids = [
                await add(_t(Queue), {"name": f"Bench {n}", "company_id": company_id})
                for n in range(teams)
            ]
            idle_id = await add(_t(Queue), {"name": "Nobody", "company_id": company_id})
            await conn.execute(
                insert(_t(QueueSkill)),
                [{"queue_id": q, "skill_id": s} for q, s in zip(queue_ids, skill_ids, strict=True)]
                + [{"queue_id": idle_id, "skill_id": rare_id}],
            )  # fmt: skip
            emails = [f"agent{n}.{tag}@bench.example.com" for n in range(agents)]
            await conn.execute(
                insert(_t(User)),
                [{"name": f"Agent{n}", "email": e, "password_hash": "!", "email_verified_at": now}
                 for n, e in enumerate(emails)],
            )  # fmt: skip
            rows = await conn.execute(
                select(_t(User).c.id, _t(User).c.email).where(
                    _t(User).c.email.like(f"%.{tag}@bench.example.com")
                )
            )
            user_ids = {email: int(uid) for uid, email in rows}
            ordered = [user_ids[e] for e in emails]
            secrets_ = [secrets.token_urlsafe(32) for _ in ordered]
            await conn.execute(
                insert(_t(ApiToken)),
                [{"user_id": uid, "name": "bench", "kind": "session", "token_hash": _digest(s)}
                 for uid, s in zip(ordered, secrets_, strict=True)],
            )  # fmt: skip
            await conn.execute(
                insert(_t(CompanyUser)),
                [{"user_id": uid, "company_id": company_id, "invited_email": e,
                  "accepted_at": now, "max_ongoing_queries_handled": limit,
                  "is_auto_max_number_handled": False,
                  "is_auto_ability_to_pick_from_queue": False}
                 for uid, e in zip(ordered, emails, strict=True)],
            )  # fmt: skip
            rows = await conn.execute(
                select(_t(CompanyUser).c.id, _t(CompanyUser).c.user_id).where(
                    _t(CompanyUser).c.company_id == company_id
                )
            )
            member_of = {int(uid): int(cid) for cid, uid in rows}
            members = [member_of[uid] for uid in ordered]
            await conn.execute(
                insert(_t(Queue)),
                [{"name": "Personal", "company_id": company_id, "company_user_id": m,
                  "password_hash": "!"} for m in members],
            )  # fmt: skip
            await conn.execute(
                insert(_t(CompanyUserSkill)),
                [
                    {"company_user_id": m, "skill_id": skill_ids[n % teams], "level": 1}
                    for n, m in enumerate(members)
                ],
            )
            await conn.execute(
                insert(_t(CompanyUserState)),
                [{"company_user_id": m, "is_available": available} for m in members],
            )
    finally:
        await engine.dispose()
    team = [Agent(m, s, limit) for m, s in zip(members, secrets_, strict=True)]
    return Seeded(company_id, queue_ids, idle_id, team)


async def check_guarantees(
    database_url: str,
    company_id: int,
    created: set[int] | None = None,
    done: set[int] | None = None,
) -> dict[str, Any]:
    """Read the database after a run: no double holder, no over-limit, nothing lost.

    Holding intervals come from `query_company_users` (answered until done or released);
    a sweep over them finds any moment with two holders of one query, or a company user
    holding more than its limit. Every query must be in a known status, and an ongoing one
    must have a holder; every query whose creation got a 201 (`created`) must be stored, and
    every one whose done got a 200 (`done`) must be done.
    """
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            holds = (
                await conn.execute(
                    text(
                        "SELECT h.query_id, h.company_user_id, h.answered_at, "
                        "COALESCE(h.done_at, h.released_at) AS ended_at, "
                        "cu.max_ongoing_queries_handled "
                        "FROM query_company_users h "
                        "JOIN company_users cu ON cu.id = h.company_user_id "
                        "WHERE cu.company_id = :company"
                    ),
                    {"company": company_id},
                )
            ).all()
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, status, holder_company_user_id IS NOT NULL "
                        "FROM queries WHERE company_id = :company"
                    ),
                    {"company": company_id},
                )
            ).all()
    finally:
        await engine.dispose()
    limits = {row[1]: row[4] for row in holds}
    by_query = _max_overlap([(r[0], r[2], r[3]) for r in holds])
    by_user = _max_overlap([(r[1], r[2], r[3]) for r in holds])
    status_of = {int(r[0]): str(r[1]) for r in rows}
    counts: dict[str, int] = {}
    for status in status_of.values():
        counts[status] = counts.get(status, 0) + 1
    known = {"waiting", "ongoing", "done", "expired", "cancelled"}
    unknown = sum(n for s, n in counts.items() if s not in known)
    ongoing_unheld = sum(1 for r in rows if r[1] == "ongoing" and not r[2])
    missing = [q for q in created or () if q not in status_of]
    not_done = [q for q in done or () if status_of.get(q) != "done"]
    return {
        "double_holders": sum(1 for n in by_query.values() if n > 1),
        "over_limit": sum(1 for cu, n in by_user.items() if n > limits[cu]),
        "ongoing_without_holder": ongoing_unheld,
        "unknown_status": unknown,
        "missing": len(missing),
        "done_not_done": len(not_done),
        "statuses": counts,
        "holds": len(holds),
    }


def _when(value: datetime | str) -> datetime:
    """A timestamp from either database: SQLite hands raw text back to a text() query."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _max_overlap(intervals: list[tuple[int, Any, Any]]) -> dict[int, int]:
    """For each key, the most intervals open at one instant (an end before a start on ties)."""
    events: dict[int, list[tuple[datetime, int]]] = {}
    never = datetime.max.replace(tzinfo=UTC)
    for key, began, ended in intervals:
        finish = never if ended is None else _when(ended)
        events.setdefault(key, []).extend([(_when(began), 1), (finish, -1)])
    most: dict[int, int] = {}
    for key, points in events.items():
        level = peak = 0
        for _, step in sorted(points):
            level += step
            peak = max(peak, level)
        most[key] = peak
    return most

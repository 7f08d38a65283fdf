"""Users: the seed's sample of GET /api/users/{id}, `/api/me`, and what their relations show."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.company_users import CompanyUser, CompanyUserSkill
from models.queues import Queue, QueueSkill
from models.skills import Skill
from server import auth
from server.staff import accepted_now, add_company_user
from tests.helpers import Client, Person

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
USER_FIELDS = {
    "id",
    "name",
    "surname",
    "email",
    "avatar_url",
    "email_verified_at",
    "created_at",
    "updated_at",
}


async def join(client: Client, company_id: int, person: Person) -> int:
    """Make `person` an accepted agent of the company; return the company user id."""
    async with client.services.db.write() as session:
        member = CompanyUser(
            company_id=company_id,
            invited_email=person.user["email"],
            invitation_token_hash=auth.digest(auth.new_secret()),
        )
        accepted_now(member, person.user["id"])
        await add_company_user(session, member, label=person.user["name"])
    assert member.id is not None
    return member.id


async def member_id(client: Client, company_id: int, person: Person) -> int:
    async with client.services.db.session() as session:
        found = await session.execute(
            select(col(CompanyUser.id)).where(
                col(CompanyUser.company_id) == company_id,
                col(CompanyUser.user_id) == person.user["id"],
            )
        )
        return int(found.scalar_one())


async def skilled_setup(client: Client, company_id: int, holder: int) -> dict[str, Any]:
    """Skills German, MacOS and French; the holder has the first two (MacOS at level 2).

    Queues: German MacOS Support (needs both) and French Support (needs French).
    """
    async with client.services.db.write() as session:
        skills = [Skill(name=n, company_id=company_id) for n in ("German", "MacOS", "French")]
        session.add_all(skills)
        await session.flush()
        german, macos, french = (s.id for s in skills)
        assert german and macos and french
        both = Queue(name="German MacOS Support", company_id=company_id)
        other = Queue(name="French Support", company_id=company_id)
        session.add_all([both, other])
        await session.flush()
        assert both.id and other.id
        session.add_all(
            [
                QueueSkill(queue_id=both.id, skill_id=german),
                QueueSkill(queue_id=both.id, skill_id=macos),
                QueueSkill(queue_id=other.id, skill_id=french),
                CompanyUserSkill(company_user_id=holder, skill_id=german, level=1),
                CompanyUserSkill(company_user_id=holder, skill_id=macos, level=2),
            ]
        )
    return {"skills": [german, macos, french], "queues": [both.id, other.id]}


async def test_user_sample_has_the_seed_fields_and_formats(client: Client) -> None:
    hans = await client.person("Hans")
    sakura = await client.person("Sakura")
    company = await client.company(hans)
    await join(client, company["id"], sakura)

    shown = await client.get(f"/api/users/{sakura.user['id']}", hans)

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert set(body) == USER_FIELDS
    assert body["id"] == sakura.user["id"]
    assert body["name"] == "Sakura" and body["surname"] is None
    assert body["email"] == sakura.user["email"]
    assert TIMESTAMP.match(body["created_at"]) and TIMESTAMP.match(body["updated_at"])
    assert "password_hash" not in body and "is_admin" not in body


async def test_user_with_companies_skills_and_queues(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    holder = await member_id(client, company["id"], hans)
    made = await skilled_setup(client, company["id"], holder)

    shown = await client.get(
        f"/api/users/{hans.user['id']}", hans, params={"with": "companies,skills,queues"}
    )

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert [c["id"] for c in body["companies"]] == [company["id"]]
    assert body["companies"][0]["name"] == company["name"]
    german, macos, _ = made["skills"]
    assert [(s["id"], s["name"], s["level"]) for s in body["skills"]] == [
        (german, "German", 1),
        (macos, "MacOS", 2),
    ]
    assert all(s["company_id"] == company["id"] for s in body["skills"])
    shared = [q["name"] for q in body["queues"] if q["company_user_id"] is None]
    personal = [q["id"] for q in body["queues"] if q["company_user_id"] == holder]
    assert shared == ["German MacOS Support"]
    assert len(personal) == 1
    assert all(q["company_id"] == company["id"] for q in body["queues"])


async def test_user_relations_never_show_companies_the_caller_is_not_in(
    client: Client,
) -> None:
    hans = await client.person("Hans")
    sakura = await client.person("Sakura")
    shared = await client.company(hans)
    private = await client.company(sakura)
    await join(client, shared["id"], sakura)

    shown = await client.get(
        f"/api/users/{sakura.user['id']}", hans, params={"with[]": ["companies", "queues"]}
    )

    assert shown.status_code == 200
    assert [c["id"] for c in shown.json()["companies"]] == [shared["id"]]
    assert {q["company_id"] for q in shown.json()["queues"]} == {shared["id"]}
    own = (await client.get("/api/me", sakura, params={"with[]": "companies"})).json()
    assert sorted(c["id"] for c in own["companies"]) == sorted([shared["id"], private["id"]])


async def test_user_of_no_shared_company_is_not_found(client: Client) -> None:
    hans = await client.person("Hans")
    sakura = await client.person("Sakura")

    assert (await client.get(f"/api/users/{sakura.user['id']}", hans)).status_code == 404
    assert (await client.get("/api/users/999999", hans)).status_code == 404
    assert (await client.get("/api/users/abc", hans)).status_code == 404


async def test_me_with_companies_and_nested_queues(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)

    me = await client.get("/api/me", hans, params={"with[]": "companies.queues"})

    assert me.status_code == 200, me.text
    body = me.json()
    assert body["is_admin"] is False
    (listed,) = body["companies"]
    assert listed["id"] == company["id"]
    assert [q["company_user_id"] for q in listed["queues"]] == [
        await member_id(client, company["id"], hans)
    ]
    bad = await client.get("/api/me", hans, params={"with[]": "companies.nope"})
    assert bad.status_code == 422
    assert "companies.nope" in bad.json()["errors"]["with"][0]

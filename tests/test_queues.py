"""Queues: creation rules, updates, personal queues, deletion, scopes and the seed's shapes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.queries import Query
from models.queues import Queue
from tests.helpers import Client, Person, member

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def skill(client: Client, manager: Person, company_id: int, name: str) -> int:
    created = await client.post(
        "/api/skills", manager, json={"name": name, "company_id": company_id}
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def queue(client: Client, manager: Person, company_id: int, **fields: Any) -> dict[str, Any]:
    payload = {"name": "IT Queue", "company_id": company_id, **fields}
    created = await client.post("/api/queues", manager, json=payload)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def personal_queue_id(client: Client, company_user_id: int) -> int:
    async with client.services.db.session() as session:
        found = await session.execute(
            select(col(Queue.id)).where(col(Queue.company_user_id) == company_user_id)
        )
        return int(found.scalar_one())


async def test_create_queue_returns_seed_fields_without_password(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    english = await skill(client, hans, company["id"], "English")

    created = await client.post(
        "/api/queues",
        hans,
        json={
            "name": "English MacOS Support",
            "company_id": company["id"],
            "password": "open sesame 123",
            "priority_delay": 180,
            "is_active": "1",
            "skill_ids": [english],
        },
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "English MacOS Support"
    assert body["priority_delay"] == 180 and body["priority_delay_in_seconds"] == 180
    assert body["is_active"] is True and body["has_password"] is True
    assert "password" not in body and "password_hash" not in body
    assert body["company_user_id"] is None and body["deleted_at"] is None
    shown = await client.get(f"/api/queues/{body['id']}", hans, params={"with[]": "skills"})
    assert [s["id"] for s in shown.json()["skills"]] == [english]


async def test_seed_list_and_single_shapes(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    made = await queue(client, hans, company["id"], priority_delay_in_seconds=60)

    listed = await client.get("/api/queues", hans)
    shown = await client.get(f"/api/queues/{made['id']}", hans)

    assert listed.status_code == 200 and shown.status_code == 200
    items = [q for q in listed.json() if q["id"] == made["id"]]
    for item in [*items, shown.json()]:
        assert isinstance(item["id"], int) and isinstance(item["name"], str)
        assert isinstance(item["company_id"], int)
        assert isinstance(item["priority_delay"], int) and item["priority_delay"] == 60
        assert isinstance(item["is_active"], bool)
        assert TIMESTAMP.match(item["created_at"]) and TIMESTAMP.match(item["updated_at"])


async def test_agent_cannot_create_and_outsider_gets_422(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    agent, _ = await member(client, hans, company["id"], "agent")
    stranger = await client.person("Sakura")

    by_agent = await client.post(
        "/api/queues", agent, json={"name": "Q", "company_id": company["id"]}
    )
    by_stranger = await client.post(
        "/api/queues", stranger, json={"name": "Q", "company_id": company["id"]}
    )

    assert by_agent.status_code == 403
    assert by_stranger.status_code == 422
    assert "company_id" in by_stranger.json()["errors"]


async def test_skill_of_another_company_is_422_on_skill_ids(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    other = await client.company(hans)
    foreign = await skill(client, hans, other["id"], "German")

    created = await client.post(
        "/api/queues",
        hans,
        json={"name": "Q", "company_id": company["id"], "skill_ids": [foreign]},
    )

    assert created.status_code == 422
    assert list(created.json()["errors"]) == ["skill_ids"]


async def test_bad_fields_are_reported_together(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)

    bad = await client.post(
        "/api/queues",
        hans,
        json={"name": "", "company_id": company["id"], "priority_delay": 86401, "x": 1},
    )
    clash = await client.post(
        "/api/queues",
        hans,
        json={
            "name": "Q",
            "company_id": company["id"],
            "priority_delay": 10,
            "priority_delay_in_seconds": 20,
        },
    )

    assert bad.status_code == 422
    assert {"name", "priority_delay", "x"} <= set(bad.json()["errors"])
    assert clash.status_code == 422


async def test_update_is_partial_and_null_password_removes_it(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    made = await queue(client, hans, company["id"], password="open sesame 123", priority_delay=5)

    renamed = await client.put(f"/api/queues/{made['id']}", hans, json={"name": "Renamed"})
    unlocked = await client.put(f"/api/queues/{made['id']}", hans, json={"password": None})

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"
    assert renamed.json()["priority_delay"] == 5 and renamed.json()["has_password"] is True
    assert unlocked.status_code == 200
    assert unlocked.json()["has_password"] is False and unlocked.json()["name"] == "Renamed"


async def test_agent_cannot_edit_a_shared_queue(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    agent, _ = await member(client, hans, company["id"], "agent")
    made = await queue(client, hans, company["id"])

    edited = await client.put(f"/api/queues/{made['id']}", agent, json={"name": "Mine"})

    assert edited.status_code == 403


async def test_owner_sets_personal_password_and_others_cannot(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    agent, agent_user = await member(client, hans, company["id"], "agent")
    own_queue = await personal_queue_id(client, agent_user["id"])

    by_owner = await client.put(
        f"/api/queues/{own_queue}", agent, json={"password": "for my customers"}
    )
    by_manager = await client.put(
        f"/api/queues/{own_queue}", hans, json={"password": "not yours to set"}
    )
    renamed_by_manager = await client.put(
        f"/api/queues/{own_queue}", hans, json={"name": "Agent's line"}
    )
    renamed_by_owner = await client.put(f"/api/queues/{own_queue}", agent, json={"name": "X"})

    assert by_owner.status_code == 200, by_owner.text
    assert by_owner.json()["has_password"] is True
    assert by_manager.status_code == 403
    assert renamed_by_manager.status_code == 200
    assert renamed_by_owner.status_code == 403


async def test_personal_queue_keeps_a_password_and_takes_no_skills(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    english = await skill(client, hans, company["id"], "English")
    agent, agent_user = await member(client, hans, company["id"], "agent")
    own_queue = await personal_queue_id(client, agent_user["id"])

    cleared = await client.put(f"/api/queues/{own_queue}", agent, json={"password": None})
    skilled = await client.put(f"/api/queues/{own_queue}", hans, json={"skill_ids": [english]})
    deleted = await client.delete(f"/api/queues/{own_queue}", hans)

    assert cleared.status_code == 200 and cleared.json()["has_password"] is True
    assert skilled.status_code == 422 and "skill_ids" in skilled.json()["errors"]
    assert deleted.status_code == 403


async def test_delete_hides_the_queue_and_cancels_its_waiting_queries(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    made = await queue(client, hans, company["id"])
    async with client.services.db.write() as session:
        session.add(
            Query(
                company_id=company["id"],
                queue_id=made["id"],
                source="https://example.com/help",
                email="customer@example.com",
                name="Ann",
                customer_token_hash="x" * 64,
            )
        )
    cancelled: list[int] = []
    changed: list[int] = []

    async def on_cancel(query_id: int) -> None:
        cancelled.append(query_id)

    async def on_change(queue_id: int) -> None:
        changed.append(queue_id)

    client.services.hooks.query_cancelled = on_cancel
    client.services.hooks.queue_changed = on_change

    deleted = await client.delete(f"/api/queues/{made['id']}", hans)

    assert deleted.status_code == 204
    assert (await client.get(f"/api/queues/{made['id']}", hans)).status_code == 404
    assert made["id"] not in [q["id"] for q in (await client.get("/api/queues", hans)).json()]
    async with client.services.db.session() as session:
        query = (await session.execute(select(Query))).scalar_one()
    assert query.status == "cancelled" and query.ended_at is not None
    assert cancelled == [query.id] and changed == [made["id"]]


async def test_queue_of_another_company_is_not_found(client: Client) -> None:
    hans = await client.person("Hans")
    sakura = await client.person("Sakura")
    company = await client.company(hans)
    made = await queue(client, hans, company["id"])

    assert (await client.get(f"/api/queues/{made['id']}", sakura)).status_code == 404
    assert (await client.put(f"/api/queues/{made['id']}", sakura, json={})).status_code == 404
    assert (await client.delete(f"/api/queues/{made['id']}", sakura)).status_code == 404
    assert made["id"] not in [q["id"] for q in (await client.get("/api/queues", sakura)).json()]


async def test_scopes_active_and_available(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    english = await skill(client, hans, company["id"], "English")
    agent, agent_user = await member(client, hans, company["id"], "agent")
    synced = await client.put(
        f"/api/company-users/{agent_user['id']}/skills", hans, json={"skill_ids": [english]}
    )
    assert synced.status_code == 200, synced.text
    held = await queue(client, hans, company["id"], name="English", skill_ids=[english])
    idle = await queue(client, hans, company["id"], name="Off", is_active=False)
    await queue(
        client,
        hans,
        company["id"],
        name="German",
        skill_ids=[await skill(client, hans, company["id"], "German")],
    )

    def names(response: Any) -> set[str]:
        assert response.status_code == 200, response.text
        return {q["name"] for q in response.json() if q["company_user_id"] is None}

    before = await client.get("/api/queues", agent, params={"scopes[]": "available"})
    available = await client.put(
        f"/api/company-user-states/{agent_user['id']}", agent, json={"is_available": True}
    )
    assert available.status_code == 200, available.text
    after = await client.get("/api/queues", agent, params={"scopes[]": "available"})
    active = await client.get("/api/queues", agent, params={"scopes": "active"})

    assert names(before) == set()
    assert names(after) == {held["name"]}
    assert idle["name"] not in names(active) and held["name"] in names(active)


async def test_with_relations_are_loaded(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    _, agent_user = await member(client, hans, company["id"], "agent")
    own_queue = await personal_queue_id(client, agent_user["id"])

    shown = await client.get(
        f"/api/queues/{own_queue}",
        hans,
        params={
            "with[]": ["skills", "companyUser", "queries", "unansweredQueries", "latestQuery"]
        },
    )
    bad = await client.get("/api/queues", hans, params={"with": "nope"})

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["company_user"]["id"] == agent_user["id"]
    assert body["skills"] == [] and body["queries"] == [] and body["unanswered_queries"] == []
    assert body["latest_query"] is None
    assert bad.status_code == 422 and "latestQuery" in bad.json()["errors"]["with"][0]


async def test_company_user_queues_matches_the_seed_sample(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    english = await skill(client, hans, company["id"], "English")
    german = await skill(client, hans, company["id"], "German")
    agent, agent_user = await member(client, hans, company["id"], "agent")
    await client.put(
        f"/api/company-users/{agent_user['id']}/skills", hans, json={"skill_ids": [english]}
    )
    fits = await queue(client, hans, company["id"], name="IT Queue", skill_ids=[english])
    anyone = await queue(client, hans, company["id"], name="Open")
    await queue(client, hans, company["id"], name="Both", skill_ids=[english, german])

    found = await client.get(f"/api/company-users/{agent_user['id']}/queues", agent)

    assert found.status_code == 200, found.text
    body = found.json()
    assert set(body) == {"queues", "personal_queue"}
    assert [q["id"] for q in body["queues"]] == [fits["id"], anyone["id"]]
    item = body["queues"][0]
    for key in ("id", "name", "company_id", "company_user_id", "is_active"):
        assert key in item
    assert item["priority_delay_in_seconds"] is None
    assert TIMESTAMP.match(item["created_at"]) and item["deleted_at"] is None
    (english_row,) = item["skills"]
    assert english_row["pivot"] == {"queue_id": fits["id"], "skill_id": english}
    assert {"id", "name", "company_id", "created_at", "updated_at"} <= set(english_row)
    assert body["personal_queue"]["company_user_id"] == agent_user["id"]
    assert (
        await client.get(f"/api/company-users/{agent_user['id']}/queues", await client.person())
    ).status_code == 404

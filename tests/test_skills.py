"""Skills: the seed's shape, names unique per company, and company users' skills at levels."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import Client, Person, member

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def _skill(client: Client, who: Person, company_id: int, name: str) -> dict[str, Any]:
    created = await client.post("/api/skills", who, json={"name": name, "company_id": company_id})
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_skills_have_the_seed_shape(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, _ = await member(client, boss, company["id"])
    english = await _skill(client, boss, company["id"], "English")

    listed = await client.get("/api/skills", agent)
    one = await client.get(f"/api/skills/{english['id']}", agent)

    assert listed.status_code == 200 and one.status_code == 200
    for item in [*listed.json(), one.json()]:
        assert set(item) == {"id", "name", "company_id", "created_at", "updated_at"}
        assert item["name"] == "English" and item["company_id"] == company["id"]
        assert TIMESTAMP.match(item["created_at"]) and TIMESTAMP.match(item["updated_at"])


async def test_duplicate_name_in_a_company_is_422(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    other = await client.company(boss)
    await _skill(client, boss, company["id"], "German")
    macos = await _skill(client, boss, company["id"], "MacOS")

    again = await client.post(
        "/api/skills", boss, json={"name": "german", "company_id": company["id"]}
    )
    renamed = await client.put(f"/api/skills/{macos['id']}", boss, json={"name": "German"})
    elsewhere = await client.post(
        "/api/skills", boss, json={"name": "German", "company_id": other["id"]}
    )

    assert again.status_code == 422 and "name" in again.json()["errors"]
    assert renamed.status_code == 422 and "name" in renamed.json()["errors"]
    assert elsewhere.status_code == 201


async def test_unicode_name_round_trips_and_rename_works(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    skill = await _skill(client, boss, company["id"], "日本語 🇯🇵")

    renamed = await client.put(f"/api/skills/{skill['id']}", boss, json={"name": "Español 🌮"})

    assert skill["name"] == "日本語 🇯🇵"
    assert renamed.status_code == 200 and renamed.json()["name"] == "Español 🌮"
    too_long = await client.put(f"/api/skills/{skill['id']}", boss, json={"name": "x" * 256})
    assert too_long.status_code == 422


async def test_sync_with_skill_ids_gives_level_one_and_removes_the_rest(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    _, agent = await member(client, boss, company["id"])
    english = await _skill(client, boss, company["id"], "English")
    german = await _skill(client, boss, company["id"], "German")
    path = f"/api/company-users/{agent['id']}/skills"

    first = await client.put(path, boss, json={"skills": [{"id": german["id"], "level": 2}]})
    second = await client.put(path, boss, json={"skill_ids": [english["id"]]})

    assert first.status_code == 200, first.text
    assert [(s["id"], s["level"]) for s in first.json()["skills"]] == [(german["id"], 2)]
    assert second.status_code == 200
    assert [(s["id"], s["level"]) for s in second.json()["skills"]] == [(english["id"], 1)]
    shown = await client.get(f"/api/company-users/{agent['id']}", boss, params={"with": "skills"})
    (held,) = shown.json()["skills"]
    assert held["id"] == english["id"] and held["level"] == 1
    cleared = await client.put(path, boss, json={"skill_ids": []})
    assert cleared.status_code == 200 and cleared.json()["skills"] == []


async def test_sync_rejects_another_companys_skill_and_bad_levels(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    other = await client.company(boss)
    _, agent = await member(client, boss, company["id"])
    foreign = await _skill(client, boss, other["id"], "Foreign")
    own = await _skill(client, boss, company["id"], "Own")
    path = f"/api/company-users/{agent['id']}/skills"

    by_ids = await client.put(path, boss, json={"skill_ids": [own["id"], foreign["id"]]})
    by_levels = await client.put(path, boss, json={"skills": [{"id": foreign["id"]}]})
    level_zero = await client.put(path, boss, json={"skills": [{"id": own["id"], "level": 0}]})
    both = await client.put(path, boss, json={"skill_ids": [], "skills": []})
    neither = await client.put(path, boss, json={})

    assert by_ids.status_code == 422 and "skill_ids" in by_ids.json()["errors"]
    assert by_levels.status_code == 422 and "skills" in by_levels.json()["errors"]
    assert level_zero.status_code == 422
    assert both.status_code == 422 and neither.status_code == 422
    unchanged = await client.get(
        f"/api/company-users/{agent['id']}", boss, params={"with": "skills"}
    )
    assert unchanged.json()["skills"] == []


async def test_nested_with_shows_levels_from_the_company(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    _, agent = await member(client, boss, company["id"])
    skill = await _skill(client, boss, company["id"], "English")
    await client.put(
        f"/api/company-users/{agent['id']}/skills",
        boss,
        json={"skills": [{"id": skill["id"], "level": 3}]},
    )

    shown = await client.get(
        f"/api/companies/{company['id']}", boss, params={"with[]": "companyUsers.skills"}
    )

    assert shown.status_code == 200, shown.text
    levels = {cu["id"]: [s["level"] for s in cu["skills"]] for cu in shown.json()["company_users"]}
    assert levels[agent["id"]] == [3]


async def test_deleting_a_skill_removes_it_from_company_users(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    _, agent = await member(client, boss, company["id"])
    skill = await _skill(client, boss, company["id"], "English")
    await client.put(
        f"/api/company-users/{agent['id']}/skills", boss, json={"skill_ids": [skill["id"]]}
    )
    told: list[int] = []

    async def changed(company_user_id: int) -> None:
        told.append(company_user_id)

    client.services.hooks.company_user_changed = changed

    deleted = await client.delete(f"/api/skills/{skill['id']}", boss)

    assert deleted.status_code == 204
    assert (await client.get(f"/api/skills/{skill['id']}", boss)).status_code == 404
    shown = await client.get(f"/api/company-users/{agent['id']}", boss, params={"with": "skills"})
    assert shown.json()["skills"] == []
    assert told == [agent["id"]]


async def test_staffing_manager_sets_agents_skills_not_managers(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    staffer, _ = await member(client, boss, company["id"], "staffing_manager")
    _, agent = await member(client, boss, company["id"], "agent")
    _, manager = await member(client, boss, company["id"], "manager")
    skill = await _skill(client, boss, company["id"], "English")
    body = {"skill_ids": [skill["id"]]}

    for_agent = await client.put(f"/api/company-users/{agent['id']}/skills", staffer, json=body)
    for_manager = await client.put(
        f"/api/company-users/{manager['id']}/skills", staffer, json=body
    )
    create = await client.post(
        "/api/skills", staffer, json={"name": "German", "company_id": company["id"]}
    )

    assert for_agent.status_code == 200
    assert for_manager.status_code == 403
    assert create.status_code == 403

"""Company user states: setting availability, who may, and the history of every change."""

from __future__ import annotations

import pytest

from router.clock import Clock
from server.errors import Forbidden
from server.staff import set_availability
from tests.helpers import Client, member

pytestmark = pytest.mark.anyio


async def test_own_state_change_is_kept_with_reason_manual(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, joined = await member(client, boss, company["id"])
    path = f"/api/company-user-states/{joined['id']}"

    on = await client.put(path, agent, json={"is_available": True, "status_text": "Here 👋"})
    note_kept = await client.put(path, agent, json={"is_available": "false"})
    history = await client.get(f"{path}/history", boss)

    assert on.status_code == 200, on.text
    assert on.json()["is_available"] is True and on.json()["status_text"] == "Here 👋"
    assert note_kept.json()["is_available"] is False
    assert note_kept.json()["status_text"] == "Here 👋"
    assert history.status_code == 200
    entries = history.json()
    assert [(e["is_available"], e["reason"]) for e in entries] == [
        (True, "manual"),
        (False, "manual"),
    ]
    assert {e["changed_by_company_user_id"] for e in entries} == {joined["id"]}
    cleared = await client.put(path, agent, json={"is_available": False, "status_text": None})
    assert cleared.json()["status_text"] is None


async def test_manager_sets_anothers_state_with_reason_manager(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    staffer, staffer_cu = await member(client, boss, company["id"], "staffing_manager")
    _, agent_cu = await member(client, boss, company["id"])

    changed = await client.put(
        f"/api/company-user-states/{agent_cu['id']}",
        staffer,
        json={"is_available": True, "status_text": "Covering the phones"},
    )
    history = await client.get(f"/api/company-user-states/{agent_cu['id']}/history", staffer)

    assert changed.status_code == 200
    (entry,) = history.json()
    assert entry["reason"] == "manager"
    assert entry["changed_by_company_user_id"] == staffer_cu["id"]
    assert entry["status_text"] == "Covering the phones"


async def test_agent_may_not_set_anothers_state_nor_read_history(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, agent_cu = await member(client, boss, company["id"])
    _, other_cu = await member(client, boss, company["id"])

    others = await client.put(
        f"/api/company-user-states/{other_cu['id']}", agent, json={"is_available": True}
    )
    own_history = await client.get(f"/api/company-user-states/{agent_cu['id']}/history", agent)
    read = await client.get(f"/api/company-user-states/{other_cu['id']}", agent)

    assert others.status_code == 403
    assert own_history.status_code == 403
    assert read.status_code == 200 and read.json()["is_available"] is False


async def test_inactive_or_unaccepted_cannot_be_available(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    _, agent_cu = await member(client, boss, company["id"])
    invited = await client.post(
        "/api/company-users",
        boss,
        json={"company_id": company["id"], "invited_email": "later@example.com"},
    )
    await client.put(f"/api/company-users/{agent_cu['id']}", boss, json={"is_active": False})

    inactive = await client.put(
        f"/api/company-user-states/{agent_cu['id']}", boss, json={"is_available": True}
    )
    unaccepted = await client.put(
        f"/api/company-user-states/{invited.json()['id']}", boss, json={"is_available": True}
    )

    assert inactive.status_code == 403 and "inactive" in inactive.json()["message"]
    assert unaccepted.status_code == 403 and "accepted" in unaccepted.json()["message"]
    history = await client.get(f"/api/company-user-states/{agent_cu['id']}/history", boss)
    assert history.json() == []


async def test_list_shows_the_callers_companies_states(client: Client) -> None:
    boss = await client.person("Boss")
    stranger = await client.person("Stranger")
    company = await client.company(boss)
    await client.company(stranger)
    agent, agent_cu = await member(client, boss, company["id"])
    await client.put(
        f"/api/company-user-states/{agent_cu['id']}", agent, json={"is_available": True}
    )

    listed = await client.get("/api/company-user-states", agent)
    available = await client.get(
        "/api/company-user-states", agent, params={"scopes[]": "available"}
    )

    assert listed.status_code == 200
    assert len(listed.json()) == 2
    assert set(listed.json()[0]) == {
        "id",
        "company_user_id",
        "is_available",
        "status_text",
        "created_at",
        "updated_at",
    }
    assert [s["company_user_id"] for s in available.json()] == [agent_cu["id"]]
    outsider = await client.get(f"/api/company-user-states/{agent_cu['id']}", stranger)
    assert outsider.status_code == 404


async def test_change_tells_the_router_once(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, agent_cu = await member(client, boss, company["id"])
    told: list[int] = []

    async def changed(company_user_id: int) -> None:
        told.append(company_user_id)

    client.services.hooks.state_changed = changed
    path = f"/api/company-user-states/{agent_cu['id']}"
    await client.put(path, agent, json={"is_available": True})
    await client.put(path, agent, json={"is_available": True})

    assert told == [agent_cu["id"]]


async def test_server_changes_have_no_author_and_use_the_clock(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, agent_cu = await member(client, boss, company["id"])
    await client.put(
        f"/api/company-user-states/{agent_cu['id']}", agent, json={"is_available": True}
    )
    clock = Clock()
    clock.advance(3600)

    result = await set_availability(
        client.services.db,
        agent_cu["id"],
        False,
        reason="disconnected",
        changed_by=None,
        clock=clock,
    )

    assert result.changed and result.state.is_available is False
    history = await client.get(
        f"/api/company-user-states/{agent_cu['id']}/history", boss, params={"scopes": "latest"}
    )
    newest = history.json()[0]
    assert newest["reason"] == "disconnected"
    assert newest["changed_by_company_user_id"] is None
    assert newest["created_at"] > history.json()[1]["created_at"]
    await client.put(f"/api/company-users/{agent_cu['id']}", boss, json={"is_active": False})
    with pytest.raises(Forbidden):
        await set_availability(
            client.services.db,
            agent_cu["id"],
            True,
            reason="manual",
            changed_by=agent_cu["id"],
            clock=clock,
        )

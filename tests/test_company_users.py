"""Company users: invitations, defaults, the seed's shape, scopes, updates and removal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.company_users import CompanyUser, CompanyUserState
from models.queues import Queue
from server import auth
from tests.helpers import Client, Person, member, outbox

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
SEED_FIELDS = {
    "id",
    "user_id",
    "company_id",
    "created_at",
    "accepted_at",
    "invited_email",
    "max_ongoing_queries_handled",
    "is_auto_max_number_handled",
    "ability_to_pick_from_queue",
    "is_auto_ability_to_pick_from_queue",
    "role",
    "is_active",
}


async def _invite(client: Client, who: Person, company_id: int, email: str, **fields: Any) -> Any:
    return await client.post(
        "/api/company-users",
        who,
        json={"company_id": company_id, "invited_email": email, **fields},
    )


def _assert_seed_shape(item: dict[str, Any]) -> None:
    assert set(item) == SEED_FIELDS
    assert isinstance(item["id"], int) and isinstance(item["company_id"], int)
    assert item["user_id"] is None or isinstance(item["user_id"], int)
    assert TIMESTAMP.match(item["created_at"])
    assert item["accepted_at"] is None or TIMESTAMP.match(item["accepted_at"])
    assert isinstance(item["max_ongoing_queries_handled"], int)
    for key in (
        "is_auto_max_number_handled",
        "ability_to_pick_from_queue",
        "is_auto_ability_to_pick_from_queue",
        "is_active",
    ):
        assert isinstance(item[key], bool)
    assert item["role"] in {"agent", "staffing_manager", "manager"}


async def test_create_uses_the_seed_defaults_and_mails_a_single_use_link(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    sent = outbox(client)

    created = await _invite(client, boss, company["id"], "Hans.Schmidt@Domain.com")

    assert created.status_code == 201, created.text
    body = created.json()
    _assert_seed_shape(body)
    assert body["invited_email"] == "hans.schmidt@domain.com"
    assert body["user_id"] is None and body["accepted_at"] is None
    assert body["max_ongoing_queries_handled"] == 1
    assert body["is_auto_max_number_handled"] is True
    assert body["ability_to_pick_from_queue"] is False
    assert body["is_auto_ability_to_pick_from_queue"] is True
    assert body["role"] == "agent" and body["is_active"] is True
    (mail,) = [m for m in sent if m.to == "hans.schmidt@domain.com"]
    link = re.search(r"(\S+)/invitations/(\S+)", mail.text)
    assert link is not None
    assert link.group(1) == client.services.settings.public_url
    async with client.services.db.session() as session:
        stored = await session.get(CompanyUser, body["id"])
        assert stored is not None
        assert stored.invitation_token_hash == auth.digest(link.group(2))


async def test_create_makes_a_protected_personal_queue_and_an_unavailable_state(
    client: Client,
) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)

    created = await _invite(client, boss, company["id"], "sakura@example.com")

    member_id = created.json()["id"]
    async with client.services.db.session() as session:
        queue = (
            await session.execute(select(Queue).where(col(Queue.company_user_id) == member_id))
        ).scalar_one()
        state = (
            await session.execute(
                select(CompanyUserState).where(col(CompanyUserState.company_user_id) == member_id)
            )
        ).scalar_one()
    assert queue.password_hash is not None and queue.deleted_at is None
    assert state.is_available is False
    shown = await client.get(
        f"/api/company-users/{member_id}", boss, params={"with[]": "personalQueue"}
    )
    assert shown.json()["personal_queue"]["has_password"] is True


async def test_seed_fields_in_list_and_one(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, joined = await member(client, boss, company["id"], "agent")

    listed = await client.get("/api/company-users", agent)
    one = await client.get(f"/api/company-users/{joined['id']}", agent)

    assert listed.status_code == 200 and one.status_code == 200
    assert len(listed.json()) == 2
    for item in [*listed.json(), one.json()]:
        _assert_seed_shape(item)
    assert one.json()["user_id"] == agent.user["id"]
    assert TIMESTAMP.match(one.json()["accepted_at"])


async def test_same_email_twice_in_one_company_is_422(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    other = await client.company(boss)
    await _invite(client, boss, company["id"], "twice@example.com")

    again = await _invite(client, boss, company["id"], "TWICE@example.com")
    elsewhere = await _invite(client, boss, other["id"], "twice@example.com")

    assert again.status_code == 422
    assert "invited_email" in again.json()["errors"]
    assert elsewhere.status_code == 201


async def test_bad_fields_are_all_reported(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)

    bad = await _invite(
        client,
        boss,
        company["id"],
        "not-an-email",
        role="owner",
        max_ongoing_queries_handled=0,
        is_active="maybe",
    )

    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {
        "invited_email",
        "role",
        "max_ongoing_queries_handled",
        "is_active",
    }


async def test_unknown_user_id_is_422(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)

    bad = await _invite(client, boss, company["id"], "x@example.com", user_id=999999)

    assert bad.status_code == 422
    assert "user_id" in bad.json()["errors"]


async def test_company_of_another_in_body_is_422(client: Client) -> None:
    boss = await client.person("Boss")
    stranger = await client.person("Stranger")
    company = await client.company(boss)

    bad = await _invite(client, stranger, company["id"], "x@example.com")

    assert bad.status_code == 422
    assert "company_id" in bad.json()["errors"]


async def test_string_booleans_are_accepted(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)

    created = await _invite(
        client, boss, company["id"], "b@example.com", is_active="0", ability_to_pick_from_queue=1
    )

    assert created.status_code == 201, created.text
    assert created.json()["is_active"] is False
    assert created.json()["ability_to_pick_from_queue"] is True


async def test_put_changes_only_what_it_is_given(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    created = (await _invite(client, boss, company["id"], "p@example.com")).json()

    changed = await client.put(
        f"/api/company-users/{created['id']}", boss, json={"max_ongoing_queries_handled": 3}
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["max_ongoing_queries_handled"] == 3
    assert {k: v for k, v in body.items() if k != "max_ongoing_queries_handled"} == {
        k: v for k, v in created.items() if k != "max_ongoing_queries_handled"
    }
    nulled = await client.put(f"/api/company-users/{created['id']}", boss, json={"role": None})
    assert nulled.status_code == 422


async def test_staffing_manager_edits_agents_but_not_managers(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    staffer, _ = await member(client, boss, company["id"], "staffing_manager")
    created = (await _invite(client, staffer, company["id"], "a@example.com")).json()

    promoted = await client.put(
        f"/api/company-users/{created['id']}", staffer, json={"role": "manager"}
    )
    as_manager = await _invite(client, staffer, company["id"], "m@example.com", role="manager")
    limited = await client.put(
        f"/api/company-users/{created['id']}", staffer, json={"is_active": False}
    )

    assert created["role"] == "agent"
    assert promoted.status_code == 403
    assert as_manager.status_code == 403
    assert limited.status_code == 200 and limited.json()["is_active"] is False


async def test_scopes_pick_the_matching_company_users(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, joined = await member(client, boss, company["id"], "agent")
    await _invite(client, boss, company["id"], "idle@example.com", is_active=False)
    await client.put(f"/api/company-user-states/{joined['id']}", agent, json={"is_available": 1})

    def ids(response: Any) -> set[int]:
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()}

    everyone = ids(await client.get("/api/company-users", boss))
    available = ids(await client.get("/api/company-users", boss, params={"scopes[]": "available"}))
    active = ids(await client.get("/api/company-users", boss, params={"scopes": "active"}))
    can_take = ids(await client.get("/api/company-users", boss, params={"scopes": "canTakeQuery"}))
    managers = ids(await client.get("/api/company-users", boss, params={"scopes[]": "manager"}))
    within = ids(
        await client.get(
            "/api/company-users", boss, params={"scopes": "withinMaxOngoingQueryLimits,active"}
        )
    )

    assert len(everyone) == 3
    assert available == {joined["id"]} == can_take
    assert len(active) == 2 and joined["id"] in active
    assert len(managers) == 1 and joined["id"] not in managers
    assert within == active
    bad = await client.get("/api/company-users", boss, params={"scopes": "nope"})
    assert bad.status_code == 422 and "canTakeQuery" in bad.json()["errors"]["scopes"][0]


async def test_company_ids_filter_and_visibility(client: Client) -> None:
    boss = await client.person("Boss")
    stranger = await client.person("Stranger")
    first = await client.company(boss)
    second = await client.company(boss)
    theirs = await client.company(stranger)
    await _invite(client, boss, second["id"], "s@example.com")

    only_second = await client.get(
        "/api/company-users", boss, params={"company_ids[]": [second["id"], theirs["id"]]}
    )
    comma = await client.get(
        "/api/company-users", boss, params={"company_ids": f"{first['id']},{second['id']}"}
    )
    bad = await client.get("/api/company-users", boss, params={"company_ids": "x"})

    assert {i["company_id"] for i in only_second.json()} == {second["id"]}
    assert len(only_second.json()) == 2
    assert len(comma.json()) == 3
    assert bad.status_code == 422
    stranger_sees = await client.get("/api/company-users", stranger)
    assert {i["company_id"] for i in stranger_sees.json()} == {theirs["id"]}


async def test_with_relations_load_on_the_list(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)

    listed = await client.get(
        "/api/company-users",
        boss,
        params={"with": "user,personalQueue,company,skills,answeredQueries"},
    )

    assert listed.status_code == 200, listed.text
    (item,) = listed.json()
    assert item["user"]["id"] == boss.user["id"]
    assert item["personal_queue"]["company_user_id"] == item["id"]
    assert item["company"]["id"] == company["id"]
    assert item["skills"] == [] and item["answered_queries"] == []
    bad = await client.get("/api/company-users", boss, params={"with[]": "queues"})
    assert bad.status_code == 422 and "personalQueue" in bad.json()["errors"]["with"][0]


async def test_remove_is_soft_and_closes_the_personal_queue(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, joined = await member(client, boss, company["id"], "agent")

    removed = await client.delete(f"/api/company-users/{joined['id']}", boss)

    assert removed.status_code == 204
    assert (await client.get(f"/api/company-users/{joined['id']}", boss)).status_code == 404
    assert (await client.get("/api/companies", agent)).json() == []
    async with client.services.db.session() as session:
        stored = await session.get(CompanyUser, joined["id"])
        queue = (
            await session.execute(select(Queue).where(col(Queue.company_user_id) == joined["id"]))
        ).scalar_one()
    assert stored is not None and stored.removed_at is not None
    assert queue.deleted_at is not None
    again = await _invite(client, boss, company["id"], agent.user["email"])
    assert again.status_code == 201


async def test_only_managers_remove_and_the_last_manager_stays(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    staffer, staffer_cu = await member(client, boss, company["id"], "staffing_manager")
    _, agent_cu = await member(client, boss, company["id"], "agent")
    (own,) = (await client.get("/api/company-users", boss, params={"scopes[]": "manager"})).json()

    by_staffer = await client.delete(f"/api/company-users/{agent_cu['id']}", staffer)
    last_manager = await client.delete(f"/api/company-users/{own['id']}", boss)
    demoted = await client.put(f"/api/company-users/{own['id']}", boss, json={"role": "agent"})

    assert by_staffer.status_code == 403
    assert last_manager.status_code == 403
    assert "manager" in last_manager.json()["message"]
    assert demoted.status_code == 403
    assert (await client.delete(f"/api/company-users/{staffer_cu['id']}", boss)).status_code == 204


async def test_changes_tell_the_router(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    told: list[int] = []

    async def changed(company_user_id: int) -> None:
        told.append(company_user_id)

    client.services.hooks.company_user_changed = changed
    created = (await _invite(client, boss, company["id"], "h@example.com")).json()
    await client.put(f"/api/company-users/{created['id']}", boss, json={"is_active": False})
    await client.delete(f"/api/company-users/{created['id']}", boss)

    assert told == [created["id"]] * 3


async def test_answered_queries_lists_each_query_once(client: Client) -> None:
    from models.queries import Query, QueryCompanyUser

    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, joined = await member(client, boss, company["id"])
    async with client.services.db.write() as session:
        queue = (
            await session.execute(select(Queue).where(col(Queue.company_user_id) == joined["id"]))
        ).scalar_one()
        assert queue.id is not None
        query = Query(
            company_id=company["id"],
            queue_id=queue.id,
            source="tel:+4912345",
            email="k@example.com",
            name="K",
            status="done",
            customer_token_hash=auth.digest("x"),
        )
        session.add(query)
        await session.flush()
        assert query.id is not None
        for _ in range(2):
            session.add(QueryCompanyUser(query_id=query.id, company_user_id=joined["id"]))

    shown = await client.get(
        f"/api/company-users/{joined['id']}", agent, params={"with[]": "answeredQueries"}
    )
    counted = await client.get(
        "/api/company-users", agent, params={"withCount[]": "answeredQueries"}
    )

    assert shown.status_code == 200, shown.text
    assert [q["id"] for q in shown.json()["answered_queries"]] == [query.id]
    counts = {item["id"]: item["answered_queries_count"] for item in counted.json()}
    assert counts[joined["id"]] == 1

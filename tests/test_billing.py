"""Billing: active company users now, monthly maxima, and the plan's cap."""

from __future__ import annotations

from typing import Any

import pytest

from models.base import utcnow
from models.companies import ActiveUserMonth
from models.users import User
from server.billing import last_months
from tests.helpers import Client, Person, member

pytestmark = pytest.mark.anyio


async def _make_admin(client: Client, person: Person) -> None:
    async with client.services.db.write() as session:
        user = await session.get(User, person.user["id"])
        assert user is not None
        user.is_admin = True


async def _invite(client: Client, who: Person, company_id: int, email: str, **fields: Any) -> Any:
    return await client.post(
        "/api/company-users",
        who,
        json={"company_id": company_id, "invited_email": email, **fields},
    )


async def test_billing_counts_active_users_and_keeps_the_months_maximum(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    first = (await _invite(client, boss, company["id"], "a@example.com")).json()
    await _invite(client, boss, company["id"], "b@example.com")
    await _invite(client, boss, company["id"], "off@example.com", is_active=False)
    await client.put(f"/api/company-users/{first['id']}", boss, json={"is_active": False})
    await client.delete(f"/api/company-users/{first['id']}", boss)

    billed = await client.get(f"/api/companies/{company['id']}/billing", boss)

    assert billed.status_code == 200, billed.text
    body = billed.json()
    assert body["active_users"] == 2
    assert [m["month"] for m in body["months"]] == last_months(utcnow())
    assert len(body["months"]) == 12
    assert body["months"][-1]["max_active_users"] == 3
    assert all(m["max_active_users"] == 0 for m in body["months"][:-1])


async def test_months_without_changes_keep_the_previous_count(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    months = last_months(utcnow())
    async with client.services.db.write() as session:
        session.add(
            ActiveUserMonth(
                company_id=company["id"],
                month="2000-01",
                max_active_users=9,
                last_active_users=4,
            )
        )
        session.add(
            ActiveUserMonth(
                company_id=company["id"],
                month=months[5],
                max_active_users=7,
                last_active_users=6,
            )
        )

    billed = (await client.get(f"/api/companies/{company['id']}/billing", boss)).json()

    shown = [m["max_active_users"] for m in billed["months"]]
    assert shown[:5] == [4] * 5
    assert shown[5] == 7
    assert shown[6:11] == [6] * 5


async def test_billing_is_for_managers(client: Client) -> None:
    boss = await client.person("Boss")
    stranger = await client.person("Stranger")
    company = await client.company(boss)
    staffer, _ = await member(client, boss, company["id"], "staffing_manager")

    assert (
        await client.get(f"/api/companies/{company['id']}/billing", staffer)
    ).status_code == 403
    assert (
        await client.get(f"/api/companies/{company['id']}/billing", stranger)
    ).status_code == 404


async def test_cap_refuses_creating_and_activating_past_it(client: Client) -> None:
    admin = await client.person("Admin")
    await _make_admin(client, admin)
    boss = await client.person("Boss")
    company = await client.company(boss)
    capped = await client.put(
        f"/api/companies/{company['id']}",
        admin,
        json={"name": company["name"], "max_active_users": 2},
    )
    assert capped.status_code == 200, capped.text
    await _invite(client, boss, company["id"], "two@example.com")

    third = await _invite(client, boss, company["id"], "three@example.com")
    inactive = await _invite(client, boss, company["id"], "spare@example.com", is_active=False)
    activated = await client.put(
        f"/api/company-users/{inactive.json()['id']}", boss, json={"is_active": True}
    )

    assert third.status_code == 403 and "at most 2 active" in third.json()["message"]
    assert inactive.status_code == 201
    assert activated.status_code == 403 and "at most 2" in activated.json()["message"]
    billed = (await client.get(f"/api/companies/{company['id']}/billing", boss)).json()
    assert billed["active_users"] == 2


async def test_racing_creates_never_pass_the_cap(client: Client) -> None:
    import asyncio

    admin = await client.person("Admin")
    await _make_admin(client, admin)
    boss = await client.person("Boss")
    company = await client.company(boss)
    await client.put(
        f"/api/companies/{company['id']}",
        admin,
        json={"name": company["name"], "max_active_users": 3},
    )

    results = await asyncio.gather(
        *(_invite(client, boss, company["id"], f"racer{n}@example.com") for n in range(6))
    )

    assert sorted(r.status_code for r in results) == [201, 201, 403, 403, 403, 403]
    billed = (await client.get(f"/api/companies/{company['id']}/billing", boss)).json()
    assert billed["active_users"] == 3
    assert billed["months"][-1]["max_active_users"] == 3

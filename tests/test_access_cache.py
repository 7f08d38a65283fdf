"""Cached tokens and memberships never outlive a change of who may do what.

Each test first uses the token, so that what it changes afterwards sits in the cache.
"""

from __future__ import annotations

import pytest

from models import changes
from models.changes import Kept
from tests.helpers import PASSWORD, Client, member

pytestmark = pytest.mark.anyio


async def test_a_signed_out_token_is_refused_at_once(client: Client) -> None:
    ana = await client.person("Ana")
    assert (await client.get("/api/me", ana)).status_code == 200

    signed_out = await client.delete("/api/auth/token", ana)
    again = await client.get("/api/me", ana)

    assert signed_out.status_code in {200, 204}, signed_out.text
    assert again.status_code == 401, again.text


async def test_a_revoked_personal_token_is_refused_at_once(client: Client) -> None:
    ana = await client.person("Ana")
    made = await client.post("/api/tokens", ana, json={"name": "script"})
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["token"], made.json()["id"]
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/me", headers=headers)).status_code == 200

    revoked = await client.delete(f"/api/tokens/{token_id}", ana)
    again = await client.get("/api/me", headers=headers)

    assert revoked.status_code == 204, revoked.text
    assert again.status_code == 401, again.text


async def test_a_demoted_manager_is_refused_manager_work_at_once(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    deputy, joined = await member(client, boss, company["id"], "manager")
    skill = {"name": "Billing", "company_id": company["id"]}
    assert (await client.post("/api/skills", deputy, json=skill)).status_code == 201

    demoted = await client.put(f"/api/company-users/{joined['id']}", boss, json={"role": "agent"})
    refused = await client.post("/api/skills", deputy, json={**skill, "name": "Sales"})

    assert demoted.status_code == 200, demoted.text
    assert refused.status_code == 403, refused.text


async def test_a_removed_company_user_no_longer_sees_its_company_at_once(client: Client) -> None:
    boss = await client.person("Boss")
    company = await client.company(boss)
    ana, joined = await member(client, boss, company["id"])
    assert (await client.get(f"/api/companies/{company['id']}", ana)).status_code == 200

    removed = await client.delete(f"/api/company-users/{joined['id']}", boss)
    hidden = await client.get(f"/api/companies/{company['id']}", ana)

    assert removed.status_code in {200, 204}, removed.text
    assert hidden.status_code == 404, hidden.text


def test_an_entry_is_dropped_when_access_changes_or_its_time_is_up() -> None:
    shelf: Kept[str, int] = Kept(ttl=60.0, size=10)
    shelf.put("kept", changes.version(), 1)
    assert shelf.get("kept") == 1

    changes.bump()
    assert shelf.get("kept") is None

    brief: Kept[str, int] = Kept(ttl=0.0, size=10)
    brief.put("gone", changes.version(), 2)
    assert brief.get("gone") is None


def test_an_entry_read_before_a_change_is_never_kept() -> None:
    shelf: Kept[str, int] = Kept(ttl=60.0, size=10)
    read_at = changes.version()

    changes.bump()  # a write committed while the read was in flight
    shelf.put("stale", read_at, 1)

    assert shelf.get("stale") is None


def test_a_full_shelf_lets_its_oldest_entry_go() -> None:
    shelf: Kept[int, int] = Kept(ttl=60.0, size=3)
    for key in range(4):
        shelf.put(key, changes.version(), key)

    assert [shelf.get(key) for key in range(4)] == [None, 1, 2, 3]


async def test_signing_up_and_in_drops_no_one_s_cached_access(client: Client) -> None:
    before = changes.version()

    ana = await client.person("Ana")
    again = await client.post(
        "/api/auth/token", json={"email": ana.user["email"], "password": PASSWORD}
    )

    assert again.status_code == 200, again.text
    assert changes.version() == before

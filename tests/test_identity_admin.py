"""System administrators: granted from the command line, they see and manage every company."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

from server.settings import Settings
from tests.helpers import Client

pytestmark = pytest.mark.anyio

CLI = Path(sys.executable).with_name("connectnow")


async def admin_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """Run `connectnow admin ...` as a separate process against the test database."""
    env = {**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING"}
    done = await anyio.run_process([str(CLI), "admin", *args], env=env, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_granted_administrator_sees_and_manages_every_company(
    client: Client, settings: Settings
) -> None:
    hans = await client.person("Hans")
    sakura = await client.person("Sakura")
    theirs = await client.company(hans)
    own = await client.company(sakura)

    code, out, _ = await admin_cli(settings, "grant", sakura.user["email"].upper())

    assert code == 0
    assert "now a system administrator" in out
    listed = await client.get("/api/companies", sakura)
    assert sorted(c["id"] for c in listed.json()) == sorted([theirs["id"], own["id"]])
    assert (await client.get("/api/me", sakura)).json()["is_admin"] is True
    edited = await client.put(
        f"/api/companies/{theirs['id']}", sakura, json={"name": "Renamed", "max_active_users": 5}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["max_active_users"] == 5


async def test_revoked_administrator_sees_only_its_companies(
    client: Client, settings: Settings
) -> None:
    hans = await client.person("Hans")
    sakura = await client.person("Sakura")
    theirs = await client.company(hans)
    own = await client.company(sakura)
    assert (await admin_cli(settings, "grant", sakura.user["email"]))[0] == 0

    code, out, _ = await admin_cli(settings, "revoke", sakura.user["email"])

    assert code == 0
    assert "no longer" in out
    listed = (await client.get("/api/companies", sakura)).json()
    assert [c["id"] for c in listed] == [own["id"]]
    assert (await client.get(f"/api/companies/{theirs['id']}", sakura)).status_code == 404


async def test_granting_an_unknown_email_fails_and_says_so(settings: Settings) -> None:
    code, _, err = await admin_cli(settings, "grant", "nobody@example.com")

    assert code == 1
    assert "No user has the email nobody@example.com" in err


async def test_only_an_administrator_sets_max_active_users(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)

    refused = await client.put(
        f"/api/companies/{company['id']}", hans, json={"name": "X", "max_active_users": 3}
    )

    assert refused.status_code == 403
    assert "administrator" in refused.json()["message"]

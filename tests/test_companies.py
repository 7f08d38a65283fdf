"""Companies: creation rules, visibility and the seed's sample shape."""

from __future__ import annotations

import re

import pytest

from tests.helpers import Client

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_create_company_makes_caller_its_manager(client: Client) -> None:
    hans = await client.person("Hans")

    created = await client.post(
        "/api/companies",
        hans,
        json={"name": "My Company!", "slug": "My Company!", "logo_url": "https://x.io/l.png"},
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["slug"] == "my-company"
    assert body["query_expiry_time_in_minutes"] == 60
    assert TIMESTAMP.match(body["created_at"])
    listed = await client.get("/api/companies", hans, params={"with[]": "companyUsers"})
    assert listed.status_code == 200
    (company,) = listed.json()
    assert company["company_users"][0]["role"] == "manager"


async def test_company_of_another_is_not_found(client: Client) -> None:
    hans = await client.person("Hans")
    sakura = await client.person("Sakura")
    company = await client.company(hans)

    seen = await client.get(f"/api/companies/{company['id']}", sakura)

    assert seen.status_code == 404
    assert (await client.get("/api/companies", sakura)).json() == []


async def test_duplicate_slug_in_any_case_is_422(client: Client) -> None:
    hans = await client.person("Hans")
    await client.company(hans, slug="Acme")

    again = await client.post(
        "/api/companies",
        hans,
        json={"name": "Other", "slug": "ACME", "logo_url": "https://x.io/l.svg"},
    )

    assert again.status_code == 422
    assert "slug" in again.json()["errors"]


async def test_every_bad_field_is_reported_at_once(client: Client) -> None:
    hans = await client.person("Hans")

    bad = await client.post(
        "/api/companies",
        hans,
        json={"slug": "x", "logo_url": "ftp://x/logo.gif", "query_expiry_time_in_minutes": -1},
    )

    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"name", "logo_url", "query_expiry_time_in_minutes"}


async def test_unknown_with_name_lists_allowed(client: Client) -> None:
    hans = await client.person("Hans")

    bad = await client.get("/api/companies", hans, params={"with": "nope"})

    assert bad.status_code == 422
    assert "companyUsers" in bad.json()["errors"]["with"][0]


async def test_company_matches_the_seed_sample_shape(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans, name="Company Name", slug="company")

    shown = await client.get(f"/api/companies/{company['id']}", hans)

    assert shown.status_code == 200
    body = shown.json()
    seed = {"id", "name", "slug", "logo_url", "created_at", "updated_at"}
    settings = {
        "query_expiry_time_in_minutes",
        "idle_timeout_in_minutes",
        "reminder_interval_in_minutes",
        "max_active_users",
    }
    assert set(body) == seed | settings
    assert isinstance(body["id"], int)
    assert body["slug"] == "company"
    assert TIMESTAMP.match(body["created_at"]) and TIMESTAMP.match(body["updated_at"])
    assert body["max_active_users"] is None

"""Hours over HTTP: windows and blacklist periods, queue status, and the public queue page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import Client, Person, member

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def shared_queue(client: Client, manager: Person, company_id: int, **fields: Any) -> int:
    created = await client.post(
        "/api/queues", manager, json={"name": "Help", "company_id": company_id, **fields}
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def frozen_at(client: Client, moment: datetime) -> None:
    """Move the server's clock so that it reads `moment` now."""
    clock = client.services.clock
    clock.advance((moment - clock.now()).total_seconds())


def window(company_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "company_id": company_id,
        "weekday": 0,
        "opens_at": "09:00",
        "closes_at": "17:00",
        "timezone": "Europe/London",
        **fields,
    }


async def test_window_crud_round_trip(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    queue_id = await shared_queue(client, hans, company["id"])

    created = await client.post("/api/hours", hans, json=window(company["id"], queue_id=queue_id))
    assert created.status_code == 201, created.text
    hour = created.json()
    changed = await client.put(f"/api/hours/{hour['id']}", hans, json={"closes_at": "18:30"})
    listed = await client.get("/api/hours", hans, params={"scopes[queue_id]": str(queue_id)})
    removed = await client.delete(f"/api/hours/{hour['id']}", hans)

    assert hour["queue_id"] == queue_id and hour["weekday"] == 0
    assert hour["timezone"] == "Europe/London" and TIMESTAMP.match(hour["created_at"])
    assert changed.status_code == 200 and changed.json()["closes_at"] == "18:30"
    assert changed.json()["opens_at"] == "09:00"
    assert [h["id"] for h in listed.json()] == [hour["id"]]
    assert removed.status_code == 204
    assert (await client.get(f"/api/hours/{hour['id']}", hans)).status_code == 404


async def test_invalid_time_and_zone_name_their_fields(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)

    bad = await client.post(
        "/api/hours",
        hans,
        json=window(
            company["id"], weekday=7, opens_at="24:00", closes_at="9am", timezone="Mars/Olympus"
        ),
    )

    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"weekday", "opens_at", "closes_at", "timezone"}
    assert "HH:MM" in bad.json()["errors"]["opens_at"][0]


async def test_members_read_hours_and_only_managers_write(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    agent, _ = await member(client, hans, company["id"], "agent")
    stranger = await client.person("Sakura")
    created = await client.post("/api/hours", hans, json=window(company["id"]))
    hour_id = created.json()["id"]

    assert (await client.get(f"/api/hours/{hour_id}", agent)).status_code == 200
    assert (await client.post("/api/hours", agent, json=window(company["id"]))).status_code == 403
    assert (
        await client.put(f"/api/hours/{hour_id}", agent, json={"weekday": 2})
    ).status_code == 403
    assert (await client.delete(f"/api/hours/{hour_id}", agent)).status_code == 403
    assert (await client.get(f"/api/hours/{hour_id}", stranger)).status_code == 404
    assert (await client.get("/api/hours", stranger)).json() == []


async def test_queue_of_another_company_is_422_on_queue_id(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    other = await client.company(hans)
    foreign_queue = await shared_queue(client, hans, other["id"])

    bad = await client.post("/api/hours", hans, json=window(company["id"], queue_id=foreign_queue))

    assert bad.status_code == 422 and list(bad.json()["errors"]) == ["queue_id"]


async def test_blacklist_period_must_end_after_it_starts(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    period = {
        "company_id": company["id"],
        "starts_at": "2026-12-24T00:00:00+01:00",
        "ends_at": "2026-12-26T00:00:00+01:00",
        "reason": "Christmas",
    }

    created = await client.post("/api/blacklist-hours", hans, json=period)
    backwards = await client.post(
        "/api/blacklist-hours", hans, json={**period, "ends_at": "2026-12-23T00:00:00Z"}
    )
    no_offset = await client.post(
        "/api/blacklist-hours", hans, json={**period, "starts_at": "2026-12-24T00:00:00"}
    )

    assert created.status_code == 201, created.text
    assert created.json()["starts_at"] == "2026-12-23T23:00:00.000000Z"
    assert created.json()["queue_id"] is None and created.json()["reason"] == "Christmas"
    assert backwards.status_code == 422 and list(backwards.json()["errors"]) == ["ends_at"]
    assert no_offset.status_code == 422 and "starts_at" in no_offset.json()["errors"]
    moved = await client.put(
        f"/api/blacklist-hours/{created.json()['id']}",
        hans,
        json={"ends_at": "2026-12-20T00:00:00Z"},
    )
    assert moved.status_code == 422 and "ends_at" in moved.json()["errors"]


async def test_status_of_a_queue_without_hours_is_always_open(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    queue_id = await shared_queue(client, hans, company["id"])

    found = await client.get(f"/api/queues/{queue_id}/status", hans)

    assert found.status_code == 200
    assert found.json() == {"is_open": True, "opens_at": None, "closes_at": None}


async def test_status_follows_company_windows_until_the_queue_has_its_own(
    client: Client,
) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    queue_id = await shared_queue(client, hans, company["id"])
    frozen_at(client, datetime(2030, 1, 7, 12, 0, tzinfo=UTC))  # a Monday, London on GMT
    await client.post("/api/hours", hans, json=window(company["id"]))

    by_company = await client.get(f"/api/queues/{queue_id}/status", hans)
    own = window(company["id"], queue_id=queue_id, weekday=1)
    assert (await client.post("/api/hours", hans, json=own)).status_code == 201
    by_queue = await client.get(f"/api/queues/{queue_id}/status", hans)

    assert by_company.json() == {
        "is_open": True,
        "opens_at": "2030-01-14T09:00:00.000000Z",
        "closes_at": "2030-01-07T17:00:00.000000Z",
    }
    assert by_queue.json() == {
        "is_open": False,
        "opens_at": "2030-01-08T09:00:00.000000Z",
        "closes_at": "2030-01-08T17:00:00.000000Z",
    }


async def test_company_blacklist_closes_its_queues(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    queue_id = await shared_queue(client, hans, company["id"])
    now = client.services.clock.now()
    period = {
        "company_id": company["id"],
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
    }

    closed = await client.post("/api/blacklist-hours", hans, json=period)
    status = await client.get(f"/api/queues/{queue_id}/status", hans)

    assert closed.status_code == 201, closed.text
    assert status.json()["is_open"] is False
    assert status.json()["opens_at"] == closed.json()["ends_at"]


async def test_public_queue_shows_company_password_and_opening(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans, name="Acme", logo_url="https://acme.io/logo.png")
    queue_id = await shared_queue(client, hans, company["id"], password="open sesame 123")
    _, agent_user = await member(client, hans, company["id"], "agent")
    personal = (await client.get(f"/api/company-users/{agent_user['id']}/queues", hans)).json()[
        "personal_queue"
    ]

    shown = await client.get(f"/api/public/queues/{queue_id}")
    personal_shown = await client.get(f"/api/public/queues/{personal['id']}")

    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "id": queue_id,
        "name": "Help",
        "company": {"name": "Acme", "logo_url": "https://acme.io/logo.png"},
        "has_password": True,
        "is_open": True,
        "opens_at": None,
        "closes_at": None,
    }
    assert personal_shown.status_code == 200 and personal_shown.json()["has_password"] is True


async def test_public_queue_hides_inactive_deleted_and_gone(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    inactive = await shared_queue(client, hans, company["id"], is_active=False)
    deleted = await shared_queue(client, hans, company["id"])
    await client.delete(f"/api/queues/{deleted}", hans)
    other = await client.company(hans)
    orphan = await shared_queue(client, hans, other["id"])
    await client.delete(f"/api/companies/{other['id']}", hans)

    for queue_id in (inactive, deleted, orphan, 999999):
        assert (await client.get(f"/api/public/queues/{queue_id}")).status_code == 404

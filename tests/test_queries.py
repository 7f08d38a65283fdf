"""Queries: opening one as a customer, and reading them as a member."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from server import hours
from tests.helpers import Client
from tests.test_queries_setup import (
    agent,
    desk,
    open_query,
    personal_queue_of,
    queue,
    record_hooks,
)

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_open_query_answers_201_with_a_token_and_waits(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)

    created = await client.post(
        "/api/queries",
        json={
            "source": "mailto:kim@example.com",
            "email": "kim@example.com",
            "name": "Kim",
            "surname": "Lee",
            "queue_id": place.queue_id,
        },
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "waiting"
    assert body["is_link"] is True
    assert body["company_id"] == place.company_id
    assert len(body["customer_token"]) > 20
    assert TIMESTAMP.match(body["created_at"])
    assert hooks.named("query_opened") == [(body["id"], place.company_id)]
    stays = await client.get(f"/api/queries/{body['id']}/queues", place.manager)
    assert stays.status_code == 200
    (entry,) = stays.json()
    assert entry["queue_id"] == place.queue_id
    assert entry["entered_at"] == body["created_at"]
    assert entry["left_at"] is None


async def test_open_query_reports_every_bad_field(client: Client) -> None:
    place = await desk(client)

    created = await client.post(
        "/api/queries",
        json={"source": "has space", "email": "not-an-email", "queue_id": place.queue_id},
    )

    assert created.status_code == 422
    assert set(created.json()["errors"]) >= {"source", "email", "name"}


async def test_link_source_must_be_a_url_unless_is_link_is_false(client: Client) -> None:
    place = await desk(client)
    payload = {"source": "ticket-42", "email": "kim@example.com", "name": "Kim"}

    as_link = await client.post("/api/queries", json={**payload, "queue_id": place.queue_id})
    not_link = await client.post(
        "/api/queries", json={**payload, "queue_id": place.queue_id, "is_link": "0"}
    )

    assert as_link.status_code == 422
    assert not_link.status_code == 201, not_link.text
    assert not_link.json()["is_link"] is False


async def test_unusual_valid_email_and_unicode_name_round_trip(client: Client) -> None:
    place = await desk(client)

    opened = await open_query(
        client, place.queue_id, email="o'brien+tag@sub.example.co.uk", name="Zoë 🌸 Ōta"
    )

    assert opened["email"] == "o'brien+tag@sub.example.co.uk"
    assert opened["name"] == "Zoë 🌸 Ōta"


@pytest.mark.parametrize("state", ["unknown", "inactive", "deleted-company"])
async def test_query_on_a_queue_that_takes_none_is_422(client: Client, state: str) -> None:
    place = await desk(client)
    queue_id = 999_999
    if state == "inactive":
        queue_id = await queue(client, place.company_id, is_active=False)
    if state == "deleted-company":
        queue_id = place.queue_id
        deleted = await client.delete(f"/api/companies/{place.company_id}", place.manager)
        assert deleted.status_code == 204

    created = await client.post(
        "/api/queries",
        json={
            "source": "tel:+4912345",
            "email": "k@example.com",
            "name": "K",
            "queue_id": queue_id,
        },
    )

    assert created.status_code == 422
    assert "queue_id" in created.json()["errors"]


async def test_password_protected_queue_needs_the_right_password(client: Client) -> None:
    place = await desk(client)
    locked = await queue(client, place.company_id, password="open sesame 123")
    payload = {"source": "tel:+4912345", "email": "k@example.com", "name": "K", "queue_id": locked}

    without = await client.post("/api/queries", json=payload)
    wrong = await client.post("/api/queries", json={**payload, "password": "wrong password"})
    right = await client.post("/api/queries", json={**payload, "password": "open sesame 123"})

    assert without.status_code == 403
    assert wrong.status_code == 403
    assert right.status_code == 201


async def test_personal_queue_refuses_the_public_from_the_start(client: Client) -> None:
    place = await desk(client)
    ana = await agent(client, place.company_id)
    personal = await personal_queue_of(client, ana.id)

    created = await client.post(
        "/api/queries",
        json={
            "source": "tel:+4912345",
            "email": "k@example.com",
            "name": "K",
            "queue_id": personal,
        },
    )

    assert created.status_code == 403


async def test_members_see_queries_of_their_company_only(client: Client) -> None:
    place = await desk(client)
    other = await desk(client)
    mine = await open_query(client, place.queue_id)
    await open_query(client, other.queue_id)

    listed = await client.get("/api/queries", place.manager)
    foreign = await client.get(f"/api/queries/{mine['id']}", other.manager)

    assert listed.status_code == 200
    assert [q["id"] for q in listed.json()] == [mine["id"]]
    assert listed.json()[0]["email"] == "customer@example.com"
    assert foreign.status_code == 404
    assert (await client.get("/api/queries")).status_code == 401


async def test_query_expands_its_relations(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, name="Ana")
    opened = await open_query(client, place.queue_id)
    answered = await client.post(f"/api/queries/{opened['id']}/answer", ana.person)
    assert answered.status_code == 200, answered.text
    noted = await client.post(
        "/api/query-notes", ana.person, json={"query_id": opened["id"], "body": "Asked twice"}
    )
    assert noted.status_code == 201

    shown = await client.get(
        f"/api/queries/{opened['id']}",
        place.manager,
        params={"with": "companyUsers,queues,latestQueue,notes"},
    )

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert [cu["id"] for cu in body["company_users"]] == [ana.id]
    assert body["queues"][0]["answered_by"] == ana.id
    assert body["latest_queue"]["queue_id"] == place.queue_id
    assert [n["body"] for n in body["notes"]] == ["Asked twice"]
    assert hooks.named("note_added") == [(opened["id"], noted.json()["id"])]


async def test_scopes_filter_by_status_company_and_answerer(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id)
    first = await open_query(client, place.queue_id)
    second = await open_query(client, place.queue_id)
    assert (await client.post(f"/api/queries/{first['id']}/answer", ana.person)).status_code == 200

    def ids(response: object) -> list[int]:
        import httpx

        assert isinstance(response, httpx.Response) and response.status_code == 200
        return [q["id"] for q in response.json()]

    ongoing = await client.get("/api/queries", place.manager, params={"scopes": "ongoing"})
    by_agent = await client.get(
        "/api/queries", place.manager, params={"scopes[company_user_id]": str(ana.id)}
    )
    by_company = await client.get(
        "/api/queries", place.manager, params={"scopes": f"company_id:{place.company_id}"}
    )
    completed = await client.get("/api/queries", place.manager, params={"scopes[]": "completed"})
    unknown = await client.get("/api/queries", place.manager, params={"scopes": "nope"})

    assert ids(ongoing) == [first["id"]]
    assert ids(by_agent) == [first["id"]]
    assert ids(by_company) == [first["id"], second["id"]]
    assert ids(completed) == []
    assert unknown.status_code == 422


async def test_closed_queue_refuses_with_when_it_opens(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = await desk(client)
    opens = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)

    async def closed(session: object, queue: object, now: datetime) -> hours.QueueStatus:
        return hours.QueueStatus(is_open=False, opens_at=opens, closes_at=None)

    monkeypatch.setattr(hours, "queue_status", closed)

    created = await client.post(
        "/api/queries",
        json={
            "source": "tel:+4912",
            "email": "k@example.com",
            "name": "K",
            "queue_id": place.queue_id,
        },
    )

    assert created.status_code == 403
    assert created.json()["opens_at"] == "2030-01-07T08:00:00.000000Z"
    assert (await client.get("/api/queries", place.manager)).json() == []

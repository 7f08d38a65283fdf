"""Query notes: who may write and read them."""

from __future__ import annotations

import pytest

from tests.helpers import Client
from tests.test_queries_setup import agent, desk, open_query, record_hooks

pytestmark = pytest.mark.anyio


async def test_members_add_and_read_notes_of_their_queries(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id)
    first = await open_query(client, place.queue_id)
    second = await open_query(client, place.queue_id)

    added = await client.post(
        "/api/query-notes", ana.person, json={"query_id": first["id"], "body": "Rang back 📞"}
    )
    await client.post("/api/query-notes", ana.person, json={"query_id": second["id"], "body": "x"})
    filtered = await client.get(
        "/api/query-notes", place.manager, params={"query_id": first["id"]}
    )

    assert added.status_code == 201, added.text
    assert added.json()["company_user_id"] == ana.id
    assert [n["body"] for n in filtered.json()] == ["Rang back 📞"]
    assert hooks.named("note_added")[0] == (first["id"], added.json()["id"])


async def test_outsiders_neither_add_nor_read_notes(client: Client) -> None:
    place = await desk(client)
    other = await desk(client)
    opened = await open_query(client, place.queue_id)
    await client.post(
        "/api/query-notes", place.manager, json={"query_id": opened["id"], "body": "Private"}
    )

    added = await client.post(
        "/api/query-notes", other.manager, json={"query_id": opened["id"], "body": "Hi"}
    )
    listed = await client.get("/api/query-notes", other.manager)
    bad_filter = await client.get("/api/query-notes", other.manager, params={"query_id": "x"})

    assert added.status_code == 422
    assert "query_id" in added.json()["errors"]
    assert listed.json() == []
    assert bad_filter.status_code == 422


async def test_empty_note_is_422(client: Client) -> None:
    place = await desk(client)
    opened = await open_query(client, place.queue_id)

    added = await client.post(
        "/api/query-notes", place.manager, json={"query_id": opened["id"], "body": ""}
    )

    assert added.status_code == 422
    assert "body" in added.json()["errors"]

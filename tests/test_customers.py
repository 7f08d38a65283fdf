"""The customer's side: following a query by its token, cancelling, rating."""

from __future__ import annotations

import pytest

from tests.helpers import Client
from tests.test_queries_setup import agent, customer, desk, open_query, record_hooks

pytestmark = pytest.mark.anyio


async def test_customer_sees_place_in_line_and_who_answered(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, name="Ana Maria")
    first = await open_query(client, place.queue_id)
    second = await open_query(client, place.queue_id)

    before = await client.get(f"/api/queries/{second['id']}/customer", headers=customer(second))
    assert (await client.post(f"/api/queries/{first['id']}/answer", ana.person)).status_code == 200
    after = await client.get(f"/api/queries/{second['id']}/customer", headers=customer(second))
    answered = await client.get(f"/api/queries/{first['id']}/customer", headers=customer(first))

    assert before.status_code == 200, before.text
    assert before.json()["place_in_line"] == 2
    assert before.json()["status"] == "waiting"
    assert after.json()["place_in_line"] == 1
    assert answered.json()["status"] == "ongoing"
    assert answered.json()["answered_by_name"] == "Ana"
    assert answered.json()["place_in_line"] is None
    assert "email" not in answered.json()


async def test_estimated_wait_follows_the_pace_of_answers(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, max_ongoing=5)
    answered = [await open_query(client, place.queue_id) for _ in range(3)]
    waiting = await open_query(client, place.queue_id)
    for opened in answered:
        got = await client.post(f"/api/queries/{opened['id']}/answer", ana.person)
        assert got.status_code == 200
        client.services.clock.advance(60)

    seen = await client.get(f"/api/queries/{waiting['id']}/customer", headers=customer(waiting))

    assert seen.json()["place_in_line"] == 1
    assert seen.json()["estimated_wait_seconds"] == 60


async def test_customer_token_is_required_and_must_match(client: Client) -> None:
    place = await desk(client)
    mine = await open_query(client, place.queue_id)
    theirs = await open_query(client, place.queue_id)
    path = f"/api/queries/{mine['id']}/customer"

    missing = await client.get(path)
    wrong = await client.get(path, headers=customer(theirs))
    cancel_wrong = await client.post(f"/api/queries/{mine['id']}/cancel", headers=customer(theirs))

    assert missing.status_code == 401
    assert wrong.status_code == 404
    assert cancel_wrong.status_code == 404


async def test_customer_cancels_only_while_waiting(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id)
    waiting = await open_query(client, place.queue_id)
    taken = await open_query(client, place.queue_id)
    assert (await client.post(f"/api/queries/{taken['id']}/answer", ana.person)).status_code == 200

    cancelled = await client.post(
        f"/api/queries/{waiting['id']}/cancel", headers=customer(waiting)
    )
    too_late = await client.post(f"/api/queries/{taken['id']}/cancel", headers=customer(taken))

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert too_late.status_code == 403
    assert hooks.named("query_cancelled") == [(waiting["id"],)]
    stays = await client.get(f"/api/queries/{waiting['id']}/queues", place.manager)
    assert stays.json()[0]["left_at"] is not None


async def test_rating_once_when_done_counts_for_who_marked_it_done(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id)
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}"
    early = await client.post(f"{path}/rating", headers=customer(opened), json={"score": 5})
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200
    assert (await client.post(f"{path}/mark-as-done", ana.person)).status_code == 200

    out_of_range = await client.post(f"{path}/rating", headers=customer(opened), json={"score": 6})
    rated = await client.post(
        f"{path}/rating", headers=customer(opened), json={"score": 4, "comment": "Quick, thanks"}
    )
    twice = await client.post(f"{path}/rating", headers=customer(opened), json={"score": 1})

    assert early.status_code == 403
    assert out_of_range.status_code == 422
    assert rated.status_code == 201, rated.text
    assert rated.json()["score"] == 4
    assert twice.status_code == 403
    listed = await client.get("/api/ratings", place.manager)
    (rating,) = listed.json()
    assert (rating["company_user_id"], rating["queue_id"], rating["comment"]) == (
        ana.id,
        place.queue_id,
        "Quick, thanks",
    )
    seen = await client.get(f"{path}/customer", headers=customer(opened))
    assert seen.json()["is_rated"] is True

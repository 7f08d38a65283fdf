"""Ratings: members read them; each rating may move the rated agent's limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.company_users import LimitChange
from models.queries import Query, Rating
from server import self_management
from tests.helpers import Client
from tests.test_queries_setup import (
    Desk,
    agent,
    customer,
    desk,
    member_row,
    open_query,
    queue,
    record_hooks,
)

pytestmark = pytest.mark.anyio


async def add_ratings(
    client: Client, place: Desk, company_user_id: int, scores: list[int]
) -> None:
    """Store done queries of the company user rated with `scores`, one second apart."""
    clock = client.services.clock
    async with client.services.db.write() as session:
        for score in scores:
            clock.advance(1)
            now = clock.now()
            query = Query(
                company_id=place.company_id,
                queue_id=place.queue_id,
                source="tel:+4912345",
                email="k@example.com",
                name="K",
                status="done",
                holder_company_user_id=company_user_id,
                customer_token_hash="-",
                created_at=now - timedelta(minutes=5),
                done_at=now,
            )
            session.add(query)
            await session.flush()
            assert query.id is not None
            session.add(
                Rating(
                    query_id=query.id,
                    company_id=place.company_id,
                    company_user_id=company_user_id,
                    queue_id=place.queue_id,
                    score=score,
                    created_at=now,
                )
            )


async def rate_each(client: Client, place: Desk, company_user_id: int, scores: list[int]) -> None:
    """Rate one query at a time and review after each, as the rating endpoint does."""
    for score in scores:
        await add_ratings(client, place, company_user_id, [score])
        await self_management.review(
            client.services.db, company_user_id, now=client.services.clock.now()
        )


async def changes_of(client: Client, company_user_id: int) -> list[LimitChange]:
    async with client.services.db.session() as session:
        found = await session.execute(
            select(LimitChange)
            .where(col(LimitChange.company_user_id) == company_user_id)
            .order_by(col(LimitChange.id))
        )
        return list(found.scalars())


async def test_members_list_ratings_by_company_user_and_queue(client: Client) -> None:
    place = await desk(client)
    other = await desk(client)
    ana = await agent(client, place.company_id, name="Ana")
    ben = await agent(client, place.company_id, name="Ben")
    await add_ratings(client, place, ana.id, [5, 4])
    await add_ratings(client, place, ben.id, [2])

    for_ana = await client.get(
        "/api/ratings", place.manager, params={"scopes[company_user_id]": str(ana.id)}
    )
    for_queue = await client.get(
        "/api/ratings", ben.person, params={"scopes": f"queue_id:{place.queue_id}"}
    )
    outsider = await client.get("/api/ratings", other.manager)

    assert for_ana.status_code == 200, for_ana.text
    assert [r["score"] for r in for_ana.json()] == [5, 4]
    assert len(for_queue.json()) == 3
    assert outsider.json() == []


async def test_twenty_excellent_ratings_raise_the_limit_by_one(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, max_ongoing=1)
    await add_ratings(client, place, ana.id, [5] * 19)
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}"
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200
    assert (await client.post(f"{path}/mark-as-done", ana.person)).status_code == 200

    rated = await client.post(f"{path}/rating", headers=customer(opened), json={"score": 4})

    assert rated.status_code == 201
    assert (await member_row(client, ana.id)).max_ongoing_queries_handled == 2
    (change,) = await changes_of(client, ana.id)
    assert (change.field_name, change.old_value, change.new_value) == (
        "max_ongoing_queries_handled",
        "1",
        "2",
    )
    assert "4.95" in change.reason
    assert hooks.named("company_user_changed") == [(ana.id,)]


async def test_nineteen_ratings_change_nothing(client: Client) -> None:
    place = await desk(client)
    ana = await agent(client, place.company_id, max_ongoing=2)

    await rate_each(client, place, ana.id, [5] * 19)

    assert (await member_row(client, ana.id)).max_ongoing_queries_handled == 2
    assert await changes_of(client, ana.id) == []


async def test_poor_ratings_lower_the_limit_and_middling_ones_keep_it(client: Client) -> None:
    place = await desk(client)
    ana = await agent(client, place.company_id, name="Ana", max_ongoing=3)
    ben = await agent(client, place.company_id, name="Ben", max_ongoing=3)

    await rate_each(client, place, ana.id, [3, 2] * 10)
    await rate_each(client, place, ben.id, [3, 5] * 10)

    assert (await member_row(client, ana.id)).max_ongoing_queries_handled == 2
    assert (await member_row(client, ben.id)).max_ongoing_queries_handled == 3


async def test_limit_stays_within_one_and_five(client: Client) -> None:
    place = await desk(client)
    top = await agent(client, place.company_id, name="Top", max_ongoing=5)
    low = await agent(client, place.company_id, name="Low", max_ongoing=1)

    await rate_each(client, place, top.id, [5] * 20)
    await rate_each(client, place, low.id, [1] * 20)

    assert (await member_row(client, top.id)).max_ongoing_queries_handled == 5
    assert (await member_row(client, low.id)).max_ongoing_queries_handled == 1
    assert await changes_of(client, top.id) == []
    assert await changes_of(client, low.id) == []


async def test_after_a_change_the_next_needs_twenty_new_ratings(client: Client) -> None:
    place = await desk(client)
    ana = await agent(client, place.company_id, max_ongoing=1)
    await rate_each(client, place, ana.id, [5] * 20)
    assert (await member_row(client, ana.id)).max_ongoing_queries_handled == 2

    await rate_each(client, place, ana.id, [5] * 19)
    after_nineteen = (await member_row(client, ana.id)).max_ongoing_queries_handled
    await rate_each(client, place, ana.id, [5])

    assert after_nineteen == 2
    assert (await member_row(client, ana.id)).max_ongoing_queries_handled == 3
    assert len(await changes_of(client, ana.id)) == 2


async def test_manual_limits_are_left_alone(client: Client) -> None:
    place = await desk(client)
    ana = await agent(
        client,
        place.company_id,
        max_ongoing=1,
        is_auto_max_number_handled=False,
        is_auto_ability_to_pick_from_queue=False,
    )

    await rate_each(client, place, ana.id, [5] * 50)

    row = await member_row(client, ana.id)
    assert (row.max_ongoing_queries_handled, row.ability_to_pick_from_queue) == (1, False)


async def test_fifty_good_ratings_grant_pick_mode_and_poor_ones_remove_it(client: Client) -> None:
    place = await desk(client)
    ana = await agent(client, place.company_id, name="Ana", is_auto_max_number_handled=False)
    ben = await agent(
        client,
        place.company_id,
        name="Ben",
        ability_to_pick_from_queue=True,
        is_auto_max_number_handled=False,
    )

    await add_ratings(client, place, ana.id, [4] * 49)
    await rate_each(client, place, ana.id, [4])
    await add_ratings(client, place, ben.id, [2, 3] * 24 + [3])
    await rate_each(client, place, ben.id, [2])

    assert (await member_row(client, ana.id)).ability_to_pick_from_queue is True
    assert (await member_row(client, ben.id)).ability_to_pick_from_queue is False
    (change,) = await changes_of(client, ben.id)
    assert (change.field_name, change.new_value) == ("ability_to_pick_from_queue", "false")


async def test_a_rating_counts_for_the_queue_it_was_done_on(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    target = await queue(client, place.company_id)
    ana = await agent(client, place.company_id)
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}"
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200
    assert (
        await client.post(f"{path}/transfer", ana.person, json={"queue_id": target})
    ).status_code == 200
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200
    assert (await client.post(f"{path}/mark-as-done", ana.person)).status_code == 200

    rated = await client.post(f"{path}/rating", headers=customer(opened), json={"score": 3})

    assert rated.status_code == 201
    listed = await client.get("/api/ratings", place.manager, params={"scopes[queue_id]": target})
    assert [r["query_id"] for r in listed.json()] == [opened["id"]]
    shown = await client.get(path, place.manager, params={"with[]": "companyUsers"})
    assert [cu["id"] for cu in shown.json()["company_users"]] == [ana.id]

"""The list conventions over companies and users: with, withCount, scopes, dates and pages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from sqlmodel import col

from models.base import format_timestamp
from models.companies import Company
from models.queues import Queue
from models.users import User
from tests.helpers import Client, Person

pytestmark = pytest.mark.anyio

PAGE_KEYS = {
    "current_page",
    "data",
    "first_page_url",
    "from",
    "next_page_url",
    "path",
    "per_page",
    "prev_page_url",
    "to",
}


async def three_companies(client: Client) -> tuple[Person, list[int]]:
    hans = await client.person("Hans")
    ids = [(await client.company(hans))["id"] for _ in range(3)]
    return hans, ids


async def set_created(client: Client, company_id: int, when: datetime) -> None:
    async with client.services.db.write() as session:
        await session.execute(
            update(Company).where(col(Company.id) == company_id).values(created_at=when)
        )


async def make_admin(client: Client, person: Person) -> None:
    async with client.services.db.write() as session:
        await session.execute(
            update(User).where(col(User.id) == person.user["id"]).values(is_admin=True)
        )


@pytest.mark.parametrize(
    "query",
    [
        "with[]=users&with[]=queues",
        "with=users&with=queues",
        "with=users,queues",
        "with[0]=users&with[1]=queues",
    ],
)
async def test_with_in_every_form(client: Client, query: str) -> None:
    hans = await client.person("Hans")
    await client.company(hans)

    listed = await client.get(f"/api/companies?{query}", hans)

    assert listed.status_code == 200, listed.text
    (company,) = listed.json()
    assert [u["id"] for u in company["users"]] == [hans.user["id"]]
    assert len(company["queues"]) == 1
    assert "skills" not in company


async def test_with_dot_notation_loads_nested_relations(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)

    listed = await client.get("/api/companies", hans, params={"with[]": "users.companies"})

    assert listed.status_code == 200, listed.text
    (shown,) = listed.json()
    (user,) = shown["users"]
    assert [c["id"] for c in user["companies"]] == [company["id"]]


async def test_with_dot_notation_through_company_users(client: Client) -> None:
    hans = await client.person("Hans")
    await client.company(hans)

    listed = await client.get(
        "/api/companies", hans, params={"with[]": ["companyUsers.user", "users"]}
    )

    assert listed.status_code == 200, listed.text
    (shown,) = listed.json()
    (member,) = shown["company_users"]
    assert member["user"]["id"] == hans.user["id"]
    assert [u["id"] for u in shown["users"]] == [hans.user["id"]]


async def test_with_count_adds_a_count_field(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    async with client.services.db.write() as session:
        session.add(Queue(name="Billing", company_id=company["id"]))

    listed = await client.get("/api/companies", hans, params={"withCount[]": "queues"})

    assert listed.status_code == 200
    (shown,) = listed.json()
    assert shown["queues_count"] == 2
    assert "queues" not in shown
    bad = await client.get("/api/companies", hans, params={"withCount[]": "nope"})
    assert bad.status_code == 422
    assert "queues" in bad.json()["errors"]["withCount"][0]


async def test_unknown_scope_lists_the_allowed_ones(client: Client) -> None:
    hans = await client.person("Hans")

    bad = await client.get("/api/companies", hans, params={"scopes[]": "bogus"})

    assert bad.status_code == 422
    message = bad.json()["errors"]["scopes"][0]
    assert "'bogus'" in message and "latest" in message


async def test_latest_lists_newest_first(client: Client) -> None:
    hans, ids = await three_companies(client)

    oldest_first = await client.get("/api/companies", hans)
    newest_first = await client.get("/api/companies", hans, params={"scopes": "latest"})

    assert [c["id"] for c in oldest_first.json()] == ids
    assert [c["id"] for c in newest_first.json()] == ids[::-1]


async def test_before_and_after_cover_whole_utc_days(client: Client) -> None:
    hans, (first, second, third) = await three_companies(client)
    await set_created(client, first, datetime(2024, 1, 1, 23, 59, 59, tzinfo=UTC))
    await set_created(client, second, datetime(2024, 1, 2, 0, 0, 0, tzinfo=UTC))
    await set_created(client, third, datetime(2024, 1, 2, 23, 59, 59, 999000, tzinfo=UTC))

    def ids(response: object) -> list[int]:
        return [c["id"] for c in response.json()]  # type: ignore[attr-defined]

    after = await client.get("/api/companies", hans, params={"after": "2024-01-02"})
    before = await client.get("/api/companies", hans, params={"before": "2024-01-01"})
    day = await client.get(
        "/api/companies", hans, params={"after": "2024-01-02", "before": "2024-01-02"}
    )
    instant = await client.get(
        "/api/companies", hans, params={"before": "2024-01-02T02:00:00+02:00"}
    )

    assert ids(after) == [second, third]
    assert ids(before) == [first]
    assert ids(day) == [second, third]
    assert ids(instant) == [first, second]


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-01-01T25:00", "1"])
async def test_garbage_dates_are_422(client: Client, value: str) -> None:
    hans = await client.person("Hans")

    bad = await client.get("/api/companies", hans, params={"before": value, "after": value})

    assert bad.status_code == 422
    assert "ISO 8601" in bad.json()["errors"]["before"][0]


async def test_paginated_object_has_exactly_the_documented_keys(client: Client) -> None:
    hans, ids = await three_companies(client)

    first = await client.get("/api/companies", hans, params={"per_page": 2})
    last = await client.get("/api/companies", hans, params={"page": 2, "per_page": 2})
    beyond = await client.get("/api/companies", hans, params={"page": 9})

    assert first.status_code == 200
    body = first.json()
    assert set(body) == PAGE_KEYS
    assert [c["id"] for c in body["data"]] == ids[:2]
    assert (body["current_page"], body["from"], body["to"], body["per_page"]) == (1, 1, 2, 2)
    assert body["prev_page_url"] is None
    assert "page=2" in body["next_page_url"] and "page=1" in body["first_page_url"]
    assert body["path"].endswith("/api/companies")
    tail = last.json()
    assert [c["id"] for c in tail["data"]] == ids[2:]
    assert (tail["from"], tail["to"], tail["next_page_url"]) == (3, 3, None)
    assert "page=1" in tail["prev_page_url"]
    assert beyond.json()["data"] == [] and beyond.json()["per_page"] == 15
    assert first.headers["X-Total-Count"] == "3"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "250"}, "per_page"),
        ({"per_page": "x"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
    ],
)
async def test_bad_page_parameters_are_422(
    client: Client, params: dict[str, str], field: str
) -> None:
    hans = await client.person("Hans")

    bad = await client.get("/api/companies", hans, params=params)

    assert bad.status_code == 422
    assert field in bad.json()["errors"]


async def test_plain_list_is_capped_with_total_and_link(client: Client) -> None:
    hans = await client.person("Hans")
    await make_admin(client, hans)
    async with client.services.db.write() as session:
        session.add_all(
            Company(name=f"Bulk {n}", slug=f"bulk-{n}", logo_url="https://x.io/l.png")
            for n in range(1005)
        )

    listed = await client.get("/api/companies", hans)

    assert listed.status_code == 200
    assert len(listed.json()) == 1000
    assert listed.headers["X-Total-Count"] == "1005"
    link = listed.headers["Link"]
    assert link.endswith('>; rel="next"')
    rest = await client.get(link[1 : link.index(">")], hans)
    assert rest.status_code == 200
    assert [c["name"] for c in rest.json()["data"]] == [f"Bulk {n}" for n in range(1000, 1005)]


async def test_short_plain_list_has_total_and_no_link(client: Client) -> None:
    hans, _ = await three_companies(client)

    listed = await client.get("/api/companies", hans)

    assert listed.headers["X-Total-Count"] == "3"
    assert "Link" not in listed.headers


def test_timestamps_read_as_the_seed_writes_them_whatever_their_zone() -> None:
    draw = random.Random(5)
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
    for _ in range(2000):
        naive = datetime(2000, 1, 1) + timedelta(seconds=draw.uniform(0, 60 * 365 * 86400))
        moment = naive.replace(tzinfo=draw.choice(zones))
        expected = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        assert format_timestamp(moment) == expected
        assert format_timestamp(naive) == naive.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

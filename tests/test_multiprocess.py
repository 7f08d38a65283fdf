"""Several real server processes over one PostgreSQL database and one Redis.

Each test starts its own processes on a fresh database and Redis prefix (tests/live.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from httpx_ws import AsyncWebSocketSession

from tests.helpers import Client, Person
from tests.live import Cluster, LiveServer, cluster

pytestmark = [pytest.mark.anyio, pytest.mark.multiprocess]

DEADLINE = 15.0
T = TypeVar("T")


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Two processes, A and B, sharing the database and Redis."""
    async with cluster(2, tmp_path) as running:
        yield running


async def accepted_member(
    live: Cluster, client: Client, manager: Person, company_id: int, **fields: Any
) -> tuple[Person, dict[str, Any]]:
    """A new person made an accepted company user. The invitation link travels by email,
    which these processes only log, so the acceptance is written to the database."""
    person = await client.person(fields.pop("name", "Agent"))
    created = await client.post(
        "/api/company-users",
        manager,
        json={"company_id": company_id, "invited_email": person.user["email"], **fields},
    )
    assert created.status_code == 201, created.text
    company_user = dict(created.json())
    await live.sql(
        "UPDATE company_users SET user_id = $1, accepted_at = now() at time zone 'utc', "
        "invitation_token_hash = NULL WHERE id = $2",
        person.user["id"],
        company_user["id"],
    )
    return person, company_user


async def frame(session: AsyncWebSocketSession) -> dict[str, Any]:
    received = await session.receive_json(timeout=DEADLINE)
    assert isinstance(received, dict)
    return received


async def until(session: AsyncWebSocketSession, frame_type: str, **match: Any) -> dict[str, Any]:
    """The next frame of that type whose fields match, within the deadline."""
    with anyio.fail_after(DEADLINE):
        while True:
            found = await frame(session)
            if found["type"] == frame_type and all(found.get(k) == v for k, v in match.items()):
                return found


async def offered(session: AsyncWebSocketSession, query_id: int, hello: dict[str, Any]) -> None:
    """Wait until the console holds an offer of the query (in its hello or a frame)."""
    if any(offer["query"]["id"] == query_id for offer in hello["offers"]):
        return
    with anyio.fail_after(DEADLINE):
        while True:
            found = await frame(session)
            if found["type"] == "query.offered" and found["query"]["id"] == query_id:
                return


async def go_available(session: AsyncWebSocketSession, who: Person) -> dict[str, Any]:
    await session.send_json({"type": "auth", "token": who.token})
    hello = await frame(session)
    assert hello["type"] == "hello", hello
    await session.send_json({"type": "state.set", "is_available": True})
    await until(session, "state.changed")
    return hello


async def shared_queue(client: Client, boss: Person, company_id: int, **fields: Any) -> int:
    created = await client.post(
        "/api/queues", boss, json={"name": "Support", "company_id": company_id, **fields}
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def open_query(server: LiveServer, queue_id: int) -> dict[str, Any]:
    opened = await server.client.post(
        "/api/queries",
        json={
            "source": "https://example.com/help",
            "email": "customer@example.com",
            "name": "Customer",
            "queue_id": queue_id,
        },
    )
    assert opened.status_code == 201, opened.text
    return dict(opened.json())


async def test_agent_on_one_process_is_offered_a_query_opened_on_another(pair: Cluster) -> None:
    a, b = pair.servers
    boss = await a.client.person("Boss")
    company = await a.client.company(boss)
    agent, company_user = await accepted_member(pair, a.client, boss, company["id"])
    queue_id = await shared_queue(a.client, boss, company["id"])

    async with a.ws(f"/ws/company-users/{company_user['id']}") as console:
        hello = await go_available(console, agent)
        query = await open_query(b, queue_id)
        await offered(console, query["id"], hello)

    assert query["status"] == "waiting"


@pytest.mark.timeout(300)
async def test_thirty_agents_on_two_processes_race_and_one_wins(pair: Cluster) -> None:
    a, b = pair.servers
    boss = await a.client.person("Boss")
    company = await a.client.company(boss)
    queue_id = await shared_queue(a.client, boss, company["id"])
    homes = [a if n % 2 else b for n in range(30)]
    team = await _gather(
        accepted_member(pair, home.client, boss, company["id"], name=f"Agent{n}")
        for n, home in enumerate(homes)
    )
    ready = anyio.Event()
    query_ids: list[int] = []
    statuses: list[int] = []
    waiting = [0]

    async def agent_life(home: LiveServer, agent: Person, company_user: dict[str, Any]) -> None:
        async with home.ws(f"/ws/company-users/{company_user['id']}") as console:
            hello = await go_available(console, agent)
            waiting[0] += 1
            if waiting[0] == len(team):
                query_ids.append((await open_query(b, queue_id))["id"])
                ready.set()
            await ready.wait()
            await offered(console, query_ids[0], hello)
            answered = await home.client.post(f"/api/queries/{query_ids[0]}/answer", agent)
            statuses.append(answered.status_code)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for home, (agent, company_user) in zip(homes, team, strict=True):
                group.start_soon(agent_life, home, agent, company_user)

    assert sorted(statuses) == [200] + [403] * 29
    shown = await a.client.get(f"/api/queries/{query_ids[0]}", boss)
    assert shown.json()["status"] == "ongoing"


async def test_level_unlock_timer_survives_sigkill_of_the_process_that_set_it(
    pair: Cluster,
) -> None:
    a, b = pair.servers
    boss = await a.client.person("Boss")
    company = await a.client.company(boss)
    skill = await a.client.post(
        "/api/skills", boss, json={"name": "German", "company_id": company["id"]}
    )
    assert skill.status_code == 201, skill.text
    queue_id = await shared_queue(
        a.client, boss, company["id"], priority_delay=2, skill_ids=[skill.json()["id"]]
    )
    agent, company_user = await accepted_member(pair, b.client, boss, company["id"])
    levels = await b.client.put(
        f"/api/company-users/{company_user['id']}/skills",
        boss,
        json={"skills": [{"id": skill.json()["id"], "level": 2}]},
    )
    assert levels.status_code == 200, levels.text

    async with b.ws(f"/ws/company-users/{company_user['id']}") as console:
        hello = await go_available(console, agent)
        query = await open_query(a, queue_id)
        a.kill()
        await offered(console, query["id"], hello)

    assert hello["offers"] == []


@pytest.mark.timeout(300)
async def test_expiry_set_before_sigkill_fires_on_the_survivor(pair: Cluster) -> None:
    a, b = pair.servers
    boss = await a.client.person("Boss")
    company = await a.client.company(boss, query_expiry_time_in_minutes=1)
    queue_id = await shared_queue(a.client, boss, company["id"])
    query = await open_query(a, queue_id)
    a.kill()

    async with b.ws(f"/ws/queries/{query['id']}") as follower:
        await follower.send_json({"type": "auth", "customer_token": query["customer_token"]})
        hello = await frame(follower)
        with anyio.fail_after(90):
            while (await follower.receive_json())["type"] != "expired":
                pass

    assert hello["status"] == "waiting"
    shown = await b.client.get(f"/api/queries/{query['id']}", boss)
    assert shown.json()["status"] == "expired"


async def test_redis_flush_loses_no_query_and_offers_resume(pair: Cluster) -> None:
    a, b = pair.servers
    boss = await a.client.person("Boss")
    company = await a.client.company(boss)
    agent, company_user = await accepted_member(pair, a.client, boss, company["id"])
    queue_id = await shared_queue(a.client, boss, company["id"])

    async with a.ws(f"/ws/company-users/{company_user['id']}") as console:
        hello = await go_available(console, agent)
        first = await open_query(b, queue_id)
        await offered(console, first["id"], hello)
        assert await pair.flush_redis() > 0
        second = await open_query(b, queue_id)
        await _answer_soon(a, agent, first["id"])
        done = await a.client.post(f"/api/queries/{first['id']}/mark-as-done", agent)
        assert done.status_code == 200, done.text
        await offered(console, second["id"], {"offers": []})
        await _answer_soon(b, agent, second["id"])

    listed = await b.client.get(
        "/api/queries", boss, params={"scopes[company_id]": str(company["id"])}
    )
    statuses = {query["id"]: query["status"] for query in listed.json()}
    assert statuses == {first["id"]: "done", second["id"]: "ongoing"}


@pytest.mark.timeout(300)
async def test_agent_whose_process_was_sigkilled_goes_unavailable_after_the_grace(
    tmp_path: Path,
) -> None:
    async with cluster(2, tmp_path, env={"PRESENCE_GRACE_SECONDS": "1"}) as live:
        a, b = live.servers
        boss = await a.client.person("Boss")
        company = await a.client.company(boss)
        agent, company_user = await accepted_member(live, a.client, boss, company["id"])
        path = f"/ws/company-users/{company_user['id']}"

        async with b.ws(path) as watcher:
            await watcher.send_json({"type": "auth", "token": boss.token})
            assert (await frame(watcher))["type"] == "hello"
            async with a.ws(path) as console:
                await go_available(console, agent)
                a.kill()
            changed = await _state_change(watcher, "disconnected", within=90.0)
        history = await b.client.get(
            f"/api/company-user-states/{company_user['id']}/history", boss
        )

    assert history.status_code == 200, history.text
    assert changed["state"]["is_available"] is False
    assert history.json()[-1]["reason"] == "disconnected"


async def _state_change(
    session: AsyncWebSocketSession, reason: str, within: float
) -> dict[str, Any]:
    """The next `state.changed` frame with that reason; quiet spells may outlast DEADLINE."""
    with anyio.fail_after(within):
        while True:
            found = await session.receive_json(timeout=within)
            if found["type"] == "state.changed" and found["reason"] == reason:
                return dict(found)


async def _answer_soon(server: LiveServer, agent: Person, query_id: int) -> None:
    """Answer, retrying while the routing state is being rebuilt after the flush."""
    with anyio.fail_after(DEADLINE):
        while True:
            answered = await server.client.post(f"/api/queries/{query_id}/answer", agent)
            if answered.status_code == 200:
                return
            assert answered.status_code == 403, answered.text
            await asyncio.sleep(0.2)


async def _gather(work: Iterable[Awaitable[T]]) -> list[T]:
    """Run setup steps a few at a time (each process hashes passwords on its own core)."""
    gate = asyncio.Semaphore(4)

    async def gated(step: Awaitable[T]) -> T:
        async with gate:
            return await step

    return list(await asyncio.gather(*(gated(step) for step in work)))


async def test_a_token_signed_out_on_one_process_is_refused_by_the_other(tmp_path: Path) -> None:
    """Entries would live ten minutes here: only the bus can tell B in time."""
    async with cluster(2, tmp_path, env={"ACCESS_CACHE_SECONDS": "600"}) as running:
        a, b = running.servers
        ana = await a.client.person("Ana")
        assert (await b.client.get("/api/me", ana)).status_code == 200

        signed_out = await a.client.delete("/api/auth/token", ana)
        assert signed_out.status_code in {200, 204}, signed_out.text

        with anyio.fail_after(DEADLINE):
            while True:
                if (await b.client.get("/api/me", ana)).status_code == 401:
                    break
                await asyncio.sleep(0.05)  # B has no event to await: ask it again

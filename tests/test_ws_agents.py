"""The agent channel: auth frame, hello, sequence numbers, errors, pings and read-only watchers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from server.settings import Settings
from tests.helpers import Client, Person, member

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
DEADLINE = 5.0


@asynccontextmanager
async def sockets(client: Client) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that opens websockets to the app under test, in this process."""
    async with (
        ASGIWebSocketTransport(app=client.app) as transport,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        yield http


def connect(http: httpx.AsyncClient, path: str) -> Any:
    return aconnect_ws(path, http, keepalive_ping_interval_seconds=None)


@asynccontextmanager
async def ws(client: Client, path: str) -> AsyncIterator[AsyncWebSocketSession]:
    """One websocket to the app under test."""
    async with sockets(client) as http, connect(http, path) as session:
        yield session


async def receive(session: AsyncWebSocketSession) -> dict[str, Any]:
    frame = await session.receive_json(timeout=DEADLINE)
    assert isinstance(frame, dict)
    return frame


async def until(session: AsyncWebSocketSession, frame_type: str) -> dict[str, Any]:
    """The next frame of that type, skipping others, within the deadline."""
    with anyio.fail_after(DEADLINE):
        while True:
            frame = await receive(session)
            if frame["type"] == frame_type:
                return frame


async def closed_with(session: AsyncWebSocketSession) -> int:
    """Read until the server closes; the close code."""
    with anyio.fail_after(DEADLINE):
        while True:
            try:
                await session.receive(timeout=DEADLINE)
            except WebSocketDisconnect as closed:
                return closed.code


async def signed_in(session: AsyncWebSocketSession, who: Person) -> dict[str, Any]:
    await session.send_json({"type": "auth", "token": who.token})
    hello = await receive(session)
    assert hello["type"] == "hello", hello
    return hello


async def team(client: Client) -> tuple[Person, Person, dict[str, Any]]:
    """A manager and an agent of one company; the agent's company user."""
    boss = await client.person("Boss")
    company = await client.company(boss)
    agent, company_user = await member(client, boss, company["id"], "agent", name="Sakura")
    return boss, agent, company_user


async def test_hello_follows_the_auth_frame_with_seq_1(client: Client) -> None:
    _, agent, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        hello = await signed_in(session, agent)

    assert hello["seq"] == 1
    assert TIMESTAMP.match(hello["at"])
    assert hello["company_user"]["id"] == company_user["id"]
    assert hello["state"]["is_available"] is False
    assert hello["offers"] == []
    assert hello["ongoing"] == []
    assert hello["read_only"] is False


async def test_first_frame_must_be_auth(client: Client) -> None:
    _, _, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await session.send_json({"type": "ping"})
        error = await receive(session)
        code = await closed_with(session)

    assert error["type"] == "error"
    assert "auth" in error["message"]
    assert code == 4401


async def test_wrong_token_closes_with_4401(client: Client) -> None:
    _, _, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await session.send_json({"type": "auth", "token": "not-a-token"})
        error = await receive(session)
        code = await closed_with(session)

    assert error["type"] == "error"
    assert code == 4401


async def test_outsider_and_fellow_agent_are_forbidden(client: Client) -> None:
    boss, _, company_user = await team(client)
    outsider = await client.person("Outsider")
    fellow, _ = await member(client, boss, company_user["company_id"], "agent")

    codes = []
    for who in (outsider, fellow):
        async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
            await session.send_json({"type": "auth", "token": who.token})
            assert (await receive(session))["type"] == "error"
            codes.append(await closed_with(session))

    assert codes == [4403, 4403]


async def test_unknown_company_user_is_forbidden_like_any_other(client: Client) -> None:
    boss = await client.person("Boss")

    async with ws(client, "/ws/company-users/999999") as session:
        await session.send_json({"type": "auth", "token": boss.token})
        await receive(session)
        code = await closed_with(session)

    assert code == 4403


async def test_auth_frame_must_come_in_time(settings: Settings) -> None:
    async with Client.running(replace(settings, ws_auth_timeout_seconds=0.2)) as client:
        _, _, company_user = await team(client)
        async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
            error = await receive(session)
            code = await closed_with(session)

    assert error["type"] == "error"
    assert code == 4401


async def test_garbage_gets_an_error_and_the_socket_stays_open(client: Client) -> None:
    _, agent, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await signed_in(session, agent)
        await session.send_text("{not json")
        await session.send_json({"type": "dance"})
        await session.send_json(["not", "an", "object"])
        await session.send_json({"type": "ping"})
        frames = [await receive(session) for _ in range(4)]

    assert [f["type"] for f in frames] == ["error", "error", "error", "pong"]
    assert [f["seq"] for f in frames] == [2, 3, 4, 5]
    assert "dance" in frames[1]["message"]
    assert all(TIMESTAMP.match(f["at"]) for f in frames)


async def test_state_set_changes_availability_and_replies(client: Client) -> None:
    boss, agent, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await signed_in(session, agent)
        await session.send_json(
            {"type": "state.set", "is_available": True, "status_text": "Back from lunch"}
        )
        changed = await until(session, "state.changed")

    assert changed["seq"] == 2
    assert changed["state"]["is_available"] is True
    assert changed["state"]["status_text"] == "Back from lunch"
    shown = await client.get(f"/api/company-user-states/{company_user['id']}", boss)
    assert shown.json()["is_available"] is True
    history = await client.get(f"/api/company-user-states/{company_user['id']}/history", boss)
    assert history.json()[-1]["reason"] == "manual"


async def test_bad_state_set_is_an_error_not_a_close(client: Client) -> None:
    _, agent, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await signed_in(session, agent)
        await session.send_json({"type": "state.set", "is_available": "maybe"})
        error = await receive(session)
        await session.send_json({"type": "ping"})
        pong = await receive(session)

    assert error["type"] == "error"
    assert "is_available" in error["message"]
    assert pong["type"] == "pong"


async def test_reconnect_gets_a_full_hello(client: Client) -> None:
    _, agent, company_user = await team(client)
    path = f"/ws/company-users/{company_user['id']}"

    async with ws(client, path) as session:
        await signed_in(session, agent)
        await session.send_json({"type": "state.set", "is_available": True})
        await until(session, "state.changed")
    async with ws(client, path) as again:
        hello = await signed_in(again, agent)

    assert hello["seq"] == 1
    assert hello["state"]["is_available"] is True
    assert hello["company_user"]["id"] == company_user["id"]


async def test_manager_watches_read_only(client: Client) -> None:
    boss, agent, company_user = await team(client)
    path = f"/ws/company-users/{company_user['id']}"

    async with (
        sockets(client) as http,
        connect(http, path) as watcher,
        connect(http, path) as console,
    ):
        hello = await signed_in(watcher, boss)
        await signed_in(console, agent)
        await watcher.send_json({"type": "state.set", "is_available": True})
        refused = await receive(watcher)
        await console.send_json({"type": "state.set", "is_available": True})
        seen = await until(watcher, "state.changed")

    assert hello["read_only"] is True
    assert refused["type"] == "error"
    assert "read-only" in refused["message"]
    assert seen["state"]["is_available"] is True
    history = await client.get(f"/api/company-user-states/{company_user['id']}/history", boss)
    assert [entry["changed_by_company_user_id"] for entry in history.json()][-1] == (
        company_user["id"]
    )


async def test_staffing_manager_may_watch(client: Client) -> None:
    boss, _, company_user = await team(client)
    staffer, _ = await member(client, boss, company_user["company_id"], "staffing_manager")

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        hello = await signed_in(session, staffer)

    assert hello["read_only"] is True


async def test_quiet_socket_is_pinged_and_stays_open(settings: Settings) -> None:
    async with Client.running(replace(settings, ws_ping_seconds=0.3)) as client:
        _, agent, company_user = await team(client)
        async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
            await signed_in(session, agent)
            ping = await until(session, "ping")
            again = await until(session, "ping")
            await session.send_json({"type": "ping"})
            pong = await until(session, "pong")

    assert (ping["seq"], again["seq"], pong["seq"]) == (2, 3, 4)

"""Websocket faults: ids past any column, deep or huge frames, and access that ends."""

from __future__ import annotations

import json
from dataclasses import replace

import anyio
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect

from server.settings import Settings
from tests.helpers import Client, member
from tests.test_ws_agents import (
    closed_with,
    connect,
    receive,
    signed_in,
    sockets,
    team,
    until,
    ws,
)
from tests.test_ws_fanout import _open_query, _shared_queue

pytestmark = pytest.mark.anyio

HUGE_ID = "99999999999999999999"
DEEP = '{"a":' + "[" * 30000 + "]" * 30000 + "}"
LONG = json.dumps({"type": "ping", "pad": "x" * (64 * 1024 + 1)})


@pytest.mark.parametrize("path", ["company-users", "companies", "queries"])
async def test_an_id_past_any_column_is_refused_like_an_unknown_one(
    client: Client, path: str
) -> None:
    boss = await client.person("Boss")

    async with ws(client, f"/ws/{path}/{HUGE_ID}") as session:
        await session.send_json({"type": "auth", "token": boss.token, "customer_token": "x"})
        error = await receive(session)
        code = await closed_with(session)

    assert error["type"] == "error"
    assert code == 4403


@pytest.mark.parametrize("text", [DEEP, LONG], ids=["deep", "long"])
async def test_a_bad_first_frame_gets_an_error_then_4401(client: Client, text: str) -> None:
    _, _, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await session.send_text(text)
        error = await receive(session)
        code = await closed_with(session)

    assert error["type"] == "error"
    assert code == 4401


@pytest.mark.parametrize("text", [DEEP, LONG], ids=["deep", "long"])
async def test_a_bad_frame_after_auth_gets_an_error_and_the_socket_stays_open(
    client: Client, text: str
) -> None:
    _, agent, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await signed_in(session, agent)
        await session.send_text(text)
        error = await receive(session)
        await session.send_json({"type": "ping"})
        pong = await receive(session)

    assert error["type"] == "error"
    assert "64 KiB" in error["message"]
    assert pong["type"] == "pong"


async def test_deleting_the_company_closes_its_consoles_and_refuses_new_ones(
    settings: Settings,
) -> None:
    async with Client.running(replace(settings, ws_ping_seconds=0.3)) as client:
        boss, agent, company_user = await team(client)
        path = f"/ws/company-users/{company_user['id']}"
        async with ws(client, path) as session:
            await signed_in(session, agent)
            deleted = await client.delete(f"/api/companies/{company_user['company_id']}", boss)
            assert deleted.status_code == 204
            open_code = await closed_with(session)
        async with ws(client, path) as session:
            await session.send_json({"type": "auth", "token": agent.token})
            error = await receive(session)
            new_code = await closed_with(session)

    assert open_code == 4403
    assert error["type"] == "error"
    assert new_code == 4403


async def test_removed_company_user_is_closed_and_refused(client: Client) -> None:
    boss, agent, company_user = await team(client)
    path = f"/ws/company-users/{company_user['id']}"

    async with ws(client, path) as session:
        await signed_in(session, agent)
        removed = await client.delete(f"/api/company-users/{company_user['id']}", boss)
        assert removed.status_code == 204
        open_code = await closed_with(session)
    async with ws(client, path) as session:
        await session.send_json({"type": "auth", "token": agent.token})
        await receive(session)
        new_code = await closed_with(session)

    assert (open_code, new_code) == (4403, 4403)


async def test_deleting_the_company_closes_its_dashboards(settings: Settings) -> None:
    async with Client.running(replace(settings, ws_ping_seconds=0.3)) as client:
        boss, _, company_user = await team(client)
        async with ws(client, f"/ws/companies/{company_user['company_id']}") as session:
            await signed_in(session, boss)
            deleted = await client.delete(f"/api/companies/{company_user['company_id']}", boss)
            assert deleted.status_code == 204
            code = await closed_with(session)

    assert code == 4403


async def test_deleting_the_company_closes_all_its_sockets_at_once(client: Client) -> None:
    """Agents, dashboards and customers hear of it at once, long before a ping (20 s)."""
    boss, agent, company_user = await team(client)
    company_id = company_user["company_id"]
    query = await _open_query(client, (await _shared_queue(client, boss, company_id))["id"])

    async with (
        sockets(client) as http,
        connect(http, f"/ws/company-users/{company_user['id']}") as console,
        connect(http, f"/ws/companies/{company_id}") as dashboard,
        connect(http, f"/ws/queries/{query['id']}") as follower,
    ):
        await signed_in(console, agent)
        await signed_in(dashboard, boss)
        await follower.send_json({"type": "auth", "customer_token": query["customer_token"]})
        assert (await receive(follower))["type"] == "hello"
        deleted = await client.delete(f"/api/companies/{company_id}", boss)
        assert deleted.status_code == 204
        with anyio.fail_after(2.0):
            console_close = await _close_of(console)
            dashboard_close = await _close_of(dashboard)
            cancelled = await until(follower, "cancelled")
            follower_close = await _close_of(follower)

    assert client.services.settings.ws_ping_seconds >= 20
    gone = (4403, "The company was deleted.")
    assert (console_close, dashboard_close, follower_close) == (gone, gone, gone)
    assert cancelled["query_id"] == query["id"]


async def _close_of(session: AsyncWebSocketSession) -> tuple[int, str | None]:
    """Read until the server closes; its close code and reason."""
    while True:
        try:
            await session.receive()
        except WebSocketDisconnect as closed:
            return closed.code, closed.reason


@pytest.mark.parametrize("change", ["demoted", "removed"])
async def test_a_watcher_demoted_or_removed_loses_the_console_and_dashboard_at_once(
    client: Client, change: str
) -> None:
    """Long before the 20 s re-check: the change's event makes the guard look again."""
    boss, agent, company_user = await team(client)
    company_id = company_user["company_id"]
    staffer, staffer_member = await member(client, boss, company_id, "staffing_manager")
    path = f"/api/company-users/{staffer_member['id']}"
    async with (
        sockets(client) as http,
        connect(http, f"/ws/company-users/{company_user['id']}") as watched,
        connect(http, f"/ws/companies/{company_id}") as dashboard,
        connect(http, f"/ws/company-users/{company_user['id']}") as own,
    ):
        assert (await signed_in(watched, staffer))["read_only"] is True
        await signed_in(dashboard, staffer)
        assert (await signed_in(own, agent))["read_only"] is False
        if change == "demoted":
            changed = await client.put(path, boss, json={"role": "agent"})
        else:
            changed = await client.delete(path, boss)
        assert changed.status_code in (200, 204), changed.text
        codes = (await closed_with(watched), await closed_with(dashboard))
        await own.send_json({"type": "ping"})
        still_open = await until(own, "pong")

    assert client.services.settings.ws_ping_seconds >= 20
    assert codes == (4403, 4403)
    assert still_open["type"] == "pong"


@pytest.mark.parametrize("status_text", ["a\u0000b", "\ud800"], ids=["nul", "lone-surrogate"])
async def test_a_state_set_with_text_no_database_takes_gets_an_error_and_stays_open(
    client: Client, status_text: str
) -> None:
    _, agent, company_user = await team(client)

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await signed_in(session, agent)
        frame = {"type": "state.set", "is_available": True, "status_text": status_text}
        await session.send_text(json.dumps(frame))  # escapes it as \\u0000 or \\ud800
        error = await until(session, "error")
        await session.send_json({"type": "ping"})
        pong = await until(session, "pong")
    state = await client.get(f"/api/company-user-states/{company_user['id']}", agent)

    assert pong["type"] == "pong"
    assert "NUL" in error["message"] or "Unicode" in error["message"]
    assert state.status_code == 200
    assert state.json()["is_available"] is False


async def test_a_frame_the_channel_fails_on_gets_an_error_and_the_socket_stays_open(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, agent, company_user = await team(client)

    async def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database gone")

    async with ws(client, f"/ws/company-users/{company_user['id']}") as session:
        await signed_in(session, agent)
        monkeypatch.setattr("server.ws.states.set_availability", broken)
        await session.send_json({"type": "state.set", "is_available": True})
        error = await until(session, "error")
        await session.send_json({"type": "ping"})
        pong = await until(session, "pong")

    assert "could not be handled" in error["message"]
    assert pong["type"] == "pong"

"""Fan-out: a stuck client never holds up others; dashboards and customers follow live."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.settings import Settings
from server.ws import connection as ws_connection
from server.ws.hub import hub_of
from tests.helpers import Client, Person
from tests.test_ws_agents import (
    DEADLINE,
    closed_with,
    connect,
    receive,
    signed_in,
    sockets,
    team,
    until,
    ws,
)

pytestmark = pytest.mark.anyio


class Stalling:
    """Wraps the app: sockets opened with `?stall` stop taking frames after their hello,
    as a client does that stops reading (its TCP window closes and sends block)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.forever = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or b"stall" not in scope.get("query_string", b""):
            await self.app(scope, receive, send)
            return
        texts = 0

        async def stalled_send(message: Message) -> None:
            nonlocal texts
            if message["type"] == "websocket.send":
                texts += 1
            if texts > 1 or message["type"] == "websocket.close":
                await self.forever.wait()
            await send(message)

        await self.app(scope, receive, stalled_send)


async def test_client_that_stops_reading_does_not_stall_others(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_connection, "OUTBOX_LIMIT", 4)
    boss, agent, company_user = await team(client)
    path = f"/ws/company-users/{company_user['id']}"
    hub = hub_of(client.services)
    toggles = 12

    async with (
        ASGIWebSocketTransport(app=Stalling(client.app)) as transport,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        connect(http, f"{path}?stall=1") as stuck,
        connect(http, path) as console,
    ):
        await signed_in(stuck, boss)
        await signed_in(console, agent)
        (watcher,) = [c for c in hub.agents[company_user["id"]] if "owner=False" in c.labels]
        seen = []
        for n in range(toggles):
            await console.send_json({"type": "state.set", "is_available": n % 2 == 0})
            seen.append((await until(console, "state.changed"))["state"]["is_available"])
        # The stuck watcher got the same frames; its full outbox dropped it.
        assert watcher.closed
        await console.send_json({"type": "ping"})
        pong = await until(console, "pong")

    assert seen == [n % 2 == 0 for n in range(toggles)]
    assert pong["type"] == "pong"


async def test_socket_whose_sends_stall_is_dropped_as_dead(settings: Settings) -> None:
    async with Client.running(replace(settings, ws_ping_seconds=0.3)) as client:
        boss, agent, company_user = await team(client)
        path = f"/ws/company-users/{company_user['id']}"
        hub = hub_of(client.services)
        async with (
            ASGIWebSocketTransport(app=Stalling(client.app)) as transport,
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
            connect(http, f"{path}?stall=1") as dead,
            connect(http, path) as console,
        ):
            await signed_in(dead, boss)
            await signed_in(console, agent)
            (watcher,) = [c for c in hub.agents[company_user["id"]] if "owner=False" in c.labels]
            with anyio.fail_after(DEADLINE):
                await watcher.closed_event.wait()
            await console.send_json({"type": "ping"})
            pong = await until(console, "pong")

    assert pong["type"] == "pong"


async def test_dashboard_hello_then_figures_follow_availability(client: Client) -> None:
    boss, agent, company_user = await team(client)
    company_id = company_user["company_id"]

    async with ws(client, f"/ws/companies/{company_id}") as dashboard:
        hello = await signed_in(dashboard, boss)
        personal = _personal_queue(hello["queues"], company_user["id"])
        changed = await client.put(
            f"/api/company-user-states/{company_user['id']}", agent, json={"is_available": True}
        )
        assert changed.status_code == 200, changed.text
        figures = await _figures_until(
            dashboard, lambda f: _personal_queue(f, company_user["id"])["ready"] == 1
        )

    assert hello["seq"] == 1
    assert personal["ready"] == 0 and personal["waiting"] == 0
    assert figures["seq"] > 1
    assert _personal_queue(figures["queues"], company_user["id"])["busy"] == 0


async def test_dashboard_is_for_managers_only(client: Client) -> None:
    _, agent, company_user = await team(client)

    async with ws(client, f"/ws/companies/{company_user['company_id']}") as dashboard:
        await dashboard.send_json({"type": "auth", "token": agent.token})
        error = await receive(dashboard)
        code = await closed_with(dashboard)

    assert error["type"] == "error"
    assert code == 4403


async def test_customer_follows_place_in_line_and_answer(client: Client) -> None:
    boss, agent, company_user = await team(client)
    queue = await _shared_queue(client, boss, company_user["company_id"])
    first = await _open_query(client, queue["id"])
    second = await _open_query(client, queue["id"])

    async with (
        sockets(client) as http,
        connect(http, f"/ws/queries/{first['id']}") as first_ws,
        connect(http, f"/ws/queries/{second['id']}") as second_ws,
    ):
        await first_ws.send_json({"type": "auth", "customer_token": first["customer_token"]})
        await second_ws.send_json({"type": "auth", "customer_token": second["customer_token"]})
        first_hello, second_hello = await receive(first_ws), await receive(second_ws)
        cancelled = await client.post(
            f"/api/queries/{first['id']}/cancel",
            headers={"X-Customer-Token": first["customer_token"]},
        )
        assert cancelled.status_code == 200, cancelled.text
        moved = await until(second_ws, "position")
        gone = await until(first_ws, "cancelled")
        await _answer(client, http, agent, company_user, second["id"])
        answered = await until(second_ws, "answered")

    assert (first_hello["type"], first_hello["status"], first_hello["position"]) == (
        "hello",
        "waiting",
        1,
    )
    assert second_hello["position"] == 2
    assert moved["position"] == 1
    assert gone["query_id"] == first["id"]
    assert answered["agent_name"] == "Sakura"


async def test_customer_token_of_another_query_is_refused(client: Client) -> None:
    boss, _, company_user = await team(client)
    queue = await _shared_queue(client, boss, company_user["company_id"])
    first = await _open_query(client, queue["id"])
    second = await _open_query(client, queue["id"])

    async with ws(client, f"/ws/queries/{first['id']}") as session:
        await session.send_json({"type": "auth", "customer_token": second["customer_token"]})
        error = await receive(session)
        code = await closed_with(session)

    assert error["type"] == "error"
    assert code == 4403


async def _answer(
    client: Client,
    http: httpx.AsyncClient,
    agent: Person,
    company_user: dict[str, Any],
    query_id: int,
) -> None:
    """The agent goes available, waits for the offer on its console, and answers."""
    async with connect(http, f"/ws/company-users/{company_user['id']}") as console:
        hello = await signed_in(console, agent)
        await console.send_json({"type": "state.set", "is_available": True})
        offered = [offer["query"]["id"] for offer in hello["offers"]]
        with anyio.fail_after(DEADLINE):
            while query_id not in offered:
                frame = await receive(console)
                if frame["type"] == "query.offered":
                    offered.append(frame["query"]["id"])
        answered = await client.post(f"/api/queries/{query_id}/answer", agent)
        assert answered.status_code == 200, answered.text


def _personal_queue(queues: list[dict[str, Any]], company_user_id: int) -> dict[str, Any]:
    (found,) = [q for q in queues if q["company_user_id"] == company_user_id]
    return found


async def _figures_until(session: Any, wanted: Any) -> dict[str, Any]:
    with anyio.fail_after(DEADLINE):
        while True:
            frame = await until(session, "figures")
            if wanted(frame["queues"]):
                return frame


async def _shared_queue(client: Client, boss: Person, company_id: int) -> dict[str, Any]:
    created = await client.post(
        "/api/queues", boss, json={"name": "Support", "company_id": company_id}
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _open_query(client: Client, queue_id: int) -> dict[str, Any]:
    opened = await client.post(
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

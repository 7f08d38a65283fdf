"""One connection's outbox: order, seq, and sending on a socket someone else closed."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from router.events import Event
from server.ws.connection import Connection
from server.ws.hub import Hub, LocalBus

pytestmark = pytest.mark.anyio


class FakeSocket:
    """Records frames; `gone` makes every later send fail as a closed socket's does."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = False
        self.arrived = anyio.Event()

    async def send_text(self, text: str) -> None:
        if self.gone:
            raise RuntimeError('Cannot call "send" once a close message has been sent.')
        self.sent.append(json.loads(text))
        self.arrived.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.gone = True


def opened(socket: FakeSocket) -> Connection:
    connection = Connection(socket, "agent", ping_seconds=60)  # type: ignore[arg-type]
    connection.on_event = lambda event: connection.push(event.type, event.data)
    connection.begin({"company_user": {"id": 7}})
    return connection


async def wait_for_frames(socket: FakeSocket, count: int) -> None:
    with anyio.fail_after(5):
        while len(socket.sent) < count:
            socket.arrived = anyio.Event()
            await socket.arrived.wait()


async def test_send_on_a_socket_closed_elsewhere_ends_quietly_and_spares_others() -> None:
    hub = Hub(LocalBus())
    alive_socket, dead_socket = FakeSocket(), FakeSocket()
    alive, dead = opened(alive_socket), opened(dead_socket)
    for connection in (alive, dead):
        hub.add(hub.agents, 7, connection)

    async with anyio.create_task_group() as group:
        group.start_soon(alive.run_sender)
        group.start_soon(dead.run_sender)
        await wait_for_frames(dead_socket, 1)
        dead_socket.gone = True  # another task closed it under the sender
        for n in range(3):
            hub.deliver(Event("note.added", 1, {"n": n}, company_user_ids=(7,)))
        await wait_for_frames(alive_socket, 4)
        alive.close_soon(1000, "")

    assert dead.closed
    assert [frame["type"] for frame in alive_socket.sent] == ["hello"] + ["note.added"] * 3
    assert [frame["seq"] for frame in alive_socket.sent] == [1, 2, 3, 4]
    assert [frame["n"] for frame in alive_socket.sent[1:]] == [0, 1, 2]


async def test_a_frame_encoded_once_for_many_sockets_carries_each_socket_s_own_seq() -> None:
    hub = Hub(LocalBus())
    sockets = [FakeSocket(), FakeSocket()]
    connections = [opened(socket) for socket in sockets]
    for connection in connections:
        connection.on_event = lambda event, c=connection: c.push_encoded(  # type: ignore[misc]
            event.type, event.data_json
        )
        hub.add(hub.agents, 7, connection)
    connections[1].push("ping")  # the second socket is one frame ahead

    async with anyio.create_task_group() as group:
        for connection in connections:
            group.start_soon(connection.run_sender)
        hub.deliver(Event("note.added", 1, {"n": 1, "seq": -1, "type": "x"}, (7,)))
        hub.deliver(Event("note.added", 1, {}, (7,)))
        await wait_for_frames(sockets[0], 3)
        await wait_for_frames(sockets[1], 4)
        for connection in connections:
            connection.close_soon(1000, "")

    first, second = (socket.sent[-2:] for socket in sockets)
    assert first[0] == {"n": 1, "type": "note.added", "seq": 2, "at": first[0]["at"]}
    assert second[0] == {"n": 1, "type": "note.added", "seq": 3, "at": second[0]["at"]}
    assert (first[1]["type"], first[1]["seq"], second[1]["seq"]) == ("note.added", 3, 4)

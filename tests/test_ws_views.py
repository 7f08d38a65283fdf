"""A view whose read fails tries again soon, rather than waiting for the next event."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from server.ws.views import View
from tests.test_ws_connection import FakeSocket, opened, wait_for_frames

pytestmark = pytest.mark.anyio


async def test_a_failed_read_is_tried_again_without_another_event() -> None:
    socket = FakeSocket()
    connection = opened(socket)  # pings after 60 s: only the retry can bring the frame
    reads = 0

    async def read() -> list[tuple[str, dict[str, Any]]]:
        nonlocal reads
        reads += 1
        if reads == 1:
            raise ConnectionError("too many clients already")
        return [("position", {"position": 1})]

    view = View(connection, read)
    async with anyio.create_task_group() as group:
        group.start_soon(connection.run_sender)
        group.start_soon(view.run)
        view.stale()  # the one event: its read fails
        await wait_for_frames(socket, 2)  # hello, then the position from the retry
        group.cancel_scope.cancel()

    assert reads == 2
    assert socket.sent[1]["type"] == "position"

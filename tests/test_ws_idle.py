"""What an open console holds while idle: ids, not the rows and frames it was opened with.

A server keeps ten thousand consoles open for hours: the auth frame, the user and member rows
read to check it, the hello, and the last frame each way would cost kilobytes a socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest
from sqlmodel import SQLModel

from tests.helpers import Client, member
from tests.test_ws_agents import connect, signed_in, sockets, team, until

pytestmark = pytest.mark.anyio

SETTLING_STEPS = 1000
"""Loop turns the server's tasks get to finish what the last frames started."""


def _channel_frames() -> Iterator[FrameType]:
    """The suspended frames of the websocket channels' code, in every task of this loop."""
    for task in asyncio.all_tasks():
        awaited: Any = task.get_coro()
        while awaited is not None and getattr(awaited, "cr_frame", None) is not None:
            if "/server/ws/" in awaited.cr_frame.f_code.co_filename:
                yield awaited.cr_frame
            awaited = awaited.cr_await


def _held() -> list[str]:
    """Rows and frames (dicts) that a channel's waiting code still references."""
    return [
        f"{frame.f_code.co_name}: {name}={type(value).__name__}"
        for frame in _channel_frames()
        for name, value in frame.f_locals.items()
        if isinstance(value, SQLModel | dict)
    ]


async def _once_settled() -> list[str]:
    """What is held once the channels have had their turns to settle into waiting."""
    for _ in range(SETTLING_STEPS):
        if not _held():
            break
        await asyncio.sleep(0)
    return _held()


@pytest.mark.parametrize("who", ["owner", "watcher"])
async def test_an_idle_console_holds_no_rows_and_no_frames(client: Client, who: str) -> None:
    boss, agent, company_user = await team(client)
    if who == "watcher":
        agent, _ = await member(client, boss, company_user["company_id"], "staffing_manager")
    async with (
        sockets(client) as http,
        connect(http, f"/ws/company-users/{company_user['id']}") as console,
    ):
        await signed_in(console, agent)
        await console.send_json({"type": "state.set", "is_available": True})
        await until(console, "state.changed" if who == "owner" else "error")
        await console.send_json({"type": "ping"})
        await until(console, "pong")

        held = await _once_settled()
        frames = list(_channel_frames())

    assert held == []
    assert {"_follow", "serve", "run_sender", "_read"} <= {f.f_code.co_name for f in frames}

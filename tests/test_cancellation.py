"""Loops that wait with a timeout still end when cancelled, whatever they were waiting for.

A cancellation arriving in the same step as the thing awaited used to be swallowed (Python
3.11's `wait_for`), and a websocket whose view was told it was stale as the socket closed
kept its handler, and whoever waited for it, alive for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from router.tasks import Signal, stop_tasks, wait_set
from server.ws.guard import Guard
from server.ws.views import View
from tests.test_ws_connection import FakeSocket, opened

pytestmark = pytest.mark.anyio

STEPS = range(8)
"""How many loop steps pass between waking the waiter and cancelling it: covers every
point of a timed wait, whatever the implementation's inner tasks."""


async def _nothing_changed() -> list[tuple[str, dict[str, Any]]]:
    return []


async def _still_allowed() -> bool:
    return True


def _view_loop() -> tuple[Awaitable[None], Callable[[], None]]:
    view = View(opened(FakeSocket()), _nothing_changed)
    return view.run(), view.stale


def _guard_loop() -> tuple[Awaitable[None], Callable[[], None]]:
    guard, connection = Guard(60), opened(FakeSocket())
    guard.watch(connection, _still_allowed, periodic=True)
    return guard.run(), lambda: guard.nudge(connection)


def _sender_loop() -> tuple[Awaitable[None], Callable[[], None]]:
    connection = opened(FakeSocket())
    return connection.run_sender(), lambda: connection.push("note.added")


def _bare_wait() -> tuple[Awaitable[None], Callable[[], None]]:
    return _waiting_on(asyncio.Event())


def _bare_signal() -> tuple[Awaitable[None], Callable[[], None]]:
    return _waiting_on(Signal())


def _waiting_on(event: asyncio.Event | Signal) -> tuple[Awaitable[None], Callable[[], None]]:

    async def forever() -> None:
        while True:
            await wait_set(event, 60)
            event.clear()

    return forever(), event.set


@pytest.mark.parametrize(
    "loop",
    [_view_loop, _guard_loop, _sender_loop, _bare_wait, _bare_signal],
    ids=lambda f: f.__name__,
)
@pytest.mark.parametrize("steps", STEPS)
async def test_a_loop_woken_and_cancelled_in_the_same_step_ends(
    loop: Callable[[], tuple[Awaitable[None], Callable[[], None]]], steps: int
) -> None:
    work, wake = loop()
    task = asyncio.ensure_future(work)
    await asyncio.sleep(0.01)  # the loop is now waiting

    wake()
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()

    with anyio.fail_after(2):
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def test_stop_tasks_gives_up_on_a_task_that_will_not_stop() -> None:
    stubborn_done = asyncio.Event()

    async def stubborn() -> None:
        for _ in range(100):
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue  # refuses, as some libraries do
        stubborn_done.set()

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)

    with anyio.fail_after(5):
        await stop_tasks([task], within=1.0)

    assert not task.done()
    task.cancel()
    for _ in range(200):
        if task.done():
            break
        task.cancel()
        await asyncio.sleep(0)

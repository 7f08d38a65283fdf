"""Waiting and stopping that a cancellation always gets through.

On Python 3.11 `asyncio.wait_for` returns the result instead of raising when the awaited
thing finishes in the same step as an outside cancellation: a loop built on it carries on
as if never cancelled, and whoever waits for that loop waits for ever. `asyncio.timeout`
counts cancellations and has no such gap, so every timed wait here goes through it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

log = logging.getLogger("connectnow.router")

T = TypeVar("T")


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` was set within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """`awaitable`'s result, or TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def stop_tasks(tasks: Iterable[asyncio.Future[Any]], within: float = 5.0) -> None:
    """Cancel background loops and wait for them, a bounded time.

    Code outside the project may still swallow a cancellation, so this keeps cancelling
    until the tasks end or `within` seconds pass, and says which did not stop.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pending = {task for task in tasks if not task.done()}
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in pending:
        name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
        log.warning("router.task_did_not_stop task=%s", name)

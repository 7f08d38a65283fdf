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


class Signal:
    """A flag one task waits on and others set: an `asyncio.Event` for a single waiter.

    An Event keeps a queue of waiters, most of a kilobyte even when nobody waits; a server
    holding ten thousand idle websockets holds a few of these per socket, so the size counts.
    """

    __slots__ = ("_is_set", "_waiter")

    def __init__(self) -> None:
        self._is_set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._is_set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    def is_set(self) -> bool:
        return self._is_set

    async def wait(self) -> None:
        if self._is_set:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


async def wait_set(event: asyncio.Event | Signal, seconds: float) -> bool:
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
    tasks = list(tasks)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pending = {task for task in tasks if not task.done()}
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in pending:
        log.warning("router.task_did_not_stop task=%s", _name(task))
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("router.task_failed task=%s", _name(task), exc_info=task.exception())


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)

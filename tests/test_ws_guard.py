"""The process's guard closes sockets whose user lost access, and only those."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from server.ws.connection import CLOSE_FORBIDDEN, Connection
from server.ws.guard import Guard
from tests.test_ws_connection import FakeSocket, opened

pytestmark = pytest.mark.anyio


class Access:
    """A switchable answer to "may this socket stay open?", counting the questions."""

    def __init__(self, allowed: bool = True, failing: bool = False) -> None:
        self.allowed = allowed
        self.failing = failing
        self.asked = 0
        self.asked_again = asyncio.Event()

    async def __call__(self) -> bool:
        self.asked += 1
        self.asked_again.set()
        if self.failing:
            raise ConnectionError("database gone")
        return self.allowed


class Closable(FakeSocket):
    """Remembers the close code it was given."""

    code: int | None = None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.code = code
        await super().close(code, reason)


async def _closed(connection: Connection) -> None:
    with anyio.fail_after(5):
        await connection.closed_event.wait()


async def test_a_nudged_socket_that_lost_access_closes_at_once_and_others_stay() -> None:
    guard = Guard(seconds=3600)
    lost_socket = Closable()
    kept, lost = opened(FakeSocket()), opened(lost_socket)
    kept_access, lost_access = Access(), Access(allowed=False)
    guard.watch(kept, kept_access, periodic=True)
    guard.watch(lost, lost_access, periodic=True)
    guard.start()
    try:
        guard.nudge(lost)
        await _closed(lost)
        await lost.finish()
    finally:
        await guard.stop()

    assert lost_socket.code == CLOSE_FORBIDDEN
    assert not kept.closed
    assert (kept_access.asked, lost_access.asked) == (0, 1)  # no sweep was due yet


async def test_the_sweep_checks_periodic_sockets_without_being_told_and_no_others() -> None:
    guard = Guard(seconds=0.1)
    connection, own_console = opened(FakeSocket()), opened(FakeSocket())
    access, own_access = Access(), Access(allowed=False)
    guard.watch(connection, access, periodic=True)
    guard.watch(own_console, own_access, periodic=False)
    guard.start()
    try:
        with anyio.fail_after(5):
            while access.asked < 2:
                access.asked_again.clear()
                await access.asked_again.wait()
        access.allowed = False
        await _closed(connection)
    finally:
        await guard.stop()

    assert connection.closed
    assert (own_access.asked, own_console.closed) == (0, False)


async def test_a_failing_check_neither_closes_the_socket_nor_stops_the_guard() -> None:
    guard = Guard(seconds=3600)
    broken, fine = opened(FakeSocket()), opened(FakeSocket())
    broken_access, fine_access = Access(failing=True), Access(allowed=False)
    guard.watch(broken, broken_access, periodic=True)
    guard.watch(fine, fine_access, periodic=True)
    guard.start()
    try:
        guard.nudge(broken)
        guard.nudge(fine)
        await _closed(fine)
    finally:
        await guard.stop()

    assert broken_access.asked == 1
    assert not broken.closed


async def test_a_forgotten_socket_is_not_checked() -> None:
    guard = Guard(seconds=3600)
    connection = opened(FakeSocket())
    access = Access(allowed=False)
    guard.watch(connection, access, periodic=True)
    guard.forget(connection)
    guard.nudge(connection)
    guard.start()
    try:
        await asyncio.sleep(0)
    finally:
        await guard.stop()

    assert access.asked == 0
    assert not connection.closed

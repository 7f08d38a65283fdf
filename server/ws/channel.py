"""What every channel shares: the auth frame, the client frames loop, and the shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from models.companies import Company
from models.company_users import CompanyUser
from models.users import User
from router.tasks import stop_tasks, within
from server.auth import resolve_token
from server.services import Services
from server.ws.connection import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, Connection

log = logging.getLogger("connectnow.ws")

FrameHandler = Callable[[dict[str, Any]], Awaitable[None]]

MAX_FRAME_CHARS = 64 * 1024
"""The longest client frame read; longer ones are refused unread."""

MAX_ID = 2**63 - 1
"""Ids past this fit no database column: such a path names nothing."""

FRAME_FAILED = "That frame could not be handled; the connection stays open."
BAD_FRAME = "Frames must be JSON objects with a 'type', of at most 64 KiB, in valid Unicode."

COMPANY_DELETED_REASON = "The company was deleted."
"""The close reason (code 4403) of every socket of a company when it is deleted."""


def known_id(value: int) -> bool:
    """Whether an id from a path could name a row at all."""
    return 0 < value <= MAX_ID


def parse(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """A client frame as a JSON object with a string `type`, or None if it is not one."""
    text = message.get("text")
    if text is None:
        raw = message.get("bytes")
        if raw is None or len(raw) > MAX_FRAME_CHARS:
            return None
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str) or len(text) > MAX_FRAME_CHARS:
        return None
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None
    try:
        # JSON escapes may spell lone UTF-16 surrogates, which no database or hash accepts.
        json.dumps(frame, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return None
    return frame


async def refuse(connection: Connection, code: int, message: str) -> None:
    """Tell the client why in an `error` frame, then close with `code`."""
    await connection.send_now("error", {"message": message, "code": code})
    connection.close_soon(code, message[:120])
    await connection.finish()


async def auth_frame(connection: Connection, seconds: float) -> dict[str, Any] | None:
    """The client's first frame if it is an auth frame; otherwise refuse and return None."""
    try:
        message = await within(connection.websocket.receive(), seconds)
    except TimeoutError:
        await refuse(
            connection,
            CLOSE_UNAUTHENTICATED,
            f"Send {{'type': 'auth', ...}} as the first frame within {seconds:g} seconds.",
        )
        return None
    if message["type"] == "websocket.disconnect":
        connection.closed = True
        return None
    frame = parse(message)
    if frame is None or frame["type"] != "auth":
        await refuse(
            connection,
            CLOSE_UNAUTHENTICATED,
            "The first frame must be a JSON object {'type': 'auth', ...}.",
        )
        return None
    connection.heard()
    return frame


async def user_of(services: Services, frame: dict[str, Any]) -> User | None:
    """The signed-in user whose token the auth frame carries, if the token is valid."""
    token = frame.get("token")
    if not isinstance(token, str) or not token:
        return None
    resolved = await resolve_token(services.db, token)
    return None if resolved is None else resolved[1]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who follows a channel, as long-lived sockets keep it: not the whole user row."""

    id: int
    is_admin: bool


async def role_in(services: Services, user: User | Viewer, company_id: int) -> str | None:
    """The user's role in a live company; administrators stand as managers."""
    if not known_id(company_id):
        return None
    async with services.db.read_session() as session:
        company = await session.get(Company, company_id)
        if company is None or company.deleted_at is not None:
            return None
        if user.is_admin:
            return "manager"
        role = await session.scalar(
            select(col(CompanyUser.role)).where(
                col(CompanyUser.company_id) == company_id,
                col(CompanyUser.user_id) == user.id,
                col(CompanyUser.accepted_at).is_not(None),
                col(CompanyUser.removed_at).is_(None),
            )
        )
    return role


async def serve(
    connection: Connection, on_frame: FrameHandler, *beside: Coroutine[Any, Any, None]
) -> None:
    """Send on this task and read on another, until either ends, a task beside them ends, or
    the connection closes; then stop the rest.

    An idle connection waits in two tasks (this one and the reader), plus what it runs beside.
    """
    tasks = [asyncio.ensure_future(work) for work in (*beside, _read(connection, on_frame))]
    for task in tasks:
        task.add_done_callback(connection.stop_sending)
    try:
        await connection.run_sender()
    finally:
        await stop_tasks(tasks)
        await connection.finish()


async def _read(connection: Connection, on_frame: FrameHandler) -> None:
    while True:
        try:
            message = await connection.websocket.receive()
        except Exception:
            return  # the socket is gone: closed under us, or the client vanished
        if message["type"] == "websocket.disconnect":
            return
        connection.heard()
        await _take(connection, on_frame, message)
        # The socket may now wait for hours: keep nothing of the frame meanwhile.
        del message


async def _take(
    connection: Connection, on_frame: FrameHandler, message: Mapping[str, Any]
) -> None:
    """Answer one client frame; a frame the channel fails on is told, and the socket stays."""
    frame = parse(message)
    if frame is None:
        connection.push("error", {"message": BAD_FRAME})
        return
    kind = frame["type"]
    if kind == "ping":
        connection.push("pong")
    elif kind == "pong":
        return
    elif kind == "auth":
        connection.push("error", {"message": "This connection is already authenticated."})
    else:
        try:
            await on_frame(frame)
        except Exception:
            # One frame the channel could not handle must not end the connection.
            log.exception(
                "ws.frame_failed channel=%s connection=%s type=%s",
                connection.channel,
                connection.id,
                kind[:40],
            )
            connection.push("error", {"message": FRAME_FAILED})


def company_deleted(connection: Connection) -> None:
    """Close at once with 4403, as a new socket to the deleted company would be refused."""
    log.info(
        "ws.company_deleted channel=%s connection=%s %s",
        connection.channel,
        connection.id,
        connection.labels,
    )
    connection.close_soon(CLOSE_FORBIDDEN, COMPANY_DELETED_REASON)


def unknown(connection: Connection, frame: dict[str, Any], accepted: str) -> None:
    """The `error` frame for a frame type the channel does not take."""
    connection.push(
        "error",
        {"message": f"Unknown frame type {frame['type']!r}; this channel accepts {accepted}."},
    )

"""The dashboard channel: live per-queue figures of one company for its managers."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.websockets import WebSocket

from models.queues import Queue
from router import snapshot
from router.events import Event
from router.figures import hourly_counts, queue_figures
from server.services import Services
from server.ws import channel
from server.ws.connection import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, Connection
from server.ws.hub import COMPANY_DELETED, hub_of
from server.ws.views import View

log = logging.getLogger("connectnow.ws")

VIEWER_ROLES = ("staffing_manager", "manager")
HOUR = timedelta(hours=1)


async def dashboard_channel(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    company_id: int = websocket.path_params["company_id"]
    await websocket.accept()
    connection = Connection(websocket, "dashboard", services.settings.ws_ping_seconds)
    frame = await channel.auth_frame(connection, services.settings.ws_auth_timeout_seconds)
    if frame is None:
        return
    user = await channel.user_of(services, frame)
    if user is None:
        await channel.refuse(
            connection, CLOSE_UNAUTHENTICATED, "The token is missing, invalid, expired or revoked."
        )
        return
    if await channel.role_in(services, user, company_id) not in VIEWER_ROLES:
        await channel.refuse(
            connection,
            CLOSE_FORBIDDEN,
            "Only a staffing manager or manager of this company may watch its dashboard.",
        )
        return
    assert user.id is not None
    connection.labels = f"company={company_id} user={user.id}"
    await _follow(services, connection, company_id, channel.Viewer(user.id, user.is_admin))


async def _follow(
    services: Services, connection: Connection, company_id: int, viewer: channel.Viewer
) -> None:
    hub = hub_of(services)

    async def still_allowed() -> bool:
        return await channel.role_in(services, viewer, company_id) in VIEWER_ROLES

    shown: list[list[dict[str, Any]]] = []

    async def read() -> list[tuple[str, dict[str, Any]]]:
        queues = await figures(services, company_id)
        if shown and _same(shown[-1], queues):
            return []
        shown.append(queues)
        return [("figures", {"company_id": company_id, "queues": queues})]

    async def on_frame(frame: dict[str, Any]) -> None:
        channel.unknown(connection, frame, "ping")

    view = View(connection, read)

    def on_event(event: Event) -> None:
        if event.type == COMPANY_DELETED:
            channel.company_deleted(connection)
        else:
            view.stale()

    connection.on_event = on_event
    hub.add(hub.dashboards, company_id, connection)
    hub.guard.watch(connection, still_allowed, periodic=True)
    try:
        queues = await figures(services, company_id)
        shown.append(queues)
        connection.begin({"company_id": company_id, "queues": queues})
        log.info("ws.opened channel=dashboard connection=%s %s", connection.id, connection.labels)
        await channel.serve(connection, on_frame, view.run())
    finally:
        hub.guard.forget(connection)
        hub.remove(hub.dashboards, company_id, connection)
        log.info("ws.closed channel=dashboard connection=%s %s", connection.id, connection.labels)


def _same(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """Equal but for the running wait, which clients count up from `oldest_waiting_since`."""

    def steady(queues: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in q.items() if k != "longest_wait_seconds"} for q in queues]

    return steady(before) == steady(after)


async def figures(services: Services, company_id: int) -> list[dict[str, Any]]:
    """Per live queue: its name and the figures the router computes from the database."""
    now = services.clock.now()
    async with services.db.read_session() as session:
        seen = await snapshot.load(session, company_id)
        names = await _names(session, company_id)
        answered, expired = await hourly_counts(session, company_id, now)
    return [
        {"queue_id": row["queue_id"], "name": names.get(row["queue_id"], ""), **row}
        for row in queue_figures(seen, now, answered, expired)
    ]


async def _names(session: AsyncSession, company_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(col(Queue.id), col(Queue.name)).where(col(Queue.company_id) == company_id)
    )
    return {queue_id: name for queue_id, name in rows.tuples() if queue_id is not None}

"""The customer channel: one query's place in line and outcome, for whoever holds its token."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.websockets import WebSocket

from models.company_users import CompanyUser
from models.queries import Query, QueryQueue
from models.users import User
from router.events import Event
from server.auth import digest
from server.services import Services
from server.ws import channel
from server.ws.connection import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, Connection
from server.ws.hub import COMPANY_DELETED, hub_of
from server.ws.views import View

log = logging.getLogger("connectnow.ws")

RECENT_ANSWERS = 20
"""How many recent answers on the queue the estimated wait averages."""

OUTCOMES = ("done", "expired", "cancelled")


async def customer_channel(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    query_id: int = websocket.path_params["query_id"]
    await websocket.accept()
    connection = Connection(websocket, "customer", services.settings.ws_ping_seconds)
    frame = await channel.auth_frame(connection, services.settings.ws_auth_timeout_seconds)
    if frame is None:
        return
    token = frame.get("customer_token")
    if not isinstance(token, str) or not token:
        await channel.refuse(
            connection,
            CLOSE_UNAUTHENTICATED,
            "The auth frame needs the 'customer_token' given when the query was opened.",
        )
        return
    query = await _query(services, query_id)
    if query is None or not hmac.compare_digest(query.customer_token_hash, digest(token)):
        await channel.refuse(
            connection, CLOSE_FORBIDDEN, "This customer token does not belong to that query."
        )
        return
    connection.labels = f"company={query.company_id} query={query_id}"
    await _follow(services, connection, query)


async def _query(services: Services, query_id: int) -> Query | None:
    if not channel.known_id(query_id):
        return None
    async with services.db.read_session() as session:
        return await session.get(Query, query_id)


async def _follow(services: Services, connection: Connection, query: Query) -> None:
    assert query.id is not None
    hub = hub_of(services)
    shown: list[dict[str, Any]] = []

    async def read() -> list[tuple[str, dict[str, Any]]]:
        now = await status(services, query)
        frames = _changes(shown[-1], now)
        shown.append(now)
        return frames

    async def on_frame(frame: dict[str, Any]) -> None:
        channel.unknown(connection, frame, "ping")

    view = View(connection, read)

    def on_event(event: Event) -> None:
        if event.type == COMPANY_DELETED:
            # The customer learns the query's end (cancelled) before the socket closes.
            view.last_word(CLOSE_FORBIDDEN, channel.COMPANY_DELETED_REASON)
        else:
            view.stale()

    connection.on_event = on_event
    hub.add(hub.customers, query.id, connection)
    hub.add(hub.customers_by_company, query.company_id, connection)
    try:
        first = await status(services, query)
        shown.append(first)
        connection.begin(first)
        log.info("ws.opened channel=customer connection=%s %s", connection.id, connection.labels)
        await channel.serve(connection, on_frame, view.run())
    finally:
        hub.remove(hub.customers, query.id, connection)
        hub.remove(hub.customers_by_company, query.company_id, connection)
        log.info("ws.closed channel=customer connection=%s %s", connection.id, connection.labels)


def _changes(before: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The frames that take a customer from what it was shown to what is true now."""
    query_id = now["query_id"]
    if now["status"] == "waiting":
        moved = before["status"] != "waiting" or before["position"] != now["position"]
        if not moved:
            return []
        place = {k: now[k] for k in ("position", "estimated_wait_seconds")}
        return [("position", {"query_id": query_id, **place})]
    frames: list[tuple[str, dict[str, Any]]] = []
    answered_before = before["agent_name"] is not None and before["status"] != "waiting"
    if now["agent_name"] is not None and not answered_before:
        frames.append(("answered", {"query_id": query_id, "agent_name": now["agent_name"]}))
    if now["status"] in OUTCOMES and before["status"] != now["status"]:
        frames.append((now["status"], {"query_id": query_id}))
    return frames


async def status(services: Services, query: Query) -> dict[str, Any]:
    """The query's status, place in line and estimated wait, and who answered it."""
    async with services.db.read_session() as session:
        fresh = await session.get(Query, query.id)
        assert fresh is not None
        position = await _position(session, fresh) if fresh.status == "waiting" else None
        estimate = await _estimate(session, fresh, position)
        agent = await _agent_name(session, fresh)
    return {
        "query_id": fresh.id,
        "status": fresh.status,
        "position": position,
        "estimated_wait_seconds": estimate,
        "agent_name": agent,
    }


async def _position(session: AsyncSession, query: Query) -> int:
    ahead = await session.scalar(
        select(func.count())
        .select_from(Query)
        .where(
            col(Query.queue_id) == query.queue_id,
            col(Query.status) == "waiting",
            or_(
                col(Query.created_at) < query.created_at,
                and_(col(Query.created_at) == query.created_at, col(Query.id) < query.id),
            ),
        )
    )
    return int(ahead or 0) + 1


async def _estimate(session: AsyncSession, query: Query, position: int | None) -> int | None:
    """Position times the mean wait of the queue's recent answers; None without history."""
    if position is None:
        return None
    rows = await session.execute(
        select(col(QueryQueue.entered_at), col(QueryQueue.answered_at))
        .where(
            col(QueryQueue.queue_id) == query.queue_id, col(QueryQueue.answered_at).is_not(None)
        )
        .order_by(col(QueryQueue.answered_at).desc())
        .limit(RECENT_ANSWERS)
    )
    waits = [
        (answered - entered).total_seconds()
        for entered, answered in rows.tuples()
        if answered is not None
    ]
    if not waits:
        return None
    return round(position * sum(waits) / len(waits))


async def _agent_name(session: AsyncSession, query: Query) -> str | None:
    """The first name of whoever holds (or last held) the query, once it was answered."""
    if query.status in ("waiting", "expired", "cancelled") or query.answered_at is None:
        return None
    holder = query.holder_company_user_id
    if holder is None:
        holder = await session.scalar(
            select(col(QueryQueue.answered_by))
            .where(col(QueryQueue.query_id) == query.id, col(QueryQueue.answered_by).is_not(None))
            .order_by(col(QueryQueue.answered_at).desc())
            .limit(1)
        )
    if holder is None:
        return None
    name = await session.scalar(
        select(col(User.name))
        .join(CompanyUser, col(CompanyUser.user_id) == col(User.id))
        .where(col(CompanyUser.id) == holder)
    )
    return None if name is None else str(name).split(" ")[0]

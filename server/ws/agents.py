"""The agent channel: one company user's console, live; its owner may change availability."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from starlette.websockets import WebSocket

from models.companies import Company
from models.company_users import CompanyUser, CompanyUserState
from models.public import company_user_public, query_public
from models.queries import Query
from models.users import User
from router.base import Router
from router.events import Event
from server.errors import ApiError
from server.services import Services
from server.ws import channel, states
from server.ws.channel import Viewer
from server.ws.connection import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, Connection
from server.ws.guard import REVOKED_REASON
from server.ws.hub import COMPANY_DELETED, hub_of

log = logging.getLogger("connectnow.ws")

WATCHER_ROLES = ("staffing_manager", "manager")


async def agent_channel(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    connection = Connection(websocket, "agent", services.settings.ws_ping_seconds)
    console = await _admit(services, connection, websocket.path_params["company_user_id"])
    if console is not None:
        await _follow(services, connection, console)


async def _admit(
    services: Services, connection: Connection, company_user_id: int
) -> Console | None:
    """The console this socket may follow, or None once refused.

    The auth frame and the rows read to check it end with this call: an open console keeps
    only ids, for hours, ten thousand times over.
    """
    frame = await channel.auth_frame(connection, services.settings.ws_auth_timeout_seconds)
    if frame is None:
        return None
    user = await channel.user_of(services, frame)
    if user is None:
        await channel.refuse(
            connection, CLOSE_UNAUTHENTICATED, "The token is missing, invalid, expired or revoked."
        )
        return None
    member = await _member(services, company_user_id)
    is_owner = member is not None and member.user_id == user.id
    if member is None or not (is_owner or await _may_watch(services, user, member)):
        await channel.refuse(
            connection,
            CLOSE_FORBIDDEN,
            "Only the company user itself, or a staffing manager or manager of its company, "
            "may follow this console.",
        )
        return None
    assert member.id is not None and user.id is not None
    connection.labels = f"company_user={company_user_id} user={user.id} owner={is_owner}"
    viewer = Viewer(user.id, user.is_admin)
    return Console(services, connection, member.id, member.company_id, viewer, is_owner)


class Console:
    """An open console: what it follows, as ids rather than rows, and how it answers.

    Its methods are what the hub, the guard and the frames loop call, so a console costs one
    small object rather than a closure per callback.
    """

    __slots__ = (
        "company_id",
        "company_user_id",
        "connection",
        "is_owner",
        "last_state",
        "services",
        "viewer",
    )

    def __init__(
        self,
        services: Services,
        connection: Connection,
        company_user_id: int,
        company_id: int,
        viewer: Viewer,
        is_owner: bool,
    ) -> None:
        self.services = services
        self.connection = connection
        self.company_user_id = company_user_id
        self.company_id = company_id
        self.viewer = viewer
        self.is_owner = is_owner
        # The availability last told, so that the same state told twice is sent once.
        self.last_state: tuple[Any, Any] | None = None

    async def still_allowed(self) -> bool:
        fresh = await _member(self.services, self.company_user_id)
        if fresh is None:
            return False
        return self.is_owner or await _may_watch(self.services, self.viewer, fresh)

    def on_event(self, event: Event) -> None:
        if event.type == COMPANY_DELETED:
            channel.company_deleted(self.connection)
            return
        if event.type == "state.changed":
            key = states.key_of(event.data)
            if self.last_state == key:
                return  # the same state told twice (by the router and by this channel)
            self.last_state = key
        self.connection.push_encoded(event.type, event.data_json)

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] != "state.set":
            channel.unknown(self.connection, frame, "ping and state.set")
        elif not self.is_owner:
            self.connection.push(
                "error",
                {"message": "This console is read-only: only its company user sets its state."},
            )
        else:
            await _set_state(self.services, self.connection, self, frame)


async def _member(services: Services, company_user_id: int) -> CompanyUser | None:
    """The company user if it is accepted, not removed, and its company lives; else None."""
    if not channel.known_id(company_user_id):
        return None
    async with services.db.read_session() as session:
        member = await session.get(CompanyUser, company_user_id)
        if member is None or member.removed_at is not None or member.accepted_at is None:
            return None
        company = await session.get(Company, member.company_id)
    if company is None or company.deleted_at is not None:
        return None
    return member


async def _may_watch(services: Services, user: Viewer | User, member: CompanyUser) -> bool:
    return await channel.role_in(services, user, member.company_id) in WATCHER_ROLES


async def _follow(services: Services, connection: Connection, console: Console) -> None:
    hub = hub_of(services)
    member_id, company_id = console.company_user_id, console.company_id
    connection.on_event = console.on_event
    hub.add(hub.agents, member_id, connection)
    hub.add(hub.agents_by_company, company_id, connection)
    # TODO: an owner's console whose removal event was lost (bus down at that moment) stays
    # open until it reconnects; the REST API refuses it anything meanwhile.
    hub.guard.watch(connection, console.still_allowed, periodic=not console.is_owner)
    router = services.hooks if isinstance(services.hooks, Router) else None
    try:
        if console.is_owner and router is not None:
            await _tell_presence(router.agent_connected, member_id, connection)
        if await _greet(console, router):
            log.info("ws.opened channel=agent connection=%s %s", connection.id, connection.labels)
            await channel.serve(connection, console.on_frame)
    finally:
        hub.guard.forget(connection)
        hub.remove(hub.agents, member_id, connection)
        hub.remove(hub.agents_by_company, company_id, connection)
        if console.is_owner and router is not None:
            await _tell_presence(router.agent_disconnected, member_id, connection)
        log.info("ws.closed channel=agent connection=%s %s", connection.id, connection.labels)


async def _greet(console: Console, router: Router | None) -> bool:
    """Send `hello`, or refuse if the company user is gone; whether the console is open.

    The hello, a console's largest frame by far, is referenced only in this call.
    """
    hello = await _hello(console.services, console.company_user_id, router, console.is_owner)
    if hello is None:
        await channel.refuse(console.connection, CLOSE_FORBIDDEN, REVOKED_REASON)
        return False
    console.last_state = states.key_of(hello["state"])
    console.connection.begin(hello)
    return True


async def _tell_presence(
    tell: Callable[[int, str], Awaitable[None]], company_user_id: int, connection: Connection
) -> None:
    """Presence is the router's; a failing store must not break the console itself."""
    try:
        await tell(company_user_id, connection.id)
    except Exception:
        log.exception(
            "ws.presence_failed company_user=%s connection=%s", company_user_id, connection.id
        )


async def _hello(
    services: Services, member_id: int, router: Router | None, is_owner: bool
) -> dict[str, Any] | None:
    """Everything a console shows, so that a reconnect misses nothing; None once it is gone."""
    async with services.db.read_session() as session:
        fresh = await session.get(CompanyUser, member_id)
        if fresh is None:
            return None
        state = await session.scalar(
            select(CompanyUserState).where(col(CompanyUserState.company_user_id) == member_id)
        )
        ongoing = (
            await session.execute(
                select(Query)
                .where(
                    col(Query.holder_company_user_id) == member_id,
                    col(Query.status) == "ongoing",
                )
                .order_by(col(Query.answered_at), col(Query.id))
            )
        ).scalars()
        ongoing_queries = [query_public(query) for query in ongoing]
    offers = await router.offers_of(member_id) if router is not None else []
    return {
        "company_user": company_user_public(fresh),
        "state": states.public(member_id, state),
        "offers": offers,
        "ongoing": ongoing_queries,
        "read_only": not is_owner,
    }


async def _set_state(
    services: Services, connection: Connection, console: Console, frame: dict[str, Any]
) -> None:
    problem, is_available, status_text = states.read_set_frame(frame)
    if problem is not None:
        connection.push("error", {"message": problem})
        return
    try:
        state, changed = await states.set_availability(
            services, console.company_user_id, is_available=is_available, status_text=status_text
        )
    except ApiError as exc:
        connection.push("error", {"message": exc.message})
        return
    log.info(
        "ws.state_set company_user=%s is_available=%s changed=%s connection=%s",
        console.company_user_id,
        is_available,
        changed,
        connection.id,
    )
    if changed and isinstance(services.hooks, Router):
        return  # the router tells every console of the company user, this one included
    data = {"state": state, "reason": "manual"}
    if not changed:
        connection.push("state.changed", data)  # nothing changed: tell only the asker
        return
    await hub_of(services).bus.publish(
        Event(
            type="state.changed",
            company_id=console.company_id,
            data=data,
            company_user_ids=(console.company_user_id,),
            dashboard=True,
        )
    )

"""REST resources, one module each; importing this package registers their endpoints."""

from __future__ import annotations

from starlette.routing import BaseRoute

from server.resources import (  # noqa: F401  (each import registers endpoints)
    billing,
    companies,
    company_user_states,
    company_users,
    customers,
    docs,
    hours,
    identity,
    invitations,
    notes,
    queries,
    queues,
    ratings,
    skills,
    tokens,
    users,
)
from server.services import Services


def extra_routes() -> list[BaseRoute]:
    """Routes that are not REST endpoints: pages, websockets, health."""
    from server import ws
    from server.resources import ops

    return [*docs.routes(), *ops.routes(), *ws.routes()]


async def start(services: Services) -> None:
    """Start what runs beside requests (the router, timers)."""
    from server import routing, ws

    await routing.start(services)
    await ws.start(services)


async def stop(services: Services) -> None:
    """Stop it again, in reverse."""
    from server import routing, ws

    await ws.stop(services)
    await routing.stop(services)

"""Websocket channels: agents, dashboards and customers."""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute

from server.services import Services


def routes() -> list[BaseRoute]:
    from server.ws.agents import agent_channel
    from server.ws.customers import customer_channel
    from server.ws.dashboards import dashboard_channel

    return [
        WebSocketRoute("/ws/company-users/{company_user_id:int}", agent_channel),
        WebSocketRoute("/ws/companies/{company_id:int}", dashboard_channel),
        WebSocketRoute("/ws/queries/{query_id:int}", customer_channel),
    ]


async def start(services: Services) -> None:
    """Start the dispatcher on the routing engine's bus (call after the router is installed)."""
    from server.ws.hub import hub_of

    await hub_of(services).start()


async def stop(services: Services) -> None:
    from server.ws.hub import HUB_KEY, Hub

    hub = services.extras.pop(HUB_KEY, None)
    if isinstance(hub, Hub):
        await hub.stop()

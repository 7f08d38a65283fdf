"""Starts and stops the routing engine beside the web server."""

from __future__ import annotations

from server.services import Services


async def start(services: Services) -> None:
    """Build the router for the configured store and install it as `services.hooks`."""


async def stop(services: Services) -> None:
    """Stop timers and subscriptions."""

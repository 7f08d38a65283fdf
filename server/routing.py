"""Starts and stops the routing engine beside the web server."""

from __future__ import annotations

import logging

from router import keys
from router.bus import MemoryBus, RedisBus
from router.engine import RoutingEngine
from router.hooks import RoutingHooks
from router.store import Store
from router.stores.memory import MemoryStore
from server.services import Services

log = logging.getLogger("connectnow.router")


def build(services: Services) -> RoutingEngine:
    """The router for the configured store: Redis when `REDIS_URL` is set, else memory."""
    settings = services.settings
    store: Store
    bus: MemoryBus
    if settings.redis_url:
        from router.stores.redis import RedisStore, connect

        redis = connect(settings.redis_url)
        store = RedisStore(redis, settings.redis_prefix)
        bus = RedisBus(redis, keys.events_channel(settings.redis_prefix))
    else:
        store, bus = MemoryStore(), MemoryBus()
    return RoutingEngine(
        services.db,
        store,
        bus,
        services.clock,
        services.mailer,
        presence_grace_seconds=settings.presence_grace_seconds,
        timer_poll_seconds=settings.timer_poll_seconds,
    )


async def start(services: Services) -> None:
    """Build the router for the configured store and install it as `services.hooks`."""
    router = build(services)
    await router.start()
    services.hooks = router


async def stop(services: Services) -> None:
    """Stop timers and subscriptions."""
    router = services.hooks
    services.hooks = RoutingHooks()
    if isinstance(router, RoutingEngine):
        await router.stop()

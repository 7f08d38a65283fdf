"""Starts and stops the routing engine beside the web server."""

from __future__ import annotations

import logging
from typing import Any

from router import keys
from router.bus import MemoryBus, RedisBus
from router.engine import RoutingEngine
from router.hooks import RoutingHooks
from router.present import Presenters
from router.store import Store
from router.stores.memory import MemoryStore
from server.services import Services

log = logging.getLogger("connectnow.router")


def _presenters() -> Presenters:
    """The REST serializers where their modules define them, so frames match REST bodies."""
    chosen = Presenters()
    from server.resources import company_users, queries, queues

    for attribute, module in (
        ("query", queries),
        ("queue", queues),
        ("company_user", company_users),
    ):
        serializer: Any = getattr(module, "public", None)
        if callable(serializer):
            setattr(chosen, attribute, serializer)
    return chosen


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
        presenters=_presenters(),
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

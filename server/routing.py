"""Starts and stops the routing engine beside the web server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from models import changes
from router import keys
from router.bus import MemoryBus, RedisBus
from router.engine import RoutingEngine
from router.events import Event, EventBus
from router.hooks import RoutingHooks
from router.store import Store
from router.stores.memory import MemoryStore
from server.services import Services
from server.ws.hub import ACCESS_CHANGED

log = logging.getLogger("connectnow.router")
_STOP_ANNOUNCING = "stop_announcing_access_changes"


def _announcer(bus: EventBus) -> Callable[[], None]:
    """Tell every process (this one too) that cached tokens and memberships are stale."""
    pending: set[asyncio.Task[None]] = set()

    async def announce() -> None:
        try:
            await bus.publish(Event(ACCESS_CHANGED, 0, {}))
        except Exception as exc:
            # Other processes drop their entries when they expire (server/access_cache.py).
            log.warning("access.announce_failed error=%s", type(exc).__name__)

    def on_commit() -> None:
        task = asyncio.get_running_loop().create_task(announce())
        pending.add(task)
        task.add_done_callback(pending.discard)

    return on_commit


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
    services.extras[_STOP_ANNOUNCING] = changes.on_commit(_announcer(router.bus))


async def stop(services: Services) -> None:
    """Stop timers and subscriptions."""
    stop_announcing = services.extras.pop(_STOP_ANNOUNCING, None)
    if stop_announcing is not None:
        stop_announcing()
    router = services.hooks
    services.hooks = RoutingHooks()
    if isinstance(router, RoutingEngine):
        await router.stop()

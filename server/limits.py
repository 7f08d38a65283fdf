"""Per-client request rate limits, tighter on the public endpoints."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.requests import Request

from server.errors import RateLimited


class RateLimiter:
    """A token bucket per client address and endpoint class, in this process.

    Each bucket holds up to a minute's allowance and refills evenly, so a client may burst up
    to its limit and then keeps the per-minute rate; a refusal says exactly how long to wait.
    """

    # TODO: the buckets live in each process; with N processes a client may get N times the
    # limit. Moving them to Redis (a short Lua script per check) would make them shared.

    def __init__(
        self,
        per_minute: int,
        public_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.public_per_minute = public_per_minute
        self.clock = clock
        self._buckets: dict[tuple[str, bool], tuple[float, float]] = {}

    async def check(self, request: Request, *, public: bool) -> None:
        limit = self.public_per_minute if public else self.per_minute
        if limit <= 0:
            return
        client = request.client.host if request.client else "unknown"
        self.take(client, public, limit)

    def take(self, client: str, public: bool, limit: int) -> None:
        """Spend one request of `client`'s allowance, or raise how long to wait for one."""
        now = self.clock()
        per_second = limit / 60
        key = (client, public)
        tokens, updated = self._buckets.get(key, (float(limit), now))
        tokens = min(float(limit), tokens + (now - updated) * per_second)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise RateLimited(retry_after=max(1, math.ceil((1 - tokens) / per_second)))
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > 100_000:
            self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely; they hold nothing worth keeping."""
        self._buckets = {
            key: (tokens, updated)
            for key, (tokens, updated) in self._buckets.items()
            if now - updated < 60
        }

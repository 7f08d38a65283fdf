"""Per-client request rate limits, tighter on the public endpoints."""

from __future__ import annotations

import time

from starlette.requests import Request

from server.errors import RateLimited


class RateLimiter:
    """Fixed one-minute windows per client address and endpoint class, in this process."""

    # TODO: the windows live in each process; with N processes a client may get N times the
    # limit. Moving the counters to Redis (INCR with EXPIRE) would make them shared.

    def __init__(self, per_minute: int, public_per_minute: int) -> None:
        self.per_minute = per_minute
        self.public_per_minute = public_per_minute
        self._windows: dict[tuple[str, bool], tuple[int, int]] = {}

    async def check(self, request: Request, *, public: bool) -> None:
        limit = self.public_per_minute if public else self.per_minute
        if limit <= 0:
            return
        client = request.client.host if request.client else "unknown"
        now = time.monotonic()
        window = int(now // 60)
        key = (client, public)
        started, count = self._windows.get(key, (window, 0))
        if started != window:
            started, count = window, 0
        if count >= limit:
            raise RateLimited(retry_after=max(1, int((window + 1) * 60 - now)))
        self._windows[key] = (started, count + 1)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}

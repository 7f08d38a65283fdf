"""The client side of a run: paced arrivals, websocket agents, and a progress line."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.rawhttp import RawPool

Counters = dict[str, int]


class Progress:
    """One line on stderr, redrawn twice a second: elapsed time, a bar, and counters."""

    def __init__(self, label: str, seconds: float, counters: Counters) -> None:
        self.label = label
        self.seconds = seconds
        self.counters = counters
        self.began = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def _line(self) -> str:
        elapsed = time.monotonic() - self.began
        share = min(elapsed / self.seconds, 1.0) if self.seconds > 0 else 1.0
        bar = "#" * int(share * 24)
        shown = " ".join(f"{k}={v}" for k, v in self.counters.items())
        return f"\r{self.label:<18} [{bar:<24}] {elapsed:5.1f}/{self.seconds:.0f}s {shown}"

    async def _draw(self) -> None:
        # A terminal gets one line redrawn in place; a log gets a fresh line every 5 s.
        live = sys.stderr.isatty()
        while True:
            sys.stderr.write(self._line()[:159] if live else self._line()[1:159] + "\n")
            sys.stderr.flush()
            await asyncio.sleep(0.5 if live else 5.0)

    def __enter__(self) -> Progress:
        self._task = asyncio.get_running_loop().create_task(self._draw())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        line = self._line()[:159]
        sys.stderr.write((line if sys.stderr.isatty() else line[1:]) + "\n")
        sys.stderr.flush()


async def paced(
    rate: float | None,
    seconds: float,
    send: Callable[[int], Coroutine[Any, Any, None]],
    *,
    poisson: bool = False,
    concurrency: int = 64,
    seed: int = 7,
) -> int:
    """Call `send(n)` for n = 0, 1, ... for `seconds`, open loop at `rate` per second.

    With `rate` None, `concurrency` workers call it back to back (as fast as possible).
    Waits for the calls in flight, bounded by 30 s, and answers how many were started.
    """
    deadline = time.perf_counter() + seconds
    numbers = itertools.count()
    if rate is None:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await send(next(numbers))

        workers = asyncio.gather(*(worker() for _ in range(concurrency)))
        with contextlib.suppress(TimeoutError):
            # Requests still unanswered 30 s after the end are cut off, not waited for.
            await asyncio.wait_for(workers, 30 + seconds)
        return next(numbers)

    rng = random.Random(seed)
    in_flight: set[asyncio.Task[None]] = set()
    due = time.perf_counter()
    while due < deadline:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.get_running_loop().create_task(send(next(numbers)))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        due += rng.expovariate(rate) if poisson else 1 / rate
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    await cancel_all(in_flight)
    return next(numbers)


async def cancel_all(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel tasks still running when a run stops, and wait for them to end."""
    left = list(tasks)
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


def http_client(base_url: str) -> RawPool:
    """The harness's HTTP client, the same for the server and the baselines it is set beside."""
    return RawPool(base_url, size=256)


async def open_socket(url: str) -> ClientConnection:
    return await connect(
        url, open_timeout=60, ping_interval=None, compression=None, max_queue=None
    )


async def open_many(
    urls: list[str], counters: Counters, *, parallel: int = 100
) -> list[ClientConnection | None]:
    """Open one websocket per url, `parallel` at a time; a failure leaves None and counts."""
    gate = asyncio.Semaphore(parallel)

    async def one(url: str) -> ClientConnection | None:
        async with gate:
            try:
                socket = await open_socket(url)
            except (OSError, TimeoutError, Exception):
                counters["errors"] = counters.get("errors", 0) + 1
                return None
            counters["connected"] = counters.get("connected", 0) + 1
            return socket

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def close_all(sockets: list[Any]) -> None:
    async def one(socket: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(socket.close(), 5)

    await asyncio.gather(*(one(s) for s in sockets if s is not None))


def frame(raw: str | bytes) -> dict[str, Any]:
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


@dataclass
class Timings:
    """Latencies in seconds, named by what they measure, plus counters."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    counters: Counters = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

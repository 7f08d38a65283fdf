"""Runs of the baselines in `bench/baselines/`, measured the same way as the server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.backing import Backing
from bench.load import (
    Progress,
    Timings,
    close_all,
    frame,
    http_client,
    open_many,
    paced,
)
from bench.procs import CpuMeter, Server, rss_bytes
from bench.stats import summary_ms


def _body(n: int, prefix: str) -> dict[str, Any]:
    return {"queue_id": 1, "source": f"{prefix}-{n}", "email": "c@bench.example.com",
            "name": "Customer"}  # fmt: skip


async def _post_loop(
    server: Server,
    label: str,
    rate: float | None,
    seconds: float,
    timings: Timings,
    prefix: str,
    sent_at: dict[str, float] | None = None,
) -> tuple[int, float, float]:
    """POST /queries paced or flat out; answers (count ok, seconds, server CPU seconds)."""
    async with http_client(server.url) as http:
        meter = CpuMeter([server.pid])

        async def send(n: int) -> None:
            body = _body(n, prefix)
            began = time.perf_counter()
            if sent_at is not None:
                sent_at[body["source"]] = began
            try:
                response = await http.post("/queries", json=body)
            except Exception:
                timings.count("errors")
                return
            if response.status_code == 201:
                timings.add(f"{label}.create", time.perf_counter() - began)
                timings.count(f"{label}.ok")
            else:
                timings.count("errors")

        await send(-1)  # warm the pool
        meter.start()
        began = time.perf_counter()
        with Progress(label, seconds, timings.counters):
            await paced(rate, seconds, send)
        elapsed = time.perf_counter() - began
        meter.stop()
    return timings.counters.get(f"{label}.ok", 0), elapsed, meter.seconds


async def run_insert(backing: Backing, log_dir: Path, rate: float, seconds: float,
                     burst_seconds: float) -> dict[str, Any]:  # fmt: skip
    """Baseline (a): one Starlette endpoint, one asyncpg INSERT."""
    server = Server("bare-insert", "bench.baselines.insert:app", {"BENCH_PG_DSN": backing.pg_dsn})
    server.start(log_dir)
    try:
        paced_t, burst_t = Timings(), Timings()
        await _post_loop(server, "insert@rate", rate, seconds, paced_t, "a")
        ok, elapsed, cpu = await _post_loop(
            server, "insert@max", None, burst_seconds, burst_t, "b"
        )
    finally:
        server.stop()
    return {
        "create": summary_ms(paced_t.samples.get("insert@rate.create", [])),
        "max_throughput_per_s": round(ok / elapsed, 1),
        "cpu_ms_per_request": round(1000 * cpu / max(ok, 1), 3),
        "errors": paced_t.counters.get("errors", 0) + burst_t.counters.get("errors", 0),
    }


async def run_path(backing: Backing, log_dir: Path, clients: int, rate: float, seconds: float,
                   burst_seconds: float) -> dict[str, Any]:  # fmt: skip
    """Baseline (b): INSERT, PUBLISH, and one websocket send to a subscribed client."""
    env = {"BENCH_PG_DSN": backing.pg_dsn, "BENCH_REDIS_URL": backing.redis_url,
           "BENCH_CHANNEL": f"bench:{backing.run_id}:offers"}  # fmt: skip
    server = Server("bare-path", "bench.baselines.path:app", env)
    server.start(log_dir)
    timings = Timings()
    sent_at: dict[str, float] = {}
    sockets = await open_many([f"{server.ws_url}/ws"] * clients, timings.counters)
    readers = [asyncio.create_task(_read_offers(s, sent_at, timings)) for s in sockets if s]
    try:
        await _post_loop(server, "path@rate", rate, seconds, timings, "p", sent_at)
        await asyncio.sleep(0.5)
        burst = Timings()
        ok, elapsed, cpu = await _post_loop(server, "path@max", None, burst_seconds, burst, "q")
    finally:
        for reader in readers:
            reader.cancel()
        await close_all(sockets)
        server.stop()
    return {
        "create_to_offer": summary_ms(timings.samples.get("offer", [])),
        "create": summary_ms(timings.samples.get("path@rate.create", [])),
        "max_throughput_per_s": round(ok / elapsed, 1),
        "cpu_ms_per_request": round(1000 * cpu / max(ok, 1), 3),
        "errors": timings.counters.get("errors", 0) + burst.counters.get("errors", 0),
    }


async def _read_offers(socket: Any, sent_at: dict[str, float], timings: Timings) -> None:
    async for raw in socket:
        received = time.perf_counter()
        source = frame(raw).get("query", {}).get("source")
        if source in sent_at:
            timings.add("offer", received - sent_at.pop(source))


async def run_broadcast(log_dir: Path, clients: int, rounds: int) -> dict[str, Any]:
    """Baseline (c): a bare broadcast to the same N clients, and RSS per idle connection."""
    server = Server("bare-broadcast", "bench.baselines.broadcast:app")
    server.start(log_dir)
    timings = Timings()
    try:
        async with http_client(server.url) as http:
            await http.get("/connected")
            await asyncio.sleep(0.3)
            before = rss_bytes(server.pid)
            with Progress("broadcast connect", 0, timings.counters):
                sockets = await open_many([f"{server.ws_url}/ws"] * clients, timings.counters)
            await asyncio.sleep(0.5)
            after = rss_bytes(server.pid)
            live = [s for s in sockets if s is not None]
            for n in range(rounds):
                began = time.perf_counter()
                waits = [asyncio.create_task(_first_frame(s)) for s in live]
                await http.post("/broadcast", content=json.dumps({"round": n}))
                done = await asyncio.gather(*waits, return_exceptions=True)
                ends = [t for t in done if isinstance(t, float)]
                timings.count("errors", len(done) - len(ends))
                if ends:
                    timings.add("all", max(ends) - began)
            await close_all(sockets)
    finally:
        server.stop()
    return {
        "fan_out_all": summary_ms(timings.samples.get("all", [])),
        "rss_bytes_per_connection": round((after - before) / max(len(live), 1)),
        "connected": len(live),
        "errors": timings.counters.get("errors", 0),
    }


async def _first_frame(socket: Any) -> float:
    await asyncio.wait_for(socket.recv(), 30)
    return time.perf_counter()

"""Runs against the real server: agents on websockets, customers and actions over REST."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.backing import Agent, Backing, Seeded
from bench.load import (
    Progress,
    Timings,
    cancel_all,
    close_all,
    frame,
    http_client,
    open_socket,
    paced,
)
from bench.procs import CpuMeter, Server, rss_bytes
from bench.rawhttp import RawConnection, RawPool

SERVER_ENV = {
    "RATE_LIMIT_PER_MINUTE": "100000000",
    "PUBLIC_RATE_LIMIT_PER_MINUTE": "100000000",
    "LOG_LEVEL": "WARNING",
    "PRESENCE_GRACE_SECONDS": "600",
    "WS_PING_SECONDS": "600",
    "WS_AUTH_TIMEOUT_SECONDS": "120",
    "SMTP_URL": "",
}


def start_servers(backing: Backing, processes: int, log_dir: Path) -> list[Server]:
    """Start 1 or 2 server processes on this run's store; 2 need the Redis store."""
    if processes > 1 and backing.store != "redis":
        raise ValueError("Several processes share routing state only with --store redis.")
    servers = []
    try:
        for n in range(processes):
            server = Server(f"server{n}", "server.app:app", SERVER_ENV | backing.server_env())
            server.start(log_dir)
            servers.append(server)
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


@dataclass
class Console:
    """One agent's websocket, what it has been offered, and what it holds."""

    agent: Agent
    server: Server
    socket: Any = None
    holding: int = 0
    pending: dict[int, str] = field(default_factory=dict)

    @property
    def free(self) -> bool:
        return self.holding < self.agent.limit

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.agent.token}"}


async def sign_in(console: Console, timings: Timings) -> bool:
    """Open the agent channel, authenticate, wait for `hello`, and go available if needed."""
    url = f"{console.server.ws_url}/ws/company-users/{console.agent.company_user_id}"
    try:
        console.socket = await open_socket(url)
        await console.socket.send(f'{{"type": "auth", "token": "{console.agent.token}"}}')
        hello = frame(await asyncio.wait_for(console.socket.recv(), 60))
    except Exception:
        timings.count("errors")
        return False
    if hello.get("type") != "hello":
        timings.count("errors")
        return False
    state = hello.get("state") or {}
    if isinstance(state, dict) and state.get("is_available") is False:
        await console.socket.send('{"type": "state.set", "is_available": true}')
    timings.count("connected")
    return True


async def sign_in_all(consoles: list[Console], timings: Timings, parallel: int = 100) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(console: Console) -> None:
        async with gate:
            await sign_in(console, timings)

    with Progress("agents connect", 0, timings.counters):
        await asyncio.gather(*(one(c) for c in consoles))


@dataclass
class FlowRun:
    """Customers open queries; the first agent offered one answers it, works, marks it done.

    The agents coordinate in this process so that one agent answers each offer, as a person
    would, instead of every offered agent racing. `handling` draws the seconds between the
    answer and the done.
    """

    seeded: Seeded
    servers: list[Server]
    handling: float
    exponential: bool = False
    timings: Timings = field(default_factory=Timings)
    sent_at: dict[str, float] = field(default_factory=dict)
    offered_at: dict[str, float] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    claimed: set[int] = field(default_factory=set)
    answered_by: dict[int, int] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    waits: list[float] = field(default_factory=list)
    services: list[float] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    https: list[RawPool] = field(default_factory=list)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: bool = False

    def http(self) -> RawPool:
        return self.https[next(self._turn) % len(self.https)]

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _queue_for(self, n: int) -> int:
        """Queries go round the team queues, so every team sees the same rate."""
        queue_ids = self.seeded.queue_ids
        return queue_ids[n % len(queue_ids)]

    async def create(self, n: int, queue_id: int | None = None) -> None:
        source = f"bench-{n}"
        body = {"source": source, "email": "customer@bench.example.com", "is_link": False,
                "name": "Customer", "queue_id": queue_id or self._queue_for(n)}  # fmt: skip
        began = time.perf_counter()
        self.sent_at[source] = began
        try:
            response = await self.http().post("/api/queries", json=body)
        except Exception as exc:
            self.timings.count("errors")
            self.timings.count(f"error.{type(exc).__name__}")
            return
        if response.status_code != 201:
            self.timings.count("errors")
            self.timings.count(f"create.{response.status_code}")
            return
        self.timings.add("create", time.perf_counter() - began)
        self.created[source] = int(response.json()["id"])
        self.timings.count("created")

    def on_frame(self, console: Console, data: dict[str, Any], received: float) -> None:
        kind = data.get("type")
        if kind == "hello":
            for offer in data.get("offers") or []:
                self.on_offer(console, offer, received)
        elif kind == "query.offered":
            self.on_offer(console, data, received)
        elif kind == "query.withdrawn":
            query = data.get("query")
            query_id = query.get("id") if isinstance(query, dict) else data.get("query_id")
            console.pending.pop(int(query_id or 0), None)
        elif kind == "error":
            self.timings.count("error_frames")

    def on_offer(self, console: Console, offer: dict[str, Any], received: float) -> None:
        query = offer.get("query") or {}
        query_id, source = int(query.get("id", 0)), str(query.get("source", ""))
        if source in self.sent_at and source not in self.offered_at:
            self.offered_at[source] = received
            self.timings.add("create_to_offer", received - self.sent_at[source])
        console.pending[query_id] = source
        self.take_next(console)

    def take_next(self, console: Console) -> None:
        """Give a free agent the oldest offer it holds that no other agent has taken."""
        while not self.stopping and console.free and console.pending:
            query_id = min(console.pending)
            source = console.pending.pop(query_id)
            if query_id in self.claimed:
                continue
            self.claimed.add(query_id)
            console.holding += 1
            self.spawn(self.work(console, query_id, source))

    async def work(self, console: Console, query_id: int, source: str) -> None:
        try:
            await self._work(console, query_id, source)
        except Exception as exc:
            self.timings.count("errors")
            self.timings.count(f"error.{type(exc).__name__}")
        finally:
            console.holding -= 1
            self.take_next(console)

    async def _work(self, console: Console, query_id: int, source: str) -> None:
        began = time.perf_counter()
        answered = await self.http().post(
            f"/api/queries/{query_id}/answer", headers=console.headers
        )
        answered_at = time.perf_counter()
        if answered.status_code != 200:
            # Lost to an agent outside this process's view: another agent may try.
            self.claimed.discard(query_id)
            self.timings.count("answer_refused")
            return
        self.timings.add("answer", answered_at - began)
        if query_id in self.answered_by:
            self.timings.count("double_answer")
        self.answered_by[query_id] = console.agent.company_user_id
        if source in self.sent_at:
            self.waits.append(began - self.sent_at[source])
        seconds = self.rng.expovariate(1 / self.handling) if self.exponential else self.handling
        await asyncio.sleep(seconds)
        began_done = time.perf_counter()
        finished = await self.http().post(
            f"/api/queries/{query_id}/mark-as-done", headers=console.headers
        )
        ended = time.perf_counter()
        if finished.status_code != 200:
            self.timings.count("errors")
            self.timings.count(f"done.{finished.status_code}")
            return
        self.timings.add("done", ended - began_done)
        self.services.append(ended - answered_at)
        self.done.add(query_id)
        self.timings.count("flows")


async def _listen(run: FlowRun, console: Console) -> None:
    with contextlib.suppress(Exception):
        async for raw in console.socket:
            run.on_frame(console, frame(raw), time.perf_counter())
    run.timings.count("sockets_closed")


@dataclass
class FlowResult:
    run: FlowRun
    seconds: float
    cpu_seconds: float
    cpu_cores: float
    rss_per_agent: float | None
    lost: list[str]


async def flows(
    backing: Backing,
    seeded: Seeded,
    servers: list[Server],
    *,
    rate: float | None,
    seconds: float,
    handling: float,
    poisson: bool = False,
    exponential: bool = False,
    label: str = "flows",
    drain_seconds: float = 15.0,
) -> FlowResult:
    """Agents connect, customers arrive for `seconds`, then the run drains and stops."""
    run = FlowRun(seeded, servers, handling, exponential)
    run.https = [http_client(s.url) for s in servers]
    consoles = [Console(a, servers[n % len(servers)]) for n, a in enumerate(seeded.agents)]
    rss_before = sum(rss_bytes(s.pid) for s in servers)
    await sign_in_all(consoles, run.timings)
    await asyncio.sleep(1.0)
    rss_after = sum(rss_bytes(s.pid) for s in servers)
    live = [c for c in consoles if c.socket is not None]
    listeners = [asyncio.create_task(_listen(run, c)) for c in live]
    meter = CpuMeter([s.pid for s in servers])
    meter.start()
    began = time.perf_counter()
    try:
        with Progress(label, seconds, run.timings.counters):
            await paced(rate, seconds, run.create, poisson=poisson)
            await _drain(run, deadline=time.perf_counter() + drain_seconds)
        run.stopping = True
        run.timings.count("cut_at_stop", len(run.tasks))
        await cancel_all(run.tasks)
        elapsed = time.perf_counter() - began
        meter.stop()
    finally:
        for listener in listeners:
            listener.cancel()
        await close_all([c.socket for c in live])
        for http in run.https:
            await http.aclose()
    lost = [s for s in run.created if s not in run.offered_at]
    per_agent = (rss_after - rss_before) / len(live) if live else None
    return FlowResult(run, elapsed, meter.seconds, meter.cores, per_agent, lost)


async def _drain(run: FlowRun, deadline: float) -> None:
    """Wait until every created query is done, or the deadline passes."""
    while time.perf_counter() < deadline:
        if len(run.done) >= len(run.created) and not run.tasks:
            return
        await asyncio.sleep(0.1)
    run.timings.count("undrained", len(run.created) - len(run.done))


async def race(
    seeded: Seeded, servers: list[Server], rounds: int, offer_wait: float = 10.0
) -> dict[str, Any]:
    """Each round, one query is offered to every agent and all of them answer at once."""
    timings = Timings()
    consoles = [Console(a, servers[n % len(servers)]) for n, a in enumerate(seeded.agents)]
    await sign_in_all(consoles, timings)
    live = [c for c in consoles if c.socket is not None]
    lines = [RawConnection("127.0.0.1", c.server.port) for c in live]
    await asyncio.gather(*(line.open() for line in lines))
    https = [http_client(s.url) for s in servers]
    winners: list[int] = []
    try:
        with Progress("race", 0, timings.counters):
            for n in range(rounds):
                winners.append(await _race_round(n, seeded, live, lines, https[0], timings,
                                                 offer_wait))  # fmt: skip
                timings.count("rounds")
    finally:
        await close_all([c.socket for c in live])
        await asyncio.gather(*(line.close() for line in lines))
        for http in https:
            await http.aclose()
    return {"agents": len(live), "rounds": rounds, "winners_per_round": winners,
            "timings": timings}  # fmt: skip


async def _race_round(
    n: int,
    seeded: Seeded,
    live: list[Console],
    lines: list[RawConnection],
    http: RawPool,
    timings: Timings,
    offer_wait: float,
) -> int:
    """Wait until every agent holds the offer, then send all the answers in one burst."""
    body = {"source": f"race-{n}", "email": "customer@bench.example.com", "is_link": False,
            "name": "Customer", "queue_id": seeded.queue_id}  # fmt: skip
    created = await http.post("/api/queries", json=body)
    if created.status_code != 201:
        timings.count("errors")
        return 0
    query_id = int(created.json()["id"])
    await asyncio.gather(*(_await_offer(c, query_id, timings, offer_wait) for c in live))
    path = f"/api/queries/{query_id}/answer"
    requests = [line.request(path, c.agent.token) for c, line in zip(live, lines, strict=True)]
    results = await asyncio.gather(
        *(line.post(r) for line, r in zip(lines, requests, strict=True)), return_exceptions=True
    )
    statuses = []
    for result in results:
        if isinstance(result, BaseException):
            statuses.append(0)
            continue
        statuses.append(result[0])
        timings.add("answer", result[1])
    wins = [c for c, status in zip(live, statuses, strict=True) if status == 200]
    timings.count("refused", sum(1 for status in statuses if status == 403))
    timings.count("errors", sum(1 for status in statuses if status not in (200, 403)))
    for console in wins:
        done = await http.post(f"/api/queries/{query_id}/mark-as-done", headers=console.headers)
        if done.status_code != 200:
            timings.count("errors")
    return len(wins)


async def _await_offer(console: Console, query_id: int, timings: Timings, seconds: float) -> None:
    """Read frames until this query is offered; agents answer only what they were offered."""
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        try:
            data = frame(await asyncio.wait_for(console.socket.recv(), left))
        except Exception:
            break
        offers = data.get("offers") if data.get("type") == "hello" else [data]
        for offer in offers or []:
            if offer.get("type", "query.offered") == "query.offered":
                query = offer.get("query") or {}
                if int(query.get("id", 0)) == query_id:
                    return
    timings.count("not_offered")


async def idle(servers: list[Server], seeded: Seeded) -> dict[str, Any]:
    """Agents connect and sit idle: RSS the server gains per connected agent."""
    timings = Timings()
    consoles = [Console(a, servers[0]) for a in seeded.agents]
    async with http_client(servers[0].url) as http:
        await http.get("/api/openapi.json")
    await asyncio.sleep(0.5)
    before = rss_bytes(servers[0].pid)
    meter = CpuMeter([servers[0].pid])
    meter.start()
    await sign_in_all(consoles, timings)
    await asyncio.sleep(2.0)
    meter.stop()
    after = rss_bytes(servers[0].pid)
    live = [c for c in consoles if c.socket is not None]
    await close_all([c.socket for c in live])
    return {
        "connected": len(live),
        "rss_bytes_per_agent": round((after - before) / max(len(live), 1)),
        "rss_mb": round(after / 2**20, 1),
        "cpu_ms_per_agent_sign_in": round(1000 * meter.seconds / max(len(live), 1), 3),
        "errors": timings.counters.get("errors", 0),
    }

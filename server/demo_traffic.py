"""The demo's live traffic: customers arriving at random and agents working at a human pace.

Everything goes through the real HTTP and websocket API, as browsers would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from server.demo_company import QUEUES, Api, Demo, DemoOptions, Member

log = logging.getLogger("connectnow.demo")

REPORT_SECONDS = 30.0
CUSTOMER_NAMES = (
    "Mia Keller", "Ben Carter", "Yuki Sato", "Lea Braun", "Omar Aziz", "Sofia Costa",
    "Finn Meyer", "Zoe Clark", "Ravi Patel", "Ines Silva", "Tom Wagner", "Hana Kim",
)  # fmt: skip
SCORES = ((5, 45), (4, 30), (3, 12), (2, 8), (1, 5))


@dataclass
class Simulation:
    """Customers arriving as a Poisson process, and agents answering at a human pace."""

    api: Api
    demo: Demo
    ws_base: str
    options: DemoOptions
    stats: Counter[str] = field(default_factory=Counter)
    answered: set[int] = field(default_factory=set)
    """Queries seen answered, by a simulated agent's 200 or by their customer's channel."""
    done: set[int] = field(default_factory=set)
    """Queries seen done; a set, since the agent and the customer both see each one."""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.options.speed)

    def spawn(self, job: Coroutine[Any, Any, None], what: str) -> None:
        """Run a job beside the others; an unexpected error is logged and the demo goes on."""

        async def guarded() -> None:
            try:
                await job
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, OSError, WebSocketException) as exc:
                log.warning("demo.job_interrupted job=%s error=%r", what, exc)
            except Exception:
                log.exception("demo.job_failed job=%s", what)

        task = asyncio.get_running_loop().create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        for member in self.demo.agents:
            self.spawn(SimulatedAgent(self, member).run(), f"agent {member.plan.email}")
        self.spawn(self.arrivals(), "arrivals")
        if not self.options.quiet:
            self.spawn(self.report(), "report")
        try:
            await asyncio.Event().wait()
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def arrivals(self) -> None:
        rate_per_second = self.options.customers_per_minute / 60.0
        while True:
            await self.pause(random.expovariate(rate_per_second))
            self.spawn(self.customer(), "customer")

    async def customer(self) -> None:
        plans = random.choices(QUEUES, weights=[q.weight for q in QUEUES])
        queue = self.demo.queues[plans[0].name]
        name, surname = random.choice(CUSTOMER_NAMES).split(" ", 1)
        n = self.stats["customers"] + 1
        body = {
            "queue_id": queue["id"],
            "name": name,
            "surname": surname,
            "email": f"{name}.{surname}.{n}@customers.example.com".lower(),
            "source": f"https://shop.example.com/tickets/{random.randint(10000, 99999)}",
            "is_link": True,
        }
        response = await self.api.call("POST", "/api/queries", body=body)
        if response.status_code != 201:
            self.stats["refused"] += 1
            log.info("demo.query_refused status=%s", response.status_code)
            return
        self.stats["customers"] += 1
        created = response.json()
        await CustomerVisit(self, int(created["id"]), created["customer_token"]).follow()

    async def report(self) -> None:
        while True:
            await asyncio.sleep(REPORT_SECONDS)
            s = self.stats
            print(
                f"[demo] customers {s['customers']} · answered {len(self.answered)} · "
                f"done {len(self.done)} · rated {s['rated']} · gave up {s['cancelled']} · "
                f"expired {s['expired']} · on a break {s['away']}",
                flush=True,
            )


async def frames(socket: ClientConnection) -> AsyncIterator[dict[str, Any]]:
    """Server frames as dicts; app-level pings are answered so the server keeps us."""
    async for message in socket:
        frame: dict[str, Any] = json.loads(message)
        if frame.get("type") == "ping":
            await socket.send(json.dumps({"type": "ping"}))
            continue
        yield frame


class CustomerVisit:
    """One customer: waits on the live channel, may give up, and rates a done query."""

    def __init__(self, sim: Simulation, query_id: int, token: str) -> None:
        self.sim = sim
        self.query_id = query_id
        self.token = token
        self.patience = random.uniform(90, 300)

    async def follow(self) -> None:
        self.sim.spawn(self.maybe_give_up(), f"patience of query {self.query_id}")
        for _ in range(30):
            try:
                outcome = await self.listen()
            except (OSError, WebSocketException):
                await asyncio.sleep(2)
                continue
            if outcome == "done":
                self.sim.answered.add(self.query_id)
                self.sim.done.add(self.query_id)
                await self.maybe_rate()
            elif outcome is not None:
                self.sim.stats[outcome] += 1
            if outcome is not None:
                return

    async def listen(self) -> str | None:
        url = f"{self.sim.ws_base}/ws/queries/{self.query_id}"
        async with connect(url) as socket:
            await socket.send(json.dumps({"type": "auth", "customer_token": self.token}))
            async for frame in frames(socket):
                status = frame.get("status") if frame.get("type") == "hello" else frame["type"]
                if status == "answered" or (status == "ongoing" and frame.get("agent_name")):
                    self.sim.answered.add(self.query_id)
                if status in {"done", "expired", "cancelled"}:
                    return str(status)
        return None

    async def maybe_give_up(self) -> None:
        await self.sim.pause(self.patience)
        if random.random() < 0.3:
            await self.sim.api.call(
                "POST", f"/api/queries/{self.query_id}/cancel", customer_token=self.token
            )

    async def maybe_rate(self) -> None:
        if random.random() > 0.8:
            return
        await self.sim.pause(random.uniform(2, 10))
        score = random.choices([s for s, _ in SCORES], weights=[w for _, w in SCORES])[0]
        body: dict[str, Any] = {"score": score}
        if score >= 4 and random.random() < 0.4:
            body["comment"] = random.choice(["Thanks a lot!", "Quick and friendly.", "Solved."])
        elif score <= 2:
            body["comment"] = "I had to explain everything twice."
        response = await self.sim.api.call(
            "POST", f"/api/queries/{self.query_id}/rating", body=body, customer_token=self.token
        )
        if response.status_code == 201:
            self.sim.stats["rated"] += 1


class SimulatedAgent:
    """An agent at a human pace: answers offers after a moment, works, takes breaks."""

    def __init__(self, sim: Simulation, member: Member) -> None:
        self.sim = sim
        self.member = member
        self.id = int(member.company_user["id"])
        self.limit = member.plan.max_ongoing
        self.offers: set[int] = set()
        self.held: set[int] = set()
        self.considering: set[int] = set()
        self.away = False

    async def run(self) -> None:
        await self.set_available(True, None)
        self.sim.spawn(self.breaks(), f"breaks of {self.member.plan.email}")
        while True:
            try:
                await self.listen()
            except (OSError, WebSocketException) as exc:
                log.info("demo.agent_reconnects company_user=%s error=%s", self.id, exc)
            await asyncio.sleep(1 + random.random())

    async def listen(self) -> None:
        url = f"{self.sim.ws_base}/ws/company-users/{self.id}"
        async with connect(url) as socket:
            await socket.send(json.dumps({"type": "auth", "token": self.member.session.token}))
            async for frame in frames(socket):
                self.receive(frame)

    def receive(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "hello":
            self.offers = {int(o["query"]["id"]) for o in frame.get("offers", [])}
            for query in frame.get("ongoing", []):
                if int(query["id"]) not in self.held:
                    self.start_work(int(query["id"]))
        elif kind == "query.offered":
            self.offers.add(int(frame["query"]["id"]))
        elif kind == "query.withdrawn":
            self.offers.discard(int(frame["query_id"]))
        elif kind == "limits.changed":
            company_user = frame.get("company_user") or {}
            self.limit = int(company_user.get("max_ongoing_queries_handled", self.limit))
        self.consider()

    def consider(self) -> None:
        """Pick offers to answer, as many as free slots, after a human moment each."""
        if self.away:
            return
        free = self.limit - len(self.held) - len(self.considering)
        for query_id in sorted(self.offers - self.considering)[: max(0, free)]:
            self.considering.add(query_id)
            self.sim.spawn(self.answer(query_id), f"answer {query_id}")

    async def answer(self, query_id: int) -> None:
        try:
            await self.sim.pause(random.uniform(2, 8))
            if query_id not in self.offers or self.away:
                return
            response = await self.sim.api.call(
                "POST", f"/api/queries/{query_id}/answer", self.member.session
            )
            if response.status_code == 200:
                self.sim.answered.add(query_id)
                self.start_work(query_id)
        finally:
            self.considering.discard(query_id)
            self.offers.discard(query_id)

    def start_work(self, query_id: int) -> None:
        if query_id in self.held:
            return
        self.held.add(query_id)
        self.sim.spawn(self.work(query_id), f"work on {query_id}")

    async def work(self, query_id: int) -> None:
        try:
            await self.sim.pause(random.uniform(15, 60))
            if random.random() < 0.3:
                await self.sim.api.call(
                    "POST",
                    "/api/query-notes",
                    self.member.session,
                    {"query_id": query_id, "body": "Walked the customer through the fix."},
                )
            response = await self.sim.api.call(
                "POST", f"/api/queries/{query_id}/mark-as-done", self.member.session
            )
            if response.status_code == 200:
                self.sim.done.add(query_id)
        finally:
            self.held.discard(query_id)
            self.consider()

    async def breaks(self) -> None:
        while True:
            await self.sim.pause(random.expovariate(1 / 300))
            while self.held:
                await self.sim.pause(5)
            lunch = random.random() < 0.4
            self.away = True
            self.sim.stats["away"] += 1
            await self.set_available(False, "Off to lunch" if lunch else "Coffee break")
            await self.sim.pause(random.uniform(60, 150) if lunch else random.uniform(20, 45))
            self.away = False
            self.sim.stats["away"] -= 1
            await self.set_available(True, None)
            self.consider()

    async def set_available(self, available: bool, note: str | None) -> None:
        await self.sim.api.call(
            "PUT",
            f"/api/company-user-states/{self.id}",
            self.member.session,
            {"is_available": available, "status_text": note},
        )

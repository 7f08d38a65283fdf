"""The scenarios `python -m bench` runs, each ending in a `Report`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench import bare, product
from bench.backing import Backing, check_guarantees, seed
from bench.load import http_client, paced
from bench.procs import CpuMeter, Server
from bench.report import Report, load_average
from bench.stats import MMc, summary_ms


@dataclass
class Options:
    store: str = "redis"
    processes: int = 1
    agents: int = 1000
    team_size: int = 20
    rate: float | None = 200.0
    seconds: float = 30.0
    handling: float = 2.0
    race_agents: int = 100
    race_rounds: int = 20
    burst_seconds: float = 5.0
    bare_seconds: float = 10.0
    idle_agents: int = 10_000
    erlang_agents: int = 10
    erlang_handling: float = 1.0
    erlang_seconds: float = 120.0
    loads: tuple[float, ...] = (0.7, 0.85, 0.95)
    growth_agents: int = 64
    growth_rate: float = 12.5
    growth_seconds: float = 20.0
    drain_seconds: float = 15.0
    offer_wait: float = 10.0


SMOKE = Options(
    agents=20, rate=10.0, seconds=4.0, handling=0.2, race_agents=20, race_rounds=3,
    burst_seconds=1.0, bare_seconds=2.0, drain_seconds=5.0, offer_wait=2.0,
)  # fmt: skip


class Run:
    """One scenario's backing store, server processes and log directory, all torn down."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.backing = Backing(options.store)
        self.log_dir = self.backing.workdir
        self.servers: list[Server] = []

    async def __aenter__(self) -> Run:
        await self.backing.create()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop_servers()
        await self.backing.drop()

    def start_servers(self, processes: int | None = None) -> list[Server]:
        self.stop_servers()
        count = processes or self.options.processes
        self.servers = product.start_servers(self.backing, count, self.log_dir)
        return self.servers

    def stop_servers(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []


def _latency_rows(report: Report, name: str, mine: dict[str, Any], bare_: dict[str, Any] | None,
                  target: str = "") -> None:  # fmt: skip
    for key in ("p50_ms", "p99_ms", "max_ms"):
        label = f"{name} {key[:-3]}"
        report.add(
            label, mine.get(key), "ms", (bare_ or {}).get(key), target if key == "p99_ms" else ""
        )


async def flow_scenario(options: Options, name: str) -> Report:
    """Flows at a rate through the real server, a race, and the three baselines."""
    report = Report(name)
    async with Run(options) as run:
        url = run.backing.database_url
        team = await seed(url, options.agents, teams=_teams(options, options.agents))
        racers = await seed(url, options.race_agents)
        servers = run.start_servers()
        result = await product.flows(
            run.backing, team, servers, rate=options.rate, seconds=options.seconds,
            handling=options.handling, drain_seconds=options.drain_seconds,
        )  # fmt: skip
        creation = await _create_flat_out(team, servers, options.burst_seconds)
        contest = await product.race(racers, servers, options.race_rounds, options.offer_wait)
        run.stop_servers()
        held = await check_guarantees(
            url, team.company_id, set(result.run.created.values()), result.run.done
        )
        held_race = await check_guarantees(url, racers.company_id)
        rate = options.rate or 200.0
        a = await bare.run_insert(run.backing, run.log_dir, rate, options.bare_seconds,
                                  options.burst_seconds)  # fmt: skip
        b = await bare.run_path(run.backing, run.log_dir, options.agents, rate,
                                options.bare_seconds, options.burst_seconds)  # fmt: skip
        c = await bare.run_broadcast(run.log_dir, options.agents, 10)
    _flow_rows(report, options, result, creation, contest, held, held_race, a, b, c)
    return report


def _teams(options: Options, agents: int) -> int:
    """How many queues `agents` are spread over: one per `team_size` agents (0: one queue)."""
    return max(1, agents // options.team_size) if options.team_size else 1


async def _create_flat_out(team: Any, servers: list[Server], seconds: float) -> dict[str, Any]:
    """REST query creation as fast as possible, on a queue nobody can answer."""
    run = product.FlowRun(team, servers, 0.0)
    run.https = [http_client(s.url) for s in servers]
    meter = CpuMeter([s.pid for s in servers])
    meter.start()
    began = time.perf_counter()
    try:
        await paced(None, seconds, lambda n: run.create(10_000_000 + n, team.idle_queue_id))
    finally:
        for http in run.https:
            await http.aclose()
    elapsed = time.perf_counter() - began
    meter.stop()
    created = run.timings.counters.get("created", 0)
    return {"per_s": round(created / elapsed, 2), "errors": run.timings.counters.get("errors", 0),
            "cpu_ms_per_create": round(1000 * meter.seconds / max(created, 1), 3)}  # fmt: skip


def _flow_rows(report: Report, o: Options, result: product.FlowResult, creation: dict[str, Any],
               contest: dict[str, Any], held: dict[str, Any], held_race: dict[str, Any],
               a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:  # fmt: skip
    run = result.run
    t = run.timings
    offer = summary_ms(t.samples.get("create_to_offer", []))
    flows = t.counters.get("flows", 0)
    rate = "max" if o.rate is None else f"{o.rate:g}/s"
    report.notes.append(
        f"store={o.store} processes={o.processes} agents={o.agents} "
        f"queues={_teams(o, o.agents)} rate={rate} arrivals={o.seconds:g}s "
        f"handling={o.handling:g}s"
    )
    _latency_rows(report, "create->offer", offer, b["create_to_offer"], "p99 <= 2x bare")
    _latency_rows(report, "create (REST)", summary_ms(t.samples.get("create", [])), a["create"])
    _latency_rows(report, "answer", summary_ms(t.samples.get("answer", [])), a["create"])
    _latency_rows(report, "done", summary_ms(t.samples.get("done", [])), a["create"])
    # Paced arrivals cap the flows at the rate: only an unpaced run (`--rate max`) measures
    # what the server can carry, so only that run is held to the target.
    if o.rate is None:
        report.add("full flows flat out", round(flows / result.seconds, 2), "/s",
                   b["max_throughput_per_s"], ">= 500/s")  # fmt: skip
    else:
        report.add(f"full flows at {o.rate:g}/s arrivals", round(flows / result.seconds, 2),
                   "/s")  # fmt: skip
    cpu_per_flow = result.cpu_seconds / max(flows, 1)
    report.add(
        "flows per CPU second (1 / CPU per flow)",
        round(1 / cpu_per_flow, 1),
        "/s",
        round(1000 / b["cpu_ms_per_request"], 1) if b["cpu_ms_per_request"] else None,
    )
    report.add("create flat out", creation["per_s"], "/s", a["max_throughput_per_s"],
               ">= 0.4x bare")  # fmt: skip
    report.add("errors", t.counters.get("errors", 0) + creation["errors"], "", None, "0")
    report.add("answers refused (lost races)", t.counters.get("answer_refused", 0))
    report.add("server CPU", round(result.cpu_cores, 2), "cores")
    report.add("server CPU per flow", round(1000 * result.cpu_seconds / max(flows, 1), 3), "ms",
               b["cpu_ms_per_request"])  # fmt: skip
    report.add("server CPU per create", creation["cpu_ms_per_create"], "ms",
               a["cpu_ms_per_request"])  # fmt: skip
    per_agent = None if result.rss_per_agent is None else round(result.rss_per_agent)
    report.add("RSS per agent", per_agent, "B", c["rss_bytes_per_connection"], "<= 1.5x bare")
    _latency_rows(report, "bare broadcast all", c["fan_out_all"], None)
    race_t = contest["timings"]
    wrong = sum(1 for w in contest["winners_per_round"] if w != 1)
    report.add("race rounds without one winner", wrong, "", None, "0")
    _latency_rows(report, "race answer", summary_ms(race_t.samples.get("answer", [])), a["create"],
                  "< 20 ms")  # fmt: skip
    report.add("race errors", race_t.counters.get("errors", 0), "", None, "0")
    report.add(
        "double holders", held["double_holders"] + held_race["double_holders"], "", None, "0"
    )
    report.add("over limit", held["over_limit"] + held_race["over_limit"], "", None, "0")
    lost = (held["missing"] + held["done_not_done"] + held["unknown_status"]
            + held["ongoing_without_holder"])  # fmt: skip
    report.add("lost", lost, "", None, "0")
    report.add("never offered", len(result.lost))
    report.add("unfinished at stop", t.counters.get("undrained", 0))
    report.raw = {"flows": {"timings": {k: summary_ms(v) for k, v in t.samples.items()},
                            "counters": t.counters, "lost_sources": result.lost[:50]},
                  "create_flat_out": creation, "race": {"winners": contest["winners_per_round"],
                  "counters": race_t.counters}, "guarantees": held, "guarantees_race": held_race,
                  "bare_insert": a, "bare_path": b, "bare_broadcast": c}  # fmt: skip


async def race_scenario(options: Options) -> Report:
    report = Report("race")
    async with Run(options) as run:
        racers = await seed(run.backing.database_url, options.race_agents)
        contest = await product.race(
            racers, run.start_servers(), options.race_rounds, options.offer_wait
        )
        run.stop_servers()
        held = await check_guarantees(run.backing.database_url, racers.company_id)
    t = contest["timings"]
    report.notes.append(f"store={options.store} agents={options.race_agents}")
    report.add("rounds without one winner",
               sum(1 for w in contest["winners_per_round"] if w != 1), "", None, "0")  # fmt: skip
    _latency_rows(report, "answer", summary_ms(t.samples.get("answer", [])), None, "< 20 ms")
    report.add("refused", t.counters.get("refused", 0))
    report.add("errors", t.counters.get("errors", 0), "", None, "0")
    report.add("double holders", held["double_holders"], "", None, "0")
    report.add("over limit", held["over_limit"], "", None, "0")
    report.raw = {"race": contest["winners_per_round"], "counters": t.counters, "held": held}
    return report


async def idle_scenario(options: Options) -> Report:
    report = Report("idle")
    async with Run(options) as run:
        team = await seed(run.backing.database_url, options.idle_agents, available=False)
        found = await product.idle(run.start_servers(1), team)
        run.stop_servers()
        c = await bare.run_broadcast(run.log_dir, options.idle_agents, 3)
    report.notes.append(f"store={options.store} one process, {options.idle_agents} agents")
    report.add("agents connected", found["connected"], "", None, str(options.idle_agents))
    report.add("RSS per agent", found["rss_bytes_per_agent"], "B", c["rss_bytes_per_connection"],
               "<= 1.5x bare")  # fmt: skip
    report.add("server RSS", found["rss_mb"], "MiB")
    report.add("CPU per sign-in", found["cpu_ms_per_agent_sign_in"], "ms")
    report.add("errors", found["errors"] + c["errors"], "", None, "0")
    report.raw = {"product": found, "bare_broadcast": c}
    return report


async def erlang_scenario(options: Options) -> Report:
    """M/M/c through the real server, beside Erlang C, at each load."""
    report = Report("erlang")
    c, h = options.erlang_agents, options.erlang_handling
    async with Run(options) as run:
        url = run.backing.database_url
        teams = [await seed(url, c) for _ in options.loads]
        for load, team in zip(options.loads, teams, strict=True):
            theory = MMc(c, load * c / h, 1 / h)
            need = theory.required_seconds()
            servers = run.start_servers()
            result = await product.flows(
                run.backing, team, servers, rate=theory.arrival_rate,
                seconds=options.erlang_seconds, handling=h, poisson=True, exponential=True,
                label=f"erlang {load:g}",
            )  # fmt: skip
            run.stop_servers()
            held = await check_guarantees(
                url, team.company_id, set(result.run.created.values()), result.run.done
            )
            _erlang_rows(report, theory, result, need, options.erlang_seconds, held)
    report.notes.append(
        f"c={c} mean handling={h:g}s; a query 'waited' if answered more than 5% of the mean "
        "handling time after it was sent; 'effective' uses the measured answer-to-done time"
    )
    return report


def _erlang_rows(report: Report, theory: MMc, result: product.FlowResult, need: float,
                 seconds: float, held: dict[str, Any]) -> None:  # fmt: skip
    waits = result.run.waits
    threshold = 0.05 / theory.service_rate
    waited = sum(1 for w in waits if w > threshold) / len(waits) if waits else None
    mean_wait = sum(waits) / len(waits) if waits else None
    service = result.run.services
    effective = (
        MMc(theory.servers, theory.arrival_rate, len(service) / sum(service)) if service else None
    )
    tag = f"load {theory.load:g}"
    if effective and effective.load >= 1:
        report.notes.append(f"{tag}: the measured service times overload the agents")
    report.add(f"{tag} P(wait) measured", waited, "", theory.wait_probability, "within 10%")
    if effective:
        report.add(f"{tag} P(wait) effective theory", effective.wait_probability)
    report.add(f"{tag} mean wait measured", mean_wait, "s", theory.mean_wait, "within 10%")
    if effective:
        report.add(f"{tag} mean wait effective theory", effective.mean_wait, "s")
    report.add(f"{tag} queries", len(waits))
    verdict = "long enough" if seconds >= need else "TOO SHORT to be meaningful"
    report.add(f"{tag} run length", seconds, "s", None, f"needs {need:.0f}s: {verdict}")
    broken = held["double_holders"] + held["over_limit"] + held["missing"] + held["done_not_done"]
    report.add(f"{tag} guarantees broken", broken, "", None, "0")
    report.raw[tag] = {"waits": len(waits), "threshold_s": threshold,
                       "counters": result.run.timings.counters, "held": held}  # fmt: skip


async def growth_scenario(options: Options) -> Report:
    """The flow scenario at x1, x4 and x16 agents and rate: is the cost per query flat?"""
    report = Report("growth")
    costs: list[float] = []
    async with Run(options) as run:
        url = run.backing.database_url
        sizes = (1, 4, 16)
        teams = [
            await seed(url, n, teams=_teams(options, n))
            for n in (options.growth_agents * k for k in sizes)
        ]
        for k, team in zip(sizes, teams, strict=True):
            servers = run.start_servers()
            result = await product.flows(
                run.backing, team, servers, rate=options.growth_rate * k,
                seconds=options.growth_seconds, handling=options.handling, label=f"growth x{k}",
            )  # fmt: skip
            run.stop_servers()
            held = await check_guarantees(
                url, team.company_id, set(result.run.created.values()), result.run.done
            )
            flows = result.run.timings.counters.get("flows", 0)
            cost = 1000 * result.cpu_seconds / max(flows, 1)
            costs.append(cost)
            offer = summary_ms(result.run.timings.samples.get("create_to_offer", []))
            report.add(f"x{k} CPU per flow", round(cost, 3), "ms", costs[0], "within 25% of x1")
            report.add(f"x{k} create->offer p99", offer["p99_ms"], "ms")
            report.add(f"x{k} flows", flows)
            report.add(f"x{k} errors", result.run.timings.counters.get("errors", 0), "", None, "0")
            broken = (held["double_holders"] + held["over_limit"] + held["missing"]
                      + held["done_not_done"])  # fmt: skip
            report.add(f"x{k} guarantees broken", broken, "", None, "0")
    report.notes.append(
        f"store={options.store} x1 = {options.growth_agents} agents at {options.growth_rate:g}/s, "
        f"{options.growth_seconds:g}s of arrivals, handling {options.handling:g}s, "
        f"one queue per {options.team_size or 'all'} agents"
    )
    return report


async def run(name: str, options: Options) -> Report:
    """Run one scenario by name, noting the machine's load before and after."""
    before = load_average()
    report = await _run(name, options)
    report.machine("before", before)
    report.machine("after")
    return report


async def _run(name: str, options: Options) -> Report:
    if name == "smoke":
        return await flow_scenario(options, "smoke")
    if name == "flow":
        return await flow_scenario(options, "flow")
    if name == "race":
        return await race_scenario(options)
    if name == "idle":
        return await idle_scenario(options)
    if name == "erlang":
        return await erlang_scenario(options)
    if name == "growth":
        return await growth_scenario(options)
    raise ValueError(f"Unknown scenario {name!r}.")

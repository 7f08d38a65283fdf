"""`python -m bench <scenario>`: run one scenario, print its table, save its JSON."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import fields, replace
from pathlib import Path

from bench.scenarios import SMOKE, Options, run

SCENARIOS = ("smoke", "flow", "race", "idle", "erlang", "growth")
LIMIT_SECONDS = 6 * 3600


def _options(args: argparse.Namespace) -> Options:
    base = SMOKE if args.scenario == "smoke" else Options()
    skip = {"rate", "loads"}
    given = {f.name: getattr(args, f.name) for f in fields(Options) if f.name not in skip}
    changes = {k: v for k, v in given.items() if v is not None}
    if args.rate == "max":
        changes["rate"] = None
    elif args.rate is not None:
        changes["rate"] = float(args.rate)
    if args.loads is not None:
        changes["loads"] = tuple(float(x) for x in args.loads.split(","))
    return replace(base, **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenario", choices=SCENARIOS)
    stores = "memory: SQLite + in-memory routing; redis: PostgreSQL + Redis"
    parser.add_argument("--store", choices=("memory", "redis"), help=stores)
    parser.add_argument("--processes", type=int, choices=(1, 2))
    parser.add_argument("--agents", type=int, help="agent websockets (default 1000)")
    parser.add_argument("--rate", help="queries per second, or 'max' (default 200)")
    parser.add_argument("--seconds", type=float, help="seconds of arrivals")
    parser.add_argument("--handling", type=float, help="seconds from answer to done")
    for name in ("team_size", "race_agents", "race_rounds", "idle_agents", "erlang_agents",
                 "growth_agents"):  # fmt: skip
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int)
    for name in ("burst_seconds", "bare_seconds", "erlang_handling", "erlang_seconds",
                 "growth_rate", "growth_seconds", "drain_seconds", "offer_wait"):  # fmt: skip
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float)
    parser.add_argument("--output", type=Path, help="write the JSON here too")
    parser.add_argument("--loads", help="comma-separated loads for erlang (default 0.7,0.85,0.95)")
    args = parser.parse_args(argv)
    options = _options(args)

    report = asyncio.run(asyncio.wait_for(run(args.scenario, options), LIMIT_SECONDS))
    print(report.table())
    print(f"saved: {report.save(args.output)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

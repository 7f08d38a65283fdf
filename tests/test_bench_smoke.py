"""The smoke benchmark runs end to end: every figure is reported and the guarantees held.

Timings are never asserted here: CI machines are too noisy for that. The benchmark itself
prints them beside the bare baselines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    "create->offer p50", "create->offer p99", "create->offer max",
    "create (REST) p99", "answer p50", "answer p99", "answer max",
    "done p50", "done p99", "done max", "full flows at 10/s arrivals", "create flat out",
    "flows per CPU second (1 / CPU per flow)", "errors",
    "server CPU", "server CPU per flow", "RSS per agent", "bare broadcast all p99",
    "race rounds without one winner", "race answer p99",
    "double holders", "over limit", "lost",
)  # fmt: skip
MUST_BE_ZERO = ("double holders", "over limit", "lost", "race rounds without one winner")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, dict[str, object]]]:
    output = tmp_path_factory.mktemp("bench") / "smoke.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["figure"]: row for row in json.loads(output.read_text())["rows"]}
    return done.stdout, rows


@pytest.mark.timeout(300)
def test_smoke_reports_every_figure(smoke: tuple[str, dict[str, dict[str, object]]]) -> None:
    table, rows = smoke
    missing = [name for name in FIGURES if rows.get(name, {}).get("value") is None]
    assert missing == []
    assert all(name in table for name in FIGURES)


@pytest.mark.timeout(300)
def test_smoke_guarantees_held(smoke: tuple[str, dict[str, dict[str, object]]]) -> None:
    _, rows = smoke
    broken = {name: rows[name]["value"] for name in MUST_BE_ZERO if rows[name]["value"] != 0}
    assert broken == {}

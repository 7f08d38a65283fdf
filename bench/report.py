"""The printed table and the JSON file of a run."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    figure: str
    value: float | int | str | None
    unit: str = ""
    bare: float | int | None = None
    target: str = ""

    @property
    def ratio(self) -> float | None:
        if not isinstance(self.value, int | float) or not self.bare:
            return None
        if math.isinf(self.value) or math.isinf(self.bare):
            return None
        return round(self.value / self.bare, 2)


@dataclass
class Report:
    """Rows to print, notes under them, and every raw figure for the JSON file."""

    scenario: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(
        self, figure: str, value: Any, unit: str = "", bare: Any = None, target: str = ""
    ) -> None:
        self.rows.append(Row(figure, value, unit, bare, target))

    def machine(self, when: str, load: str | None = None) -> None:
        """Note the machine's load: figures taken on a busy machine say little."""
        shown = load or load_average()
        self.notes.append(f"load average {when}: {shown} on {os.cpu_count()} cores")

    def table(self) -> str:
        head = ("figure", "value", "unit", "bare", "x bare", "target")
        lines = [
            (r.figure, _show(r.value), r.unit, _show(r.bare), _show(r.ratio), r.target)
            for r in self.rows
        ]
        widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=True)]
        out = [f"== bench {self.scenario} =="]
        for line in [head, tuple("-" * w for w in widths), *lines]:
            out.append("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))
        out.extend(f"note: {n}" for n in self.notes)
        return "\n".join(out)

    def save(self, also: Path | None = None) -> Path:
        """Write the JSON under bench/results/ (and to `also` if given); answer its path."""
        RESULTS.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = RESULTS / f"{self.scenario}-{stamp}.json"
        rows = [{**r.__dict__, "ratio": r.ratio} for r in self.rows]
        body: dict[str, Any] = {
            "scenario": self.scenario,
            "at": stamp,
            "notes": self.notes,
            "rows": rows,
        }
        body["raw"] = self.raw
        text = json.dumps(body, indent=2, default=str)
        path.write_text(text)
        if also is not None:
            also.write_text(text)
        return path


def load_average() -> str:
    """The one-minute load average of the machine."""
    return Path("/proc/loadavg").read_text().split()[0]


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)

"""Percentiles, and the queueing theory the routing run is checked against."""

from __future__ import annotations

import math
from dataclasses import dataclass


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` from 0 to 1), or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float | int | None]:
    """Count, p50, p99 and max of latencies given in seconds, reported in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 0.50)),
        "p99_ms": ms(percentile(seconds, 0.99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in M/M/c, with offered load a = λ/μ < c.

    Uses the Erlang B recursion B(k) = a·B(k-1) / (k + a·B(k-1)), which stays stable for large
    c, then C = B / (1 - rho·(1 - B)) with rho = a / c.
    """
    if offered_load >= servers:
        return 1.0
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    rho = offered_load / servers
    return blocking / (1 - rho * (1 - blocking))


@dataclass(frozen=True)
class MMc:
    """An M/M/c queue: Poisson arrivals, exponential service, `servers` agents."""

    servers: int
    arrival_rate: float
    service_rate: float

    @property
    def load(self) -> float:
        return self.arrival_rate / (self.servers * self.service_rate)

    @property
    def wait_probability(self) -> float:
        return erlang_c(self.servers, self.arrival_rate / self.service_rate)

    @property
    def mean_wait(self) -> float:
        """Mean time in line over all arrivals: C / (c·mu - lambda); infinite when overloaded."""
        if self.load >= 1:
            return math.inf
        return self.wait_probability / (self.servers * self.service_rate - self.arrival_rate)

    @property
    def relaxation_time(self) -> float:
        """How long the queue takes to forget its past: about 1 / (c·mu·(1 - sqrt(rho))²)."""
        gap = 1 - math.sqrt(self.load)
        return 1 / (self.servers * self.service_rate * gap * gap)

    def required_seconds(self, relative_error: float = 0.10, z: float = 1.96) -> float:
        """Run length for the measured mean wait to land within `relative_error` of the truth.

        Independent waits would need n = (z/ε)² · CV² arrivals, where CV² of the wait is
        2/C - 1 (no wait with probability 1 - C, else exponential). Successive waits are
        correlated over about one relaxation time, which inflates n by 1 + 2λτ; a warm-up of
        five relaxation times is added. An estimate to plan by, not a bound.
        """
        c = self.wait_probability
        cv2 = 2 / c - 1
        independent = (z / relative_error) ** 2 * cv2
        inflation = 1 + 2 * self.arrival_rate * self.relaxation_time
        return independent * inflation / self.arrival_rate + 5 * self.relaxation_time

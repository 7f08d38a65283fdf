"""Prometheus metrics of routing, in a registry of their own that /metrics renders."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

QUERIES = Gauge(
    "connectnow_queries",
    "Queries by status, read from the database.",
    ["status"],
    registry=REGISTRY,
)
OFFERS = Counter("connectnow_offers_total", "Offers made to company users.", registry=REGISTRY)
ANSWERS = Counter("connectnow_answers_total", "Queries answered.", registry=REGISTRY)
WITHDRAWALS = Counter(
    "connectnow_withdrawals_total", "Offers withdrawn, by reason.", ["reason"], registry=REGISTRY
)
OFFER_LATENCY = Histogram(
    "connectnow_create_to_offer_seconds",
    "Time from a query's creation to its first offer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
CONNECTED_AGENTS = Gauge(
    "connectnow_connected_agent_sockets",
    "Agent websockets open on this process.",
    registry=REGISTRY,
)
TIMERS_FIRED = Counter(
    "connectnow_timers_fired_total", "Timers fired, by kind.", ["kind"], registry=REGISTRY
)

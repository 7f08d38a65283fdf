"""The contact-center hot path stays within a budget of database statements per request.

Every statement is a round trip to the database, and so is the start and the end of each
transaction; both are counted for one request, with whatever it makes the router do.
Work of timers and other requests running meanwhile is not counted.
The caller's token and memberships are cached by then, as they are for an agent at work.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, event

from tests.helpers import Client
from tests.test_queries_setup import Agent, Desk, agent, desk, open_query

pytestmark = pytest.mark.anyio

_counting: contextvars.ContextVar[Trips | None] = contextvars.ContextVar(
    "round_trips", default=None
)


@dataclass
class Trips:
    """What one request asked of the database: statements, and transactions (checkouts)."""

    statements: int = 0
    transactions: int = 0


@contextmanager
def counted(client: Client) -> Iterator[Trips]:
    """Count the statements and transactions of the code run inside this block's context.

    A connection that runs each statement by itself (reads, one-statement steps) begins no
    transaction: it costs no BEGIN and no COMMIT or ROLLBACK, so it is not counted.
    """
    engine = client.services.db.engine.sync_engine
    trips = Trips()

    def on_statement(*_args: Any) -> None:
        if _counting.get() is trips:
            trips.statements += 1

    def on_begin(connection: Connection) -> None:
        alone = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        if _counting.get() is trips and not alone:
            trips.transactions += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "begin", on_begin)
    token = _counting.set(trips)
    try:
        yield trips
    finally:
        _counting.reset(token)
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "begin", on_begin)


async def _warm(client: Client) -> tuple[Desk, Agent]:
    """A desk with an agent whose token was used once, so no request below touches it."""
    place = await desk(client)
    ana = await agent(client, place.company_id)
    first = await open_query(client, place.queue_id)
    path = f"/api/queries/{first['id']}"
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200
    assert (await client.post(f"{path}/mark-as-done", ana.person)).status_code == 200
    return place, ana


# Per backend, (statements, transactions) at most. On PostgreSQL each step is one statement
# (server/query_statements.py) and reads run without a transaction.
OPEN = {"sqlite": Trips(7, 4), "postgres": Trips(6, 0)}
ANSWER = {"sqlite": Trips(10, 4), "postgres": Trips(7, 1)}
DONE = {"sqlite": Trips(8, 3), "postgres": Trips(6, 0)}


def within(trips: Trips, budget: dict[str, Trips], client: Client) -> bool:
    most = budget["sqlite" if client.services.db.is_sqlite else "postgres"]
    return trips.statements <= most.statements and trips.transactions <= most.transactions


async def test_opening_a_query_stays_within_its_round_trips(client: Client) -> None:
    place, _ = await _warm(client)
    payload = {"source": "https://example.com", "email": "kim@example.com", "name": "Kim"}

    with counted(client) as trips:
        created = await client.post("/api/queries", json={**payload, "queue_id": place.queue_id})

    assert created.status_code == 201, created.text
    assert within(trips, OPEN, client), trips


async def test_answering_a_query_stays_within_its_round_trips(client: Client) -> None:
    place, ana = await _warm(client)
    opened = await open_query(client, place.queue_id)

    with counted(client) as trips:
        answered = await client.post(f"/api/queries/{opened['id']}/answer", ana.person)

    assert answered.status_code == 200, answered.text
    assert within(trips, ANSWER, client), trips


async def test_marking_a_query_done_stays_within_its_round_trips(client: Client) -> None:
    place, ana = await _warm(client)
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}"
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200

    with counted(client) as trips:
        done = await client.post(f"{path}/mark-as-done", ana.person)

    assert done.status_code == 200, done.text
    assert within(trips, DONE, client), trips

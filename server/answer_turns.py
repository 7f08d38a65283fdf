"""Answers to one query take turns within a process, so that losers cost no database work.

When a query is offered to a team, its members answer within milliseconds of each other.
The database decides who wins (`query_actions.answer`), but each loser's attempt is still a
transaction of its own. Here an answer that finds another answer to the same query in
flight waits for its outcome: if it took the query, the waiter is refused at once, as the
database would have refused it; if not, the waiter tries in turn. Processes do not share
turns; across them the database alone decides, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from router.base import ALREADY_ANSWERED
from server.query_actions import Refused

T = TypeVar("T")


class AnswerTurns:
    def __init__(self) -> None:
        self._in_flight: dict[int, asyncio.Future[bool]] = {}

    async def take(self, query_id: int, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt`'s result once no other answer to the query is in flight; `Refused` if
        one in flight took it."""
        while (current := self._in_flight.get(query_id)) is not None:
            if await asyncio.shield(current):
                raise Refused(ALREADY_ANSWERED)

        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._in_flight[query_id] = outcome
        took = False
        try:
            result = await attempt()
            took = True
            return result
        finally:
            del self._in_flight[query_id]
            outcome.set_result(took)

    def in_flight(self) -> int:
        return len(self._in_flight)

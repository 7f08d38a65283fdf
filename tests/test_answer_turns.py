"""Answers to one query take turns: a loser to an answer in flight is refused without trying."""

from __future__ import annotations

import asyncio

import pytest

from router.base import ALREADY_ANSWERED
from server.answer_turns import AnswerTurns
from server.query_actions import Refused

pytestmark = pytest.mark.anyio


class Attempt:
    """An answer that finishes when told to, and says whether it ever ran."""

    def __init__(self, takes: bool) -> None:
        self.takes = takes
        self.ran = False
        self.go = asyncio.Event()

    async def __call__(self) -> str:
        self.ran = True
        await self.go.wait()
        if not self.takes:
            raise Refused("You have no free slot.")
        return "taken"


async def test_answers_waiting_on_one_that_takes_the_query_are_refused_untried() -> None:
    turns = AnswerTurns()
    first, later = Attempt(takes=True), [Attempt(takes=True) for _ in range(5)]
    winner = asyncio.create_task(turns.take(7, first))
    await asyncio.sleep(0)  # the first is in flight before the others ask
    losers = [asyncio.create_task(turns.take(7, attempt)) for attempt in later]

    first.go.set()
    outcomes = await asyncio.gather(*losers, return_exceptions=True)

    assert await winner == "taken"
    assert [str(outcome) for outcome in outcomes] == [ALREADY_ANSWERED] * 5
    assert not any(attempt.ran for attempt in later)
    assert turns.in_flight() == 0


async def test_an_answer_waiting_on_one_that_fails_tries_in_turn() -> None:
    turns = AnswerTurns()
    first, second = Attempt(takes=False), Attempt(takes=True)
    refused = asyncio.create_task(turns.take(7, first))
    await asyncio.sleep(0)
    taken = asyncio.create_task(turns.take(7, second))

    first.go.set()
    second.go.set()

    with pytest.raises(Refused, match="no free slot"):
        await refused
    assert await taken == "taken"
    assert second.ran


async def test_a_cancelled_answer_lets_the_next_one_try() -> None:
    turns = AnswerTurns()
    first, second = Attempt(takes=True), Attempt(takes=True)
    cancelled = asyncio.create_task(turns.take(7, first))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(turns.take(7, second))
    await asyncio.sleep(0)

    cancelled.cancel()
    second.go.set()

    assert await waiting == "taken"
    assert cancelled.cancelled()
    assert turns.in_flight() == 0


async def test_answers_to_different_queries_do_not_wait_for_each_other() -> None:
    turns = AnswerTurns()
    stuck, free = Attempt(takes=True), Attempt(takes=True)
    blocked = asyncio.create_task(turns.take(7, stuck))
    await asyncio.sleep(0)
    free.go.set()

    assert await asyncio.wait_for(turns.take(8, free), 5) == "taken"
    stuck.go.set()
    assert await blocked == "taken"

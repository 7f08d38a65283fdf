"""The stores apply a recomputation's difference exactly as a full rewrite would.

A commit carries only what changed; what the store then holds (offers, when each run of offers
began, and in Redis the waiting queries and ready company users) must equal the whole state.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from router import keys, rules
from router.store import CompanyState, Store, commit_of
from router.stores.memory import MemoryStore
from router.stores.redis import RedisStore, connect, to_ms
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COMPANY = 7


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(connect(REDIS_URL), f"{redis_prefix}:store:{uuid.uuid4().hex[:6]}")
    yield redis_store
    async for key in redis_store.redis.scan_iter(match=f"*{redis_store.prefix}*"):
        await redis_store.redis.delete(key)
    await redis_store.close()


def waiting(*rows: tuple[int, int, int]) -> tuple[rules.WaitingQuery, ...]:
    """(query, queue, seconds after T0 it was created)."""
    return tuple(
        rules.WaitingQuery(query, queue, T0 + timedelta(seconds=s), T0 + timedelta(seconds=s))
        for query, queue, s in rows
    )


def company(rows: tuple[rules.WaitingQuery, ...]) -> rules.Snapshot:
    return rules.Snapshot(COMPANY, {}, {}, rows)


async def step(
    store: Store,
    before: CompanyState,
    after: CompanyState,
    snapshot: rules.Snapshot,
    ready: set[int],
    previous: tuple[rules.Snapshot, set[int]] | None,
) -> CompanyState:
    assert await store.commit(COMPANY, commit_of(before, after, snapshot, ready, previous))
    return await store.load(COMPANY)


async def test_differences_add_up_to_the_whole_state(store: Store) -> None:
    first = CompanyState(
        {1: {10: (5, 1)}, 2: {10: (5, 2), 11: (5, 2)}, 3: {11: (6, 1)}},
        {1: T0, 2: T0, 3: T0 + timedelta(seconds=4)},
        0,
    )
    snapshot_1 = company(waiting((10, 5, 0), (11, 5, 3)))
    held = await step(store, CompanyState(), first, snapshot_1, {1, 2, 3}, None)
    assert held.offers == first.offers and held.offered_since == first.offered_since
    assert held.version == 1

    second = CompanyState(
        {2: {11: (5, 2)}, 4: {12: (6, 1)}},
        {2: T0, 4: T0 + timedelta(seconds=9)},
        1,
    )
    snapshot_2 = company(waiting((11, 5, 3), (12, 6, 8)))
    held = await step(store, held, second, snapshot_2, {2, 4}, (snapshot_1, {1, 2, 3}))

    assert held.offers == second.offers
    assert held.offered_since == second.offered_since
    assert held.version == 2
    assert await store.offers_of(COMPANY, 1) == {}
    assert await store.offers_of(COMPANY, 4) == {12: (6, 1)}
    if isinstance(store, RedisStore):
        await assert_redis_inputs(store, snapshot_2, {2, 4})


async def test_a_stale_version_writes_nothing(store: Store) -> None:
    state = CompanyState({1: {10: (5, 1)}}, {1: T0}, 0)
    snapshot = company(waiting((10, 5, 0)))
    await step(store, CompanyState(), state, snapshot, {1}, None)
    stale = CompanyState({9: {10: (5, 1)}}, {9: T0}, 0)

    change = commit_of(CompanyState(version=0), stale, snapshot, {9}, None)
    assert not await store.commit(COMPANY, change)
    assert (await store.load(COMPANY)).offers == {1: {10: (5, 1)}}


async def test_a_full_commit_forgets_what_it_does_not_name(store: Store) -> None:
    old = CompanyState({1: {10: (5, 1)}, 2: {10: (5, 1)}}, {1: T0, 2: T0}, 0)
    snapshot = company(waiting((10, 5, 0), (11, 5, 1)))
    held = await step(store, CompanyState(), old, snapshot, {1, 2}, None)
    new = CompanyState({3: {11: (5, 1)}}, {3: T0}, held.version)
    only_11 = company(waiting((11, 5, 1)))

    held = await step(store, CompanyState(version=held.version), new, only_11, {3}, None)

    assert held.offers == {3: {11: (5, 1)}}
    assert held.offered_since == {3: T0}
    if isinstance(store, RedisStore):
        await assert_redis_inputs(store, only_11, {3})


async def assert_redis_inputs(
    store: RedisStore, snapshot: rules.Snapshot, ready: set[int]
) -> None:
    redis, p = store.redis, store.prefix
    scored = await redis.zrange(keys.waiting_created_ms_zset(p, COMPANY), 0, -1, withscores=True)
    assert {int(member): int(score) for member, score in scored} == {
        query.id: to_ms(query.created_at) for query in snapshot.waiting
    }
    queues = await redis.hgetall(keys.waiting_queue_hash(p, COMPANY))
    assert {int(q): int(v) for q, v in queues.items()} == {
        query.id: query.queue_id for query in snapshot.waiting
    }
    members = await redis.smembers(keys.ready_set(p, COMPANY))
    assert {int(member) for member in members} == ready

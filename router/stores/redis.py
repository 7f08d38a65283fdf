"""Routing state in Redis, shared by every server process on the same key prefix.

Each multi-key step is one registered Lua script, so two processes never see half of one.
Recomputations of a company take its lock and commit with a compare-and-set on the company's
version, so a writer whose lock expired cannot overwrite a newer state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from router import keys
from router.store import Commit, CompanyState, Store

log = logging.getLogger("connectnow.router")

LOCK_MS = 10_000
LOCK_WAIT_SECONDS = 10.0

COMMIT_OFFERS = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return -1 end
local data = cjson.decode(ARGV[2])
if data.full then redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]) end
for _, user in ipairs(data.offers_removed) do redis.call('HDEL', KEYS[2], user) end
for user, offers in pairs(data.offers) do redis.call('HSET', KEYS[2], user, offers) end
for _, user in ipairs(data.since_removed) do redis.call('HDEL', KEYS[3], user) end
for user, since in pairs(data.since) do redis.call('HSET', KEYS[3], user, since) end
for _, query in ipairs(data.waiting_removed) do
  redis.call('ZREM', KEYS[4], query)
  redis.call('HDEL', KEYS[5], query)
end
for _, row in ipairs(data.waiting_added) do
  redis.call('ZADD', KEYS[4], row[2], row[1])
  redis.call('HSET', KEYS[5], row[1], row[3])
end
for _, user in ipairs(data.ready_removed) do redis.call('SREM', KEYS[6], user) end
for _, user in ipairs(data.ready_added) do redis.call('SADD', KEYS[6], user) end
return redis.call('INCR', KEYS[1])
"""

POP_DUE_TIMERS = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""

RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

CLOSE_CONNECTION = """
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('SCARD', KEYS[1])
"""

# Heartbeats use Redis's clock, not each machine's, so a skewed server clock cannot make a
# live process look dead.
HEARTBEAT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZADD', KEYS[1], ms, ARGV[1])
"""

CLAIM_DEAD_PROCESSES = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local cutoff = string.format('%d', ms - tonumber(ARGV[2]))
local silent = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, 100)
local claimed = {}
for _, process in ipairs(silent) do
  if process ~= ARGV[1] then
    redis.call('ZREM', KEYS[1], process)
    table.insert(claimed, process)
  end
end
return claimed
"""


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def connect(url: str, max_connections: int = 64) -> Redis:
    """A client whose pool waits for a free connection instead of refusing past its size."""
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
    return Redis(connection_pool=pool, decode_responses=False)


class RedisStore(Store):
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._local_locks: dict[int, asyncio.Lock] = {}
        self._commit = redis.register_script(COMMIT_OFFERS)
        self._pop_due = redis.register_script(POP_DUE_TIMERS)
        self._release = redis.register_script(RELEASE_LOCK)
        self._close_connection = redis.register_script(CLOSE_CONNECTION)
        self._heartbeat = redis.register_script(HEARTBEAT)
        self._claim_dead = redis.register_script(CLAIM_DEAD_PROCESSES)

    def locked(self, company_id: int) -> AbstractAsyncContextManager[None]:
        return self._locked(company_id)

    @asynccontextmanager
    async def _locked(self, company_id: int) -> AsyncIterator[None]:
        local = self._local_locks.setdefault(company_id, asyncio.Lock())
        async with local:
            key = keys.lock_str(self.prefix, company_id)
            token = uuid.uuid4().hex
            await self._acquire(key, token, company_id)
            try:
                yield
            finally:
                await self._release(keys=[key], args=[token])

    async def _acquire(self, key: str, token: str, company_id: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_SECONDS
        while not await self.redis.set(key, token, nx=True, px=LOCK_MS):
            if loop.time() > deadline:
                # The version check of the commit still refuses a stale write.
                log.warning("router.lock_timeout company=%s", company_id)
                return
            await asyncio.sleep(0.005)

    async def load(self, company_id: int) -> CompanyState:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.version_int(self.prefix, company_id))
            pipe.hgetall(keys.offers_hash(self.prefix, company_id))
            pipe.hgetall(keys.offered_since_ms_hash(self.prefix, company_id))
            version, offers, since = await pipe.execute()
        return CompanyState(
            offers={int(user): _decode_offers(raw) for user, raw in offers.items()},
            offered_since={int(user): from_ms(ms) for user, ms in since.items()},
            version=int(version or 0),
        )

    async def version(self, company_id: int) -> int:
        return int(await self.redis.get(keys.version_int(self.prefix, company_id)) or 0)

    async def commit(self, company_id: int, change: Commit) -> bool:
        data = {
            "full": change.full,
            "offers": {str(user): _encode_offers(held) for user, held in change.offers.items()},
            "offers_removed": [str(user) for user in sorted(change.offers_removed)],
            "since": {str(user): str(to_ms(moment)) for user, moment in change.since.items()},
            "since_removed": [str(user) for user in sorted(change.since_removed)],
            "waiting_added": [
                [str(query.id), str(to_ms(query.created_at)), str(query.queue_id)]
                for query in change.waiting_added
            ],
            "waiting_removed": [str(query_id) for query_id in sorted(change.waiting_removed)],
            "ready_added": [str(user) for user in sorted(change.ready_added)],
            "ready_removed": [str(user) for user in sorted(change.ready_removed)],
        }
        p, c = self.prefix, company_id
        result = await self._commit(
            keys=[
                keys.version_int(p, c),
                keys.offers_hash(p, c),
                keys.offered_since_ms_hash(p, c),
                keys.waiting_created_ms_zset(p, c),
                keys.waiting_queue_hash(p, c),
                keys.ready_set(p, c),
            ],
            args=[change.version, json.dumps(data)],
        )
        return int(result) >= 0

    async def offers_of(self, company_id: int, company_user_id: int) -> dict[int, tuple[int, int]]:
        raw = await self.redis.hget(
            keys.offers_hash(self.prefix, company_id), str(company_user_id)
        )
        return _decode_offers(raw) if raw else {}

    async def schedule(self, name: str, due: datetime) -> None:
        await self.redis.zadd(keys.timers_due_ms_zset(self.prefix), {name: to_ms(due)})

    async def schedule_if_absent(self, name: str, due: datetime) -> bool:
        key = keys.timers_due_ms_zset(self.prefix)
        return bool(await self.redis.zadd(key, {name: to_ms(due)}, nx=True))

    async def cancel(self, name: str) -> None:
        await self.redis.zrem(keys.timers_due_ms_zset(self.prefix), name)

    async def set_timers(self, due: dict[str, datetime], cancelled: list[str]) -> None:
        key = keys.timers_due_ms_zset(self.prefix)
        async with self.redis.pipeline(transaction=True) as pipe:
            if cancelled:
                pipe.zrem(key, *cancelled)
            if due:
                pipe.zadd(key, {name: to_ms(moment) for name, moment in due.items()})
            await pipe.execute()

    async def pop_due(self, now: datetime, limit: int = 100) -> list[str]:
        claimed = await self._pop_due(
            keys=[keys.timers_due_ms_zset(self.prefix)], args=[to_ms(now), limit]
        )
        return [_text(name) for name in claimed]

    async def connection_opened(
        self, process_id: str, company_id: int, company_user_id: int, key: str
    ) -> None:
        # The process's index first: a websocket it lists but the company does not is harmless
        # to a sweep, while one the company lists but no index does would count forever.
        held = keys.process_connections_hash(self.prefix, process_id)
        await self.redis.hset(held, key, f"{company_id}:{company_user_id}")
        await self.redis.sadd(keys.connections_set(self.prefix, company_id, company_user_id), key)

    async def connection_closed(
        self, process_id: str, company_id: int, company_user_id: int, key: str
    ) -> int:
        target = keys.connections_set(self.prefix, company_id, company_user_id)
        left = int(await self._close_connection(keys=[target], args=[key]))
        await self.redis.hdel(keys.process_connections_hash(self.prefix, process_id), key)
        return left

    async def connection_count(self, company_id: int, company_user_id: int) -> int:
        target = keys.connections_set(self.prefix, company_id, company_user_id)
        return int(await self.redis.scard(target))

    async def heartbeat(self, process_id: str) -> bool:
        added = await self._heartbeat(
            keys=[keys.processes_heartbeat_ms_zset(self.prefix)], args=[process_id]
        )
        return int(added) == 0

    async def claim_dead_processes(self, caller: str, silent_seconds: float) -> list[str]:
        claimed = await self._claim_dead(
            keys=[keys.processes_heartbeat_ms_zset(self.prefix)],
            args=[caller, int(silent_seconds * 1000)],
        )
        return [_text(process) for process in claimed]

    async def forget_process(self, process_id: str) -> list[tuple[int, int]]:
        # One company at a time: a company's keys and the process's index live on different
        # Cluster slots. Only the claimer of the process gets here, so none is counted twice.
        # TODO: a claimer that dies half-way leaves the rest of the index unswept; claiming
        # with a lease instead of ZREM would let another process take the work over.
        held = keys.process_connections_hash(self.prefix, process_id)
        emptied: dict[tuple[int, int], None] = {}
        for key, owner in (await self.redis.hgetall(held)).items():
            company_id, company_user_id = (int(part) for part in _text(owner).split(":"))
            target = keys.connections_set(self.prefix, company_id, company_user_id)
            if int(await self._close_connection(keys=[target], args=[key])) == 0:
                emptied[company_id, company_user_id] = None
        await self.redis.delete(held)
        return list(emptied)

    async def is_built(self) -> bool:
        return bool(await self.redis.exists(keys.built_sentinel_str(self.prefix)))

    async def mark_built(self) -> None:
        await self.redis.set(keys.built_sentinel_str(self.prefix), "1")

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _encode_offers(offers: dict[int, tuple[int, int]]) -> str:
    return json.dumps({str(query): [queue, level] for query, (queue, level) in offers.items()})


def _decode_offers(raw: bytes | str) -> dict[int, tuple[int, int]]:
    parsed = json.loads(raw)
    return {int(query): (int(pair[0]), int(pair[1])) for query, pair in parsed.items()}

"""The query path with nothing but Starlette, asyncpg and redis-py.

POST /queries does one INSERT and one PUBLISH; a reader subscribed to the channel sends the
message to one connected websocket, round robin, as an offer goes to one agent.
Settings: BENCH_PG_DSN, BENCH_REDIS_URL, BENCH_CHANNEL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import redis.asyncio as redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.baselines.insert import INSERT, TABLE

CLIENTS: list[WebSocket] = []
TURN = itertools.count()


async def _deliver(pubsub: redis.client.PubSub) -> None:
    async for message in pubsub.listen():
        if message["type"] != "message" or not CLIENTS:
            continue
        client = CLIENTS[next(TURN) % len(CLIENTS)]
        with contextlib.suppress(Exception):
            await client.send_text(message["data"].decode())


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["BENCH_PG_DSN"], min_size=4, max_size=20)
    async with pool.acquire() as conn:
        await conn.execute(TABLE)
    publisher = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    pubsub = publisher.pubsub()
    await pubsub.subscribe(os.environ["BENCH_CHANNEL"])
    reader = asyncio.create_task(_deliver(pubsub))
    app.state.pool, app.state.redis = pool, publisher
    yield
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await pubsub.aclose()
    await publisher.aclose()
    await pool.close()


async def create(request: Request) -> JSONResponse:
    body = await request.json()
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(
            INSERT, body["queue_id"], body["source"], body["email"], body["name"]
        )
    frame = {"type": "query.offered", "query": {"id": row["id"], "source": body["source"]}}
    await request.app.state.redis.publish(os.environ["BENCH_CHANNEL"], json.dumps(frame))
    return JSONResponse({"id": row["id"], "source": body["source"]}, status_code=201)


async def agent(websocket: WebSocket) -> None:
    await websocket.accept()
    CLIENTS.append(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        CLIENTS.remove(websocket)


app = Starlette(
    routes=[Route("/queries", create, methods=["POST"]), WebSocketRoute("/ws", agent)],
    lifespan=lifespan,
)

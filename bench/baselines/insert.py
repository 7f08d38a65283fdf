"""One bare Starlette endpoint doing the single asyncpg INSERT a created query needs.

Settings: BENCH_PG_DSN (a database the harness made for this run).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TABLE = """
CREATE TABLE IF NOT EXISTS bare_queries (
    id bigserial PRIMARY KEY,
    queue_id integer NOT NULL,
    source text NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    status text NOT NULL DEFAULT 'waiting',
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = (
    "INSERT INTO bare_queries (queue_id, source, email, name) "
    "VALUES ($1, $2, $3, $4) RETURNING id, created_at"
)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["BENCH_PG_DSN"], min_size=4, max_size=20)
    async with pool.acquire() as conn:
        await conn.execute(TABLE)
    app.state.pool = pool
    yield
    await pool.close()


async def create(request: Request) -> JSONResponse:
    body = await request.json()
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(
            INSERT, body["queue_id"], body["source"], body["email"], body["name"]
        )
    return JSONResponse({"id": row["id"], "source": body["source"]}, status_code=201)


app = Starlette(routes=[Route("/queries", create, methods=["POST"])], lifespan=lifespan)

"""Operations endpoints for load balancers and monitoring: /health, /ready, /metrics."""

from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from models.queries import STATUSES, Query
from router import metrics
from router.base import Router
from server.services import Services

log = logging.getLogger("connectnow.ops")


async def health(request: Request) -> Response:
    """The process lives; says nothing of its dependencies."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """503 until the database and the routing store answer and routing state is rebuilt."""
    services: Services = request.app.state.services
    checks = {"database": await _database_ok(services), "routing": await _routing_ok(services)}
    status = 200 if all(checks.values()) else 503
    body = {"status": "ready" if status == 200 else "not ready", "checks": checks}
    return JSONResponse(body, status_code=status)


async def _database_ok(services: Services) -> bool:
    try:
        async with services.db.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the reason goes to the log
        log.warning("ops.database_unreachable error=%s", exc)
        return False
    return True


async def _routing_ok(services: Services) -> bool:
    router = services.hooks
    if not isinstance(router, Router):
        return False
    try:
        return await router.ready()
    except Exception as exc:
        log.warning("ops.routing_unready error=%s", exc)
        return False


async def metrics_page(request: Request) -> Response:
    """Prometheus text format; query counts by status are read from the database now."""
    services: Services = request.app.state.services
    try:
        async with services.db.session() as session:
            rows = await session.execute(
                select(col(Query.status), func.count()).group_by(col(Query.status))
            )
            counts = dict(rows.tuples().all())
        for status in STATUSES:
            metrics.QUERIES.labels(status=status).set(counts.get(status, 0))
    except Exception as exc:
        log.warning("ops.metrics_database_failed error=%s", exc)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


def routes() -> list[BaseRoute]:
    return [Route("/health", health), Route("/ready", ready), Route("/metrics", metrics_page)]

"""Operations endpoints for load balancers and monitoring: /health, /ready, /metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


async def health(request: Request) -> Response:
    """The process lives; says nothing of its dependencies."""
    return JSONResponse({"status": "ok"})


def routes() -> list[BaseRoute]:
    return [Route("/health", health)]

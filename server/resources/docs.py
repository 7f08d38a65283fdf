"""The OpenAPI document, an offline docs page, health checks and the HTML pages."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.api import api
from server.openapi import document

STATIC = Path(__file__).resolve().parent.parent.parent / "static"
_cached: dict[str, object] = {}


async def openapi_json(request: Request) -> Response:
    if "doc" not in _cached:
        _cached["doc"] = document(api)
    return JSONResponse(_cached["doc"])


def _page(name: str) -> Route:
    async def serve(request: Request) -> Response:
        path = STATIC / name
        if not path.exists():
            return JSONResponse({"message": "This page is not built yet."}, status_code=404)
        return FileResponse(path, media_type="text/html")

    return Route(f"/{name}", serve)


def routes() -> list[BaseRoute]:
    return [
        Route("/api/openapi.json", openapi_json),
        Route("/api/docs", _page("docs.html")),
        Route("/", _page("index.html")),
    ]

"""The OpenAPI document, an offline docs page, and the HTML pages a person uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.api import api
from server.openapi import document

STATIC = Path(__file__).resolve().parent.parent.parent / "static"
_cached: dict[str, object] = {}

# Pages are small and change with each release; browsers must revalidate them.
_PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


async def openapi_json(request: Request) -> Response:
    if "doc" not in _cached:
        _cached["doc"] = document(api)
    return JSONResponse(_cached["doc"])


def _page(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        path = STATIC / name
        if not path.exists():
            return JSONResponse({"message": "This page is not built yet."}, status_code=404)
        return FileResponse(path, media_type="text/html", headers=_PAGE_HEADERS)

    return serve


def routes() -> list[BaseRoute]:
    return [
        Route("/api/openapi.json", openapi_json),
        Route("/api/docs", _page("docs.html")),
        Route("/", _page("index.html")),
        Route("/console", _page("console.html")),
        Route("/dashboard", _page("dashboard.html")),
        Route("/q/{queue_id:int}", _page("customer.html")),
        Route("/invitations/{token}", _page("invitation.html")),
        Route("/reset-password", _page("reset-password.html")),
    ]

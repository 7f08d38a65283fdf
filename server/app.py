"""The ASGI application: REST under /api, websockets under /ws, pages under /."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from models import migrate
from server import resources
from server.api import api
from server.middleware import RequestContext
from server.services import Services
from server.settings import Settings, load

log = logging.getLogger("connectnow.server")
STATIC = Path(__file__).resolve().parent.parent / "static"


def _routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [*api.starlette_routes(), *resources.extra_routes()]
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC), name="static"))
    return routes


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "Nothing is at this address.", 405: "This method is not allowed here."}
    message = messages.get(exc.status_code, exc.detail)
    return JSONResponse({"message": message}, status_code=exc.status_code)


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app; services start in the lifespan so imports stay cheap."""
    chosen = settings or load()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logging.basicConfig(
            level=chosen.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        # uvicorn's own access log prints raw query strings, tokens included; ours redacts.
        logging.getLogger("uvicorn.access").disabled = True
        if chosen.auto_migrate:
            await anyio.to_thread.run_sync(migrate.upgrade, chosen.database_url)
        services = Services.build(chosen)
        app.state.services = services
        await resources.start(services)
        log.info("server.started database=%s", "sqlite" if chosen.is_sqlite else "postgresql")
        try:
            yield
        finally:
            await resources.stop(services)
            await services.db.dispose()

    return Starlette(
        routes=_routes(),
        middleware=[Middleware(RequestContext)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )


app = create_app()

"""A small client for tests: sign people up, build companies, and wait for things."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from server.app import create_app
from server.settings import Settings

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


@dataclass
class Person:
    token: str
    user: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Client:
    """httpx against the ASGI app, plus shortcuts for the setup most tests need."""

    def __init__(self, http: httpx.AsyncClient, app: Any) -> None:
        self.http = http
        self.app = app

    @classmethod
    @asynccontextmanager
    async def running(cls, settings: Settings) -> AsyncIterator[Client]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as http:
                yield cls(http, app)

    @property
    def services(self) -> Any:
        return self.app.state.services

    async def request(
        self, method: str, path: str, who: Person | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if who is not None:
            headers.update(who.headers)
        headers.setdefault("Accept", "application/json")
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, who: Person | None = None, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, who, **kw)

    async def post(self, path: str, who: Person | None = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, who, **kw)

    async def put(self, path: str, who: Person | None = None, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, who, **kw)

    async def delete(self, path: str, who: Person | None = None, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, who, **kw)

    async def person(self, name: str = "Hans", email: str | None = None) -> Person:
        """Register and sign in a new user."""
        n = next(_counter)
        email = email or f"{name.lower()}.{n}@example.com"
        registered = await self.post(
            "/api/register", json={"name": name, "email": email, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        signed_in = await self.post("/api/auth/token", json={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        body = signed_in.json()
        return Person(body["token"], body["user"])

    async def company(self, manager: Person, **fields: Any) -> dict[str, Any]:
        n = next(_counter)
        payload = {
            "name": f"Company {n}",
            "slug": f"company-{n}",
            "logo_url": "https://example.com/logo.svg",
            **fields,
        }
        created = await self.post("/api/companies", manager, json=payload)
        assert created.status_code == 201, created.text
        return dict(created.json())

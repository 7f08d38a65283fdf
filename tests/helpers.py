"""A small client for tests: sign people up, build companies, and wait for things."""

from __future__ import annotations

import itertools
import re
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


@dataclass
class SentMail:
    to: str
    subject: str
    text: str


def outbox(client: Client) -> list[SentMail]:
    """Every message the app sends from now on, recorded before it goes out as usual."""
    services = client.services
    sent: list[SentMail] | None = services.extras.get("test_outbox")
    if sent is not None:
        return sent
    recorded: list[SentMail] = []
    original = services.mailer.send

    async def send(to: str, subject: str, text: str) -> bool:
        recorded.append(SentMail(to, subject, text))
        return bool(await original(to, subject, text))

    services.mailer.send = send
    services.extras["test_outbox"] = recorded
    return recorded


_INVITATION = re.compile(r"/invitations/([A-Za-z0-9_\-]+)")


def invitation_token(client: Client, email: str) -> str:
    """The secret of the latest invitation mailed to `email` (call `outbox` before sending)."""
    for mail in reversed(outbox(client)):
        found = _INVITATION.search(mail.text)
        if mail.to.lower() == email.lower() and found:
            return found.group(1)
    raise AssertionError(f"no invitation was mailed to {email}")


async def _accept_in_db(client: Client, company_user_id: int, user_id: int) -> None:
    from models.base import utcnow
    from models.company_users import CompanyUser

    async with client.services.db.write() as session:
        member = await session.get(CompanyUser, company_user_id)
        assert member is not None
        member.user_id = user_id
        member.accepted_at = utcnow()
        member.invitation_token_hash = None


async def member(
    client: Client, manager: Person, company_id: int, role: str = "agent", **fields: Any
) -> tuple[Person, dict[str, Any]]:
    """A new person who is an accepted company user of the company, with the given role.

    The manager invites the person's email; the person accepts through the invitation
    endpoint, or, where the server has none, the acceptance is written to the database.
    """
    outbox(client)
    person = await client.person(fields.pop("name", "Agent"))
    email = person.user["email"]
    created = await client.post(
        "/api/company-users",
        manager,
        json={"company_id": company_id, "invited_email": email, "role": role, **fields},
    )
    assert created.status_code == 201, created.text
    company_user = dict(created.json())
    token = invitation_token(client, email)
    accepted = await client.post(f"/api/invitations/{token}/accept", person)
    no_route = accepted.status_code == 405 or (
        accepted.status_code == 404 and accepted.json().get("message") == _NO_ROUTE
    )
    if no_route:
        await _accept_in_db(client, company_user["id"], person.user["id"])
    else:
        assert accepted.status_code in (200, 201), accepted.text
    shown = await client.get(f"/api/company-users/{company_user['id']}", person)
    assert shown.status_code == 200, shown.text
    company_user = dict(shown.json())
    assert company_user["user_id"] == person.user["id"] and company_user["accepted_at"]
    return person, company_user


_NO_ROUTE = "Nothing is at this address."

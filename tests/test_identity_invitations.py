"""Invitations: the public preview of an emailed link and its acceptance by the right person."""

from __future__ import annotations

import re

import pytest

from models.company_users import CompanyUser
from server import auth
from server.staff import add_company_user
from tests.helpers import Client
from tests.smtp import Mailbox, links_in

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def invite(client: Client, company_id: int, email: str, role: str = "agent") -> str:
    """Store a pending company user as the company-users endpoint does; return the secret."""
    secret = auth.new_secret()
    async with client.services.db.write() as session:
        member = CompanyUser(
            company_id=company_id,
            invited_email=email,
            invitation_token_hash=auth.digest(secret),
            role=role,
        )
        await add_company_user(session, member, label=email)
    return secret


def record_changes(client: Client) -> list[int]:
    """Company user ids the routing hook hears about."""
    heard: list[int] = []
    hooks = client.services.hooks
    original = hooks.company_user_changed

    async def company_user_changed(company_user_id: int) -> None:
        heard.append(company_user_id)
        await original(company_user_id)

    hooks.company_user_changed = company_user_changed
    return heard


async def test_anyone_with_the_link_sees_company_and_invited_email(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans, name="Acme Support")
    secret = await invite(client, company["id"], "sakura@example.com", role="staffing_manager")

    shown = await client.get(f"/api/invitations/{secret}")

    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "invited_email": "sakura@example.com",
        "role": "staffing_manager",
        "company": {
            "id": company["id"],
            "name": "Acme Support",
            "slug": company["slug"],
            "logo_url": company["logo_url"],
        },
    }
    assert (await client.get("/api/invitations/unknown")).status_code == 404


async def test_invited_person_accepts_and_joins_the_company(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    sakura = await client.person("Sakura", email="sakura.w@example.com")
    secret = await invite(client, company["id"], "Sakura.W@EXAMPLE.com")
    heard = record_changes(client)

    accepted = await client.post(f"/api/invitations/{secret}/accept", sakura)

    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["user_id"] == sakura.user["id"]
    assert TIMESTAMP.match(body["accepted_at"])
    assert heard == [body["id"]]
    listed = (await client.get("/api/companies", sakura)).json()
    assert [c["id"] for c in listed] == [company["id"]]
    again = await client.post(f"/api/invitations/{secret}/accept", sakura)
    assert again.status_code == 404
    assert (await client.get(f"/api/invitations/{secret}")).status_code == 404


async def test_invitation_for_another_email_is_forbidden(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    mallory = await client.person("Mallory")
    secret = await invite(client, company["id"], "sakura@example.com")

    taken = await client.post(f"/api/invitations/{secret}/accept", mallory)

    assert taken.status_code == 403
    assert "another email address" in taken.json()["message"]
    assert (await client.get("/api/companies", mallory)).json() == []
    assert (await client.get(f"/api/invitations/{secret}")).status_code == 200


async def test_accepting_needs_a_signed_in_user_and_a_known_token(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    secret = await invite(client, company["id"], "sakura@example.com")

    anonymous = await client.post(f"/api/invitations/{secret}/accept")
    unknown = await client.post("/api/invitations/not-a-token/accept", hans)

    assert anonymous.status_code == 401
    assert unknown.status_code == 404


async def test_invitation_of_a_deleted_company_is_gone(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    sakura = await client.person("Sakura", email="sakura.d@example.com")
    secret = await invite(client, company["id"], "sakura.d@example.com")
    assert (await client.delete(f"/api/companies/{company['id']}", hans)).status_code == 204

    accepted = await client.post(f"/api/invitations/{secret}/accept", sakura)

    assert accepted.status_code == 404


async def test_emailed_invitation_is_shown_and_accepted_end_to_end(
    mail_client: Client, smtp: Mailbox
) -> None:
    hans = await mail_client.person("Hans")
    company = await mail_client.company(hans, name="Acme")
    created = await mail_client.post(
        "/api/company-users",
        hans,
        json={"company_id": company["id"], "invited_email": "Kim.Lee@example.com"},
    )
    assert created.status_code == 201, created.text
    (link,) = [x for x in links_in(smtp.last_to("kim.lee@example.com")) if "invitations" in x]
    secret = link.rstrip("/").rsplit("/", 1)[1]

    shown = await mail_client.get(f"/api/invitations/{secret}")
    kim = await mail_client.person("Kim", email="kim.lee@example.com")
    accepted = await mail_client.post(f"/api/invitations/{secret}/accept", kim)

    assert shown.status_code == 200
    assert shown.json()["company"]["name"] == "Acme"
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == created.json()["id"]
    listed = await mail_client.get("/api/companies", kim)
    assert [c["id"] for c in listed.json()] == [company["id"]]

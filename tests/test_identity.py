"""Identity: email verification, password reset, personal tokens and how tokens travel."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import update
from sqlmodel import col

from models.base import utcnow
from models.users import EmailToken
from tests.helpers import PASSWORD, Client
from tests.smtp import Mailbox, body_of, links_in

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
NEW_PASSWORD = "a brand new passphrase"


def verify_path(mailbox: Mailbox, email: str) -> str:
    (link,) = [x for x in links_in(mailbox.last_to(email)) if "/api/email/verify/" in x]
    return urlparse(link).path


def reset_token(mailbox: Mailbox, email: str) -> str:
    (link,) = [x for x in links_in(mailbox.last_to(email)) if "token=" in x]
    return parse_qs(urlparse(link).query)["token"][0]


async def test_registration_emails_a_link_that_verifies_once(
    mail_client: Client, smtp: Mailbox
) -> None:
    hans = await mail_client.person("Hans")
    assert hans.user["email_verified_at"] is None
    path = verify_path(smtp, hans.user["email"])

    verified = await mail_client.get(path)

    assert verified.status_code == 200, verified.text
    me = (await mail_client.get("/api/me", hans)).json()
    assert TIMESTAMP.match(me["email_verified_at"])
    again = await mail_client.post(path)
    assert again.status_code == 410
    assert "already been used" in again.json()["message"]


async def test_verification_link_can_be_posted(mail_client: Client, smtp: Mailbox) -> None:
    hans = await mail_client.person("Hans")

    verified = await mail_client.post(verify_path(smtp, hans.user["email"]))

    assert verified.status_code == 200
    assert (await mail_client.get("/api/me", hans)).json()["email_verified_at"] is not None


async def test_expired_or_unknown_verification_link_is_refused(
    mail_client: Client, smtp: Mailbox
) -> None:
    hans = await mail_client.person("Hans")
    path = verify_path(smtp, hans.user["email"])
    async with mail_client.services.db.write() as session:
        await session.execute(
            update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )

    expired = await mail_client.get(path)
    unknown = await mail_client.get("/api/email/verify/not-a-real-token")

    assert expired.status_code == 410
    assert "expired" in expired.json()["message"]
    assert unknown.status_code == 404
    assert (await mail_client.get("/api/me", hans)).json()["email_verified_at"] is None


async def test_resend_sends_a_new_link_and_retires_the_old(
    mail_client: Client, smtp: Mailbox
) -> None:
    hans = await mail_client.person("Hans")
    first = verify_path(smtp, hans.user["email"])

    resent = await mail_client.post("/api/email/verify/resend", hans)

    assert resent.status_code == 202
    second = verify_path(smtp, hans.user["email"])
    assert second != first
    assert (await mail_client.get(first)).status_code == 410
    assert (await mail_client.get(second)).status_code == 200
    done = await mail_client.post("/api/email/verify/resend", hans)
    assert done.status_code == 403
    assert (await mail_client.post("/api/email/verify/resend")).status_code == 401


async def test_forgot_password_never_tells_whether_the_email_exists(
    mail_client: Client, smtp: Mailbox
) -> None:
    hans = await mail_client.person("Hans")

    known = await mail_client.post("/api/password/forgot", json={"email": hans.user["email"]})
    unknown = await mail_client.post("/api/password/forgot", json={"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert smtp.to("nobody@example.com") == []
    assert "Reset your ConnectNow password" in str(smtp.last_to(hans.user["email"])["Subject"])


async def test_password_reset_is_single_use_and_signs_everyone_out(
    mail_client: Client, smtp: Mailbox
) -> None:
    hans = await mail_client.person("Hans")
    email = hans.user["email"]
    await mail_client.post("/api/password/forgot", json={"email": email.upper()})
    token = reset_token(smtp, email)

    reset = await mail_client.post(
        "/api/password/reset", json={"token": token, "password": NEW_PASSWORD}
    )

    assert reset.status_code == 200, reset.text
    assert (await mail_client.get("/api/me", hans)).status_code == 401
    old = await mail_client.post("/api/auth/token", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    new = await mail_client.post(
        "/api/auth/token", json={"email": email, "password": NEW_PASSWORD}
    )
    assert new.status_code == 200
    again = await mail_client.post(
        "/api/password/reset", json={"token": token, "password": "yet another passphrase"}
    )
    assert again.status_code == 422
    assert "already been used" in again.json()["errors"]["token"][0]


async def test_password_reset_checks_token_and_password(client: Client) -> None:
    bad = await client.post("/api/password/reset", json={"token": "nope", "password": "short"})

    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"password"}
    unknown = await client.post(
        "/api/password/reset", json={"token": "nope", "password": NEW_PASSWORD}
    )
    assert unknown.status_code == 422
    assert "token" in unknown.json()["errors"]


async def test_without_smtp_mail_goes_to_the_log(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectnow.mail")

    hans = await client.person("Hans")

    logged = [r.getMessage() for r in caplog.records if r.name == "connectnow.mail"]
    assert any(hans.user["email"] in line and "/api/email/verify/" in line for line in logged)


async def test_personal_token_is_shown_once_listed_and_revocable(client: Client) -> None:
    hans = await client.person("Hans")

    created = await client.post("/api/tokens", hans, json={"name": "CI"})

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "CI" and body["expires_at"] is None and body["token"]
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert (await client.get("/api/me", headers=bearer)).status_code == 200
    listed = (await client.get("/api/tokens", hans)).json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert "token" not in listed[0]
    assert TIMESTAMP.match(listed[0]["last_used_at"])
    revoked = await client.delete(f"/api/tokens/{body['id']}", hans)
    assert revoked.status_code == 204
    assert (await client.get("/api/me", headers=bearer)).status_code == 401
    assert (await client.delete(f"/api/tokens/{body['id']}", hans)).status_code == 404


async def test_tokens_of_others_cannot_be_revoked(client: Client) -> None:
    hans = await client.person("Hans")
    sakura = await client.person("Sakura")
    token = (await client.post("/api/tokens", hans, json={"name": "CI"})).json()

    attempt = await client.delete(f"/api/tokens/{token['id']}", sakura)

    assert attempt.status_code == 404
    assert (await client.get("/api/tokens", sakura)).json() == []


async def test_personal_token_expires(client: Client) -> None:
    hans = await client.person("Hans")
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    created = await client.post("/api/tokens", hans, json={"name": "short", "expires_at": soon})
    assert created.status_code == 201
    assert TIMESTAMP.match(created.json()["expires_at"])
    secret = created.json()["token"]
    assert (await client.get("/api/me", params={"api_token": secret})).status_code == 200

    async with client.services.db.write() as session:
        from models.users import ApiToken

        await session.execute(
            update(ApiToken)
            .where(col(ApiToken.id) == created.json()["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    assert (await client.get("/api/me", params={"api_token": secret})).status_code == 401
    past = await client.post(
        "/api/tokens", hans, json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"}
    )
    assert past.status_code == 422
    assert "expires_at" in past.json()["errors"]


async def test_sign_out_revokes_only_the_token_used(client: Client) -> None:
    hans = await client.person("Hans")
    other = (await client.post("/api/tokens", hans, json={"name": "laptop"})).json()["token"]

    signed_out = await client.delete("/api/auth/token", hans)

    assert signed_out.status_code == 204
    assert (await client.get("/api/me", hans)).status_code == 401
    assert (await client.get("/api/me", params={"api_token": other})).status_code == 200


async def test_token_works_in_header_query_and_body(client: Client) -> None:
    hans = await client.person("Hans")

    by_header = await client.get("/api/me", hans)
    by_query = await client.get("/api/me", params={"api_token": hans.token})
    by_body = await client.post("/api/tokens", json={"name": "x", "api_token": hans.token})

    assert by_header.status_code == by_query.status_code == 200
    assert by_body.status_code == 201
    assert (await client.get("/api/me", headers={"Authorization": "Basic x"})).status_code == 401
    assert (await client.get("/api/me", params={"api_token": "wrong"})).status_code == 401
    assert (await client.get("/api/me")).status_code == 401


async def test_access_log_never_shows_a_token(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    hans = await client.person("Hans")
    caplog.set_level(logging.INFO, logger="connectnow.access")

    await client.get("/api/me", params={"api_token": hans.token})
    encoded = await client.get(f"/api/me?api%5Ftoken={hans.token}")
    await client.post("/api/tokens", json={"name": "x", "api_token": hans.token})
    await client.get("/api/me", hans)

    assert encoded.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "connectnow.access"]
    assert len(lines) == 4
    assert all(hans.token not in line for line in lines)
    assert "api_token=[redacted]" in lines[0]


async def test_verification_secret_stays_out_of_the_access_log(
    mail_client: Client, smtp: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    hans = await mail_client.person("Hans")
    path = verify_path(smtp, hans.user["email"])
    caplog.set_level(logging.INFO, logger="connectnow.access")

    await mail_client.get(path)

    secret = path.rsplit("/", 1)[1]
    lines = [r.getMessage() for r in caplog.records if r.name == "connectnow.access"]
    assert lines and all(secret not in line for line in lines)
    assert secret in body_of(smtp.last_to(hans.user["email"]))


async def test_token_list_follows_the_list_conventions(client: Client) -> None:
    hans = await client.person("Hans")
    ids = [(await client.post("/api/tokens", hans, json={"name": n})).json()["id"] for n in "ab"]

    newest = await client.get("/api/tokens", hans, params={"scopes": "latest"})
    paged = await client.get("/api/tokens", hans, params={"per_page": 1})
    bad = await client.get("/api/tokens", hans, params={"per_page": 0})

    assert [t["id"] for t in newest.json()] == ids[::-1]
    assert newest.headers["X-Total-Count"] == "2"
    assert [t["id"] for t in paged.json()["data"]] == ids[:1]
    assert bad.status_code == 422

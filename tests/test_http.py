"""HTTP conventions: request ids, methods, limits, bodies, Unicode and email addresses."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import pytest

from server.settings import Settings
from tests.helpers import PASSWORD, Client

pytestmark = pytest.mark.anyio

LOGO = "https://x.io/l.png"


async def test_request_id_is_generated_echoed_and_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectnow.access")

    fresh = await client.get("/api/me")
    echoed = await client.get("/api/me", headers={"X-Request-ID": "trace-42.a:b"})
    unsafe = await client.get("/api/me", headers={"X-Request-ID": "bad id\twith spaces"})

    generated = fresh.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert echoed.headers["X-Request-ID"] == "trace-42.a:b"
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])
    lines = [r.getMessage() for r in caplog.records if r.name == "connectnow.access"]
    assert any(f"request_id={generated}" in line for line in lines)
    assert any("request_id=trace-42.a:b" in line for line in lines)


async def test_wrong_method_is_405_with_allow(client: Client) -> None:
    hans = await client.person("Hans")

    wrong = await client.request("PATCH", "/api/companies", hans)

    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, POST"
    assert "GET, POST" in wrong.json()["message"]


async def test_rate_limit_is_429_with_retry_after_and_tighter_in_public(
    settings: Settings,
) -> None:
    limited = replace(settings, rate_limit_per_minute=6, public_rate_limit_per_minute=3)
    async with Client.running(limited) as client:
        hans = await client.person("Hans")  # two public requests
        third = await client.post("/api/auth/token", json={"email": "x@example.com"})
        fourth = await client.post("/api/auth/token", json={"email": "x@example.com"})
        signed_in = [await client.get("/api/me", hans) for _ in range(6)]
        seventh = await client.get("/api/me", hans)

    assert third.status_code == 422
    assert fourth.status_code == 429
    assert int(fourth.headers["Retry-After"]) >= 1
    assert "Try again in" in fourth.json()["message"]
    assert [r.status_code for r in signed_in] == [200] * 6
    assert seventh.status_code == 429
    assert int(seventh.headers["Retry-After"]) >= 1


async def test_megabyte_body_is_413(client: Client) -> None:
    hans = await client.person("Hans")
    big = '{"name": "' + "x" * (1024 * 1024) + '"}'

    refused = await client.post(
        "/api/companies", hans, content=big, headers={"Content-Type": "application/json"}
    )

    assert refused.status_code == 413
    assert "at most" in refused.json()["message"]


async def test_malformed_json_is_400_and_non_object_is_422(client: Client) -> None:
    hans = await client.person("Hans")
    json_header = {"Content-Type": "application/json"}

    broken = await client.post("/api/companies", hans, content='{"name": ', headers=json_header)
    array = await client.post("/api/companies", hans, content="[1, 2]", headers=json_header)
    latin1 = await client.post("/api/companies", hans, content=b'{"name": "\xff"}')

    assert broken.status_code == 400
    assert "valid JSON" in broken.json()["message"]
    assert array.status_code == 422
    assert "JSON object" in array.json()["errors"]["body"][0]
    assert latin1.status_code == 400


async def test_emoji_and_right_to_left_names_round_trip(client: Client) -> None:
    name = "Support 🎧👩🏽‍💻 دعم العملاء עזרה"
    hans = await client.person("Hans")

    created = await client.post(
        "/api/companies", hans, json={"name": name, "slug": name, "logo_url": LOGO}
    )
    registered = await client.post(
        "/api/register",
        json={
            "name": "שרה 🌸",
            "surname": "محمد",
            "email": "sara@example.com",
            "password": PASSWORD,
        },
    )

    assert created.status_code == 201, created.text
    shown = await client.get(f"/api/companies/{created.json()['id']}", hans)
    assert shown.json()["name"] == name
    assert created.json()["slug"] == "support-دعم-العملاء-עזרה"
    assert registered.status_code == 201
    assert (registered.json()["name"], registered.json()["surname"]) == ("שרה 🌸", "محمد")


async def test_nul_bytes_are_422_never_500(client: Client) -> None:
    hans = await client.person("Hans")

    company = await client.post(
        "/api/companies", hans, json={"name": "A\u0000B", "slug": "ab", "logo_url": LOGO}
    )
    person = await client.post(
        "/api/register",
        json={"name": "Nul\u0000", "email": "nul@example.com", "password": PASSWORD},
    )

    assert company.status_code == 422
    assert "NUL" in company.json()["errors"]["name"][0]
    assert person.status_code == 422
    assert set(person.json()["errors"]) == {"name"}


async def test_name_of_255_characters_fits_and_256_is_422(client: Client) -> None:
    hans = await client.person("Hans")
    longest = "é" * 254 + "🎧"

    fits = await client.post(
        "/api/companies", hans, json={"name": longest, "slug": "long", "logo_url": LOGO}
    )
    too_long = await client.post(
        "/api/companies", hans, json={"name": longest + "x", "slug": "long2", "logo_url": LOGO}
    )
    person = await client.post(
        "/api/register",
        json={"name": "x" * 256, "email": "long@example.com", "password": PASSWORD},
    )

    assert fits.status_code == 201, fits.text
    assert fits.json()["name"] == longest
    assert too_long.status_code == 422
    assert "at most 255 characters" in too_long.json()["errors"]["name"][0]
    assert person.status_code == 422


@pytest.mark.parametrize(
    "email", ["o'brien+tag@sub.example.co.uk", "user@bücher.example", "Ünïcode@example.com"]
)
async def test_unusual_valid_emails_register_and_sign_in(client: Client, email: str) -> None:
    registered = await client.post(
        "/api/register", json={"name": "Odd", "email": email, "password": PASSWORD}
    )

    assert registered.status_code == 201, registered.text
    signed_in = await client.post("/api/auth/token", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Hans.Schmidt@Example.com", "hans.schmidt@EXAMPLE.COM"),
        ("user@bücher.example", "USER@xn--bcher-kva.example"),
    ],
)
async def test_duplicate_email_in_any_case_is_422(client: Client, first: str, second: str) -> None:
    await client.post("/api/register", json={"name": "A", "email": first, "password": PASSWORD})

    again = await client.post(
        "/api/register", json={"name": "B", "email": second, "password": PASSWORD}
    )

    assert again.status_code == 422
    assert again.json()["errors"]["email"] == ["The email has already been taken."]


async def test_invalid_email_names_the_rule(client: Client) -> None:
    bad = await client.post(
        "/api/register", json={"name": "A", "email": "not-an-email", "password": PASSWORD}
    )

    assert bad.status_code == 422
    assert bad.json()["errors"]["email"][0].startswith("The email field must be a valid email")


async def test_lone_surrogate_escapes_are_422_and_escaped_emoji_round_trips(
    client: Client,
) -> None:
    hans = await client.person("Hans")
    json_header = {"Content-Type": "application/json"}

    lone = await client.post(
        "/api/auth/token",
        content='{"email": "a@example.com", "password": "\\ud800"}',
        headers=json_header,
    )
    pair = await client.post(
        "/api/companies",
        hans,
        content='{"name": "Help \\ud83c\\udfa7", "slug": "help", "logo_url": "' + LOGO + '"}',
        headers=json_header,
    )

    assert lone.status_code == 422
    assert "Unicode" in lone.json()["errors"]["body"][0]
    assert pair.status_code == 201, pair.text
    assert pair.json()["name"] == "Help 🎧"

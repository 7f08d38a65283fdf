"""Hostile input found by trying to break the server: each gets a clear 4xx, never a 500."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import Client

pytestmark = pytest.mark.anyio

DEEP = "{" + '"a":' + "[" * 30000 + "]" * 30000 + "}"


async def test_deeply_nested_json_is_a_400_not_a_500(client: Client) -> None:
    for path in ("/api/register", "/api/auth/token", "/api/queries"):
        answer = await client.post(
            path, content=DEEP, headers={"Content-Type": "application/json"}
        )

        assert answer.status_code == 400, (path, answer.text)
        assert "deeply" in answer.json()["message"]


async def test_declared_oversized_body_is_refused_before_reading(client: Client) -> None:
    hans = await client.person("Hans")

    answer = await client.post(
        "/api/skills",
        hans,
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "99999999999"},
    )

    assert answer.status_code == 413


async def test_true_is_not_an_id(client: Client) -> None:
    hans = await client.person("Hans")
    await client.company(hans)

    answer = await client.post("/api/skills", hans, json={"name": "English", "company_id": True})

    assert answer.status_code == 422
    assert "company_id" in answer.json()["errors"]


async def test_password_of_spaces_is_refused(client: Client) -> None:
    answer = await client.post(
        "/api/register", json={"name": "Ann", "email": "ann@example.com", "password": " " * 12}
    )

    assert answer.status_code == 422
    assert answer.json()["errors"]["password"] == ["The password field must not be empty."]


async def test_accented_slug_folds_onto_the_plain_one(client: Client) -> None:
    hans = await client.person("Hans")
    first = await client.company(hans, slug="Acme Support")

    again = await client.post(
        "/api/companies",
        hans,
        json={"name": "Ácme", "slug": "Ácme Support", "logo_url": "https://x.io/l.png"},
    )

    assert first["slug"] == "acme-support"
    assert again.status_code == 422
    assert "slug" in again.json()["errors"]


async def test_encoded_newline_in_path_cannot_forge_a_log_line(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    hans = await client.person("Hans")

    with caplog.at_level(logging.INFO, logger="connectnow.access"):
        await client.get("/api/companies/1%0aforged%20status=200", hans)

    lines = [r.getMessage() for r in caplog.records if r.name == "connectnow.access"]
    assert lines
    assert all("\n" not in line for line in lines)
    assert any("%0Aforged%20status=200" in line for line in lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_log_line_of_a_real_server_shows_a_token(tmp_path: Path) -> None:
    """uvicorn's own access log prints query strings raw; the server silences it."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}",
        "REDIS_URL": "",
        "LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.app:app", "--port", str(port)],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        answer = httpx.get(f"{url}/api/me", params={"api_token": "SECRETTOKEN123"})
        httpx.post(f"{url}/api/invitations/SECRETINV456/accept")
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)

    assert answer.status_code == 401
    assert "request method=GET path=/api/me" in output
    assert "SECRETTOKEN123" not in output
    assert "SECRETINV456" not in output


async def test_keyed_with_is_a_422_not_silently_dropped(client: Client) -> None:
    hans = await client.person("Hans")

    answer = await client.get("/api/companies", hans, params={"with[x]": "queues"})

    assert answer.status_code == 422
    assert "with" in answer.json()["errors"]


async def test_rule_across_fields_is_reported_under_the_field_it_names(client: Client) -> None:
    hans = await client.person("Hans")
    company = await client.company(hans)
    queue = await client.post(
        "/api/queues", hans, json={"name": "Support", "company_id": company["id"]}
    )
    assert queue.status_code == 201, queue.text

    answer = await client.post(
        "/api/queries",
        json={
            "source": "not-a-url",
            "is_link": True,
            "email": "ann@example.com",
            "name": "Ann",
            "queue_id": queue.json()["id"],
        },
    )

    assert answer.status_code == 422
    assert set(answer.json()["errors"]) == {"source"}

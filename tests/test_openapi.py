"""The published OpenAPI document matches what the live server really accepts and returns."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real uvicorn process on the embedded default, with a fresh SQLite file."""
    port = _free_port()
    db = tmp_path_factory.mktemp("openapi") / "api.db"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "REDIS_URL": "",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "PUBLIC_RATE_LIMIT_PER_MINUTE": "1000000",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.app:app", "--port", str(port)],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("the server did not start within 30 seconds")
    yield url
    process.terminate()
    process.wait(timeout=10)


def _token(url: str) -> str:
    email = "schema@example.com"
    password = "a long enough password"
    httpx.post(
        f"{url}/api/register", json={"name": "Schema", "email": email, "password": password}
    )
    signed_in = httpx.post(f"{url}/api/auth/token", json={"email": email, "password": password})
    token = str(signed_in.json()["token"])
    company = {"name": "Schema Co", "slug": "schema-co", "logo_url": "https://x.io/l.png"}
    httpx.post(f"{url}/api/companies", json=company, headers={"Authorization": f"Bearer {token}"})
    return token


def test_openapi_document_is_3_1_and_lists_the_seed_endpoints(live_url: str) -> None:
    document = httpx.get(f"{live_url}/api/openapi.json").json()

    assert document["openapi"].startswith("3.1")
    assert "/api/companies" in document["paths"]
    assert set(document["paths"]["/api/companies"]) >= {"get", "post"}


@pytest.mark.timeout(900)
def test_schemathesis_finds_no_server_error_and_no_contradiction(live_url: str) -> None:
    token = _token(live_url)
    report = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{live_url}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            os.environ.get("SCHEMATHESIS_EXAMPLES", "15"),
            "--workers",
            "1",
            "--exclude-path",
            "/api/auth/token",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )

    assert report.returncode == 0, report.stdout[-6000:] + report.stderr[-2000:]

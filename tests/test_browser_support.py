"""Fixtures of the browser tests: a live server in its own process and a headless Chromium.

The server runs as `uvicorn` on a free loopback port with its own SQLite file, so a test can
stop it and start it again on the same port, as a real restart would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"
START_SECONDS = 30.0
_INVITATION = re.compile(r"/invitations/([A-Za-z0-9_\-]+)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    """`connectnow`'s app under uvicorn in a child process; restartable on the same port."""

    database: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=f"sqlite+aiosqlite:///{self.database}",
            REDIS_URL="",
            SMTP_URL="",
            AUTO_MIGRATE="false",
            LOG_LEVEL="INFO",
            PUBLIC_URL=self.url,
            RATE_LIMIT_PER_MINUTE="100000",
            PUBLIC_RATE_LIMIT_PER_MINUTE="100000",
            PRESENCE_GRACE_SECONDS="30",
        )
        return env

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server.app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server did not answer within {START_SECONDS} s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def invitation_secret(self, email: str) -> str:
        """The secret of the latest invitation the server wrote to its log for `email`."""
        text = self.log_path.read_text(errors="replace")
        found = None
        for block in text.split("mail.logged to=")[1:]:
            if block.lower().startswith(email.lower()):
                match = _INVITATION.search(block)
                found = match.group(1) if match else found
        if found is None:
            raise AssertionError(f"no invitation to {email} in the server log")
        return found


@dataclass
class Account:
    email: str
    token: str
    user: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}


class Setup:
    """REST shortcuts that build what a scenario needs, through the public API."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=10)
        self.counter = 0

    def call(
        self, method: str, path: str, who: Account | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = who.headers if who else {"Accept": "application/json"}
        return self.http.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, who: Account | None = None, **kwargs: Any) -> Any:
        response = self.call(method, path, who, **kwargs)
        assert response.status_code in (200, 201, 204), f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def person(self, name: str, surname: str = "Tester") -> Account:
        self.counter += 1
        email = f"{name.lower()}.{self.counter}.{self.server.port}@example.com"
        self.ok(
            "POST",
            "/api/register",
            json={"name": name, "surname": surname, "email": email, "password": PASSWORD},
        )
        signed_in = self.ok("POST", "/api/auth/token", json={"email": email, "password": PASSWORD})
        return Account(email, signed_in["token"], signed_in["user"])

    def company(self, manager: Account, name: str = "Acme Support") -> dict[str, Any]:
        self.counter += 1
        created: dict[str, Any] = self.ok(
            "POST",
            "/api/companies",
            manager,
            json={
                "name": name,
                "slug": f"{name}-{self.counter}",
                "logo_url": "https://example.com/logo.svg",
            },
        )
        return created

    def member(
        self, manager: Account, company_id: int, person: Account, **fields: Any
    ) -> dict[str, Any]:
        """Invite `person` and accept the invitation with the emailed (logged) link."""
        created = self.ok(
            "POST",
            "/api/company-users",
            manager,
            json={"company_id": company_id, "invited_email": person.email, **fields},
        )
        secret = self.server.invitation_secret(person.email)
        self.ok("POST", f"/api/invitations/{secret}/accept", person)
        shown: dict[str, Any] = self.ok("GET", f"/api/company-users/{created['id']}", person)
        return shown

    def queue(self, manager: Account, company_id: int, name: str, **fields: Any) -> dict[str, Any]:
        created: dict[str, Any] = self.ok(
            "POST", "/api/queues", manager, json={"company_id": company_id, "name": name, **fields}
        )
        return created

    def open_query(self, queue_id: int, name: str = "Mia") -> dict[str, Any]:
        self.counter += 1
        created: dict[str, Any] = self.ok(
            "POST",
            "/api/queries",
            json={
                "queue_id": queue_id,
                "name": name,
                "email": f"customer.{self.counter}@example.com",
                "source": f"https://shop.example.com/orders/{self.counter}",
                "is_link": True,
            },
        )
        return created

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    database = tmp_path / "connectnow.db"
    shutil.copy(sqlite_template, database)
    server = LiveServer(database=database, log_path=tmp_path / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if os.environ.get("KEEP_SERVER_LOG"):
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(server.log_path, ARTIFACTS / f"server-{server.port}.log")


@pytest.fixture
def setup(live_server: LiveServer) -> Iterator[Setup]:
    shortcuts = Setup(live_server)
    yield shortcuts
    shortcuts.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def signed_in_context(browser: Any, server: LiveServer, who: Account, **options: Any) -> Any:
    """A browser context whose pages start signed in as `who` (token in localStorage)."""
    context = browser.new_context(base_url=server.url, **options)
    token, user = json.dumps(who.token), json.dumps(json.dumps(who.user))
    context.add_init_script(
        f"localStorage.setItem('connectnow.token', {token});"
        f"localStorage.setItem('connectnow.user', {user});"
    )
    return context


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)

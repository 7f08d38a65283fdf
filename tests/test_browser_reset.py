"""The page a password-reset email links to, in real headless Chromium."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.test_browser import PHONE, SOON_MS, expect
from tests.test_browser_support import PASSWORD, LiveServer, Setup

pytest_plugins = ["tests.test_browser_support"]
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

_RESET = re.compile(r"/reset-password\?token=([A-Za-z0-9_\-]+)")


def _reset_secret(server: LiveServer, email: str) -> str:
    text = server.log_path.read_text(errors="replace")
    blocks = [b for b in text.split("mail.logged to=")[1:] if b.lower().startswith(email)]
    found = [m.group(1) for b in blocks if (m := _RESET.search(b))]
    assert found, f"no reset link to {email} in the server log"
    return found[-1]


def test_forgotten_password_is_reset_from_the_emailed_link(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    person = setup.person("Sakura", "Watanabe")
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()

    page.goto("/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.locator("#ask input[name=email]").fill(person.email)
    page.get_by_role("button", name="Email me a link").click()
    expect()(page.locator("#result")).to_contain_text("on its way", timeout=SOON_MS)

    page.goto(f"/reset-password?token={_reset_secret(live_server, person.email)}")
    page.locator("#reset input[name=password]").fill("a brand new password")
    page.get_by_role("button", name="Set the new password").click()
    expect()(page.locator("#result")).to_contain_text("password is changed", timeout=SOON_MS)
    context.close()

    old = httpx.post(
        f"{live_server.url}/api/auth/token", json={"email": person.email, "password": PASSWORD}
    )
    new = httpx.post(
        f"{live_server.url}/api/auth/token",
        json={"email": person.email, "password": "a brand new password"},
    )
    assert old.status_code == 401
    assert new.status_code == 200

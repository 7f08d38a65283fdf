"""What a person sees, in a real headless Chromium against a live server.

Each scenario drives the pages as a person would: forms, buttons, and what appears live.
Screenshots of every page land in test-artifacts/ (desktop and a 375-pixel phone).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.test_browser_support import (
    PASSWORD,
    LiveServer,
    Setup,
    screenshot,
    signed_in_context,
)

# The live server, setup shortcuts and browser fixtures.
pytest_plugins = ["tests.test_browser_support"]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PHONE = {"width": 375, "height": 740}
SOON_MS = 10_000


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def _console_available(page: Any) -> None:
    """On an open console: go available and wait until the server says so."""
    expect()(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=SOON_MS)
    page.get_by_role("button", name="Go available").click()
    expect()(page.locator("#availability-badge")).to_have_text("Available", timeout=SOON_MS)


def _sign_in(page: Any, email: str) -> None:
    page.locator("#sign-in-email").fill(email)
    page.locator("#sign-in-password").fill(PASSWORD)
    page.locator("#sign-in").get_by_role("button", name="Sign in").click()


def _open_query_on_page(page: Any, name: str, email: str) -> None:
    page.locator("#q-name").fill(name)
    page.locator("#q-email").fill(email)
    page.locator("#q-source").fill("https://shop.example.com/orders/42")
    page.get_by_role("button", name="Open query").click()


def test_query_goes_from_customer_page_to_console_and_rating_to_dashboard(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    manager = setup.person("Maria", "Manager")
    company = setup.company(manager)
    queue = setup.queue(manager, company["id"], "English MacOS Support")
    agent = setup.person("Hans", "Schmidt")
    setup.member(manager, company["id"], agent)

    agent_context = browser.new_context(base_url=live_server.url)
    console = agent_context.new_page()
    console.goto("/console")
    _sign_in(console, agent.email)
    _console_available(console)
    screenshot(console, "console-available")

    customer_context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    customer = customer_context.new_page()
    customer.goto(f"/q/{queue['id']}")
    expect()(customer.locator("#queue-name")).to_have_text("English MacOS Support")
    screenshot(customer, "customer-form-phone")
    _open_query_on_page(customer, "Mia", "mia@example.com")
    expect()(customer.locator("#status")).to_be_visible(timeout=SOON_MS)

    offer = console.locator("#offers .offer")
    expect()(offer).to_contain_text("Mia", timeout=1_000)
    expect()(console).to_have_title("(1) ConnectNow console")
    expect()(customer.locator("#place")).to_have_text("1", timeout=SOON_MS)
    screenshot(console, "console-offer")
    screenshot(customer, "customer-waiting-phone")

    offer.get_by_role("button", name="Answer").click()
    ongoing = console.locator("#ongoing .ongoing")
    expect()(ongoing).to_contain_text("Mia", timeout=SOON_MS)
    expect()(console.locator("#offers .offer")).to_have_count(0)
    expect()(customer.locator("#answered")).to_contain_text("Hans", timeout=SOON_MS)

    ongoing.locator("textarea").fill("Asked for the order number.")
    ongoing.get_by_role("button", name="Add note").click()
    expect()(ongoing.locator(".notes")).to_contain_text("Asked for the order number.")
    screenshot(console, "console-ongoing")
    ongoing.get_by_role("button", name="Mark done").click()
    expect()(console.locator("#ongoing .ongoing")).to_have_count(0, timeout=SOON_MS)

    rate = customer.locator("#rate")
    expect()(rate).to_be_visible(timeout=SOON_MS)
    screenshot(customer, "customer-rate-phone")
    rate.locator("label").filter(has_text="4").click()
    rate.locator("textarea").fill("Quick and friendly.")
    rate.get_by_role("button", name="Send rating").click()
    expect()(customer.locator("#thanks")).to_be_visible(timeout=SOON_MS)

    manager_context = signed_in_context(browser, live_server, manager)
    dashboard = manager_context.new_page()
    dashboard.goto("/dashboard")
    rating = dashboard.locator("#ratings li[data-rating]")
    expect()(rating).to_contain_text("4 / 5", timeout=SOON_MS)
    expect()(rating).to_contain_text("Hans Schmidt")
    expect()(rating).to_contain_text("Quick and friendly.")
    screenshot(dashboard, "dashboard-live")
    for context in (agent_context, customer_context, manager_context):
        context.close()


def test_customer_watches_the_place_in_line_move_and_can_cancel(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    manager = setup.person("Maria", "Manager")
    company = setup.company(manager)
    queue = setup.queue(manager, company["id"], "IT Queue")
    agent = setup.person("Sakura", "Watanabe")
    member = setup.member(manager, company["id"], agent)
    first = setup.open_query(queue["id"], name="Ben")

    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    customer = context.new_page()
    customer.goto(f"/q/{queue['id']}")
    _open_query_on_page(customer, "Mia", "mia@example.com")
    expect()(customer.locator("#place")).to_have_text("2", timeout=SOON_MS)

    setup.ok("PUT", f"/api/company-user-states/{member['id']}", agent, json={"is_available": True})
    answered = setup.call("POST", f"/api/queries/{first['id']}/answer", agent)
    assert answered.status_code == 200, answered.text
    expect()(customer.locator("#place")).to_have_text("1", timeout=SOON_MS)

    customer.reload()
    expect()(customer.locator("#place")).to_have_text("1", timeout=SOON_MS)
    customer.get_by_role("button", name="Cancel my query").click()
    expect()(customer.locator("#status-words")).to_have_text(
        "Your query was cancelled.", timeout=SOON_MS
    )
    expect()(customer.locator("#again")).to_be_visible()
    screenshot(customer, "customer-cancelled-phone")
    context.close()


def test_two_agents_answer_the_same_query_and_one_holds_it(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    manager = setup.person("Maria", "Manager")
    company = setup.company(manager)
    queue = setup.queue(manager, company["id"], "IT Queue")
    agents = [setup.person("Hans", "Schmidt"), setup.person("Sakura", "Watanabe")]
    contexts, consoles = [], []
    for agent in agents:
        setup.member(manager, company["id"], agent)
        context = signed_in_context(browser, live_server, agent)
        page = context.new_page()
        page.goto("/console")
        _console_available(page)
        contexts.append(context)
        consoles.append(page)

    setup.open_query(queue["id"], name="Mia")
    for page in consoles:
        expect()(page.locator("#offers .offer")).to_contain_text("Mia", timeout=SOON_MS)

    # Both press Answer at once: neither waits for the other's request to finish.
    for page in consoles:
        page.evaluate("document.querySelector('#offers .offer button').click()")

    holders = []
    for page in consoles:
        expect()(page.locator("#offers .offer")).to_have_count(0, timeout=SOON_MS)
        if page.locator("#ongoing .ongoing").count():
            holders.append(page)
    assert len(holders) == 1
    loser = consoles[1] if holders[0] is consoles[0] else consoles[0]
    expect()(loser.locator("#ongoing .ongoing")).to_have_count(0)
    reason = loser.locator("#withdrawn li")
    expect()(reason).to_contain_text("Mia")
    expect()(reason).to_contain_text("answered")
    screenshot(loser, "console-withdrawn")
    for context in contexts:
        context.close()


def test_manager_builds_a_queue_and_watches_its_waiting_count(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    manager = setup.person("Maria", "Manager")
    company = setup.company(manager)
    agent = setup.person("Sakura", "Watanabe")
    member = setup.member(manager, company["id"], agent)

    context = signed_in_context(browser, live_server, manager)
    page = context.new_page()
    page.goto("/dashboard")
    expect()(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=SOON_MS)

    page.get_by_role("tab", name="Skills").click()
    page.locator("#skill-name").fill("Klingon")
    page.get_by_role("button", name="Create skill").click()
    expect()(page.locator("#skills li input[name=name]")).to_have_value("Klingon")

    page.get_by_role("tab", name="Queues").click()
    page.locator("#queue-name").fill("Klingon Support")
    page.locator("#queue-delay").fill("60")
    page.locator("#queue-skills").get_by_label("Klingon").check()
    page.get_by_role("button", name="Create queue").click()
    queue_item = page.locator("#queues li").filter(has_text="Klingon Support")
    expect()(queue_item).to_contain_text("Klingon")
    screenshot(page, "dashboard-queues")

    page.get_by_role("tab", name="Company users").click()
    person = page.locator(f"#people li[data-member='{member['id']}']")
    person.locator("summary").filter(has_text="Skills").click()
    person.get_by_label("Klingon").select_option("2")
    person.get_by_role("button", name="Save skills").click()
    expect()(person).to_contain_text("Skills saved.", timeout=SOON_MS)
    held = setup.ok("GET", f"/api/company-users/{member['id']}?with[]=skills", manager)
    assert [(s["name"], s["level"]) for s in held["skills"]] == [("Klingon", 2)]
    screenshot(page, "dashboard-people")

    page.get_by_role("tab", name="Live").click()
    queue_id = next(
        q["id"] for q in setup.ok("GET", "/api/queues", manager) if q["name"] == "Klingon Support"
    )
    waiting = page.locator(f"#figures tr[data-queue='{queue_id}'] td.waiting")
    expect()(waiting).to_have_text("0", timeout=30_000)
    setup.open_query(queue_id, name="Worf")
    expect()(waiting).to_have_text("1", timeout=SOON_MS)
    setup.open_query(queue_id, name="Kahless")
    expect()(waiting).to_have_text("2", timeout=SOON_MS)
    screenshot(page, "dashboard-waiting")
    context.close()


def test_invited_person_registers_from_the_emailed_link_and_joins(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    manager = setup.person("Maria", "Manager")
    company = setup.company(manager, name="Initech")
    context = signed_in_context(browser, live_server, manager)
    page = context.new_page()
    page.goto("/dashboard")
    page.get_by_role("tab", name="Company users").click()
    page.locator("#invite-email").fill("lukas.weber@example.com")
    page.locator("#invite-role").select_option("staffing_manager")
    page.get_by_role("button", name="Send invitation").click()
    invited = page.locator("#people li").filter(has_text="lukas.weber@example.com")
    expect()(invited).to_contain_text("invited", timeout=SOON_MS)
    context.close()

    secret = live_server.invitation_secret("lukas.weber@example.com")
    newcomer = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = newcomer.new_page()
    page.goto(f"/invitations/{secret}")
    expect()(page.locator("#title")).to_have_text("Join Initech", timeout=SOON_MS)
    expect()(page.locator("#details")).to_contain_text("as a staffing manager")
    expect()(page.locator("#register-email")).to_have_value("lukas.weber@example.com")
    page.locator("#register-name").fill("Lukas")
    page.locator("#register-password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    page.get_by_role("button", name="Accept the invitation").click()
    expect()(page.locator("#done")).to_be_visible(timeout=SOON_MS)
    screenshot(page, "invitation-accepted-phone")
    members = setup.ok("GET", f"/api/company-users?company_ids={company['id']}", manager)
    joined = next(m for m in members if m["invited_email"] == "lukas.weber@example.com")
    assert joined["accepted_at"] and joined["role"] == "staffing_manager"
    newcomer.close()


def test_manager_sets_hours_and_the_customer_page_shows_the_queue_closed(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    manager = setup.person("Maria", "Manager")
    company = setup.company(manager)
    queue = setup.queue(manager, company["id"], "German MacOS Support")
    context = signed_in_context(browser, live_server, manager, timezone_id="UTC")
    page = context.new_page()
    page.goto("/dashboard")
    page.get_by_role("tab", name="Hours").click()
    page.locator("#hours-scope").select_option(label="German MacOS Support")

    page.locator("#hour-weekday").select_option(label="Saturday")
    page.locator("#hour-zone").fill("Europe/Berlin")
    page.locator("#hour-opens").fill("10:00")
    page.locator("#hour-closes").fill("14:00")
    page.get_by_role("button", name="Add window").click()
    window = "Saturday 10:00\u201314:00 (Europe/Berlin)"
    expect()(page.locator("#hours li")).to_contain_text(window)

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    page.locator("#bl-starts").fill((now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#bl-ends").fill((now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#bl-reason").fill("Team offsite")
    page.get_by_role("button", name="Add closed period").click()
    expect()(page.locator("#blacklist li")).to_contain_text("Team offsite")
    screenshot(page, "dashboard-hours")

    status = setup.ok("GET", f"/api/queues/{queue['id']}/status", manager)
    assert status["is_open"] is False
    customer = context.new_page()
    customer.goto(f"/q/{queue['id']}")
    expect()(customer.locator("#open-state")).to_have_text("Closed now", timeout=SOON_MS)
    screenshot(customer, "customer-closed")
    context.close()


def test_console_shows_a_dropped_connection_and_recovers_without_reload(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    manager = setup.person("Maria", "Manager")
    company = setup.company(manager)
    queue = setup.queue(manager, company["id"], "IT Queue")
    agent = setup.person("Hans", "Schmidt")
    setup.member(manager, company["id"], agent)
    context = signed_in_context(browser, live_server, agent)
    page = context.new_page()
    page.goto("/console")
    _console_available(page)
    page.evaluate("window.loadedOnce = true")

    live_server.stop()
    connection = page.locator("#conn")
    expect()(connection).to_have_attribute("data-state", "reconnecting", timeout=SOON_MS)
    expect()(connection).to_contain_text("reconnecting")
    screenshot(page, "console-reconnecting")

    live_server.start()
    expect()(connection).to_have_attribute("data-state", "live", timeout=20_000)
    assert page.evaluate("window.loadedOnce") is True
    setup.open_query(queue["id"], name="Mia")
    expect()(page.locator("#offers .offer")).to_contain_text("Mia", timeout=SOON_MS)
    context.close()


def test_pages_fit_a_phone_and_work_by_keyboard(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    manager = setup.person("Maria", "Manager")
    company = setup.company(manager)
    queue = setup.queue(manager, company["id"], "German MacOS Support")
    context = signed_in_context(browser, live_server, manager, viewport=PHONE)
    page = context.new_page()
    for path, name in (
        ("/", "index"),
        ("/console", "console"),
        ("/dashboard", "dashboard"),
        (f"/q/{queue['id']}", "customer"),
        ("/api/docs", "docs"),
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than a 375 px phone"
        screenshot(page, f"{name}-phone")
    context.close()

    anonymous = browser.new_context(base_url=live_server.url)
    page = anonymous.new_page()
    page.goto("/")
    screenshot(page, "index-signed-out")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "ConnectNow"
    page.locator("#sign-in-email").focus()
    page.keyboard.type(manager.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect()(page.locator("#welcome-name")).to_have_text("Maria Manager", timeout=SOON_MS)
    expect()(page.locator("#companies")).to_contain_text(company["name"])
    anonymous.close()


def test_docs_page_lists_every_endpoint_offline(
    browser: Any, live_server: LiveServer, setup: Setup
) -> None:
    document = setup.ok("GET", "/api/openapi.json")
    operations = sum(
        1
        for methods in document["paths"].values()
        for method in methods
        if method in {"get", "post", "put", "patch", "delete"}
    )
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(live_server.url) or request.url.startswith("data:")
            else outside.append(request.url)
        ),
    )
    page.goto("/api/docs")
    expect()(page.locator(".endpoint")).to_have_count(operations, timeout=SOON_MS)
    screenshot(page, "docs")
    page.locator("#filter").fill("rating")
    rating = page.locator(".endpoint:visible").filter(has_text="/api/queries/{query_id}/rating")
    expect()(rating).to_have_count(1)
    rating.locator("summary").click()
    expect()(rating).to_contain_text("score")
    expect()(rating).to_contain_text("X-Customer-Token")
    screenshot(page, "docs-rating")
    assert outside == []
    context.close()

"""`connectnow demo`: a demo company, live simulated traffic, and a restart that reuses it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from server.demo_company import DemoOptions
from server.demo_traffic import CustomerVisit, SimulatedAgent, Simulation
from tests.test_browser_support import ROOT, free_port

DEADLINE_SECONDS = 120.0
PASSWORD = "connectnow-demo"


def _start(database: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(DATABASE_URL=f"sqlite+aiosqlite:///{database}", REDIS_URL="", SMTP_URL="")
    env.pop("DEMO_PASSWORD", None)
    command = [sys.executable, "-m", "server.cli", "demo", "--port", str(port), "--speed", "10"]
    command += ["--customers-per-minute", "3", "--quiet"]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(what: str, check: Any, process: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the demo exited: {log.read_text()[-3000:]}"
        try:
            found = check()
        except httpx.TransportError:
            found = None
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {DEADLINE_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError("the demo did not stop within 30 s of Ctrl+C") from None


def _manager(http: httpx.Client) -> dict[str, str]:
    signed_in = http.post(
        "/api/auth/token", json={"email": "manager@demo.example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['token']}", "Accept": "application/json"}


def _demo_state(http: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    companies = http.get("/api/companies", headers=headers).json()
    (company,) = companies
    members = http.get(f"/api/company-users?company_ids={company['id']}", headers=headers).json()
    queues = [
        q for q in http.get("/api/queues", headers=headers).json() if not q["company_user_id"]
    ]
    return {
        "company": company["id"],
        "members": sorted(m["invited_email"] for m in members),
        "queues": sorted((q["id"], q["name"]) for q in queues),
    }


@pytest.mark.timeout(600)
def test_demo_runs_traffic_and_reuses_its_company_on_restart(tmp_path: Path) -> None:
    database, log, port = tmp_path / "demo.db", tmp_path / "demo.log", free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(database, port, log)
    try:
        banner = _wait_for(
            "the banner", lambda: "Press Ctrl+C" in log.read_text(errors="replace"), process, log
        )
        assert banner
        text = log.read_text()
        assert f"{base}/dashboard" in text
        assert f"manager@demo.example.com / {PASSWORD}" in text
        assert "alex.rivera@demo.example.com" in text
        with httpx.Client(base_url=base, timeout=10) as http:
            headers = _manager(http)
            first = _demo_state(http, headers)
            assert [name for _, name in first["queues"]] == [
                "English MacOS Support",
                "German MacOS Support",
                "IT Queue",
            ]
            assert len(first["members"]) == 16  # the manager, 14 simulated agents, one free
            assert "hans.schmidt@demo.example.com" in first["members"]
            hans = next(
                m
                for m in http.get(
                    f"/api/company-users?company_ids={first['company']}&with[]=skills",
                    headers=headers,
                ).json()
                if m["invited_email"] == "hans.schmidt@demo.example.com"
            )
            assert {s["name"]: s["level"] for s in hans["skills"]} == {
                "German": 1,
                "MacOS": 1,
                "English": 2,
            }
            rated = _wait_for(
                "a rated query",
                lambda: http.get("/api/ratings", headers=headers).json(),
                process,
                log,
            )
            assert 1 <= rated[0]["score"] <= 5
    finally:
        assert _stop(process) == 0

    process = _start(database, port, log)
    try:
        _wait_for(
            "the second banner",
            lambda: log.read_text(errors="replace").count("Press Ctrl+C") == 2,
            process,
            log,
        )
        with httpx.Client(base_url=base, timeout=10) as http:
            assert _demo_state(http, _manager(http)) == first
    finally:
        assert _stop(process) == 0
    assert "Traceback" not in re.sub(r"demo.job_interrupted.*", "", log.read_text())


def test_demo_on_a_busy_port_exits_at_once_with_a_clear_message(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _start(tmp_path / "demo.db", port, log)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise AssertionError("the demo hung on a busy port") from None

    assert code != 0
    assert f"127.0.0.1:{port}" in log.read_text()
    assert "--port" in log.read_text()


class _Answers:
    """An API whose every call succeeds, recording what was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def call(self, method: str, path: str, *args: Any, **kwargs: Any) -> httpx.Response:
        self.calls.append((method, path))
        return httpx.Response(200, json={})


def test_demo_counts_a_query_done_once_though_agent_and_customer_both_see_it() -> None:
    async def play() -> Simulation:
        api = _Answers()
        options = DemoOptions(speed=1_000_000.0)
        sim = Simulation(api, None, "", options)  # type: ignore[arg-type]
        member = SimpleNamespace(
            company_user={"id": 1}, plan=SimpleNamespace(max_ongoing=2), session=None
        )
        agent = SimulatedAgent(sim, member)  # type: ignore[arg-type]
        agent.offers.add(5)
        await agent.answer(5)
        await agent.work(5)
        visit = CustomerVisit(sim, 5, "token")

        async def done() -> str:
            return "done"

        async def no_rating() -> None:
            return None

        visit.listen = done  # type: ignore[method-assign]
        visit.maybe_rate = no_rating  # type: ignore[method-assign]
        await visit.follow()
        for task in list(sim.tasks):
            task.cancel()
        await asyncio.gather(*sim.tasks, return_exceptions=True)
        return sim

    sim = asyncio.run(play())

    assert (len(sim.answered), len(sim.done)) == (1, 1)

"""`connectnow demo`: the server on the embedded default, a demo company, and live traffic.

The demo starts the server in this process, loads a demo company (idempotently: a restart
reuses it), then plays customers and agents through the real HTTP and websocket API, as
browsers would. Only the invitation emails are read in-process, since a demo has no mailbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import httpx
import uvicorn

from server.app import create_app
from server.demo_company import (
    DOMAIN,
    HUMAN,
    MANAGER_EMAIL,
    Api,
    Demo,
    DemoError,
    DemoOptions,
    Invitations,
    seed,
)
from server.demo_traffic import Simulation
from server.settings import load

START_SECONDS = 60.0
SHUTDOWN_SECONDS = 5
GENEROUS_LIMIT = 1_000_000


def banner(demo: Demo, base_url: str, password: str) -> str:
    queues = "\n".join(f"    {base_url}/q/{q['id']}  ({name})" for name, q in demo.queues.items())
    agents = ", ".join(f"{m.plan.name} {m.plan.surname}" for m in demo.agents)
    return (
        f"\nConnectNow demo is running at {base_url}\n\n"
        f"  Manager dashboard: {base_url}/dashboard\n"
        f"    sign in as {MANAGER_EMAIL} / {password}\n"
        f"  Agent console (an agent left for you): {base_url}/console\n"
        f"    sign in as {HUMAN.email} / {password}\n"
        f"  Customer pages:\n{queues}\n"
        f"  API docs: {base_url}/api/docs\n\n"
        f"  Simulated agents: {agents}\n"
        f"    (each signs in as first.last@{DOMAIN} with the same password)\n\n"
        "Press Ctrl+C to stop. Running it again reuses the demo company.\n"
    )


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so that a busy port fails at once and clearly."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise DemoError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise DemoError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. "
            "Is another server using that port? Choose another with --port."
        ) from exc
    return sock


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if serving.done():
            serving.result()
            raise DemoError("The server stopped while starting; is the port already in use?")
        if time.monotonic() > deadline:
            raise DemoError(f"The server did not start within {START_SECONDS:g} seconds.")
        await asyncio.sleep(0.05)


async def _until_stopped(
    server: uvicorn.Server, job: Callable[[], Coroutine[Any, Any, None]], seconds: float
) -> None:
    """Run `job` until Ctrl+C asks the server to stop, or `seconds` pass (0: no limit).

    The job stops first, so that its websockets close before the server waits for them.
    """
    task = asyncio.get_running_loop().create_task(job())
    deadline = time.monotonic() + seconds if seconds else None
    while not task.done() and not server.should_exit:
        if deadline is not None and time.monotonic() >= deadline:
            break
        await asyncio.wait({task}, timeout=0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run(options: DemoOptions) -> int:
    """Serve, seed, and simulate until Ctrl+C or `options.duration` seconds."""
    settings = replace(
        load(),
        # Simulated customers all come from this machine: the public limit must not bite.
        rate_limit_per_minute=GENEROUS_LIMIT,
        public_rate_limit_per_minute=GENEROUS_LIMIT,
        log_level=os.environ.get("LOG_LEVEL", "WARNING"),
        public_url=f"http://{options.host}:{options.port}",
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
    listening = _listen(options.host, options.port)
    server = uvicorn.Server(config)
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[listening]))
    try:
        await _started(server, serving)
        invitations = Invitations(app.state.services)
        base_url = f"http://{options.host}:{options.port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            api = Api(http)
            demo = await seed(api, invitations, base_url, options.password)
            print(banner(demo, base_url, options.password), flush=True)
            ws_base = base_url.replace("http://", "ws://", 1)
            simulation = Simulation(api, demo, ws_base, options)
            await _until_stopped(server, simulation.run, options.duration)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        listening.close()
    return 0

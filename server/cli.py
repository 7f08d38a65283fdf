"""The `connectnow` command: serve, migrate, admin grant, demo."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from sqlalchemy import func, select, update
from sqlmodel import col

from models import migrate
from models.db import Database
from models.users import User
from server.settings import load


async def _grant(email: str, revoke: bool) -> int:
    settings = load()
    db = Database(settings.database_url)
    try:
        async with db.write() as session:
            found = (
                await session.execute(
                    select(col(User.id)).where(func.lower(User.email) == email.lower())
                )
            ).first()
            if found is None:
                print(f"No user has the email {email}.", file=sys.stderr)
                return 1
            await session.execute(
                update(User).where(col(User.id) == found[0]).values(is_admin=not revoke)
            )
    finally:
        await db.dispose()
    print(f"{email} is {'no longer' if revoke else 'now'} a system administrator.")
    return 0


WS_MAX_BYTES = 1024 * 1024  # a client frame is small JSON; more is abuse
SHUTDOWN_SECONDS = 10
"""How long a stopping server waits for open connections: a client that stopped reading
could otherwise hold a SIGTERM off for ever."""
# TODO: no test yet reproduces that stall (a reader with a tiny receive buffer did not hold
# the shutdown here); the bound is uvicorn's own and costs nothing when connections close.


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "server.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        log_config=None,
        access_log=False,
        ws_max_size=WS_MAX_BYTES,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from server import demo
    from server.demo_company import DEFAULT_PASSWORD, DemoError, DemoOptions

    options = DemoOptions(
        host=args.host,
        port=args.port,
        customers_per_minute=args.customers_per_minute,
        speed=args.speed,
        duration=args.duration,
        password=os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD,
        quiet=args.quiet,
    )
    try:
        return asyncio.run(demo.run(options))
    except KeyboardInterrupt:
        return 0
    except DemoError as exc:
        print(exc, file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="connectnow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="bring the database schema up to date")
    admin = commands.add_parser("admin", help="grant or revoke system administration")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    grant = admin_commands.add_parser("grant", help="make a user a system administrator")
    grant.add_argument("email")
    revoke = admin_commands.add_parser("revoke", help="take system administration away")
    revoke.add_argument("email")
    demo = commands.add_parser(
        "demo", help="run the server with a demo company and simulated customers and agents"
    )
    demo.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    demo.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    demo.add_argument("--customers-per-minute", type=float, default=10.0)
    demo.add_argument("--speed", type=float, default=1.0, help="time runs this many times faster")
    demo.add_argument("--duration", type=float, default=0.0, help="stop after seconds (0: never)")
    demo.add_argument("--quiet", action="store_true", help="no periodic traffic summary")
    args = parser.parse_args(argv)

    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        migrate.upgrade(load().database_url)
        print("The database schema is up to date.")
        return 0
    if args.command == "demo":
        return _demo(args)
    if args.command == "admin":
        migrate.upgrade(load().database_url)
        return asyncio.run(_grant(args.email, args.admin_command == "revoke"))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

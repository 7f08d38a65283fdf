"""Settings read from environment variables, each with a default that runs locally."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from models.db import MAX_OVERFLOW, POOL_SIZE
from server.access_cache import TTL_SECONDS


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a whole number, got {raw!r}.") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {raw!r}.") from exc


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _str(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class Settings:
    """Every knob of the server. The README lists each with its default."""

    database_url: str = field(
        default_factory=lambda: _str("DATABASE_URL", "sqlite+aiosqlite:///./connectnow.db")
    )
    db_pool_size: int = field(default_factory=lambda: _int("DB_POOL_SIZE", POOL_SIZE))
    db_max_overflow: int = field(default_factory=lambda: _int("DB_MAX_OVERFLOW", MAX_OVERFLOW))
    redis_url: str = field(default_factory=lambda: _str("REDIS_URL", ""))
    redis_prefix: str = field(default_factory=lambda: _str("REDIS_PREFIX", "cn"))
    smtp_url: str = field(default_factory=lambda: _str("SMTP_URL", ""))
    mail_from: str = field(
        default_factory=lambda: _str("MAIL_FROM", "ConnectNow <no-reply@connectnow.local>")
    )
    public_url: str = field(default_factory=lambda: _str("PUBLIC_URL", "http://127.0.0.1:8000"))
    auto_migrate: bool = field(default_factory=lambda: _bool("AUTO_MIGRATE", True))
    log_level: str = field(default_factory=lambda: _str("LOG_LEVEL", "INFO"))
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", 64 * 1024))
    token_ttl_days: int = field(default_factory=lambda: _int("TOKEN_TTL_DAYS", 30))
    rate_limit_per_minute: int = field(default_factory=lambda: _int("RATE_LIMIT_PER_MINUTE", 600))
    public_rate_limit_per_minute: int = field(
        default_factory=lambda: _int("PUBLIC_RATE_LIMIT_PER_MINUTE", 60)
    )
    presence_grace_seconds: float = field(
        default_factory=lambda: _float("PRESENCE_GRACE_SECONDS", 30.0)
    )
    ws_ping_seconds: float = field(default_factory=lambda: _float("WS_PING_SECONDS", 20.0))
    ws_auth_timeout_seconds: float = field(
        default_factory=lambda: _float("WS_AUTH_TIMEOUT_SECONDS", 10.0)
    )
    timer_poll_seconds: float = field(default_factory=lambda: _float("TIMER_POLL_SECONDS", 0.25))
    access_cache_seconds: float = field(
        default_factory=lambda: _float("ACCESS_CACHE_SECONDS", TTL_SECONDS)
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load() -> Settings:
    """Read the environment now; tests call this after changing it."""
    return Settings()

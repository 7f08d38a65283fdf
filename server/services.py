"""The long-lived parts a request may use, built once per process at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.db import Database
from router.clock import Clock
from router.hooks import RoutingHooks
from server.access_cache import AccessCache
from server.answer_turns import AnswerTurns
from server.limits import RateLimiter
from server.mail import Mailer
from server.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    mailer: Mailer
    limiter: RateLimiter
    hooks: RoutingHooks = field(default_factory=RoutingHooks)
    clock: Clock = field(default_factory=Clock)
    extras: dict[str, Any] = field(default_factory=dict)
    access: AccessCache = field(default_factory=AccessCache)
    answer_turns: AnswerTurns = field(default_factory=AnswerTurns)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            db=Database(
                settings.database_url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
            ),
            mailer=Mailer(settings.smtp_url, settings.mail_from),
            limiter=RateLimiter(
                settings.rate_limit_per_minute, settings.public_rate_limit_per_minute
            ),
            access=AccessCache(settings.access_cache_seconds),
        )

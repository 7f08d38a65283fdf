"""The router's clock: real UTC time plus an offset that tests may move forward."""

from __future__ import annotations

from datetime import datetime, timedelta

from models.base import utcnow


class Clock:
    """Every routing decision and timer reads this clock, never the system's directly."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> datetime:
        return utcnow() + timedelta(seconds=self.offset_seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward (tests); due timers fire on the next poll."""
        self.offset_seconds += seconds

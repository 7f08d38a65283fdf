"""Whether a queue is open at an instant, from its weekly windows and blacklist hours.

A window is a weekday with a local opening and closing time in an IANA time zone; a closing
time at or before the opening time crosses midnight (equal times: 24 hours). Local times are
turned into instants per local date, so daylight saving changes land where the wall clock
says: a time skipped by a spring-forward jump happens at the jump, and a time repeated on the
25-hour day opens at its first occurrence and closes at its last. A queue uses its own
windows, or its company's when it has none; with none anywhere it is open except during
blacklist hours. Blacklist hours of the queue and of its whole company both close it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from models.base import format_timestamp, table_of
from models.hours import BlacklistHour, OperatingHour

Interval = tuple[datetime, datetime]

DAY = timedelta(days=1)
SHORT_HORIZON_DAYS = 8
LONG_HORIZON_DAYS = 400


@dataclass(frozen=True)
class QueueStatus:
    """A queue's state at one instant, with the next opening and the next closing after it."""

    is_open: bool
    opens_at: datetime | None
    closes_at: datetime | None


ALWAYS_OPEN = QueueStatus(is_open=True, opens_at=None, closes_at=None)


class StoredWindow(Protocol):
    """A window as stored: a row of `operating_hours`, or the columns of one a caller read."""

    @property
    def weekday(self) -> int: ...

    @property
    def opens_at(self) -> str: ...

    @property
    def closes_at(self) -> str: ...

    @property
    def timezone(self) -> str: ...


class Placed(Protocol):
    """Where a queue sits: a stored queue, or the few columns of one a caller read."""

    @property
    def id(self) -> int | None: ...

    @property
    def company_id(self) -> int: ...


_hours = table_of(OperatingHour)
_closures = table_of(BlacklistHour)
# Built once: every opened query reads them (a queue's own rows, and its company's).
_WINDOWS = select(
    _hours.c.weekday,
    _hours.c.opens_at,
    _hours.c.closes_at,
    _hours.c.timezone,
    _hours.c.queue_id,
).where(
    _hours.c.company_id == bindparam("b_company_id"),
    or_(_hours.c.queue_id == bindparam("b_queue_id"), _hours.c.queue_id.is_(None)),
)
_CLOSURES = select(_closures.c.starts_at, _closures.c.ends_at).where(
    _closures.c.company_id == bindparam("b_company_id"),
    or_(_closures.c.queue_id == bindparam("b_queue_id"), _closures.c.queue_id.is_(None)),
    _closures.c.ends_at > bindparam("b_now"),
)


@dataclass(frozen=True)
class Window:
    """A weekly opening window: `weekday` 0 is Monday."""

    weekday: int
    opens: time
    closes: time
    zone: ZoneInfo


@cache
def zone_names() -> frozenset[str]:
    """The IANA zone names this machine knows."""
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo | None:
    """The zone of an IANA name, or None if the name is not one."""
    if name not in zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


CLOCK_PATTERN = "^([01][0-9]|2[0-3]):([0-5][0-9])$"
_CLOCK = re.compile(CLOCK_PATTERN, re.ASCII)


def parse_clock(text: str) -> time | None:
    """`"HH:MM"` (00:00 to 23:59) as a time, or None if it is not one."""
    match = _CLOCK.fullmatch(text)
    return None if match is None else time(int(match[1]), int(match[2]))


def window_of(row: StoredWindow) -> Window | None:
    """A stored window, or None if its stored fields no longer parse."""
    opens, closes, where = (
        parse_clock(row.opens_at),
        parse_clock(row.closes_at),
        zone(row.timezone),
    )
    if opens is None or closes is None or where is None:
        return None
    return Window(row.weekday, opens, closes, where)


def _jump(before: datetime, after: datetime, where: ZoneInfo) -> datetime:
    """The instant of the UTC-offset change between two instants, to the second."""
    changed = after.astimezone(where).utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(where).utcoffset() == changed:
            after = middle
        else:
            before = middle
    return after


def instant(day: date, clock: time, where: ZoneInfo, *, last: bool) -> datetime:
    """The UTC instant the wall clock of `where` shows `clock` on `day`.

    A skipped wall time maps to the jump; a repeated one to its first occurrence, or its last
    when `last` is set.
    """
    local = datetime.combine(day, clock)
    first = local.replace(tzinfo=where, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=where, fold=1).astimezone(UTC)
    if first == second:
        return first
    if first < second:
        return second if last else first
    return _jump(second, first, where)


def _window_intervals(window: Window, start: date, days: int) -> Iterable[Interval]:
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.weekday() != window.weekday:
            continue
        end_day = day + DAY if window.closes <= window.opens else day
        yield (
            instant(day, window.opens, window.zone, last=False),
            instant(end_day, window.closes, window.zone, last=True),
        )


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(opened: list[Interval], closed: list[Interval]) -> list[Interval]:
    result: list[Interval] = []
    for start, end in opened:
        for closed_start, closed_end in closed:
            if closed_end <= start or closed_start >= end:
                continue
            if closed_start > start:
                result.append((start, closed_start))
            start = max(start, closed_end)
            if start >= end:
                break
        if start < end:
            result.append((start, end))
    return result


def _horizon_days(closures: Sequence[Interval], now: datetime) -> int:
    """How far ahead to look: a week and a day, or past the last closure, up to ~13 months."""
    last_end = max((end for _, end in closures), default=now)
    beyond = (last_end - now).days + SHORT_HORIZON_DAYS
    return min(max(SHORT_HORIZON_DAYS, beyond), LONG_HORIZON_DAYS)


def status_at(
    windows: Sequence[Window], closures: Sequence[Interval], now: datetime
) -> QueueStatus:
    """The state at `now` of a queue with these windows and blacklist periods.

    `opens_at` and `closes_at` are the first opening and closing strictly after `now`, or
    None when there is none within the horizon (always open, or closed beyond it).
    """
    if not windows and not closures:
        return ALWAYS_OPEN
    days = _horizon_days(closures, now)
    horizon = now + timedelta(days=days)
    if windows:
        opened = _merge(
            interval
            for window in windows
            for interval in _window_intervals(
                window, now.astimezone(window.zone).date() - 2 * DAY, days + 4
            )
        )
    else:
        opened = [(now - 2 * DAY, horizon + 2 * DAY)]
    periods = _subtract(opened, _merge(closures))
    is_open = any(start <= now < end for start, end in periods)
    opens_at = next((start for start, _ in periods if now < start < horizon), None)
    closes_at = next((end for _, end in periods if now < end < horizon), None)
    return QueueStatus(is_open, opens_at, closes_at)


async def queue_status(
    reader: AsyncSession | AsyncConnection, queue: Placed, now: datetime
) -> QueueStatus:
    """The state of `queue` at `now`, read from its and its company's hours."""
    where = {"b_company_id": queue.company_id, "b_queue_id": queue.id}
    rows = (await reader.execute(_WINDOWS, where)).all()
    own = [row for row in rows if row.queue_id is not None]
    windows = [w for w in map(window_of, own or rows) if w is not None]
    closures = (await reader.execute(_CLOSURES, {**where, "b_now": now})).all()
    return status_at(windows, [(start, end) for start, end in closures], now)


def status_fields(status: QueueStatus) -> dict[str, Any]:
    """The status as the API shows it: `is_open`, `opens_at`, `closes_at`."""
    return {
        "is_open": status.is_open,
        "opens_at": format_timestamp(status.opens_at),
        "closes_at": format_timestamp(status.closes_at),
    }

"""Tokens and memberships read lately, so that most requests ask the database for neither.

An entry is used only while `models.changes` is at the version it was read at and for at
most `TTL_SECONDS`: a write in this process drops every entry at once, a write in another
process as soon as its `access.changed` event arrives over the bus, and the time limit
bounds what a lost event or a write from outside the server (`connectnow admin`) can leave
stale. Missing tokens are never cached, so a new token works at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from models import changes

if TYPE_CHECKING:
    from models.users import ApiToken, User
    from server.access import Membership

TTL_SECONDS = 5.0
MAX_ENTRIES = 20_000
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    version: int
    expires: float
    value: V


class _Shelf(Generic[K, V]):
    """One bounded map of entries; the oldest go first when it is full."""

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[K, _Entry[V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.version != changes.version() or entry.expires <= time.monotonic():
            del self._entries[key]
            return None
        return entry.value

    def put(self, key: K, version: int, value: V) -> None:
        """Keep `value` as read at `version` (taken before the read, so a write meanwhile
        makes it stale at once)."""
        if version != changes.version():
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = _Entry(version, time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()


class AccessCache:
    """Per server: tokens by their digest, memberships by user id."""

    def __init__(self, ttl: float = TTL_SECONDS, size: int = MAX_ENTRIES) -> None:
        self.tokens: _Shelf[str, tuple[ApiToken, User]] = _Shelf(ttl, size)
        self.memberships: _Shelf[int, dict[int, Membership]] = _Shelf(ttl, size)

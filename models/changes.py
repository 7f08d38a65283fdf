"""Who may do what: a version that moves whenever a row deciding it is written.

Tokens, users, company users and companies change rarely and are read on nearly every
request, so the server keeps them in memory (`server.access_cache`). Every cached entry
carries the version it was read at; any session that writes one of these tables moves the
version, when it flushes and again when it commits, so an entry read while the write was in
flight is dropped too. Listeners hear of committed changes, for other processes to drop
theirs.

Writes on a bare Core connection are not seen: the hot path's Core statements touch only
counters of company users (`ongoing_count`, limits), which decide nothing cached.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

log = logging.getLogger("connectnow.access")

ACCESS_TABLES = frozenset({"users", "api_tokens", "company_users", "companies"})
NEW_ROWS_CHANGE_NOTHING = frozenset({"users", "api_tokens"})
"""A new person or a new token changes no one's access: sign-ups and sign-ins drop nothing."""
_CHANGED = "connectnow_access_changed"

K = TypeVar("K")
V = TypeVar("V")

_counter = itertools.count(1)
_version = 0
_listeners: list[Callable[[], None]] = []


def version() -> int:
    """The current version; an entry read at an older one may be stale."""
    return _version


def bump() -> None:
    """Make every entry read so far stale (also when another process reports a change)."""
    global _version
    _version = next(_counter)


def on_commit(listener: Callable[[], None]) -> Callable[[], None]:
    """Call `listener` after each commit that changed access; returns how to stop it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    version: int
    expires: float
    value: V


class Kept(Generic[K, V]):
    """Values read at some version, each dropped once the version moves or its time is up;
    the oldest go first when the map is full."""

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[K, _Entry[V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.version != version() or entry.expires <= time.monotonic():
            del self._entries[key]
            return None
        return entry.value

    def put(self, key: K, read_at: int, value: V) -> None:
        """Keep `value` as read at version `read_at` (taken before the read, so a write
        meanwhile makes it stale at once)."""
        if read_at != version():
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = _Entry(read_at, time.monotonic() + self.ttl, value)


def _touches_access(objects: Any, *, new: bool = False) -> bool:
    tables = ACCESS_TABLES - NEW_ROWS_CHANGE_NOTHING if new else ACCESS_TABLES
    return any(getattr(obj, "__tablename__", None) in tables for obj in objects)


def _after_flush(session: Session, _context: Any) -> None:
    changed = _touches_access(session.dirty) or _touches_access(session.deleted)
    if changed or _touches_access(session.new, new=True):
        _mark(session)


def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name in ACCESS_TABLES and not (state.is_insert and name in NEW_ROWS_CHANGE_NOTHING):
        _mark(state.session)


def _mark(session: Session) -> None:
    session.info[_CHANGED] = True
    bump()


def _after_commit(session: Session) -> None:
    if not session.info.pop(_CHANGED, False):
        return
    bump()
    for listener in list(_listeners):
        try:
            listener()
        except Exception:
            log.exception("access.listener_failed")


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "do_orm_execute", _on_execute)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_soft_rollback", lambda session, _previous: _after_rollback(session))

"""Tokens and memberships read lately, so that most requests ask the database for neither.

An entry is used only while `models.changes` is at the version it was read at and for at
most `TTL_SECONDS`: a write in this process drops every entry at once, a write in another
process as soon as its `access.changed` event arrives over the bus, and the time limit
bounds what a lost event or a write from outside the server (`connectnow admin`) can leave
stale. Missing tokens are never cached, so a new token works at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.changes import Kept

if TYPE_CHECKING:
    from models.users import ApiToken, User
    from server.access import Membership

TTL_SECONDS = 5.0
MAX_ENTRIES = 20_000


class AccessCache:
    """Per server: tokens by their digest, memberships by user id."""

    def __init__(self, ttl: float = TTL_SECONDS, size: int = MAX_ENTRIES) -> None:
        self.tokens: Kept[str, tuple[ApiToken, User]] = Kept(ttl, size)
        self.memberships: Kept[int, dict[int, Membership]] = Kept(ttl, size)

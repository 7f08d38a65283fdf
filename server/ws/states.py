"""Availability as the agent channel shows and changes it."""

from __future__ import annotations

from typing import Any

from models.company_users import CompanyUserState
from models.public import state_public
from server import staff
from server.services import Services

STATUS_TEXT_MAX = 255
KEEP = object()


def public(company_user_id: int, state: CompanyUserState | None) -> dict[str, Any]:
    """The state as REST shows it; a missing row reads as unavailable."""
    if state is None:
        return {"company_user_id": company_user_id, "is_available": False, "status_text": None}
    return state_public(state)


def key_of(data: dict[str, Any]) -> tuple[Any, Any]:
    """What makes two `state.changed` frames say the same thing."""
    state = data.get("state", data)
    if not isinstance(state, dict):
        return (None, None)
    return (state.get("is_available"), state.get("status_text"))


def read_set_frame(frame: dict[str, Any]) -> tuple[str | None, bool, Any]:
    """Check a `state.set` frame: (problem or None, is_available, status_text or KEEP)."""
    is_available = frame.get("is_available")
    if not isinstance(is_available, bool):
        return ("state.set needs 'is_available': true or false.", False, KEEP)
    if "status_text" not in frame:
        return (None, is_available, KEEP)
    text = frame["status_text"]
    if text is not None and not isinstance(text, str):
        return ("'status_text' must be text or null.", is_available, KEEP)
    if isinstance(text, str) and len(text) > STATUS_TEXT_MAX:
        return (f"'status_text' must be at most {STATUS_TEXT_MAX} characters.", True, KEEP)
    if isinstance(text, str) and "\x00" in text:
        return ("'status_text' must not contain NUL characters.", is_available, KEEP)
    return (None, is_available, text)


async def set_availability(
    services: Services, member_id: int, *, is_available: bool, status_text: Any
) -> tuple[dict[str, Any], bool]:
    """Change the company user's own availability as `PUT /api/company-user-states` does.

    Answers the state as frames show it, and whether anything changed.
    """
    result = await staff.set_availability(
        services.db,
        member_id,
        is_available,
        reason="manual",
        changed_by=member_id,
        status_text=None if status_text is KEEP else (status_text or ""),
        clock=services.clock,
    )
    if result.changed:
        await services.hooks.state_changed(member_id)
    return public(member_id, result.state), result.changed

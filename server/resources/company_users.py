"""Company users endpoints."""

from __future__ import annotations

from typing import Any

from models.base import format_timestamp
from models.company_users import CompanyUser
from server.conventions import Resource, register


def public(member: CompanyUser) -> dict[str, Any]:
    return {
        "id": member.id,
        "user_id": member.user_id,
        "company_id": member.company_id,
        "created_at": format_timestamp(member.created_at),
        "accepted_at": format_timestamp(member.accepted_at),
        "invited_email": member.invited_email,
        "max_ongoing_queries_handled": member.max_ongoing_queries_handled,
        "is_auto_max_number_handled": member.is_auto_max_number_handled,
        "ability_to_pick_from_queue": member.ability_to_pick_from_queue,
        "is_auto_ability_to_pick_from_queue": member.is_auto_ability_to_pick_from_queue,
        "role": member.role,
        "is_active": member.is_active,
    }


COMPANY_USERS = register(Resource(name="company_users", model=CompanyUser, serialize=public))

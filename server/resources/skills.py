"""Skills endpoints."""

from __future__ import annotations

from typing import Any

from models.base import format_timestamp
from models.skills import Skill
from server.conventions import Resource, register
from server.loaders import Pivoted


def public(skill: Skill | Pivoted) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": skill.id,
        "name": skill.name,
        "company_id": skill.company_id,
        "created_at": format_timestamp(skill.created_at),
        "updated_at": format_timestamp(skill.updated_at),
    }
    if isinstance(skill, Pivoted) and hasattr(skill.link, "level"):
        row["level"] = skill.link.level
    return row


SKILLS = register(Resource(name="skills", model=Skill, serialize=public))

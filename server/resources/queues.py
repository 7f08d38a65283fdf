"""Queues endpoints."""

from __future__ import annotations

from typing import Any

from models.base import format_timestamp
from models.queues import Queue
from server.conventions import Resource, register


def public(queue: Queue) -> dict[str, Any]:
    return {
        "id": queue.id,
        "name": queue.name,
        "company_id": queue.company_id,
        "company_user_id": queue.company_user_id,
        "priority_delay": queue.priority_delay,
        "priority_delay_in_seconds": queue.priority_delay,
        "is_active": queue.is_active,
        "has_password": queue.password_hash is not None,
        "created_at": format_timestamp(queue.created_at),
        "updated_at": format_timestamp(queue.updated_at),
        "deleted_at": format_timestamp(queue.deleted_at),
    }


QUEUES = register(Resource(name="queues", model=Queue, serialize=public))

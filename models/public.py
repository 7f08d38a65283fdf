"""What a query, a queue, a company user and its state look like in a REST body or a frame.

One definition for both, so that an event a console receives and the REST answer about the
same row never disagree.
"""

from __future__ import annotations

from typing import Any

from models.base import format_timestamp
from models.company_users import CompanyUser, CompanyUserState
from models.queries import Query
from models.queues import Queue


def query_public(query: Query) -> dict[str, Any]:
    return {
        "id": query.id,
        "company_id": query.company_id,
        "queue_id": query.queue_id,
        "source": query.source,
        "is_link": query.is_link,
        "email": query.email,
        "name": query.name,
        "surname": query.surname,
        "status": query.status,
        "holder_company_user_id": query.holder_company_user_id,
        "created_at": format_timestamp(query.created_at),
        "updated_at": format_timestamp(query.updated_at),
        "answered_at": format_timestamp(query.answered_at),
        "done_at": format_timestamp(query.done_at),
        "ended_at": format_timestamp(query.ended_at),
    }


def queue_public(queue: Queue) -> dict[str, Any]:
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


def company_user_public(member: CompanyUser) -> dict[str, Any]:
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


def state_public(state: CompanyUserState) -> dict[str, Any]:
    return {
        "id": state.id,
        "company_user_id": state.company_user_id,
        "is_available": state.is_available,
        "status_text": state.status_text,
        "created_at": format_timestamp(state.created_at),
        "updated_at": format_timestamp(state.updated_at),
    }

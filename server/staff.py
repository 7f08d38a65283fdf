"""Adding people to a company and changing their availability.

`add_company_user` stores a company user with its personal queue and state; `invite` and
`send_invitation` make and mail its single-use link; `set_availability` changes a state
and appends the history entry, for requests and for the server's own changes alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Result, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.company_users import (
    STATE_REASONS,
    CompanyUser,
    CompanyUserState,
    CompanyUserStateChange,
)
from models.queries import Query, QueryQueue
from models.queues import Queue
from server import auth, billing
from server.errors import Forbidden, not_found

if TYPE_CHECKING:
    from models.db import Database
    from router.clock import Clock
    from server.services import Services


async def personal_queue_password_hash() -> str:
    """The locked password every personal queue starts with: nobody knows one that fits."""
    return auth.unusable_password_hash()


async def add_company_user(
    session: AsyncSession,
    member: CompanyUser,
    *,
    label: str,
    password_hash: str | None = None,
) -> Queue:
    """Store a company user with its state (unavailable) and its personal queue.

    The personal queue gets a random password nobody knows, so that the public cannot aim
    queries at a person until its owner sets a password and hands it out. Pass
    `password_hash` (from `personal_queue_password_hash`) to keep argon2 out of the
    transaction. The company's monthly maximum of active users is recorded.
    """
    session.add(member)
    await session.flush()
    assert member.id is not None
    session.add(CompanyUserState(company_user_id=member.id, is_available=False))
    queue = Queue(
        name=f"{label} (personal)"[:255],
        company_id=member.company_id,
        company_user_id=member.id,
        password_hash=password_hash or auth.unusable_password_hash(),
        priority_delay=None,
        is_active=True,
    )
    session.add(queue)
    await session.flush()
    await billing.record(session, member.company_id, utcnow())
    return queue


def invite(member: CompanyUser) -> str:
    """Give the company user a fresh invitation; the secret is returned once, not stored."""
    secret = auth.new_secret()
    member.invitation_token_hash = auth.digest(secret)
    return secret


async def send_invitation(
    services: Services, member: CompanyUser, secret: str, company_name: str
) -> None:
    link = f"{services.settings.public_url.rstrip('/')}/invitations/{secret}"
    await services.mailer.send(
        member.invited_email,
        f"You are invited to {company_name} on ConnectNow",
        f"Hello,\n\nYou have been invited to join {company_name} on ConnectNow.\n"
        f"Open this link to accept (sign in or register with this address first):\n{link}\n",
    )


def accepted_now(member: CompanyUser, user_id: int) -> None:
    member.user_id = user_id
    member.accepted_at = utcnow()
    member.invitation_token_hash = None


@dataclass(frozen=True)
class StateResult:
    """A state after `set_availability`, and whether anything changed."""

    state: CompanyUserState
    changed: bool


def cannot_be_available(member: CompanyUser) -> str | None:
    """Why a company user may not go available, or None if it may."""
    if member.removed_at is not None:
        return "This company user was removed from the company and cannot be available."
    if member.user_id is None or member.accepted_at is None:
        return "This company user has not accepted its invitation yet, so it cannot be available."
    if not member.is_active:
        return "This company user is inactive, so it cannot be available; activate it first."
    return None


def record_change(
    session: AsyncSession,
    state: CompanyUserState,
    *,
    reason: str,
    changed_by: int | None,
    at: datetime,
) -> None:
    """Append the state as it now is to its history."""
    session.add(
        CompanyUserStateChange(
            company_user_id=state.company_user_id,
            is_available=state.is_available,
            status_text=state.status_text,
            changed_by_company_user_id=changed_by,
            reason=reason,
            created_at=at,
        )
    )


async def set_availability(
    db: Database,
    company_user_id: int,
    is_available: bool,
    *,
    reason: str,
    changed_by: int | None,
    status_text: str | None = None,
    clock: Clock,
) -> StateResult:
    """Set a company user's availability and note, and append it to the history.

    `status_text` None keeps the current note and "" clears it. `reason` is one of
    `STATE_REASONS`; `changed_by` is the company user who made the change, None for the
    server. Going available is refused (403) for a removed, unaccepted or inactive company
    user. Nothing is written when nothing changes. The caller tells the router afterwards.
    """
    assert reason in STATE_REASONS, f"unknown state reason {reason!r}"
    now = clock.now()
    async with db.write() as session:
        member = await session.get(CompanyUser, company_user_id)
        state = (
            await session.execute(
                select(CompanyUserState)
                .where(col(CompanyUserState.company_user_id) == company_user_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if member is None or state is None:
            raise not_found("company user")
        refusal = cannot_be_available(member) if is_available else None
        if refusal is not None:
            raise Forbidden(refusal)
        note = state.status_text if status_text is None else (status_text or None)
        if state.is_available == is_available and state.status_text == note:
            return StateResult(state, changed=False)
        state.is_available = is_available
        state.status_text = note
        state.updated_at = now
        record_change(session, state, reason=reason, changed_by=changed_by, at=now)
    return StateResult(state, changed=True)


def _ids(result: Result[Any]) -> list[int]:
    return [int(value) for value in result.scalars()]


async def close_personal_queue(
    session: AsyncSession, company_user_id: int, now: datetime
) -> tuple[list[int], list[int]]:
    """Soft-delete a personal queue and cancel what waits on it; returns both kinds of ids."""
    queue_ids = _ids(
        await session.execute(
            select(col(Queue.id)).where(
                col(Queue.company_user_id) == company_user_id, col(Queue.deleted_at).is_(None)
            )
        )
    )
    if not queue_ids:
        return [], []
    await session.execute(
        update(Queue).where(col(Queue.id).in_(queue_ids)).values(deleted_at=now, updated_at=now)
    )
    cancelled = _ids(
        await session.execute(
            select(col(Query.id)).where(
                col(Query.queue_id).in_(queue_ids), col(Query.status) == "waiting"
            )
        )
    )
    if cancelled:
        await session.execute(
            update(Query)
            .where(col(Query.id).in_(cancelled))
            .values(status="cancelled", ended_at=now, updated_at=now)
        )
        await session.execute(
            update(QueryQueue)
            .where(col(QueryQueue.query_id).in_(cancelled), col(QueryQueue.left_at).is_(None))
            .values(left_at=now)
        )
    return queue_ids, cancelled


async def make_unavailable(
    session: AsyncSession, company_user_id: int, *, changed_by: int | None, at: datetime
) -> bool:
    """Inside a caller's transaction: switch a state off (reason `manager`) if it is on."""
    state = (
        await session.execute(
            select(CompanyUserState).where(
                col(CompanyUserState.company_user_id) == company_user_id
            )
        )
    ).scalar_one_or_none()
    if state is None or not state.is_available:
        return False
    state.is_available = False
    state.updated_at = at
    record_change(session, state, reason="manager", changed_by=changed_by, at=at)
    return True

"""Adding people to a company: the company user, its personal queue and its state together."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.company_users import CompanyUser, CompanyUserState
from models.queues import Queue
from server import auth


async def add_company_user(session: AsyncSession, member: CompanyUser, *, label: str) -> Queue:
    """Store a company user with its state (unavailable) and its personal queue.

    The personal queue gets a random password nobody knows, so that the public cannot aim
    queries at a person until its owner sets a password and hands it out.
    """
    session.add(member)
    await session.flush()
    assert member.id is not None
    session.add(CompanyUserState(company_user_id=member.id, is_available=False))
    queue = Queue(
        name=f"{label} (personal)",
        company_id=member.company_id,
        company_user_id=member.id,
        password_hash=auth.hash_password(auth.new_secret()),
        priority_delay=None,
        is_active=True,
    )
    session.add(queue)
    await session.flush()
    return queue


def accepted_now(member: CompanyUser, user_id: int) -> None:
    member.user_id = user_id
    member.accepted_at = utcnow()
    member.invitation_token_hash = None

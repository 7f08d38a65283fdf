"""Email verification, password reset and personal API tokens."""

from __future__ import annotations

from datetime import timedelta

from models.base import utcnow
from models.users import EmailToken, User
from server import auth
from server.services import Services


async def send_verification(services: Services, user: User) -> None:
    """Email a single-use link that proves the address belongs to the user."""
    assert user.id is not None
    secret = auth.new_secret()
    async with services.db.write() as session:
        session.add(
            EmailToken(
                user_id=user.id,
                purpose="verify",
                token_hash=auth.digest(secret),
                expires_at=utcnow() + timedelta(days=2),
            )
        )
    link = f"{services.settings.public_url}/api/email/verify/{secret}"
    await services.mailer.send(
        user.email,
        "Confirm your ConnectNow email address",
        f"Hello {user.name},\n\nConfirm your address by opening this link:\n{link}\n",
    )

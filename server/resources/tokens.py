"""Email verification, password reset and personal API tokens."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select, update
from sqlmodel import col

from models.base import format_timestamp, utcnow
from models.users import ApiToken, EmailToken, User
from server import auth
from server.api import Ctx, api
from server.conventions import Resource, list_response, path_id, register
from server.errors import ApiError, Forbidden, NotFound, ValidationFailed, not_found
from server.fields import AwareDatetime, Email, Name, Password
from server.services import Services

log = logging.getLogger("connectnow.identity")

VERIFY_TTL = timedelta(days=2)
RESET_TTL = timedelta(hours=1)


class LinkGone(ApiError):
    """A single-use link that was already used or has expired."""

    status = 410


class PasswordForgotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str
    password: Password


class MessageOut(BaseModel):
    message: str


class PersonalTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    expires_at: AwareDatetime | None = None


class PersonalTokenOut(BaseModel):
    id: int
    name: str
    created_at: str
    last_used_at: str | None
    expires_at: str | None


class NewPersonalTokenOut(PersonalTokenOut):
    token: str
    token_type: str


def public(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": format_timestamp(token.created_at),
        "last_used_at": format_timestamp(token.last_used_at),
        "expires_at": format_timestamp(token.expires_at),
    }


TOKENS = register(Resource(name="tokens", model=ApiToken, serialize=public))


async def _new_link(services: Services, user_id: int, purpose: str, ttl: timedelta) -> str:
    """Store a fresh single-use link for `purpose`; older unused ones stop working."""
    secret = auth.new_secret()
    now = utcnow()
    async with services.db.write() as session:
        await session.execute(
            update(EmailToken)
            .where(
                col(EmailToken.user_id) == user_id,
                col(EmailToken.purpose) == purpose,
                col(EmailToken.used_at).is_(None),
            )
            .values(used_at=now)
        )
        session.add(
            EmailToken(
                user_id=user_id,
                purpose=purpose,
                token_hash=auth.digest(secret),
                expires_at=now + ttl,
            )
        )
    return secret


async def send_verification(services: Services, user: User) -> None:
    """Email a single-use link that proves the address belongs to the user."""
    assert user.id is not None
    secret = await _new_link(services, user.id, "verify", VERIFY_TTL)
    link = f"{services.settings.public_url}/api/email/verify/{secret}"
    await services.mailer.send(
        user.email,
        "Confirm your ConnectNow email address",
        f"Hello {user.name},\n\nConfirm your address by opening this link:\n{link}\n\n"
        f"The link works once and expires in {VERIFY_TTL.days} days.\n",
    )


async def _use_link(services: Services, secret: str, purpose: str) -> EmailToken | None:
    """Mark a link used and return it; None if unknown. Used or expired links raise 410.

    The update is conditional on `used_at` being empty, so two racing uses cannot both win.
    """
    now = utcnow()
    async with services.db.write() as session:
        found = (
            await session.execute(
                select(EmailToken).where(
                    col(EmailToken.token_hash) == auth.digest(secret),
                    col(EmailToken.purpose) == purpose,
                )
            )
        ).scalar_one_or_none()
        if found is None:
            return None
        if found.used_at is not None:
            raise LinkGone(
                "This link has already been used, or a newer one replaced it; ask for a new one."
            )
        if found.expires_at <= now:
            raise LinkGone("This link has expired; ask for a new one.")
        claimed = await session.execute(
            update(EmailToken)
            .where(col(EmailToken.id) == found.id, col(EmailToken.used_at).is_(None))
            .values(used_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise LinkGone("This link has already been used; ask for a new one.")
    return found


@api.route(
    "POST",
    "/api/email/verify/resend",
    summary="Send the signed-in user a new verification link",
    tag="identity",
    response=MessageOut,
    status=202,
    errors=(403,),
)
async def resend_verification(ctx: Ctx) -> dict[str, Any]:
    assert ctx.user is not None
    if ctx.user.email_verified_at is not None:
        raise Forbidden("Your email address is already verified.")
    await send_verification(ctx.services, ctx.user)
    return {"message": f"A new verification link was sent to {ctx.user.email}."}


async def _verify(ctx: Ctx) -> dict[str, Any]:
    link = await _use_link(ctx.services, str(ctx.path["token"]), "verify")
    if link is None:
        raise NotFound("This verification link is unknown; ask for a new one.")
    now = utcnow()
    async with ctx.services.db.write() as session:
        await session.execute(
            update(User)
            .where(col(User.id) == link.user_id, col(User.email_verified_at).is_(None))
            .values(email_verified_at=now, updated_at=now)
        )
    log.info("email.verified user_id=%s request_id=%s", link.user_id, ctx.request_id)
    return {"message": "Your email address is verified."}


@api.route(
    "GET",
    "/api/email/verify/{token}",
    summary="Verify an email address with the emailed link",
    tag="identity",
    response=MessageOut,
    auth="public",
    errors=(404, 410),
)
async def verify_by_link(ctx: Ctx) -> dict[str, Any]:
    return await _verify(ctx)


@api.route(
    "POST",
    "/api/email/verify/{token}",
    summary="Verify an email address with the emailed token",
    tag="identity",
    response=MessageOut,
    auth="public",
    errors=(404, 410),
)
async def verify(ctx: Ctx) -> dict[str, Any]:
    return await _verify(ctx)


@api.route(
    "POST",
    "/api/password/forgot",
    summary="Email a password reset link",
    tag="identity",
    body=PasswordForgotIn,
    response=MessageOut,
    status=202,
    auth="public",
    errors=(422,),
)
async def forgot_password(ctx: Ctx) -> dict[str, Any]:
    body: PasswordForgotIn = ctx.body
    email = body.email.lower()
    async with ctx.services.db.session() as session:
        user = (
            await session.execute(select(User).where(func.lower(User.email) == email))
        ).scalar_one_or_none()
    # TODO: the mail is sent inline, so a known address answers a little slower than an
    # unknown one; a background send would make the timing equal too.
    if user is not None and user.id is not None:
        secret = await _new_link(ctx.services, user.id, "reset", RESET_TTL)
        link = f"{ctx.services.settings.public_url}/reset-password?token={secret}"
        await ctx.services.mailer.send(
            user.email,
            "Reset your ConnectNow password",
            f"Hello {user.name},\n\nChoose a new password by opening this link:\n{link}\n\n"
            f"Or send this token to POST /api/password/reset: {secret}\n\n"
            "The link works once and expires in one hour. "
            "If you did not ask for it, ignore this message.\n",
        )
    return {
        "message": "If an account has that email address, a password reset link is on its way."
    }


@api.route(
    "POST",
    "/api/password/reset",
    summary="Set a new password with an emailed reset token",
    tag="identity",
    body=PasswordResetIn,
    response=MessageOut,
    auth="public",
    errors=(422,),
)
async def reset_password(ctx: Ctx) -> dict[str, Any]:
    body: PasswordResetIn = ctx.body
    password_hash = await anyio.to_thread.run_sync(auth.hash_password, body.password)
    try:
        link = await _use_link(ctx.services, body.token, "reset")
    except LinkGone as exc:
        raise ValidationFailed(
            {"token": [f"The token field is not usable: {exc.message}"]}
        ) from exc
    if link is None:
        raise ValidationFailed(
            {"token": ["The token field must be a reset token from our email."]}
        )
    now = utcnow()
    async with ctx.services.db.write() as session:
        await session.execute(
            update(User)
            .where(col(User.id) == link.user_id)
            .values(password_hash=password_hash, updated_at=now)
        )
        # Opening the emailed link proves the address as well as verifying it would.
        await session.execute(
            update(User)
            .where(col(User.id) == link.user_id, col(User.email_verified_at).is_(None))
            .values(email_verified_at=now)
        )
        await session.execute(delete(ApiToken).where(col(ApiToken.user_id) == link.user_id))
    log.info("password.reset user_id=%s request_id=%s", link.user_id, ctx.request_id)
    return {"message": "Your password is changed; sign in again with the new one."}


@api.route(
    "GET",
    "/api/tokens",
    summary="The signed-in user's personal API tokens",
    tag="identity",
    response=list[PersonalTokenOut],
)
async def index(ctx: Ctx) -> Any:
    stmt = select(ApiToken).where(
        col(ApiToken.user_id) == ctx.user_id, col(ApiToken.kind) == "personal"
    )
    async with ctx.services.db.session() as session:
        return await list_response(ctx, TOKENS, stmt, session)


@api.route(
    "POST",
    "/api/tokens",
    summary="Create a personal API token; its secret is shown only in this answer",
    tag="identity",
    body=PersonalTokenIn,
    response=NewPersonalTokenOut,
    status=201,
    errors=(422,),
)
async def create(ctx: Ctx) -> dict[str, Any]:
    body: PersonalTokenIn = ctx.body
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise ValidationFailed({"expires_at": ["The expires_at field must be in the future."]})
    secret, token = await auth.issue_token(
        ctx.services.db, ctx.user_id, name=body.name, kind="personal", expires_at=body.expires_at
    )
    return {**public(token), "token": secret, "token_type": "Bearer"}


@api.route(
    "DELETE",
    "/api/tokens/{token_id}",
    summary="Revoke one of the signed-in user's personal API tokens",
    tag="identity",
    status=204,
    errors=(404,),
)
async def destroy(ctx: Ctx) -> None:
    token_id = path_id(ctx, "token_id", "token")
    async with ctx.services.db.write() as session:
        removed = await session.execute(
            delete(ApiToken).where(
                col(ApiToken.id) == token_id,
                col(ApiToken.user_id) == ctx.user_id,
                col(ApiToken.kind) == "personal",
            )
        )
    if removed.rowcount != 1:  # type: ignore[attr-defined]
        raise not_found("token")

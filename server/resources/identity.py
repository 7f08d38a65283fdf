"""Registration and sign-in: accounts and the tokens that prove them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from models.users import ApiToken, User
from server import auth
from server.api import Ctx, api
from server.errors import Unauthenticated, ValidationFailed
from server.fields import Email, HttpUrl, Name, Password, Text
from server.resources.users import UserOut, public


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    surname: Text | None = None
    email: Email
    password: Password
    avatar_url: HttpUrl | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: str
    device_name: Text | None = None


class TokenOut(BaseModel):
    token: str
    token_type: str
    user: UserOut


def email_taken() -> ValidationFailed:
    return ValidationFailed({"email": ["The email has already been taken."]})


@api.route(
    "POST",
    "/api/register",
    summary="Create an account",
    tag="identity",
    body=RegisterIn,
    response=UserOut,
    status=201,
    auth="public",
    errors=(422,),
)
async def register_user(ctx: Ctx) -> dict[str, Any]:
    body: RegisterIn = ctx.body
    email = body.email.lower()
    user = User(
        name=body.name,
        surname=body.surname,
        email=email,
        password_hash=await anyio.to_thread.run_sync(auth.hash_password, body.password),
        avatar_url=body.avatar_url,
    )
    try:
        async with ctx.services.db.write() as session:
            taken = await session.execute(
                select(col(User.id)).where(func.lower(User.email) == email)
            )
            if taken.first() is not None:
                raise email_taken()
            session.add(user)
    except IntegrityError as exc:
        raise email_taken() from exc
    from server.resources import tokens

    await tokens.send_verification(ctx.services, user)
    return public(user)


@api.route(
    "POST",
    "/api/auth/token",
    summary="Sign in and get a token",
    tag="identity",
    body=TokenIn,
    response=TokenOut,
    auth="public",
    errors=(401, 422),
)
async def sign_in(ctx: Ctx) -> dict[str, Any]:
    body: TokenIn = ctx.body
    async with ctx.services.db.session() as session:
        user = (
            await session.execute(select(User).where(col(User.email) == body.email.lower()))
        ).scalar_one_or_none()
    if user is None:
        await anyio.to_thread.run_sync(auth.verify_unknown, body.password)
        raise Unauthenticated("The email or password is wrong.")
    if not await anyio.to_thread.run_sync(auth.verify_password, user.password_hash, body.password):
        raise Unauthenticated("The email or password is wrong.")
    assert user.id is not None
    ttl = timedelta(days=ctx.services.settings.token_ttl_days)
    secret, _ = await auth.issue_token(
        ctx.services.db, user.id, name=body.device_name or "sign-in", kind="session", ttl=ttl
    )
    return {"token": secret, "token_type": "Bearer", "user": public(user)}


@api.route(
    "DELETE",
    "/api/auth/token",
    summary="Revoke the token used for this request",
    tag="identity",
    status=204,
    errors=(401,),
)
async def sign_out(ctx: Ctx) -> None:
    assert ctx.token is not None
    async with ctx.services.db.write() as session:
        await session.execute(delete(ApiToken).where(col(ApiToken.id) == ctx.token.id))

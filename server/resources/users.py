"""Users: the signed-in person (`/api/me`) and the people of shared companies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from models.base import format_timestamp
from models.users import User
from server.api import Ctx, api
from server.conventions import Resource, one_response, path_id, register
from server.errors import not_found


class UserOut(BaseModel):
    id: int
    name: str
    surname: str | None
    email: str
    avatar_url: str | None
    email_verified_at: str | None
    created_at: str
    updated_at: str


def public(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "surname": user.surname,
        "email": user.email,
        "avatar_url": user.avatar_url,
        "email_verified_at": format_timestamp(user.email_verified_at),
        "created_at": format_timestamp(user.created_at),
        "updated_at": format_timestamp(user.updated_at),
    }


USERS = register(Resource(name="users", model=User, serialize=public))


@api.route("GET", "/api/me", summary="The signed-in user", tag="users", response=UserOut)
async def me(ctx: Ctx) -> dict[str, Any]:
    assert ctx.user is not None
    async with ctx.services.db.session() as session:
        result = await one_response(ctx, USERS, ctx.user, session)
    result["is_admin"] = ctx.user.is_admin
    return result


@api.route(
    "GET",
    "/api/users/{user_id}",
    summary="A user who shares a company",
    tag="users",
    response=UserOut,
    errors=(404,),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    from models.company_users import CompanyUser
    from server.access import visible_company_ids

    user_id = path_id(ctx, "user_id", "user")
    async with ctx.services.db.session() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise not_found("user")
        companies = await visible_company_ids(ctx)
        if companies is not None and user_id != ctx.user_id:
            shared = await session.execute(
                select(col(CompanyUser.id)).where(
                    col(CompanyUser.user_id) == user_id,
                    col(CompanyUser.company_id).in_(companies),
                    col(CompanyUser.removed_at).is_(None),
                )
            )
            if shared.first() is None:
                raise not_found("user")
        return await one_response(ctx, USERS, user, session)

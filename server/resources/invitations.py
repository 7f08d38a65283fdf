"""Invitations: the emailed link that turns a company user into a signed-in person's membership.

The company user, with the hash of the secret, is created elsewhere; here the secret is shown
(publicly, so that a page can say who invites whom) and accepted.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from models.companies import Company
from models.company_users import CompanyUser
from models.public import company_user_public
from server import auth
from server.api import Ctx, api
from server.errors import Forbidden, NotFound
from server.resources.company_users import CompanyUserOut
from server.staff import accepted_now

log = logging.getLogger("connectnow.identity")


class InvitationCompanyOut(BaseModel):
    id: int
    name: str
    slug: str
    logo_url: str


class InvitationOut(BaseModel):
    invited_email: str
    role: str
    company: InvitationCompanyOut


def _unknown() -> NotFound:
    return NotFound("No open invitation has this token; it may have been accepted already.")


async def _open_invitation(ctx: Ctx) -> tuple[CompanyUser, Company]:
    """The pending company user the path's token names, with its live company, else 404."""
    secret = str(ctx.path["token"])
    async with ctx.services.db.session() as session:
        row = (
            await session.execute(
                select(CompanyUser, Company)
                .join(Company, col(Company.id) == col(CompanyUser.company_id))
                .where(
                    col(CompanyUser.invitation_token_hash) == auth.digest(secret),
                    col(CompanyUser.accepted_at).is_(None),
                    col(CompanyUser.removed_at).is_(None),
                    col(Company.deleted_at).is_(None),
                )
            )
        ).first()
    if row is None:
        raise _unknown()
    member, company = row
    return member, company


@api.route(
    "GET",
    "/api/invitations/{token}",
    summary="Who is invited to which company, for the page the emailed link opens",
    tag="identity",
    response=InvitationOut,
    auth="public",
    errors=(404,),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    member, company = await _open_invitation(ctx)
    return {
        "invited_email": member.invited_email,
        "role": member.role,
        "company": {
            "id": company.id,
            "name": company.name,
            "slug": company.slug,
            "logo_url": company.logo_url,
        },
    }


@api.route(
    "POST",
    "/api/invitations/{token}/accept",
    summary="Accept an invitation sent to the signed-in user's email address",
    tag="identity",
    response=CompanyUserOut,
    errors=(403, 404),
)
async def accept(ctx: Ctx) -> dict[str, Any]:
    assert ctx.user is not None
    member, company = await _open_invitation(ctx)
    if member.invited_email.casefold() != ctx.user.email.casefold():
        raise Forbidden(
            "This invitation was sent to another email address; "
            "sign in with the account of that address to accept it."
        )
    async with ctx.services.db.write() as session:
        already = await session.execute(
            select(col(CompanyUser.id)).where(
                col(CompanyUser.company_id) == company.id,
                col(CompanyUser.user_id) == ctx.user_id,
                col(CompanyUser.removed_at).is_(None),
            )
        )
        if already.first() is not None:
            raise Forbidden(f"You are already a member of {company.name}.")
        stored = await session.get(CompanyUser, member.id, with_for_update=True)
        if stored is None or stored.accepted_at is not None or stored.removed_at is not None:
            raise _unknown()
        accepted_now(stored, ctx.user_id)
        member = stored
    assert member.id is not None
    log.info(
        "invitation.accepted company_id=%s company_user_id=%s user_id=%s request_id=%s",
        company.id,
        member.id,
        ctx.user_id,
        ctx.request_id,
    )
    await ctx.services.hooks.company_user_changed(member.id)
    return company_user_public(member)

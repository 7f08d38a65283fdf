"""Who may do what in which company: memberships and the role ladder."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlmodel import col

from models import changes
from models.companies import Company
from models.company_users import CompanyUser
from server.api import Ctx
from server.errors import Forbidden, NotFound

ROLE_RANK = {"agent": 0, "staffing_manager": 1, "manager": 2}
ROLE_WORDS = {
    "agent": "an agent",
    "staffing_manager": "a staffing manager",
    "manager": "a manager",
}


# Nearly every request reads this: built once, as building it costs more than running it.
_MEMBERSHIPS = (
    select(col(CompanyUser.company_id), col(CompanyUser.role), col(CompanyUser.id))
    .join(Company, col(Company.id) == col(CompanyUser.company_id))
    .where(
        col(CompanyUser.user_id) == bindparam("b_user_id"),
        col(CompanyUser.accepted_at).is_not(None),
        col(CompanyUser.removed_at).is_(None),
        col(Company.deleted_at).is_(None),
    )
)


@dataclass(frozen=True)
class Membership:
    """The caller's standing in one company; system administrators stand as managers."""

    company_id: int
    role: str
    company_user_id: int | None
    is_admin: bool = False

    def at_least(self, role: str) -> bool:
        return self.is_admin or ROLE_RANK[self.role] >= ROLE_RANK[role]


def is_admin(ctx: Ctx) -> bool:
    return ctx.user is not None and ctx.user.is_admin


async def memberships(ctx: Ctx) -> dict[int, Membership]:
    """The caller's accepted memberships of live companies, keyed by company id."""
    cached: dict[int, Membership] | None = getattr(ctx.request.state, "memberships", None)
    if cached is not None:
        return cached
    found: dict[int, Membership] = {}
    if ctx.user is not None:
        shelf = ctx.services.access.memberships
        kept = shelf.get(ctx.user_id)
        if kept is not None:
            found = kept
        else:
            version = changes.version()
            async with ctx.services.db.read() as conn:
                rows = await conn.execute(_MEMBERSHIPS, {"b_user_id": ctx.user_id})
                for company_id, role, company_user_id in rows:
                    found[company_id] = Membership(company_id, role, company_user_id)
            if found:  # someone with no company yet is about to get one: not worth keeping
                shelf.put(ctx.user_id, version, found)
    ctx.request.state.memberships = found
    return found


async def visible_company_ids(ctx: Ctx) -> list[int] | None:
    """The companies the caller may read; None means all of them (an administrator)."""
    if is_admin(ctx):
        return None
    return list((await memberships(ctx)).keys())


async def membership(ctx: Ctx, company_id: int) -> Membership | None:
    if is_admin(ctx):
        own = (await memberships(ctx)).get(company_id)
        return Membership(company_id, "manager", own.company_user_id if own else None, True)
    return (await memberships(ctx)).get(company_id)


async def require(ctx: Ctx, company_id: int, role: str, *, what: str) -> Membership:
    """The caller's membership if it reaches `role`; 404 for outsiders, 403 for lower roles.

    `what` names the object for the 404, so that another company's ids look unknown.
    """
    found = await membership(ctx, company_id)
    if found is None:
        raise NotFound(f"No {what} with that id exists.")
    if not found.at_least(role):
        raise Forbidden(f"Only {ROLE_WORDS[role]} or above of this company may do this.")
    return found

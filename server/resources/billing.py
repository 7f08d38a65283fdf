"""Billing: a company's active company users now and its monthly maxima."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from models.base import utcnow
from server import billing
from server.api import Ctx, api
from server.conventions import path_id
from server.resources.companies import find


class MonthOut(BaseModel):
    month: str
    max_active_users: int


class BillingOut(BaseModel):
    active_users: int
    months: list[MonthOut]


@api.route(
    "GET",
    "/api/companies/{company_id}/billing",
    summary="Active company users now and the maximum of each of the last 12 months (managers)",
    tag="companies",
    response=BillingOut,
    errors=(403, 404),
)
async def show(ctx: Ctx) -> dict[str, Any]:
    company = await find(ctx, path_id(ctx, "company_id", "company"), "manager")
    assert company.id is not None
    async with ctx.services.db.session() as session:
        active = await billing.count_active(session, company.id)
        months = await billing.history(session, company.id, utcnow())
    # The current month had at least as many as are active now.
    months[-1]["max_active_users"] = max(months[-1]["max_active_users"], active)
    return {"active_users": active, "months": months}

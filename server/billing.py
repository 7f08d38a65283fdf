"""Active company users: the plan's cap and the monthly maximum a company is billed for.

A company user is active while `is_active` is set and it has not been removed. Every
transaction that may change the count locks the company row first, so that concurrent
requests neither pass the cap together nor lose a monthly maximum.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.companies import ActiveUserMonth, Company
from models.company_users import CompanyUser
from server.errors import Forbidden

MONTHS_SHOWN = 12


def month_of(moment: datetime) -> str:
    """`2026-12`: the calendar month (UTC) an instant falls in."""
    return moment.strftime("%Y-%m")


def last_months(moment: datetime, count: int = MONTHS_SHOWN) -> list[str]:
    """The `count` months up to and including the one of `moment`, oldest first."""
    year, month = moment.year, moment.month
    months: list[str] = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


async def lock_company(session: AsyncSession, company_id: int) -> Company | None:
    """The company row, locked until the transaction ends (SQLite serialises writes anyway)."""
    stmt = select(Company).where(col(Company.id) == company_id).with_for_update()
    company: Company | None = (await session.execute(stmt)).scalar_one_or_none()
    return company


async def count_active(session: AsyncSession, company_id: int) -> int:
    stmt = select(func.count()).where(
        col(CompanyUser.company_id) == company_id,
        col(CompanyUser.is_active).is_(True),
        col(CompanyUser.removed_at).is_(None),
    )
    return int((await session.execute(stmt)).scalar_one())


async def check_cap(session: AsyncSession, company: Company, *, adding: int = 1) -> None:
    """Refuse (403) to go past the company's `max_active_users`; call with the row locked."""
    cap = company.max_active_users
    if cap is None or company.id is None:
        return
    if await count_active(session, company.id) + adding > cap:
        raise Forbidden(
            f"This company's plan allows at most {cap} active company users; "
            "deactivate or remove one first, or ask for a larger plan."
        )


async def record(session: AsyncSession, company_id: int, now: datetime) -> int:
    """Store the count now and raise the month's maximum if needed; returns the count.

    A month's first row starts from the count the previous change left, since that many
    company users were active when the month began.
    """
    count = await count_active(session, company_id)
    month = month_of(now)
    latest = (
        await session.execute(
            select(ActiveUserMonth)
            .where(
                col(ActiveUserMonth.company_id) == company_id,
                col(ActiveUserMonth.month) <= month,
            )
            .order_by(col(ActiveUserMonth.month).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if latest is not None and latest.month == month:
        latest.max_active_users = max(latest.max_active_users, count)
        latest.last_active_users = count
    else:
        carried = latest.last_active_users if latest is not None else 0
        session.add(
            ActiveUserMonth(
                company_id=company_id,
                month=month,
                max_active_users=max(carried, count),
                last_active_users=count,
            )
        )
    await session.flush()
    return count


async def history(session: AsyncSession, company_id: int, now: datetime) -> list[dict[str, Any]]:
    """The last twelve months' maxima, oldest first; a month without changes keeps the
    count the previous change left."""
    months = last_months(now)
    rows = (
        await session.execute(
            select(ActiveUserMonth)
            .where(
                col(ActiveUserMonth.company_id) == company_id,
                col(ActiveUserMonth.month) <= months[-1],
            )
            .order_by(col(ActiveUserMonth.month))
        )
    ).scalars()
    by_month = {row.month: row for row in rows}
    earlier = [row for key, row in by_month.items() if key < months[0]]
    carried = earlier[-1].last_active_users if earlier else 0
    shown: list[dict[str, Any]] = []
    for month in months:
        row = by_month.get(month)
        if row is not None:
            shown.append({"month": month, "max_active_users": row.max_active_users})
            carried = row.last_active_users
        else:
            shown.append({"month": month, "max_active_users": carried})
    return shown

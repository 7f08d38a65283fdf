"""Companies: the tenants whose agents, skills and queues everything else belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class Company(SQLModel, table=True):
    """A tenant. Deleting one soft-deletes it so its query history survives."""

    __tablename__ = "companies"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255)
    slug: str = Field(max_length=255, unique=True, index=True)
    logo_url: str = Field(max_length=2048)
    query_expiry_time_in_minutes: int = Field(default=60)
    idle_timeout_in_minutes: int = Field(default=10)
    reminder_interval_in_minutes: int = Field(default=120)
    max_active_users: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ActiveUserMonth(SQLModel, table=True):
    """The most active company users a company had at once in one calendar month.

    `last_active_users` is the count after the month's latest change: a month without
    changes had that many throughout.
    """

    __tablename__ = "active_user_months"

    company_id: int = Field(foreign_key="companies.id", primary_key=True)
    month: str = Field(max_length=7, primary_key=True)
    max_active_users: int = Field(default=0)
    last_active_users: int = Field(default=0)

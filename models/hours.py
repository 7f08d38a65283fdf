"""Opening windows and closures of queues and companies, in IANA time zones."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class OperatingHour(SQLModel, table=True):
    """A weekly window; `queue_id` null means the company's fallback windows."""

    __tablename__ = "operating_hours"

    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="companies.id", index=True)
    queue_id: int | None = Field(default=None, foreign_key="queues.id", index=True)
    weekday: int
    opens_at: str = Field(max_length=5)
    closes_at: str = Field(max_length=5)
    timezone: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BlacklistHour(SQLModel, table=True):
    """An absolute closed period of a queue, or of the whole company when `queue_id` is null."""

    __tablename__ = "blacklist_hours"

    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="companies.id", index=True)
    queue_id: int | None = Field(default=None, foreign_key="queues.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

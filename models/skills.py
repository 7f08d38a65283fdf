"""Skills a company defines; queues require them and company users hold them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class Skill(SQLModel, table=True):
    """A named ability within one company."""

    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("company_id", "name", name="uq_skills_company_name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255)
    company_id: int = Field(foreign_key="companies.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

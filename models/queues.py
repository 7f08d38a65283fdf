"""Queues customers open queries on, shared by skill or personal to one company user."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class Queue(SQLModel, table=True):
    """A line of waiting queries; `company_user_id` set means a personal queue."""

    __tablename__ = "queues"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255)
    company_id: int = Field(foreign_key="companies.id", index=True)
    company_user_id: int | None = Field(default=None, foreign_key="company_users.id", index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    priority_delay: int | None = Field(default=None)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class QueueSkill(SQLModel, table=True):
    """A skill a queue requires; an eligible company user holds all of them."""

    __tablename__ = "queue_skills"

    queue_id: int = Field(foreign_key="queues.id", primary_key=True)
    skill_id: int = Field(foreign_key="skills.id", primary_key=True)

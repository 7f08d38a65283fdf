"""Company users: a person's membership of a company, its skills, state and history."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

ROLES = ("agent", "staffing_manager", "manager")
STATE_REASONS = ("manual", "disconnected", "idle", "manager")


class CompanyUser(SQLModel, table=True):
    """Membership; `ongoing_count` is the claim counter that capacity checks update atomically."""

    __tablename__ = "company_users"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    company_id: int = Field(foreign_key="companies.id", index=True)
    invited_email: str = Field(max_length=320)
    invitation_token_hash: str | None = Field(default=None, max_length=64, index=True)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    max_ongoing_queries_handled: int = Field(default=1)
    is_auto_max_number_handled: bool = Field(default=True)
    ability_to_pick_from_queue: bool = Field(default=False)
    is_auto_ability_to_pick_from_queue: bool = Field(default=True)
    role: str = Field(default="agent", max_length=32)
    is_active: bool = Field(default=True)
    ongoing_count: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CompanyUserSkill(SQLModel, table=True):
    """A skill held at a level: 1 is the most proficient."""

    __tablename__ = "company_user_skills"

    company_user_id: int = Field(foreign_key="company_users.id", primary_key=True)
    skill_id: int = Field(foreign_key="skills.id", primary_key=True)
    level: int = Field(default=1)


class CompanyUserState(SQLModel, table=True):
    """Whether a company user takes queries now, with a free note."""

    __tablename__ = "company_user_states"

    id: int | None = Field(default=None, primary_key=True)
    company_user_id: int = Field(foreign_key="company_users.id", unique=True, index=True)
    is_available: bool = Field(default=False)
    status_text: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CompanyUserStateChange(SQLModel, table=True):
    """One entry of a company user's availability history: who changed it and why."""

    __tablename__ = "company_user_state_changes"

    id: int | None = Field(default=None, primary_key=True)
    company_user_id: int = Field(foreign_key="company_users.id", index=True)
    is_available: bool
    status_text: str | None = Field(default=None, max_length=255)
    changed_by_company_user_id: int | None = Field(default=None, foreign_key="company_users.id")
    reason: str = Field(max_length=32, default="manual")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LimitChange(SQLModel, table=True):
    """A change of a company user's limits made by self-management, with its reason."""

    __tablename__ = "limit_changes"

    id: int | None = Field(default=None, primary_key=True)
    company_user_id: int = Field(foreign_key="company_users.id", index=True)
    field_name: str = Field(max_length=64)
    old_value: str = Field(max_length=32)
    new_value: str = Field(max_length=32)
    reason: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

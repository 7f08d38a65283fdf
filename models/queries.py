"""Queries customers open, where they waited, who answered them, and notes on them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

STATUSES = ("waiting", "ongoing", "done", "expired", "cancelled")


class Query(SQLModel, table=True):
    """A customer's request for help. `queue_id` is the queue it is on or last was on."""

    __tablename__ = "queries"

    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="companies.id", index=True)
    queue_id: int = Field(foreign_key="queues.id", index=True)
    source: str = Field(max_length=2048)
    is_link: bool = Field(default=True)
    email: str = Field(max_length=320)
    name: str = Field(max_length=255)
    surname: str | None = Field(default=None, max_length=255)
    status: str = Field(default="waiting", max_length=16, index=True)
    holder_company_user_id: int | None = Field(
        default=None, foreign_key="company_users.id", index=True
    )
    customer_token_hash: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class QueryQueue(SQLModel, table=True):
    """One stay of a query on a queue: the history of where it has waited."""

    __tablename__ = "query_queues"

    id: int | None = Field(default=None, primary_key=True)
    query_id: int = Field(foreign_key="queries.id", index=True)
    queue_id: int = Field(foreign_key="queues.id", index=True)
    entered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by: int | None = Field(default=None, foreign_key="company_users.id")
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class QueryCompanyUser(SQLModel, table=True):
    """A company user that answered a query; `done_at` set when it marked it done."""

    __tablename__ = "query_company_users"

    id: int | None = Field(default=None, primary_key=True)
    query_id: int = Field(foreign_key="queries.id", index=True)
    company_user_id: int = Field(foreign_key="company_users.id", index=True)
    answered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class QueryNote(SQLModel, table=True):
    """A note on a query, visible to everyone who can see the query."""

    __tablename__ = "query_notes"

    id: int | None = Field(default=None, primary_key=True)
    query_id: int = Field(foreign_key="queries.id", index=True)
    company_user_id: int = Field(foreign_key="company_users.id")
    body: str = Field(max_length=10000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Rating(SQLModel, table=True):
    """A customer's score of a done query; counts for who marked it done."""

    __tablename__ = "ratings"

    id: int | None = Field(default=None, primary_key=True)
    query_id: int = Field(foreign_key="queries.id", unique=True)
    company_id: int = Field(foreign_key="companies.id", index=True)
    company_user_id: int = Field(foreign_key="company_users.id", index=True)
    queue_id: int = Field(foreign_key="queues.id", index=True)
    score: int
    comment: str | None = Field(default=None, max_length=5000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

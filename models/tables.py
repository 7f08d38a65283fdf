"""Imports every table so that `SQLModel.metadata` knows them all."""

from models.companies import ActiveUserMonth, Company
from models.company_users import (
    CompanyUser,
    CompanyUserSkill,
    CompanyUserState,
    CompanyUserStateChange,
    LimitChange,
)
from models.hours import BlacklistHour, OperatingHour
from models.queries import Query, QueryCompanyUser, QueryNote, QueryQueue, Rating
from models.queues import Queue, QueueSkill
from models.skills import Skill
from models.users import ApiToken, EmailToken, User

__all__ = [
    "ActiveUserMonth",
    "ApiToken",
    "BlacklistHour",
    "Company",
    "CompanyUser",
    "CompanyUserSkill",
    "CompanyUserState",
    "CompanyUserStateChange",
    "EmailToken",
    "LimitChange",
    "OperatingHour",
    "Query",
    "QueryCompanyUser",
    "QueryNote",
    "QueryQueue",
    "Queue",
    "QueueSkill",
    "Rating",
    "Skill",
    "User",
]

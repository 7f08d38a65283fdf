"""How the router shows queries, queues and states in event payloads: as REST bodies do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.company_users import CompanyUser, CompanyUserState
from models.public import company_user_public, query_public, queue_public, state_public
from models.queries import Query
from models.queues import Queue


@dataclass
class Presenters:
    """The serializers events use; the REST ones unless a caller chooses others."""

    query: Callable[[Query], dict[str, Any]] = query_public
    queue: Callable[[Queue], dict[str, Any]] = queue_public
    company_user: Callable[[CompanyUser], dict[str, Any]] = company_user_public
    state: Callable[[CompanyUserState], dict[str, Any]] = state_public

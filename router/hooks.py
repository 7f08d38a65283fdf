"""What the REST layer tells the routing engine after each durable change.

Handlers call these after their transaction commits, so the router never acts on a change
that could still roll back. Where the change stored a query, the handler passes what it
already holds (its company, or the row as the change's own statement returned it), so that
the router does not read it again on the hot path. The base class does nothing, which is the
behaviour of a server without live routing; the router subclasses it.
"""

from __future__ import annotations

from models.queries import Query


class RoutingHooks:
    async def company_changed(self, company_id: int) -> None:
        """Company settings (expiry, idle, reminders) changed."""

    async def company_deleted(self, company_id: int) -> None:
        """The company is gone; its waiting queries were cancelled in the database."""

    async def company_user_changed(self, company_user_id: int) -> None:
        """Skills, levels, limits, pick mode, activity, acceptance or removal changed."""

    async def state_changed(self, company_user_id: int) -> None:
        """Availability changed (already stored with its history entry)."""

    async def queue_changed(self, queue_id: int) -> None:
        """Required skills, priority delay, activity or deletion of a queue changed."""

    async def query_opened(self, query_id: int, company_id: int) -> None:
        """A new query of the company waits on its queue."""

    async def may_answer(self, query_id: int, company_user_id: int) -> str | None:
        """None if the company user holds an outstanding offer of the query, else why not."""
        return None

    async def query_answered(self, query: Query, company_user_id: int) -> None:
        """The query stopped waiting: the company user holds it. `query` is the stored row."""

    async def query_done(self, query: Query, company_user_id: int) -> None:
        """The holder marked the query done; its slot is free. `query` is the stored row."""

    async def query_transferred(self, query_id: int, from_company_user_id: int | None) -> None:
        """The query now waits on another queue; the previous holder's slot, if any, is free."""

    async def query_cancelled(self, query_id: int) -> None:
        """The customer cancelled a waiting query, or its queue or company went away."""

    async def note_added(self, query_id: int, note_id: int) -> None:
        """A note was added; everyone who can see the query hears of it."""

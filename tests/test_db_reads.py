"""Reads on the hot path: no transaction of their own, and rows loaded without the ORM."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlmodel import col

from models.base import loaded, utcnow
from models.users import User
from tests.helpers import Client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_a_read_connection_runs_each_statement_in_its_own_transaction(
    client: Client,
) -> None:
    """Two statements of one transaction share its id; on a read connection they do not."""
    xact = text("SELECT pg_current_xact_id()::text")

    async with client.services.db.read() as conn:
        alone = {(await conn.execute(xact)).scalar_one() for _ in range(2)}
    async with client.services.db.engine.connect() as conn:
        together = {(await conn.execute(xact)).scalar_one() for _ in range(2)}

    assert len(alone) == 2
    assert len(together) == 1


async def test_a_read_connection_sees_what_writes_committed(client: Client) -> None:
    db = client.services.db
    async with db.write() as session:
        session.add(User(name="Ria", email="ria@example.com", password_hash="x"))

    async with db.read() as conn:
        found = (
            await conn.execute(select(col(User.name)).where(col(User.email) == "ria@example.com"))
        ).scalar_one()

    assert found == "Ria"


async def test_a_loaded_row_added_to_a_session_updates_its_row_and_inserts_nothing(
    client: Client,
) -> None:
    db = client.services.db
    async with db.write() as session:
        session.add(User(name="Ola", email="ola@example.com", password_hash="x"))
    async with db.read() as conn:
        row = (
            await conn.execute(select(User.__table__).where(col(User.email) == "ola@example.com"))  # type: ignore[attr-defined]
        ).one()
    ola = loaded(User, row._mapping)

    ola.name = "Olga"
    ola.updated_at = utcnow()
    async with db.write() as session:
        session.add(ola)
    async with db.session() as session:
        people = (
            await session.execute(select(User).where(col(User.email) == "ola@example.com"))
        ).scalars()
        names = [person.name for person in people]

    assert ola.id == row.id and ola.email == "ola@example.com"
    assert names == ["Olga"]

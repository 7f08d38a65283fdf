"""The role table of the product contract, endpoint by endpoint, for every kind of caller.

An outsider belongs to another company: objects of this one look unknown (404), lists leave
them out, and a company id of this one in a body is a 422 on that field.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.helpers import Client, Person, member

pytestmark = pytest.mark.anyio

ROLES = ("agent", "staffing_manager", "manager", "outsider")
_n = itertools.count(1)


@dataclass
class Cast:
    """A company with one person per role, and an outsider with a company of its own."""

    client: Client
    boss: Person
    company_id: int
    people: dict[str, Person]
    own_ids: dict[str, int]

    async def invite(self, role: str = "agent") -> int:
        created = await self.client.post(
            "/api/company-users",
            self.boss,
            json={
                "company_id": self.company_id,
                "invited_email": f"target{next(_n)}@example.com",
                "role": role,
            },
        )
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    async def skill(self) -> int:
        created = await self.client.post(
            "/api/skills",
            self.boss,
            json={"name": f"Skill {next(_n)}", "company_id": self.company_id},
        )
        assert created.status_code == 201, created.text
        return int(created.json()["id"])


async def _cast(client: Client) -> Cast:
    boss = await client.person("Boss")
    company = await client.company(boss)
    people: dict[str, Person] = {}
    own_ids: dict[str, int] = {}
    for role in ROLES[:3]:
        people[role], joined = await member(client, boss, company["id"], role)
        own_ids[role] = joined["id"]
    people["outsider"] = await client.person("Outsider")
    outsider_company = await client.company(people["outsider"])
    mine = await client.get("/api/company-users", people["outsider"])
    own_ids["outsider"] = mine.json()[0]["id"]
    assert outsider_company["id"] != company["id"]
    return Cast(client, boss, company["id"], people, own_ids)


Case = Callable[[Cast, str], Awaitable[httpx.Response]]


async def _check(cast: Cast, cases: dict[str, tuple[Case, tuple[int, ...]]]) -> None:
    """Run every case for every role; report all mismatches at once.

    Managers go last, so that what they delete was there for the others to try.
    """
    found: dict[tuple[str, str], int] = {}
    expected: dict[tuple[str, str], int] = {}
    for name, (case, statuses) in cases.items():
        for role, status in sorted(
            zip(ROLES, statuses, strict=True), key=lambda pair: pair[0] == "manager"
        ):
            response = await case(cast, role)
            found[(name, role)] = response.status_code
            expected[(name, role)] = status
    assert found == expected


def _get(path: Callable[[Cast], Awaitable[str]]) -> Case:
    async def run(cast: Cast, role: str) -> httpx.Response:
        return await cast.client.get(await path(cast), cast.people[role])

    return run


async def _cu_path(cast: Cast) -> str:
    return f"/api/company-users/{cast.own_ids['agent']}"


async def test_company_user_endpoints(client: Client) -> None:
    cast = await _cast(client)

    async def listed(cast: Cast, role: str) -> httpx.Response:
        response = await cast.client.get("/api/company-users", cast.people[role])
        companies = {item["company_id"] for item in response.json()}
        assert (cast.company_id in companies) == (role != "outsider")
        return response

    def create(role_made: str) -> Case:
        async def run(cast: Cast, role: str) -> httpx.Response:
            return await cast.client.post(
                "/api/company-users",
                cast.people[role],
                json={
                    "company_id": cast.company_id,
                    "invited_email": f"new{next(_n)}@example.com",
                    "role": role_made,
                },
            )

        return run

    def edit(target_role: str) -> Case:
        async def run(cast: Cast, role: str) -> httpx.Response:
            target = await cast.invite(target_role)
            return await cast.client.put(
                f"/api/company-users/{target}",
                cast.people[role],
                json={"max_ongoing_queries_handled": 2},
            )

        return run

    async def promote(cast: Cast, role: str) -> httpx.Response:
        target = await cast.invite("agent")
        return await cast.client.put(
            f"/api/company-users/{target}", cast.people[role], json={"role": "manager"}
        )

    async def remove(cast: Cast, role: str) -> httpx.Response:
        target = await cast.invite("agent")
        return await cast.client.delete(f"/api/company-users/{target}", cast.people[role])

    async def skills(cast: Cast, role: str) -> httpx.Response:
        target = await cast.invite("agent")
        return await cast.client.put(
            f"/api/company-users/{target}/skills",
            cast.people[role],
            json={"skill_ids": [await cast.skill()]},
        )

    async def manager_skills(cast: Cast, role: str) -> httpx.Response:
        target = await cast.invite("manager")
        return await cast.client.put(
            f"/api/company-users/{target}/skills", cast.people[role], json={"skill_ids": []}
        )

    await _check(
        cast,
        {
            "list": (listed, (200, 200, 200, 200)),
            "show": (_get(_cu_path), (200, 200, 200, 404)),
            "create agent": (create("agent"), (403, 201, 201, 422)),
            "create staffing manager": (create("staffing_manager"), (403, 201, 201, 422)),
            "create manager": (create("manager"), (403, 403, 201, 422)),
            "edit agent": (edit("agent"), (403, 200, 200, 404)),
            "edit manager": (edit("manager"), (403, 403, 200, 404)),
            "promote to manager": (promote, (403, 403, 200, 404)),
            "remove": (remove, (403, 403, 204, 404)),
            "set skills": (skills, (403, 200, 200, 404)),
            "set a manager's skills": (manager_skills, (403, 403, 200, 404)),
        },
    )


async def test_skill_endpoints(client: Client) -> None:
    cast = await _cast(client)

    async def listed(cast: Cast, role: str) -> httpx.Response:
        await cast.skill()
        response = await cast.client.get("/api/skills", cast.people[role])
        companies = {item["company_id"] for item in response.json()}
        assert (cast.company_id in companies) == (role != "outsider")
        return response

    async def show(cast: Cast) -> str:
        return f"/api/skills/{await cast.skill()}"

    async def create(cast: Cast, role: str) -> httpx.Response:
        return await cast.client.post(
            "/api/skills",
            cast.people[role],
            json={"name": f"New {next(_n)}", "company_id": cast.company_id},
        )

    async def rename(cast: Cast, role: str) -> httpx.Response:
        return await cast.client.put(
            f"/api/skills/{await cast.skill()}", cast.people[role], json={"name": f"R{next(_n)}"}
        )

    async def delete(cast: Cast, role: str) -> httpx.Response:
        return await cast.client.delete(f"/api/skills/{await cast.skill()}", cast.people[role])

    await _check(
        cast,
        {
            "list": (listed, (200, 200, 200, 200)),
            "show": (_get(show), (200, 200, 200, 404)),
            "create": (create, (403, 403, 201, 422)),
            "rename": (rename, (403, 403, 200, 404)),
            "delete": (delete, (403, 403, 204, 404)),
        },
    )


async def test_state_and_billing_endpoints(client: Client) -> None:
    cast = await _cast(client)

    async def listed(cast: Cast, role: str) -> httpx.Response:
        response = await cast.client.get("/api/company-user-states", cast.people[role])
        ids = {item["company_user_id"] for item in response.json()}
        assert (cast.own_ids["agent"] in ids) == (role != "outsider")
        return response

    async def another(cast: Cast) -> str:
        return f"/api/company-user-states/{cast.own_ids['agent']}"

    async def history(cast: Cast) -> str:
        return f"/api/company-user-states/{cast.own_ids['agent']}/history"

    async def billing(cast: Cast) -> str:
        return f"/api/companies/{cast.company_id}/billing"

    async def set_own(cast: Cast, role: str) -> httpx.Response:
        return await cast.client.put(
            f"/api/company-user-states/{cast.own_ids[role]}",
            cast.people[role],
            json={"is_available": True, "status_text": "In"},
        )

    async def set_anothers(cast: Cast, role: str) -> httpx.Response:
        target = cast.own_ids["staffing_manager" if role == "agent" else "agent"]
        return await cast.client.put(
            f"/api/company-user-states/{target}",
            cast.people[role],
            json={"is_available": False},
        )

    await _check(
        cast,
        {
            "list": (listed, (200, 200, 200, 200)),
            "show another's": (_get(another), (200, 200, 200, 404)),
            "set own": (set_own, (200, 200, 200, 200)),
            "set another's": (set_anothers, (403, 200, 200, 404)),
            "history": (_get(history), (403, 200, 200, 404)),
            "billing": (_get(billing), (403, 403, 200, 404)),
        },
    )

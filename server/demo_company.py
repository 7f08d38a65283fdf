"""The demo company: its people, skills and queues, loaded through the REST API.

Loading is idempotent: whatever a previous run made is found and reused, so the demo can be
stopped and started again on the same database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from server.services import Services

DOMAIN = "demo.example.com"  # a reserved documentation domain: no mail reaches anyone
COMPANY_NAME = "Demo Corp"
COMPANY_SLUG = "connectnow-demo"
DEFAULT_PASSWORD = "connectnow-demo"
SKILLS = ("English", "German", "MacOS")


@dataclass(frozen=True)
class QueuePlan:
    name: str
    skills: tuple[str, ...]
    priority_delay: int
    weight: int


QUEUES = (
    QueuePlan("English MacOS Support", ("English", "MacOS"), 30, 5),
    QueuePlan("German MacOS Support", ("German", "MacOS"), 30, 3),
    QueuePlan("IT Queue", ("English",), 60, 2),
)


@dataclass(frozen=True)
class AgentPlan:
    name: str
    surname: str
    skills: dict[str, int]
    max_ongoing: int = 1
    picks: bool = False

    @property
    def email(self) -> str:
        return f"{self.name}.{self.surname}@{DOMAIN}".lower()


AGENTS = (
    AgentPlan("Hans", "Schmidt", {"German": 1, "MacOS": 1, "English": 2}, 3, picks=True),
    AgentPlan("Sakura", "Watanabe", {"English": 1, "MacOS": 2}),
    AgentPlan("Amara", "Okafor", {"English": 1, "MacOS": 1}, 2),
    AgentPlan("Lukas", "Weber", {"German": 1, "MacOS": 2}),
    AgentPlan("Chloe", "Martin", {"English": 2, "MacOS": 1}),
    AgentPlan("Mateo", "Garcia", {"English": 1}),
    AgentPlan("Priya", "Sharma", {"English": 1, "MacOS": 1}, 2, picks=True),
    AgentPlan("Jonas", "Becker", {"German": 1, "English": 2, "MacOS": 3}),
    AgentPlan("Aiko", "Tanaka", {"English": 2, "MacOS": 1}),
    AgentPlan("Noah", "Fischer", {"German": 2, "MacOS": 1}),
    AgentPlan("Fatima", "Haddad", {"English": 1, "German": 3}),
    AgentPlan("Oliver", "Smith", {"English": 1, "MacOS": 3}),
    AgentPlan("Elena", "Rossi", {"English": 3, "German": 2, "MacOS": 2}),
    AgentPlan("Kwame", "Mensah", {"English": 1, "MacOS": 2}, 2),
)
HUMAN = AgentPlan("Alex", "Rivera", {"English": 1, "German": 2, "MacOS": 1}, 2)
MANAGER_EMAIL = f"manager@{DOMAIN}"


class DemoError(Exception):
    """The demo cannot go on; the message says what to do."""


@dataclass(frozen=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    customers_per_minute: float = 10.0
    speed: float = 1.0
    duration: float = 0.0
    password: str = DEFAULT_PASSWORD
    quiet: bool = False


@dataclass
class Session:
    email: str
    token: str
    user: dict[str, Any]


@dataclass
class Member:
    plan: AgentPlan
    session: Session
    company_user: dict[str, Any]


@dataclass
class Demo:
    """What the seed made: the company, its queues, the manager and the agents."""

    company: dict[str, Any]
    queues: dict[str, dict[str, Any]]
    manager: Session
    agents: list[Member]
    human: Member


class Api:
    """The demo's HTTP client: JSON in and out, a clear error when a call is refused."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        session: Session | None = None,
        body: dict[str, Any] | None = None,
        customer_token: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if session is not None:
            headers["Authorization"] = f"Bearer {session.token}"
        if customer_token is not None:
            headers["X-Customer-Token"] = customer_token
        return await self.http.request(method, path, headers=headers, json=body)

    async def ok(
        self,
        method: str,
        path: str,
        session: Session | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        response = await self.call(method, path, session, body)
        if response.status_code >= 400:
            raise DemoError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json() if response.content else None


def listed(result: Any) -> list[dict[str, Any]]:
    """A list answer, plain or paginated."""
    if isinstance(result, dict):
        return list(result.get("data", []))
    return list(result or [])


class Invitations:
    """Remembers the secret of each invitation the server mails, by recipient."""

    _LINK = re.compile(r"/invitations/([A-Za-z0-9_\-]+)")

    def __init__(self, services: Services) -> None:
        self.secrets: dict[str, str] = {}
        original = services.mailer.send

        async def send(to: str, subject: str, text: str) -> bool:
            found = self._LINK.search(text)
            if found:
                self.secrets[to.lower()] = found.group(1)
            return bool(await original(to, subject, text))

        services.mailer.send = send  # type: ignore[method-assign]


async def sign_in(api: Api, email: str, name: str, surname: str, password: str) -> Session:
    """Sign in, registering the account first when it does not exist yet."""
    body = {"email": email, "password": password, "device_name": "demo"}
    response = await api.call("POST", "/api/auth/token", body=body)
    if response.status_code == 401:
        registered = await api.call(
            "POST",
            "/api/register",
            body={"name": name, "surname": surname, "email": email, "password": password},
        )
        if registered.status_code != 201:
            raise DemoError(
                f"The demo account {email} exists with another password. Run the demo with "
                "DEMO_PASSWORD set to the password used before, or remove the database file."
            )
        response = await api.call("POST", "/api/auth/token", body=body)
    if response.status_code != 200:
        raise DemoError(f"Signing in as {email} failed: {response.text}")
    signed_in = response.json()
    return Session(email, signed_in["token"], signed_in["user"])


async def ensure_company(api: Api, manager: Session, base_url: str) -> dict[str, Any]:
    for company in listed(await api.ok("GET", "/api/companies", manager)):
        if company["slug"] == COMPANY_SLUG:
            return company
    created: dict[str, Any] = await api.ok(
        "POST",
        "/api/companies",
        manager,
        {
            "name": COMPANY_NAME,
            "slug": COMPANY_SLUG,
            "logo_url": f"{base_url}/static/demo-logo.svg",
            "query_expiry_time_in_minutes": 30,
        },
    )
    return created


async def ensure_skills(api: Api, manager: Session, company_id: int) -> dict[str, int]:
    path = f"/api/skills?company_ids={company_id}"
    found = {s["name"]: int(s["id"]) for s in listed(await api.ok("GET", path, manager))}
    for name in SKILLS:
        if name not in found:
            body = {"name": name, "company_id": company_id}
            found[name] = int((await api.ok("POST", "/api/skills", manager, body))["id"])
    return found


async def ensure_queues(
    api: Api, manager: Session, company_id: int, skills: dict[str, int]
) -> dict[str, dict[str, Any]]:
    shared = [
        q
        for q in listed(await api.ok("GET", "/api/queues", manager))
        if q["company_id"] == company_id and q["company_user_id"] is None and not q["deleted_at"]
    ]
    found = {q["name"]: q for q in shared}
    for plan in QUEUES:
        if plan.name not in found:
            body = {
                "name": plan.name,
                "company_id": company_id,
                "priority_delay": plan.priority_delay,
                "skill_ids": [skills[s] for s in plan.skills],
            }
            found[plan.name] = await api.ok("POST", "/api/queues", manager, body)
    return found


async def ensure_member(
    api: Api,
    invitations: Invitations,
    manager: Session,
    company_id: int,
    plan: AgentPlan,
    password: str,
    skills: dict[str, int],
) -> Member:
    """The plan's person as an accepted company user with its skills; invited if need be."""
    person = await sign_in(api, plan.email, plan.name, plan.surname, password)
    path = f"/api/company-users?company_ids={company_id}&with[]=skills"
    existing = {m["invited_email"].lower(): m for m in listed(await api.ok("GET", path, manager))}
    member = existing.get(plan.email)
    if member is not None and member["accepted_at"] is None:
        # An invitation of an interrupted run: its secret is gone, so invite afresh.
        await api.ok("DELETE", f"/api/company-users/{member['id']}", manager)
        member = None
    if member is None:
        body = {
            "company_id": company_id,
            "invited_email": plan.email,
            "max_ongoing_queries_handled": plan.max_ongoing,
            "ability_to_pick_from_queue": plan.picks,
            "is_auto_ability_to_pick_from_queue": not plan.picks,
        }
        created = await api.ok("POST", "/api/company-users", manager, body)
        secret = invitations.secrets.get(plan.email)
        if secret is None:
            raise DemoError(f"The invitation to {plan.email} was not sent.")
        await api.ok("POST", f"/api/invitations/{secret}/accept", person)
        member = {**created, "skills": []}
    if not member.get("skills"):
        held = [{"id": skills[name], "level": level} for name, level in plan.skills.items()]
        await api.ok("PUT", f"/api/company-users/{member['id']}/skills", manager, {"skills": held})
    return Member(plan, person, member)


async def seed(api: Api, invitations: Invitations, base_url: str, password: str) -> Demo:
    """Load the demo company, reusing whatever a previous run left."""
    manager = await sign_in(api, MANAGER_EMAIL, "Morgan", "Manager", password)
    company = await ensure_company(api, manager, base_url)
    company_id = int(company["id"])
    skills = await ensure_skills(api, manager, company_id)
    queues = await ensure_queues(api, manager, company_id, skills)
    agents = []
    for plan in (*AGENTS, HUMAN):
        agents.append(
            await ensure_member(api, invitations, manager, company_id, plan, password, skills)
        )
    return Demo(company, queues, manager, agents[:-1], agents[-1])

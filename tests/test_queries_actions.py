"""Answer, mark as done and transfer: who may, and what each changes."""

from __future__ import annotations

import pytest

from tests.helpers import Client, member
from tests.test_queries_setup import (
    agent,
    desk,
    member_row,
    open_query,
    personal_queue_of,
    queue,
    record_hooks,
    skill,
)

pytestmark = pytest.mark.anyio


async def test_answer_makes_the_caller_the_holder(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id)
    opened = await open_query(client, place.queue_id)

    answered = await client.post(f"/api/queries/{opened['id']}/answer", ana.person)

    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "ongoing"
    assert answered.json()["holder_company_user_id"] == ana.id
    assert (await member_row(client, ana.id)).ongoing_count == 1
    assert [(q.id, m) for q, m in hooks.named("query_answered")] == [(opened["id"], ana.id)]
    (entry,) = (await client.get(f"/api/queries/{opened['id']}/queues", ana.person)).json()
    assert entry["answered_by"] == ana.id
    assert entry["left_at"] is not None


async def test_answer_twice_is_forbidden_with_the_reason(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, name="Ana")
    ben = await agent(client, place.company_id, name="Ben")
    opened = await open_query(client, place.queue_id)
    assert (
        await client.post(f"/api/queries/{opened['id']}/answer", ana.person)
    ).status_code == 200

    late = await client.post(f"/api/queries/{opened['id']}/answer", ben.person)

    assert late.status_code == 403
    assert "already been answered on all the queues it waited on" in late.json()["message"]
    assert (await member_row(client, ben.id)).ongoing_count == 0


async def test_answer_without_a_free_slot_is_forbidden(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, max_ongoing=1)
    first = await open_query(client, place.queue_id)
    second = await open_query(client, place.queue_id)
    assert (await client.post(f"/api/queries/{first['id']}/answer", ana.person)).status_code == 200

    refused = await client.post(f"/api/queries/{second['id']}/answer", ana.person)

    assert refused.status_code == 403
    assert "no free slot" in refused.json()["message"]


async def test_answer_needs_the_queue_skills_availability_and_the_offer(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    german = await skill(client, place.company_id, "German")
    german_queue = await queue(client, place.company_id, skills=(german,))
    unskilled = await agent(client, place.company_id, name="Una")
    away = await agent(client, place.company_id, name="Abe", skills={german: 1}, available=False)
    unoffered = await agent(client, place.company_id, name="Ned", skills={german: 2})
    skilled = await agent(client, place.company_id, name="Sky", skills={german: 1})
    hooks.refuse[unoffered.id] = "This query was not offered to you."
    opened = await open_query(client, german_queue)
    path = f"/api/queries/{opened['id']}/answer"

    no_skill = await client.post(path, unskilled.person)
    not_available = await client.post(path, away.person)
    not_offered = await client.post(path, unoffered.person)
    won = await client.post(path, skilled.person)

    assert no_skill.status_code == 403
    assert "skill" in no_skill.json()["message"]
    assert not_available.status_code == 403
    assert "available" in not_available.json()["message"]
    assert not_offered.status_code == 403
    assert not_offered.json()["message"] == "This query was not offered to you."  # said once
    assert won.status_code == 200, won.text


async def test_personal_queue_query_is_for_its_owner_only(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, name="Ana")
    ben = await agent(client, place.company_id, name="Ben")
    opened = await open_query(client, place.queue_id)
    personal = await personal_queue_of(client, ana.id)
    moved = await client.post(
        f"/api/queries/{opened['id']}/transfer", place.manager, json={"queue_id": personal}
    )
    assert moved.status_code == 200, moved.text

    by_other = await client.post(f"/api/queries/{opened['id']}/answer", ben.person)
    by_owner = await client.post(f"/api/queries/{opened['id']}/answer", ana.person)

    assert by_other.status_code == 403
    assert by_owner.status_code == 200


async def test_answer_as_someone_elses_company_user_is_forbidden(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, name="Ana")
    ben = await agent(client, place.company_id, name="Ben")
    opened = await open_query(client, place.queue_id)

    as_other = await client.post(
        f"/api/queries/{opened['id']}/answer", ana.person, json={"company_user_id": ben.id}
    )
    as_self = await client.post(
        f"/api/queries/{opened['id']}/answer", ana.person, json={"company_user_id": ana.id}
    )

    assert as_other.status_code == 403
    assert as_self.status_code == 200


async def test_outsider_cannot_see_or_answer(client: Client) -> None:
    place = await desk(client)
    other = await desk(client)
    stranger = await agent(client, other.company_id)
    opened = await open_query(client, place.queue_id)

    tried = await client.post(f"/api/queries/{opened['id']}/answer", stranger.person)

    assert tried.status_code == 404


async def test_only_the_holder_marks_done_and_frees_its_slot(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id, name="Ana")
    ben = await agent(client, place.company_id, name="Ben")
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}"
    waiting_done = await client.post(f"{path}/mark-as-done", ana.person)
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200

    by_other = await client.post(f"{path}/mark-as-done", ben.person)
    by_manager = await client.post(f"{path}/mark-as-done", place.manager)
    by_holder = await client.post(f"{path}/mark-as-done", ana.person)
    again = await client.post(f"{path}/mark-as-done", ana.person)

    assert waiting_done.status_code == 403
    assert by_other.status_code == 403
    assert by_manager.status_code == 403
    assert by_holder.status_code == 200
    assert by_holder.json()["status"] == "done"
    assert by_holder.json()["done_at"] is not None
    assert again.status_code == 403
    assert (await member_row(client, ana.id)).ongoing_count == 0
    assert [(q.id, m) for q, m in hooks.named("query_done")] == [(opened["id"], ana.id)]


async def test_holder_transfers_and_the_query_keeps_its_place(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    target = await queue(client, place.company_id)
    ana = await agent(client, place.company_id)
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}"
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200
    note = {"query_id": opened["id"], "body": "Customer prefers email"}
    assert (await client.post("/api/query-notes", ana.person, json=note)).status_code == 201
    client.services.clock.advance(90)

    moved = await client.post(f"{path}/transfer", ana.person, json={"queue_id": target})

    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["status"], body["queue_id"], body["holder_company_user_id"]) == (
        "waiting",
        target,
        None,
    )
    assert body["created_at"] == opened["created_at"]
    assert (await member_row(client, ana.id)).ongoing_count == 0
    assert hooks.named("query_transferred") == [(opened["id"], ana.id)]
    stays = (await client.get(f"{path}/queues", place.manager)).json()
    assert [s["queue_id"] for s in stays] == [place.queue_id, target]
    assert stays[0]["left_at"] is not None and stays[1]["left_at"] is None
    assert stays[1]["entered_at"] > stays[0]["entered_at"]
    notes = await client.get("/api/query-notes", place.manager, params={"query_id": opened["id"]})
    assert [n["body"] for n in notes.json()] == ["Customer prefers email"]


async def test_waiting_query_transfer_needs_a_staffing_manager(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    target = await queue(client, place.company_id)
    ana = await agent(client, place.company_id, name="Ana")
    sam = await agent(client, place.company_id, name="Sam", role="staffing_manager")
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}/transfer"

    by_agent = await client.post(path, ana.person, json={"queue_id": target})
    by_staffing = await client.post(path, sam.person, json={"queue_id": target})

    assert by_agent.status_code == 403
    assert by_staffing.status_code == 200
    assert hooks.named("query_transferred") == [(opened["id"], None)]


async def test_transfer_target_must_be_a_live_queue_of_the_company(client: Client) -> None:
    place = await desk(client)
    other = await desk(client)
    inactive = await queue(client, place.company_id, is_active=False)
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}/transfer"

    for target in (inactive, other.queue_id, 999_999):
        moved = await client.post(path, place.manager, json={"queue_id": target})
        assert moved.status_code == 422, target
        assert "queue_id" in moved.json()["errors"]


async def test_transfer_to_the_queue_it_waits_on_is_a_422(client: Client) -> None:
    hooks = record_hooks(client)
    place = await desk(client)
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}"

    again = await client.post(f"{path}/transfer", place.manager, json={"queue_id": place.queue_id})

    assert again.status_code == 422
    assert again.json()["errors"]["queue_id"] == ["The query already waits on this queue."]
    assert hooks.named("query_transferred") == []
    stays = (await client.get(f"{path}/queues", place.manager)).json()
    assert len(stays) == 1 and stays[0]["left_at"] is None


async def test_holder_may_transfer_back_to_the_queue_it_came_from(client: Client) -> None:
    record_hooks(client)
    place = await desk(client)
    ana = await agent(client, place.company_id)
    opened = await open_query(client, place.queue_id)
    path = f"/api/queries/{opened['id']}"
    assert (await client.post(f"{path}/answer", ana.person)).status_code == 200

    back = await client.post(f"{path}/transfer", ana.person, json={"queue_id": place.queue_id})

    assert back.status_code == 200, back.text
    assert (back.json()["status"], back.json()["holder_company_user_id"]) == ("waiting", None)
    assert (await member_row(client, ana.id)).ongoing_count == 0


async def test_transfer_to_an_unavailable_persons_queue_is_forbidden(client: Client) -> None:
    place = await desk(client)
    away = await agent(client, place.company_id, available=False)
    opened = await open_query(client, place.queue_id)
    personal = await personal_queue_of(client, away.id)

    moved = await client.post(
        f"/api/queries/{opened['id']}/transfer", place.manager, json={"queue_id": personal}
    )

    assert moved.status_code == 403
    assert "not available" in moved.json()["message"]


async def test_agent_set_up_through_the_api_answers_and_finishes(client: Client) -> None:
    record_hooks(client)
    manager = await client.person("Maria")
    company = await client.company(manager)
    made = await client.post(
        "/api/skills", manager, json={"name": "French", "company_id": company["id"]}
    )
    assert made.status_code == 201, made.text
    french = made.json()["id"]
    made = await client.post(
        "/api/queues",
        manager,
        json={"name": "French", "company_id": company["id"], "skill_ids": [french]},
    )
    assert made.status_code == 201, made.text
    french_queue = made.json()["id"]
    person, member_out = await member(client, manager, company["id"])
    path = f"/api/company-users/{member_out['id']}"
    assert (
        await client.put(f"{path}/skills", manager, json={"skill_ids": [french]})
    ).status_code == 200
    went = await client.put(
        f"/api/company-user-states/{member_out['id']}", person, json={"is_available": True}
    )
    assert went.status_code == 200, went.text
    opened = await open_query(client, french_queue)

    answered = await client.post(f"/api/queries/{opened['id']}/answer", person)
    done = await client.post(f"/api/queries/{opened['id']}/mark-as-done", person)

    assert answered.status_code == 200, answered.text
    assert done.status_code == 200, done.text
    assert done.json()["holder_company_user_id"] == member_out["id"]

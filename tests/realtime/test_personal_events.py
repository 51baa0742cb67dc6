"""Personal events: the tutor hears of new bookings, both parties of every status change."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from tests.realtime.conftest import make_tutor, place_hold, slot_start

pytestmark = pytest.mark.xdist_group("live")


async def test_tutor_gets_booking_new_and_student_booking_updated_across_processes(
        live, api, live_client, make_students) -> None:
    tutor = await make_tutor(api)
    [student, bystander] = await make_students(2)
    tutor_conn = await live_client(live[0].url, token=tutor["token"])
    student_conn = await live_client(live[1].url, token=student["token"])
    other_conn = await live_client(live[0].url, token=bystander["token"])

    booking = await place_hold(live[1].url, student, tutor["id"], slot_start())

    await tutor_conn.wait_for(lambda c: bool(c.of("booking.new")) and bool(c.of("booking.updated")))
    await student_conn.wait_for(lambda c: bool(c.of("booking.updated")))
    [new] = tutor_conn.of("booking.new")
    assert new["booking"]["id"] == booking["id"]
    assert new["booking"]["status"] == "held"
    assert student_conn.of("booking.updated")[0]["booking"]["id"] == booking["id"]
    assert student_conn.of("booking.new") == []
    assert other_conn.events == []


async def test_both_parties_hear_a_release(live, api, live_client, make_students) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    tutor_conn = await live_client(live[1].url, token=tutor["token"])
    student_conn = await live_client(live[0].url, token=student["token"])
    booking = await place_hold(live[0].url, student, tutor["id"], slot_start())
    async with httpx.AsyncClient(base_url=live[1].url) as http:
        r = await http.delete(f"/api/v1/holds/{booking['id']}", headers=student["headers"])
        assert r.status_code == 204, r.text

    def released(c: object) -> bool:
        return any(e["booking"]["status"] == "released" for e in c.of("booking.updated"))  # type: ignore[attr-defined]

    await tutor_conn.wait_for(released)
    await student_conn.wait_for(released)
    assert [e["booking"]["status"] for e in student_conn.of("booking.updated")] == ["held", "released"]


async def test_notification_new_follows_each_stored_event_with_the_stored_notification(
        live, api, live_client, make_students) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    tutor_conn = await live_client(live[0].url, token=tutor["token"])
    booking = await place_hold(live[1].url, student, tutor["id"], slot_start())

    await tutor_conn.wait_for(lambda c: len(c.of("notification.new")) == 2)
    live_kinds = [n["notification"]["kind"] for n in tutor_conn.of("notification.new")]
    # Each notification.new comes right after the event it stores, with the same payload.
    names = [name for name, _ in tutor_conn.events if name != "slots.changed"]
    assert names == ["booking.updated", "notification.new", "booking.new", "notification.new"]
    async with httpx.AsyncClient(base_url=live[0].url) as http:
        r = await http.get("/api/v1/notifications", headers=tutor["headers"])
    assert r.status_code == 200, r.text
    stored = list(reversed(r.json()["items"]))  # oldest first, as they were sent
    assert [n["kind"] for n in stored] == live_kinds == ["booking.updated", "booking.new"]
    for pushed, kept in zip(tutor_conn.of("notification.new"), stored, strict=True):
        assert pushed["notification"]["id"] == kept["id"]
        assert pushed["notification"]["data"] == kept["data"]
        assert pushed["notification"]["data"]["booking"]["id"] == booking["id"]
        assert pushed["notification"]["read_at"] is None
        assert (datetime.fromisoformat(pushed["notification"]["created_at"])
                == datetime.fromisoformat(kept["created_at"]))

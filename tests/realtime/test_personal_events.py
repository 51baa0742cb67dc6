"""Personal events: the tutor hears of new bookings, both parties of every status change."""

from __future__ import annotations

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

"""The booking lifecycle: checkout, confirmation, cancellation policy, reschedule, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at


async def _confirmed(client: httpx.AsyncClient, student: dict, tutor_id: str, start: datetime,
                     minutes: int = 60) -> dict[str, Any]:
    held = (await hold(client, student, tutor_id, start, minutes)).json()
    r = await client.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200, r.text
    if r.json()["payment"]["provider"] == "test":
        r = await client.post("/api/v1/payments/test/confirm", headers=student["headers"],
                              json={"booking_id": held["id"]})
        assert r.status_code == 200, r.text
        return dict(r.json())
    return dict(r.json()["booking"])


async def test_free_lesson_confirms_on_checkout(client: httpx.AsyncClient, make_tutor: TutorFactory,
                                                make_students: StudentFactory) -> None:
    tutor = await make_tutor(rate=0)
    [student] = await make_students(1)
    held = (await hold(client, student, tutor["id"], next_day_at(10))).json()
    r = await client.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200
    assert r.json()["payment"]["provider"] == "free"
    assert r.json()["booking"]["status"] == "confirmed"
    assert r.json()["booking"]["expires_at"] is None


async def test_test_provider_checkout_then_confirm(client: httpx.AsyncClient, tutor: dict,
                                                   make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    held = (await hold(client, student, tutor["id"], next_day_at(10))).json()
    r = await client.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.json()["payment"]["provider"] == "test"
    assert r.json()["booking"]["status"] == "held"
    confirmed = await client.post("/api/v1/payments/test/confirm", headers=student["headers"],
                                  json={"booking_id": held["id"]})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"


async def test_checkout_of_a_lapsed_hold_is_409(client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool,
                                                make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    held = (await hold(client, student, tutor["id"], next_day_at(10))).json()
    await db.execute("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", held["id"])
    r = await client.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "hold_expired"


async def test_student_cancel_well_ahead_refunds_in_full(client: httpx.AsyncClient, tutor: dict,
                                                         make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking = await _confirmed(client, student, tutor["id"], next_day_at(10, days=3))
    r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"],
                          json={"reason": "exam moved"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled" and body["refund_cents"] == booking["price_cents"]
    assert body["cancelled_by"] == student["id"] and body["cancel_reason"] == "exam moved"


async def test_student_cancel_inside_24h_refunds_nothing(client: httpx.AsyncClient, tutor: dict,
                                                         make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    booking = await _confirmed(client, student, tutor["id"], soon)
    r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"], json={})
    assert r.json()["status"] == "cancelled" and r.json()["refund_cents"] == 0


async def test_rescheduling_inside_24h_does_not_reopen_the_full_refund(client: httpx.AsyncClient, tutor: dict,
                                                                       make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    booking = await _confirmed(client, student, tutor["id"], soon)
    r = await client.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=student["headers"],
                          json={"start": next_day_at(10, days=7).isoformat()})
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"], json={})
    assert r.json()["status"] == "cancelled" and r.json()["refund_cents"] == 0


async def test_rescheduling_earlier_brings_the_refund_deadline_forward(client: httpx.AsyncClient, tutor: dict,
                                                                      make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking = await _confirmed(client, student, tutor["id"], next_day_at(10, days=5))
    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    r = await client.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=student["headers"],
                          json={"start": soon.isoformat()})
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"], json={})
    assert r.json()["refund_cents"] == 0


async def test_rescheduling_well_ahead_keeps_the_full_refund(client: httpx.AsyncClient, tutor: dict,
                                                            make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking = await _confirmed(client, student, tutor["id"], next_day_at(10, days=3))
    r = await client.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=student["headers"],
                          json={"start": next_day_at(11, days=4).isoformat()})
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"], json={})
    assert r.json()["refund_cents"] == booking["price_cents"]


async def test_tutor_cancel_always_refunds_in_full(client: httpx.AsyncClient, tutor: dict,
                                                   make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    booking = await _confirmed(client, student, tutor["id"], soon)
    r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=tutor["headers"], json={})
    assert r.json()["refund_cents"] == booking["price_cents"] and r.json()["cancelled_by"] == tutor["id"]


async def test_cancelling_twice_is_409(client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking = await _confirmed(client, student, tutor["id"], next_day_at(10, days=3))
    await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"], json={})
    r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"], json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_cancellable"


async def test_illegal_transitions_are_409(client: httpx.AsyncClient, tutor: dict,
                                           make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking = await _confirmed(client, student, tutor["id"], next_day_at(10, days=3))
    released = await client.delete(f"/api/v1/holds/{booking['id']}", headers=student["headers"])
    assert released.status_code == 409
    checkout = await client.post(f"/api/v1/bookings/{booking['id']}/checkout", headers=student["headers"])
    assert checkout.status_code == 409
    held = (await hold(client, student, tutor["id"], next_day_at(12, days=3))).json()
    await client.delete(f"/api/v1/holds/{held['id']}", headers=student["headers"])
    r = await client.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"


async def test_database_refuses_an_illegal_transition(client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool,
                                                      make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    held = (await hold(client, student, tutor["id"], next_day_at(10))).json()
    await client.delete(f"/api/v1/holds/{held['id']}", headers=student["headers"])
    try:
        await db.execute("UPDATE bookings SET status = 'confirmed' WHERE id = $1", held["id"])
    except asyncpg.CheckViolationError:
        pass
    else:
        raise AssertionError("released -> confirmed was accepted by the database")


async def test_reschedule_moves_the_booking_and_frees_the_old_time(client: httpx.AsyncClient, tutor: dict,
                                                                    make_students: StudentFactory) -> None:
    a, b = await make_students(2)
    booking = await _confirmed(client, a, tutor["id"], next_day_at(10, days=3))
    new_start = next_day_at(15, days=3)
    r = await client.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=a["headers"],
                          json={"start": new_start.isoformat()})
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["start"]) == new_start
    assert (await hold(client, b, tutor["id"], next_day_at(10, days=3))).status_code == 201
    assert (await hold(client, b, tutor["id"], new_start)).status_code == 409


async def test_reschedule_into_a_taken_time_is_409_and_changes_nothing(client: httpx.AsyncClient, tutor: dict,
                                                                       make_students: StudentFactory) -> None:
    a, b = await make_students(2)
    booking = await _confirmed(client, a, tutor["id"], next_day_at(10, days=3))
    await hold(client, b, tutor["id"], next_day_at(12, days=3))
    r = await client.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=a["headers"],
                          json={"start": next_day_at(12, days=3).isoformat()})
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_unavailable"
    unchanged = (await client.get(f"/api/v1/bookings/{booking['id']}", headers=a["headers"])).json()
    assert unchanged["start"] == booking["start"]


async def test_other_users_cannot_see_or_change_a_booking(client: httpx.AsyncClient, tutor: dict,
                                                          make_tutor: TutorFactory,
                                                          make_students: StudentFactory) -> None:
    owner, stranger = await make_students(2)
    other_tutor = await make_tutor()
    booking = await _confirmed(client, owner, tutor["id"], next_day_at(10, days=3))
    for who in (stranger, other_tutor):
        assert (await client.get(f"/api/v1/bookings/{booking['id']}", headers=who["headers"])).status_code == 404
        r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=who["headers"], json={})
        assert r.status_code == 404
        listed = (await client.get("/api/v1/bookings", headers=who["headers"])).json()
        assert listed["items"] == []
    assert (await client.get(f"/api/v1/bookings/{booking['id']}", headers=tutor["headers"])).status_code == 200


async def test_bookings_list_filters_by_status_and_paginates(client: httpx.AsyncClient, tutor: dict,
                                                             make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    ids = [(await _confirmed(client, student, tutor["id"], next_day_at(h, days=3)))["id"] for h in (8, 9, 10, 11)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "confirmed", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/bookings", headers=student["headers"], params=params)).json()
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    bad = await client.get("/api/v1/bookings", headers=student["headers"], params={"cursor": "!!"})
    assert bad.status_code == 422


async def test_history_records_each_transition(client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool,
                                               make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking = await _confirmed(client, student, tutor["id"], next_day_at(10, days=3))
    await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"], json={})
    rows = await db.fetch("SELECT kind, from_status, to_status, actor_id::text FROM booking_events "
                          "WHERE booking_id = $1 ORDER BY id", booking["id"])
    assert [(r["kind"], r["from_status"], r["to_status"]) for r in rows] == [
        ("held", None, "held"), ("confirmed", "held", "confirmed"), ("cancelled", "confirmed", "cancelled")]
    assert all(r["actor_id"] == student["id"] for r in rows)


async def test_bookings_carry_both_parties_names(client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool,
                                                 make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    held = (await hold(client, student, tutor["id"], next_day_at(10))).json()
    assert held["student_name"] == "Student" and held["tutor_name"] == "Test Tutor"
    listed = (await client.get("/api/v1/bookings", headers=tutor["headers"])).json()["items"]
    assert [(b["student_name"], b["tutor_name"]) for b in listed] == [("Student", "Test Tutor")]
    new = await db.fetchval("SELECT payload FROM outbox WHERE event = 'booking.new' ORDER BY id DESC LIMIT 1")
    assert '"student_name": "Student"' in new

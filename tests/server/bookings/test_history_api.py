"""A booking's history (GET /bookings/{id}/events) and its cancellation quote
(GET /bookings/{id}/cancellation), for the booking's student and tutor only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at


async def _confirmed(client: httpx.AsyncClient, student: dict, tutor_id: str, start: datetime) -> dict[str, Any]:
    held = (await hold(client, student, tutor_id, start, 60)).json()
    r = await client.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/payments/test/confirm", headers=student["headers"], json={"booking_id": held["id"]})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_history_lists_each_change_for_both_parties(client: httpx.AsyncClient, tutor: dict,
                                                          make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking = await _confirmed(client, student, tutor["id"], next_day_at(10, days=3))
    moved = next_day_at(12, days=4)
    r = await client.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=tutor["headers"],
                          json={"start": moved.isoformat()})
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"],
                          json={"reason": "exam moved"})
    assert r.status_code == 200, r.text

    for who in (student, tutor):
        r = await client.get(f"/api/v1/bookings/{booking['id']}/events", headers=who["headers"])
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [(e["kind"], e["from_status"], e["to_status"]) for e in items] == [
            ("held", None, "held"), ("confirmed", "held", "confirmed"), ("rescheduled", "confirmed", "confirmed"),
            ("cancelled", "confirmed", "cancelled")]
        assert [e["by"] for e in items] == ["student", "student", "tutor", "student"]
        assert items[-1]["data"]["reason"] == "exam moved"
        assert items[-1]["data"]["refund_cents"] == booking["price_cents"]
        times = [datetime.fromisoformat(e["at"]) for e in items]
        assert times == sorted(times)


async def test_history_and_quote_are_404_for_anyone_else(client: httpx.AsyncClient, tutor: dict,
                                                         make_tutor: TutorFactory,
                                                         make_students: StudentFactory) -> None:
    owner, stranger = await make_students(2)
    other_tutor = await make_tutor()
    booking = await _confirmed(client, owner, tutor["id"], next_day_at(10, days=3))
    for who in (stranger, other_tutor):
        for path in ("events", "cancellation"):
            r = await client.get(f"/api/v1/bookings/{booking['id']}/{path}", headers=who["headers"])
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    assert (await client.get(f"/api/v1/bookings/{booking['id']}/events")).status_code == 401


async def test_cancellation_quote_follows_the_refund_policy(client: httpx.AsyncClient, tutor: dict,
                                                            make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    ahead = await _confirmed(client, student, tutor["id"], next_day_at(10, days=3))
    soon_start = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    soon = await _confirmed(client, student, tutor["id"], soon_start)

    q = (await client.get(f"/api/v1/bookings/{ahead['id']}/cancellation", headers=student["headers"])).json()
    assert q["cancellable"] and q["action"] == "cancel" and q["refund_cents"] == ahead["price_cents"]
    assert q["full_refund_hours"] == 24
    assert datetime.fromisoformat(q["full_refund_until"]) == datetime.fromisoformat(ahead["start"]) - timedelta(hours=24)

    q = (await client.get(f"/api/v1/bookings/{soon['id']}/cancellation", headers=student["headers"])).json()
    assert q["cancellable"] and q["refund_cents"] == 0
    # The tutor's cancellation always refunds in full.
    q = (await client.get(f"/api/v1/bookings/{soon['id']}/cancellation", headers=tutor["headers"])).json()
    assert q["refund_cents"] == soon["price_cents"] and q["full_refund_until"] is None
    # The quote is what cancelling does.
    r = await client.post(f"/api/v1/bookings/{soon['id']}/cancel", headers=student["headers"], json={})
    assert r.json()["refund_cents"] == 0
    q = (await client.get(f"/api/v1/bookings/{soon['id']}/cancellation", headers=student["headers"])).json()
    assert not q["cancellable"] and q["action"] is None

    held = (await hold(client, student, tutor["id"], next_day_at(15, days=5), 60)).json()
    q = (await client.get(f"/api/v1/bookings/{held['id']}/cancellation", headers=student["headers"])).json()
    assert q["cancellable"] and q["action"] == "release" and q["refund_cents"] == 0

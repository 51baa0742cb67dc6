"""Lesson packages: the tutor's offer, buying one, spending and returning credits, expiry."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from tasks.packages import remind_expiring_credits
from tests.fixtures.bookings import StudentFactory, TutorFactory, next_day_at
from tests.server.packages.support import buy, credits, held, offer, pay_with_credit

FIVE_HOURS = {"lessons": 5, "minutes": 60, "price_cents": 27000}


@pytest.fixture
async def package_tutor(client: httpx.AsyncClient, make_tutor: TutorFactory) -> dict[str, Any]:
    tutor = await make_tutor(lesson_minutes=[30, 60])
    r = await offer(client, tutor, FIVE_HOURS, {"lessons": 10, "minutes": 30, "price_cents": 25000})
    assert r.status_code == 200, r.text
    tutor["packages"] = {(p["lessons"], p["minutes"]): p for p in r.json()["items"]}
    return tutor


def _five(tutor: dict[str, Any]) -> str:
    return str(tutor["packages"][(5, 60)]["id"])


async def test_tutor_packages_are_listed_publicly_in_the_tutors_currency(client: httpx.AsyncClient,
                                                                         package_tutor: dict) -> None:
    r = await client.get(f"/api/v1/tutors/{package_tutor['id']}/packages")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(p["lessons"], p["minutes"], p["price_cents"], p["currency"]) for p in items] == [
        (10, 30, 25000, "USD"), (5, 60, 27000, "USD")]
    assert r.json()["next_cursor"] is None


async def test_resaving_keeps_unchanged_ids_and_stops_selling_the_rest(client: httpx.AsyncClient,
                                                                       package_tutor: dict) -> None:
    r = await offer(client, package_tutor, FIVE_HOURS, {"lessons": 3, "minutes": 30, "price_cents": 8000})
    assert r.status_code == 200, r.text
    ids = {(p["lessons"], p["minutes"]): p["id"] for p in r.json()["items"]}
    assert ids.keys() == {(5, 60), (3, 30)} and ids[(5, 60)] == _five(package_tutor)
    gone = package_tutor["packages"][(10, 30)]["id"]
    [student_headers] = [package_tutor["headers"]]
    assert (await client.delete(f"/api/v1/tutors/me/packages/{gone}", headers=student_headers)).status_code == 404
    assert (await client.delete(f"/api/v1/tutors/me/packages/{ids[(3, 30)]}",
                                headers=package_tutor["headers"])).status_code == 204
    public = (await client.get(f"/api/v1/tutors/{package_tutor['id']}/packages")).json()["items"]
    assert [p["id"] for p in public] == [ids[(5, 60)]]
    assert (await offer(client, package_tutor)).json()["items"] == []


@pytest.mark.parametrize("package", [
    {"lessons": 5, "minutes": 45, "price_cents": 20000},  # not one of the tutor's lesson lengths
    {"lessons": 5, "minutes": 60, "price_cents": 20},  # under the minimum charge
    {"lessons": 1, "minutes": 60, "price_cents": 20000},
    {"lessons": 51, "minutes": 60, "price_cents": 20000},
    {"lessons": "5", "minutes": 60, "price_cents": 20000},
    {"lessons": 5, "minutes": 60, "price_cents": 2**31},
    {"lessons": 5, "minutes": 60},
    {"lessons": 5, "minutes": 60, "price_cents": 20000, "currency": "EUR"},
])
async def test_bad_packages_are_422(client: httpx.AsyncClient, package_tutor: dict, package: dict) -> None:
    r = await offer(client, package_tutor, package)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text


async def test_duplicate_packages_and_too_many_are_422(client: httpx.AsyncClient, package_tutor: dict) -> None:
    assert (await offer(client, package_tutor, FIVE_HOURS, FIVE_HOURS)).status_code == 422
    many = [{"lessons": n, "minutes": 60, "price_cents": 5000 * n} for n in range(2, 14)]
    assert (await offer(client, package_tutor, *many)).status_code == 422


async def test_unknown_tutor_and_package_are_404(client: httpx.AsyncClient, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    assert (await client.get(f"/api/v1/tutors/{uuid.uuid4()}/packages")).json()["error"]["code"] == "not_found"
    r = await client.post(f"/api/v1/packages/{uuid.uuid4()}/checkout", headers=student["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "package_not_found"
    r = await client.post("/api/v1/payments/test/confirm-purchase", headers=student["headers"],
                          json={"purchase_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["error"]["code"] == "purchase_not_found"


async def test_only_students_buy_and_only_tutors_edit(client: httpx.AsyncClient, package_tutor: dict,
                                                      make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await client.post(f"/api/v1/packages/{_five(package_tutor)}/checkout", headers=package_tutor["headers"])
    assert r.status_code == 403
    r = await client.put("/api/v1/tutors/me/packages", headers=student["headers"], json={"packages": []})
    assert r.status_code == 403


async def test_buying_grants_the_credits_once(client: httpx.AsyncClient, package_tutor: dict,
                                              make_students: StudentFactory, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    before = datetime.now(UTC)
    purchase = await buy(client, student, _five(package_tutor))
    assert purchase["status"] == "paid" and purchase["remaining"] == 5
    expires = datetime.fromisoformat(purchase["expires_at"])
    # CREDIT_EXPIRY_MONTHS (12) after the payment.
    assert timedelta(days=364) < expires - before < timedelta(days=367)
    again = await client.post("/api/v1/payments/test/confirm-purchase", headers=student["headers"],
                              json={"purchase_id": purchase["id"]})
    assert again.status_code == 200 and again.json()["remaining"] == 5
    [credit] = await credits(client, student)
    assert credit == {"purchase_id": purchase["id"], "tutor_id": package_tutor["id"], "tutor_name": credit["tutor_name"],
                      "minutes": 60, "lessons": 5, "remaining": 5, "expires_at": credit["expires_at"]}
    events = await db.fetch("SELECT payload FROM outbox WHERE event = 'credits.updated' AND room = $1",
                            f"user:{student['id']}")
    assert len(events) == 1 and json.loads(events[0]["payload"])["purchase"]["remaining"] == 5


async def test_a_held_booking_is_confirmed_with_a_credit(client: httpx.AsyncClient, package_tutor: dict,
                                                         make_students: StudentFactory, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    purchase = await buy(client, student, _five(package_tutor))
    booking = await held(client, student, package_tutor["id"], next_day_at(10))
    r = await pay_with_credit(client, student, booking["id"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["payment"]["provider"] == "credit"
    assert out["booking"]["status"] == "confirmed" and out["booking"]["payment_status"] == "credit"
    assert out["booking"]["paid_with_credit"] is True
    [credit] = await credits(client, student)
    assert credit["remaining"] == 4
    row = await db.fetchrow("SELECT credit_purchase_id, payment_provider FROM bookings WHERE id = $1",
                            uuid.UUID(booking["id"]))
    assert str(row["credit_purchase_id"]) == purchase["id"] and row["payment_provider"] == "credit"
    # Confirmed once: a second spend on the same booking is refused, the balance untouched.
    again = await pay_with_credit(client, student, booking["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    assert (await credits(client, student))[0]["remaining"] == 4


@pytest.mark.parametrize("case", ["other_length", "other_tutor", "none_bought", "expired", "unpaid"])
async def test_no_matching_credit_is_409_no_credit(client: httpx.AsyncClient, package_tutor: dict,
                                                   make_tutor: TutorFactory, make_students: StudentFactory,
                                                   db: asyncpg.Pool, case: str) -> None:
    [student] = await make_students(1)
    tutor_id, minutes = package_tutor["id"], 60
    if case == "unpaid":
        r = await client.post(f"/api/v1/packages/{_five(package_tutor)}/checkout", headers=student["headers"])
        assert r.status_code == 201
    elif case != "none_bought":
        purchase = await buy(client, student, _five(package_tutor))
        if case == "other_length":
            minutes = 30
        elif case == "other_tutor":
            tutor_id = (await make_tutor())["id"]
        else:
            await db.execute("UPDATE package_purchases SET expires_at = now() - interval '1 second' WHERE id = $1",
                             uuid.UUID(purchase["id"]))
    booking = await held(client, student, tutor_id, next_day_at(10), minutes=minutes)
    r = await pay_with_credit(client, student, booking["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_credit", r.text
    after = (await client.get(f"/api/v1/bookings/{booking['id']}", headers=student["headers"])).json()
    assert after["status"] == "held" and after["payment_status"] is None


async def test_two_concurrent_checkouts_for_the_last_credit_confirm_exactly_one(
        client: httpx.AsyncClient, package_tutor: dict, make_students: StudentFactory, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    purchase = await buy(client, student, _five(package_tutor))
    await db.execute("UPDATE package_purchases SET remaining = 1 WHERE id = $1", uuid.UUID(purchase["id"]))
    for round_ in range(3):
        if round_:
            await db.execute("UPDATE package_purchases SET remaining = 1 WHERE id = $1", uuid.UUID(purchase["id"]))
        bookings = [await held(client, student, package_tutor["id"], next_day_at(8 + 4 * round_ + i, days=3))
                    for i in range(2)]
        responses = await asyncio.gather(*(pay_with_credit(client, student, b["id"]) for b in bookings))
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        assert [r.json()["error"]["code"] for r in responses if r.status_code == 409] == ["no_credit"]
        assert await db.fetchval("SELECT remaining FROM package_purchases WHERE id = $1",
                                 uuid.UUID(purchase["id"])) == 0
        statuses = {b["id"]: (await client.get(f"/api/v1/bookings/{b['id']}", headers=student["headers"])).json()
                    ["status"] for b in bookings}
        assert sorted(statuses.values()) == ["confirmed", "held"]
        for b in bookings:  # release the loser so the hold limit leaves room for the next round
            if statuses[b["id"]] == "held":
                await client.delete(f"/api/v1/holds/{b['id']}", headers=student["headers"])


async def test_the_database_serializes_spends_of_the_last_credit(
        client: httpx.AsyncClient, package_tutor: dict, make_students: StudentFactory, database_url: str,
        db: asyncpg.Pool) -> None:
    """Two connections run the spend's conditional UPDATE at once: the second waits for the
    first and, once it commits, finds no credit left; nor can any statement go below zero."""
    [student] = await make_students(1)
    purchase = await buy(client, student, _five(package_tutor))
    pid = uuid.UUID(purchase["id"])
    await db.execute("UPDATE package_purchases SET remaining = 1 WHERE id = $1", pid)
    spend = ("UPDATE package_purchases p SET remaining = p.remaining - 1 WHERE p.id = $1 AND p.status = 'paid' "
             "AND p.remaining > 0 AND p.expires_at > now() RETURNING 1")
    async with db.acquire() as first, db.acquire() as second:
        one, two = first.transaction(), second.transaction()
        await one.start()
        await two.start()
        assert await first.fetchval(spend, pid) == 1
        waiting = asyncio.create_task(second.fetchval(spend, pid))
        await asyncio.sleep(0)
        assert not waiting.done()
        await one.commit()
        assert await asyncio.wait_for(waiting, timeout=30) is None
        await two.rollback()
    with pytest.raises(asyncpg.CheckViolationError, match="remaining_within_lessons"):
        await db.execute("UPDATE package_purchases SET remaining = remaining - 1 WHERE id = $1", pid)


async def test_cancelling_within_the_policy_returns_the_credit_once(
        client: httpx.AsyncClient, package_tutor: dict, make_students: StudentFactory, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    await buy(client, student, _five(package_tutor))
    booking = await held(client, student, package_tutor["id"], next_day_at(10))
    assert (await pay_with_credit(client, student, booking["id"])).status_code == 200
    quote = (await client.get(f"/api/v1/bookings/{booking['id']}/cancellation", headers=student["headers"])).json()
    assert quote["credit_returned"] is True and quote["refund_cents"] == 0
    cancels = await asyncio.gather(*(client.post(f"/api/v1/bookings/{booking['id']}/cancel",
                                                 headers=student["headers"], json={}) for _ in range(3)))
    assert sorted(r.status_code for r in cancels) == [200, 409, 409]
    [ok] = [r.json() for r in cancels if r.status_code == 200]
    assert ok["status"] == "cancelled" and ok["refund_cents"] == 0
    assert (await credits(client, student))[0]["remaining"] == 5
    assert await db.fetchval("SELECT count(*) FROM credit_movements WHERE booking_id = $1 AND kind = 'return'",
                             uuid.UUID(booking["id"])) == 1
    data = json.loads(await db.fetchval("SELECT data FROM booking_events WHERE booking_id = $1 AND kind = 'cancelled'",
                                        uuid.UUID(booking["id"])))
    assert data["credit_returned"] is True


async def test_late_student_cancellation_keeps_the_credit_spent_but_the_tutors_returns_it(
        client: httpx.AsyncClient, package_tutor: dict, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    await buy(client, student, _five(package_tutor))
    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    late, by_tutor = [await held(client, student, package_tutor["id"], soon + timedelta(hours=i)) for i in range(2)]
    for b in (late, by_tutor):
        assert (await pay_with_credit(client, student, b["id"])).status_code == 200
    assert (await credits(client, student))[0]["remaining"] == 3
    quote = (await client.get(f"/api/v1/bookings/{late['id']}/cancellation", headers=student["headers"])).json()
    assert quote["credit_returned"] is False
    r = await client.post(f"/api/v1/bookings/{late['id']}/cancel", headers=student["headers"], json={})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await credits(client, student))[0]["remaining"] == 3
    r = await client.post(f"/api/v1/bookings/{by_tutor['id']}/cancel", headers=package_tutor["headers"], json={})
    assert r.status_code == 200
    assert (await credits(client, student))[0]["remaining"] == 4


async def test_deactivated_package_is_not_sold_but_its_credits_stay(
        client: httpx.AsyncClient, package_tutor: dict, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    await buy(client, student, _five(package_tutor))
    assert (await client.delete(f"/api/v1/tutors/me/packages/{_five(package_tutor)}",
                                headers=package_tutor["headers"])).status_code == 204
    r = await client.post(f"/api/v1/packages/{_five(package_tutor)}/checkout", headers=student["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "package_not_found"
    booking = await held(client, student, package_tutor["id"], next_day_at(10))
    assert (await pay_with_credit(client, student, booking["id"])).status_code == 200


async def test_trial_bookings_cannot_use_a_credit(client: httpx.AsyncClient, package_tutor: dict,
                                                  make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await client.put("/api/v1/tutors/me", headers=package_tutor["headers"], json={
        "headline": "Patient maths tutor", "bio": "Ten years of teaching.", "subjects": ["mathematics"],
        "hourly_rate_cents": 6000, "currency": "USD", "timezone": "UTC", "lesson_minutes": [30, 60],
        "min_notice_minutes": 0, "buffer_minutes": 0, "max_advance_days": 60,
        "trial": {"minutes": 60, "price_cents": 1000}})
    assert r.status_code == 200, r.text
    await buy(client, student, _five(package_tutor))
    r = await client.post("/api/v1/holds", headers=student["headers"], json={
        "tutor_id": package_tutor["id"], "start": next_day_at(10).isoformat(), "minutes": 60, "trial": True})
    assert r.status_code == 201, r.text
    r = await pay_with_credit(client, student, r.json()["id"])
    assert r.status_code == 409 and r.json()["error"]["details"]["reason"] == "trial"


async def test_expiring_credits_are_reminded_once(client: httpx.AsyncClient, app: Starlette, package_tutor: dict,
                                                  make_students: StudentFactory, db: asyncpg.Pool) -> None:
    [soon, later] = await make_students(2)
    soon_purchase = await buy(client, soon, _five(package_tutor))
    await buy(client, later, _five(package_tutor))
    await db.execute("UPDATE package_purchases SET expires_at = now() + interval '5 days' WHERE id = $1",
                     uuid.UUID(soon_purchase["id"]))
    sessionmaker, settings = app.state.sessionmaker, app.state.settings
    assert await remind_expiring_credits(sessionmaker, settings, datetime.now(UTC)) == 1
    assert await remind_expiring_credits(sessionmaker, settings, datetime.now(UTC)) == 0
    rows = await db.fetch("SELECT room, payload FROM outbox WHERE event = 'credits.expiring'")
    assert [r["room"] for r in rows] == [f"user:{soon['id']}"]
    payload = json.loads(rows[0]["payload"])
    assert payload["purchase_id"] == soon_purchase["id"] and payload["remaining"] == 5
    # Expiry is a query condition: once past, the credits are simply gone from the list.
    await db.execute("UPDATE package_purchases SET expires_at = now() - interval '1 second' WHERE id = $1",
                     uuid.UUID(soon_purchase["id"]))
    assert await credits(client, soon) == []


async def test_checkout_body_is_validated(client: httpx.AsyncClient, package_tutor: dict,
                                          make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking = await held(client, student, package_tutor["id"], next_day_at(10))
    for body in ({"use_credit": "yes"}, {"use_credit": True, "extra": 1}, [1]):
        r = await client.post(f"/api/v1/bookings/{booking['id']}/checkout", headers=student["headers"], json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    r = await client.get("/api/v1/me/credits?tutor_id=nope", headers=student["headers"])
    assert r.status_code == 422

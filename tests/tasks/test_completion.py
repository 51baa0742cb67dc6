"""``bookings.complete_finished``: confirmed lessons that have ended become ``completed``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from starlette.applications import Starlette

from tasks.bookings import complete_finished_bookings
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at


async def _book(client: httpx.AsyncClient, student: dict, tutor_id: str, start: datetime) -> str:
    r = await hold(client, student, tutor_id, start)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/bookings/{r.json()['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200 and r.json()["booking"]["status"] == "confirmed", r.text
    return str(r.json()["booking"]["id"])


async def _move_to_past(db: asyncpg.Pool, booking_id: str, ended_ago: timedelta) -> None:
    end = datetime.now(UTC) - ended_ago
    await db.execute("UPDATE bookings SET start_at = $2, end_at = $3, guarded = tstzrange($2, $3, '[)') "
                     "WHERE id = $1", booking_id, end - timedelta(hours=1), end)


async def test_ended_confirmed_booking_is_completed_once_and_both_parties_told(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    tutor = await make_tutor(rate=0)
    [student] = await make_students(1)
    ended = await _book(client, student, tutor["id"], next_day_at(10))
    upcoming = await _book(client, student, tutor["id"], next_day_at(12))
    await _move_to_past(db, ended, timedelta(minutes=5))

    assert await complete_finished_bookings(app.state.sessionmaker, datetime.now(UTC)) == 1
    assert await complete_finished_bookings(app.state.sessionmaker, datetime.now(UTC)) == 0

    statuses = dict(await db.fetch("SELECT id::text, status FROM bookings"))
    assert statuses == {ended: "completed", upcoming: "confirmed"}
    assert await db.fetchval("SELECT count(*) FROM booking_events WHERE booking_id = $1 AND kind = 'completed'",
                             ended) == 1
    rooms = await db.fetch("SELECT room FROM outbox WHERE event = 'booking.updated' "
                           "AND payload->'booking'->>'status' = 'completed'")
    assert sorted(r["room"] for r in rooms) == sorted([f"user:{student['id']}", f"user:{tutor['id']}"])


async def test_sweeps_go_on_past_bookings_of_a_tutor_who_left(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    """A tutor unlisted after being booked: their ended lesson still completes and their
    lapsed hold still expires, and the sweeps reach the other tutors' bookings behind them."""
    from tasks.bookings import expire_lapsed_holds

    gone, staying = await make_tutor(rate=0), await make_tutor(rate=0)
    [student] = await make_students(1)
    ended = [await _book(client, student, t["id"], next_day_at(10)) for t in (gone, staying)]
    for booking_id in ended:
        await _move_to_past(db, booking_id, timedelta(minutes=5))
    held = []
    for t in (gone, staying):
        r = await hold(client, student, t["id"], next_day_at(14))
        assert r.status_code == 201, r.text
        held.append(r.json()["id"])
    await db.execute("UPDATE bookings SET expires_at = now() - interval '1 minute' WHERE id = ANY($1::uuid[])", held)
    await db.execute("UPDATE tutor_profiles SET is_active = false WHERE user_id = $1::uuid", gone["id"])

    assert await complete_finished_bookings(app.state.sessionmaker, datetime.now(UTC)) == 2
    assert await expire_lapsed_holds(app.state.sessionmaker, app.state.settings, datetime.now(UTC)) == 2
    statuses = {r["id"]: r["status"] for r in await db.fetch(
        "SELECT id::text, status::text FROM bookings WHERE id = ANY($1::uuid[])", ended + held)}
    assert statuses == {**dict.fromkeys(ended, "completed"), **dict.fromkeys(held, "expired")}

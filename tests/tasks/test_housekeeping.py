"""``housekeeping.purge``: old idempotency keys, published outbox rows and lapsed holds go."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from starlette.applications import Starlette

from server.settings import Settings
from tasks.housekeeping import purge
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at

LONG_AGO = timedelta(days=90)


async def _lapsed_hold(client: httpx.AsyncClient, db: asyncpg.Pool, student: dict, tutor_id: str,
                       hour: int, age: timedelta, **columns: str) -> str:
    r = await hold(client, student, tutor_id, next_day_at(hour))
    assert r.status_code == 201, r.text
    booking_id = str(r.json()["id"])
    await db.execute("UPDATE bookings SET status = 'expired' WHERE id = $1", booking_id)
    for column, value in columns.items():
        await db.execute(f"UPDATE bookings SET {column} = $2 WHERE id = $1", booking_id, value)
    await db.execute("UPDATE bookings SET updated_at = now() - $2::interval WHERE id = $1", booking_id, age)
    return booking_id


async def test_purge_deletes_only_what_is_past_its_retention(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, settings: Settings,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [student] = await make_students(1)
    old_hold = await _lapsed_hold(client, db, student, tutor["id"], 9, LONG_AGO)
    paid_hold = await _lapsed_hold(client, db, student, tutor["id"], 11, LONG_AGO, payment_status="refund_pending")
    recent_hold = await _lapsed_hold(client, db, student, tutor["id"], 13, timedelta(days=1))
    user = uuid.UUID(student["id"])
    await db.executemany(
        "INSERT INTO idempotency_keys (user_id, key, endpoint, request_hash, created_at) "
        "VALUES ($1, $2, 'POST /holds', 'h', now() - $3::interval)",
        [(user, "old", timedelta(seconds=settings.idempotency_ttl_seconds + 60)), (user, "fresh", timedelta(0))])
    history = timedelta(seconds=settings.live_history_seconds)
    await db.executemany(
        "INSERT INTO outbox (event, room, payload, published_at) VALUES ($1, 'user:x', '{}', now() - $2::interval)",
        [("old.published", history * 2), ("fresh.published", history / 2)])
    await db.execute("INSERT INTO outbox (event, room, payload, created_at) "
                     "VALUES ('old.unpublished', 'user:x', '{}', now() - interval '30 days')")

    deleted = await purge(app.state.sessionmaker, settings, datetime.now(UTC))

    assert deleted["lapsed_holds"] == 1 and deleted["idempotency_keys"] == 1
    remaining = {r["id"] for r in await db.fetch("SELECT id::text FROM bookings")}
    assert old_hold not in remaining and {paid_hold, recent_hold} <= remaining
    assert [r["key"] for r in await db.fetch("SELECT key FROM idempotency_keys")] == ["fresh"]
    events = {r["event"] for r in await db.fetch("SELECT event FROM outbox")}
    assert {"fresh.published", "old.unpublished"} <= events and "old.published" not in events
    assert await purge(app.state.sessionmaker, settings, datetime.now(UTC)) == {
        "idempotency_keys": 0, "outbox": 0, "lapsed_holds": 0, "deleted_uploads": 0, "notifications": 0}


async def test_a_purged_hold_marks_its_files_for_the_uploads_sweep(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, settings: Settings,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [student] = await make_students(1)
    old_hold = await _lapsed_hold(client, db, student, tutor["id"], 9, LONG_AGO)
    # Uploaded before materials needed a confirmed booking: the hold's file must not outlive it.
    await db.execute(
        "INSERT INTO uploads (id, key, kind, owner_id, booking_id, name, content_type, size, state, expires_at) "
        "VALUES (gen_random_uuid(), $1, 'material', $2, $3, 'a.pdf', 'application/pdf', 10, 'stored', now())",
        f"bookings/{old_hold}/x/a.pdf", uuid.UUID(student["id"]), uuid.UUID(old_hold))

    assert (await purge(app.state.sessionmaker, settings, datetime.now(UTC)))["lapsed_holds"] == 1

    row = await db.fetchrow("SELECT state, booking_id FROM uploads")
    assert row is not None and (row["state"], row["booking_id"]) == ("deleting", None)

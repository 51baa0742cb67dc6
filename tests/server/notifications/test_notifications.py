"""The notification center: every personal live event of a listed kind is stored for its
recipient by the statement that records the event, listed newest first, marked read."""

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

from models.notification import NotificationKind
from server.settings import Settings
from tasks.housekeeping import purge
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at


async def _notifications(client: httpx.AsyncClient, user: dict[str, Any], **params: str) -> dict[str, Any]:
    r = await client.get("/api/v1/notifications", headers=user["headers"], params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_hold_is_stored_for_both_parties_exactly_as_it_is_sent(
        client: httpx.AsyncClient, db: asyncpg.Pool, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [student] = await make_students(1)
    r = await hold(client, student, tutor["id"], next_day_at(10))
    assert r.status_code == 201, r.text
    booking_id = r.json()["id"]

    mine = await _notifications(client, tutor)
    assert [n["kind"] for n in mine["items"]] == ["booking.new", "booking.updated"]  # newest first
    assert mine["unread_count"] == 2 and mine["next_cursor"] is None
    assert all(n["read_at"] is None and n["data"]["booking"]["id"] == booking_id for n in mine["items"])
    theirs = await _notifications(client, student)
    assert [n["kind"] for n in theirs["items"]] == ["booking.updated"]

    # The stored data is the live event's payload, and the outbox row points at its notification.
    rows = await db.fetch("SELECT notification_id, payload::text AS payload FROM outbox "
                          "WHERE room = $1 AND event = 'booking.new'", f"user:{tutor['id']}")
    assert len(rows) == 1 and str(rows[0]["notification_id"]) == mine["items"][0]["id"]
    assert json.loads(rows[0]["payload"]) == mine["items"][0]["data"]
    # Events that are not personal, or not listed, are not stored.
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE event = 'slots.changed' "
                             "AND notification_id IS NOT NULL") == 0


async def test_marking_read_by_ids_and_all_touches_only_your_own(
        client: httpx.AsyncClient, db: asyncpg.Pool, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [student, other] = await make_students(2)
    for hour in (9, 11, 13):
        assert (await hold(client, student, tutor["id"], next_day_at(hour))).status_code == 201
    items = (await _notifications(client, tutor))["items"]
    assert len(items) == 6
    student_item = (await _notifications(client, student))["items"][0]

    r = await client.post("/api/v1/notifications/read", headers=tutor["headers"],
                          json={"ids": [items[0]["id"], items[1]["id"], student_item["id"], str(uuid.uuid4())]})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["marked"]) == sorted([items[0]["id"], items[1]["id"]]) and r.json()["unread_count"] == 4
    # Someone else's notification was not touched; marking again marks nothing.
    assert (await _notifications(client, student))["unread_count"] == 3
    again = await client.post("/api/v1/notifications/read", headers=tutor["headers"], json={"ids": [items[0]["id"]]})
    assert again.json() == {"marked": [], "unread_count": 4}
    unread = await _notifications(client, tutor, unread="true")
    assert [n["id"] for n in unread["items"]] == [n["id"] for n in items[2:]]

    r = await client.post("/api/v1/notifications/read", headers=tutor["headers"], json={"all": True})
    assert r.status_code == 200 and len(r.json()["marked"]) == 4 and r.json()["unread_count"] == 0
    after = await _notifications(client, tutor)
    assert all(n["read_at"] is not None for n in after["items"]) and after["unread_count"] == 0
    # The tutor's other tabs are told (not stored as a notification itself).
    told = await db.fetch("SELECT payload FROM outbox WHERE event = 'notifications.read' AND room = $1 ORDER BY id",
                          f"user:{tutor['id']}")
    assert [json.loads(r["payload"])["unread_count"] for r in told] == [4, 0]
    assert (await _notifications(client, other))["items"] == []


async def test_pages_follow_the_cursor_newest_first(
        client: httpx.AsyncClient, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    students = await make_students(2)
    for i, hour in enumerate((8, 10, 12, 14)):
        assert (await hold(client, students[i % 2], tutor["id"], next_day_at(hour))).status_code == 201
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await _notifications(client, tutor, limit="3", **({"cursor": cursor} if cursor else {}))
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = (await _notifications(client, tutor, limit="100"))["items"]
    assert seen == [n["id"] for n in everything] and len(seen) == 8
    stamps = [n["created_at"] for n in everything]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("body", [{}, {"all": False}, {"ids": []}, {"ids": ["nope"]}, {"ids": [], "all": True},
                                  {"ids": [str(uuid.uuid4())], "all": True}, {"all": "yes"}, {"extra": 1},
                                  {"ids": [str(uuid.uuid4()) for _ in range(201)]}])
async def test_bad_mark_read_bodies_are_422(client: httpx.AsyncClient, make_students: StudentFactory,
                                            body: dict[str, Any]) -> None:
    [student] = await make_students(1)
    r = await client.post("/api/v1/notifications/read", headers=student["headers"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_request"


async def test_bad_queries_are_422_and_anonymous_is_401(client: httpx.AsyncClient,
                                                         make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    for params in ({"cursor": "%%%"}, {"limit": "0"}, {"limit": "101"}, {"unread": "maybe"}, {"other": "1"}):
        r = await client.get("/api/v1/notifications", headers=student["headers"], params=params)
        assert r.status_code == 422, (params, r.text)
    assert (await client.get("/api/v1/notifications")).status_code == 401
    assert (await client.post("/api/v1/notifications/read", json={"all": True})).status_code in (401, 403)


async def test_concurrent_holds_store_one_notification_per_event(
        client: httpx.AsyncClient, db: asyncpg.Pool, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    students = await make_students(12)
    # Every student races for one of three slots: exactly three win, and each winner's events
    # (and nothing of the losers') are stored, once.
    starts = [next_day_at(h) for h in (9, 12, 15)]
    replies = await asyncio.gather(*(hold(client, s, tutor["id"], starts[i % 3]) for i, s in enumerate(students)))
    won = [r.json()["id"] for r in replies if r.status_code == 201]
    assert len(won) == 3 and sorted(r.status_code for r in replies) == [201] * 3 + [409] * 9
    items = (await _notifications(client, tutor, limit="100"))["items"]
    assert sorted((n["kind"], n["data"]["booking"]["id"]) for n in items) == sorted(
        [(k, b) for b in won for k in ("booking.new", "booking.updated")])
    stored = await db.fetchval("SELECT count(*) FROM notifications WHERE user_id = ANY($1::uuid[])",
                               [uuid.UUID(s["id"]) for s in students])
    assert stored == 3
    # Every stored notification has its outbox row, and the other way round.
    assert await db.fetchval("SELECT count(*) FROM notifications n WHERE n.user_id = $1 AND NOT EXISTS "
                             "(SELECT 1 FROM outbox o WHERE o.notification_id = n.id)", uuid.UUID(tutor["id"])) == 0


async def test_a_rolled_back_event_stores_nothing_and_the_trigger_lists_every_kind(
        db: asyncpg.Pool, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO outbox (event, room, payload) VALUES ('review.new', $1, '{}')",
                           f"user:{student['id']}")
        assert await conn.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1",
                                   uuid.UUID(student["id"])) == 1
        await tx.rollback()
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", uuid.UUID(student["id"])) == 0
    # A recipient who no longer exists does not fail the change.
    await db.execute("INSERT INTO outbox (event, room, payload) VALUES ('review.new', $1, '{}')",
                     f"user:{uuid.uuid4()}")
    definition = await db.fetchval("SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                                   "WHERE tgname = 'outbox_store_notification'")
    listed = {k for k in NotificationKind if f"'{k.value}'" in definition}
    assert listed == set(NotificationKind)


async def test_housekeeping_deletes_notifications_past_their_retention(
        app: Starlette, db: asyncpg.Pool, settings: Settings, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    uid = uuid.UUID(student["id"])
    now = datetime.now(UTC)
    old = now - timedelta(days=settings.notification_retention_days, hours=1)
    await db.executemany("INSERT INTO notifications (id, user_id, kind, data, created_at) "
                         "VALUES ($1, $2, 'review.new', '{}', $3)",
                         [(uuid.uuid4(), uid, old), (uuid.uuid4(), uid, now)])
    deleted = await purge(app.state.sessionmaker, settings, now)
    assert deleted["notifications"] >= 1
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", uid) == 1

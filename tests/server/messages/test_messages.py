"""Messages between students and tutors through the HTTP API: who may write to whom, the
conversation list with unread counts, pages, read markers, limits, and the live events and
notifications each message records."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx

from server.settings import Settings
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at
from tests.server.messages.support import conversations, make_user, read, send, thread


async def test_a_student_writes_to_a_tutor_and_both_see_the_conversation(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student = await make_user(db, settings, "student", "Sam Student")
    tutor = await make_user(db, settings, "tutor", "Tess Tutor")
    r = await send(client, student, tutor, "  Hello, can you help with calculus?  ")
    assert r.status_code == 201, r.text
    message = r.json()
    assert set(message) >= {"id", "conversation_id", "from_user_id", "to_user_id", "body", "sent_at"}
    assert message["from_user_id"] == student["id"] and message["to_user_id"] == tutor["id"]
    assert message["body"] == "Hello, can you help with calculus?"
    assert message["from_name"] == "Sam Student"  # what message.new carries too (the notification's title)

    theirs = await conversations(client, tutor)
    assert theirs["next_cursor"] is None and theirs["unread_total"] == 1
    [item] = theirs["items"]
    assert item["id"] == message["conversation_id"] and item["unread"] == 1
    assert item["other_user"] == {"id": student["id"], "name": "Sam Student", "role": "student"}
    assert item["last_message"] == {**message, "from_name": None}  # the conversation names its users
    mine = await conversations(client, student)
    assert mine["items"][0]["unread"] == 0 and mine["unread_total"] == 0
    assert mine["items"][0]["other_user"]["role"] == "tutor"


async def test_message_new_goes_to_the_recipient_and_the_senders_other_tabs_but_notifies_only_the_recipient(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student = await make_user(db, settings, "student")
    tutor = await make_user(db, settings, "tutor")
    message = (await send(client, student, tutor)).json()
    rows = await db.fetch("SELECT room, payload::text AS payload, notification_id FROM outbox "
                          "WHERE event = 'message.new' ORDER BY id")
    assert [r["room"] for r in rows] == [f"user:{tutor['id']}", f"user:{student['id']}"]
    assert all(json.loads(r["payload"]) == {"message": message} for r in rows)
    # The recipient's copy is stored as a notification; the sender's own copy is not.
    assert rows[0]["notification_id"] is not None and rows[1]["notification_id"] is None
    r = await client.get("/api/v1/notifications", headers=tutor["headers"])
    assert [n["kind"] for n in r.json()["items"]] == ["message.new"]
    r = await client.get("/api/v1/notifications", headers=student["headers"])
    assert r.json()["items"] == []


async def test_a_tutor_cannot_write_to_a_stranger_but_can_to_a_student_who_booked_or_wrote(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [stranger, booked, writer] = await make_students(3)
    r = await send(client, tutor, stranger)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"
    assert await db.fetchval("SELECT count(*) FROM conversations") == 0

    assert (await hold(client, booked, tutor["id"], next_day_at(10))).status_code == 201
    r = await send(client, tutor, booked, "Looking forward to our lesson.")
    assert r.status_code == 201, r.text

    assert (await send(client, writer, tutor, "Hi")).status_code == 201
    assert (await send(client, tutor, writer, "Hi back")).status_code == 201


async def test_who_may_write_to_whom(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student, other_student = await make_user(db, settings), await make_user(db, settings)
    tutor, other_tutor = await make_user(db, settings, "tutor"), await make_user(db, settings, "tutor")
    admin = await make_user(db, settings, "admin")
    for sender, to in [(student, other_student), (student, student), (tutor, tutor), (tutor, other_tutor),
                       (student, admin), (admin, student), (tutor, admin), (student, str(uuid.uuid4())),
                       (tutor, str(uuid.uuid4()))]:
        r = await send(client, sender, to)
        assert r.status_code == 403, (sender["role"], to, r.text)
        assert r.json()["error"]["code"] == "not_allowed"
    r = await client.post("/api/v1/messages", json={"to_user_id": tutor["id"], "body": "hi"})
    assert r.status_code == 401
    assert await db.fetchval("SELECT count(*) FROM messages") == 0


async def test_body_and_ids_are_validated_without_a_5xx(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student = await make_user(db, settings)
    tutor = await make_user(db, settings, "tutor")
    for body in ["", "   ", "x" * 4001, None, 5]:
        r = await client.post("/api/v1/messages", headers=student["headers"],
                              json={"to_user_id": tutor["id"], "body": body})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", (body, r.text)
    for payload in [{"to_user_id": "not-a-uuid", "body": "hi"}, {"body": "hi"},
                    {"to_user_id": tutor["id"], "body": "a\x00b"},
                    {"to_user_id": tutor["id"], "body": "hi", "extra": 1}]:
        r = await client.post("/api/v1/messages", headers=student["headers"], json=payload)
        assert r.status_code == 422, (payload, r.text)
    longest = "é" * 4000
    r = await send(client, student, tutor, longest)
    assert r.status_code == 201 and r.json()["body"] == longest
    conversation_id = r.json()["conversation_id"]

    assert (await thread(client, student, "nope")).status_code == 404  # not a route: ids are UUIDs
    assert (await thread(client, student, str(uuid.uuid4()))).status_code == 404
    assert (await thread(client, student, conversation_id, cursor="%%%")).status_code == 422
    assert (await thread(client, student, conversation_id, limit=0)).status_code == 422
    r = await client.post(f"/api/v1/conversations/{conversation_id}/read", headers=student["headers"],
                          json={"up_to_message_id": "x"})
    assert r.status_code == 422
    assert (await read(client, student, str(uuid.uuid4()), str(uuid.uuid4()))).status_code == 404
    r = await read(client, student, conversation_id, str(uuid.uuid4()))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = await client.get("/api/v1/conversations", headers=student["headers"], params={"cursor": "bad"})
    assert r.status_code == 422


async def test_only_the_two_users_see_or_mark_a_conversation(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student, outsider = await make_user(db, settings), await make_user(db, settings)
    tutor = await make_user(db, settings, "tutor")
    message = (await send(client, student, tutor)).json()
    conversation_id = message["conversation_id"]
    assert (await thread(client, outsider, conversation_id)).status_code == 404
    r = await read(client, outsider, conversation_id, message["id"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await conversations(client, outsider))["items"] == []
    assert (await thread(client, tutor, conversation_id)).status_code == 200


async def test_messages_page_newest_first_and_conversations_most_recent_first(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student = await make_user(db, settings)
    tutors = [await make_user(db, settings, "tutor") for _ in range(3)]
    sent = [(await send(client, student, tutors[0], f"m{i}")).json() for i in range(7)]
    conversation_id = sent[0]["conversation_id"]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await thread(client, student, conversation_id, **params)
        assert r.status_code == 200, r.text
        seen += [m["body"] for m in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"m{i}" for i in reversed(range(7))]

    await send(client, student, tutors[1], "second")
    await send(client, student, tutors[2], "third")
    await send(client, student, tutors[1], "latest")
    first = await conversations(client, student, limit=2)
    assert [c["other_user"]["id"] for c in first["items"]] == [tutors[1]["id"], tutors[2]["id"]]
    assert first["items"][0]["last_message"]["body"] == "latest"
    rest = await conversations(client, student, limit=2, cursor=first["next_cursor"])
    assert [c["other_user"]["id"] for c in rest["items"]] == [tutors[0]["id"]] and rest["next_cursor"] is None


async def test_marking_read_moves_forward_only_and_sends_a_read_receipt(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student = await make_user(db, settings)
    tutor = await make_user(db, settings, "tutor")
    sent = [(await send(client, student, tutor, f"m{i}")).json() for i in range(4)]
    conversation_id = sent[0]["conversation_id"]
    r = await read(client, tutor, conversation_id, sent[2]["id"])
    assert r.status_code == 200, r.text
    assert r.json() == {"conversation_id": conversation_id, "unread": 1, "unread_total": 1, "moved": True}
    # An older message does not move the marker back.
    r = await read(client, tutor, conversation_id, sent[0]["id"])
    assert r.json()["unread"] == 1 and r.json()["moved"] is False
    assert (await conversations(client, tutor))["items"][0]["unread"] == 1
    # Reading your own message changes nothing for the other side.
    await read(client, student, conversation_id, sent[3]["id"])
    assert (await conversations(client, tutor))["unread_total"] == 1
    # The sender's list carries the receipt: their latest message the other side has read.
    assert (await conversations(client, student))["items"][0]["other_read_up_to_message_id"] == sent[2]["id"]
    assert (await conversations(client, tutor))["items"][0]["other_read_up_to_message_id"] is None

    receipts = await db.fetch("SELECT room, payload::text AS payload, notification_id FROM outbox "
                              "WHERE event = 'message.read' ORDER BY id")
    tutor_reads = [json.loads(r["payload"]) for r in receipts if json.loads(r["payload"])["reader_id"] == tutor["id"]]
    assert len(tutor_reads) == 2  # once per room, for the one call that moved the marker
    assert {r["room"] for r in receipts[:2]} == {f"user:{tutor['id']}", f"user:{student['id']}"}
    assert tutor_reads[0]["up_to_message_id"] == sent[2]["id"]
    assert set(tutor_reads[0]) == {"conversation_id", "reader_id", "up_to_message_id", "read_at"}
    assert all(r["notification_id"] is None for r in receipts)


async def test_concurrent_mark_reads_leave_the_marker_at_the_furthest(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student = await make_user(db, settings)
    tutor = await make_user(db, settings, "tutor")
    sent = [(await send(client, student, tutor, f"m{i}")).json() for i in range(12)]
    conversation_id = sent[0]["conversation_id"]
    results = await asyncio.gather(*(read(client, tutor, conversation_id, m["id"]) for m in reversed(sent)))
    assert all(r.status_code == 200 for r in results)
    assert (await conversations(client, tutor))["unread_total"] == 0
    high = await db.fetchval("SELECT greatest(low_read_seq, high_read_seq) FROM conversations")
    assert high == await db.fetchval("SELECT max(seq) FROM messages")


async def test_first_messages_sent_to_each_other_at_once_make_one_conversation(
        client: httpx.AsyncClient, db: asyncpg.Pool, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    students = await make_students(6)
    for hour, student in enumerate(students, start=8):
        assert (await hold(client, student, tutor["id"], next_day_at(hour))).status_code == 201
    # Every pair races: the student and the tutor write their first messages at the same moment,
    # twice each, and all pairs at once.
    results = await asyncio.gather(*(send(client, sender, to, f"first from {sender['id'][:6]}")
                                     for s in students for sender, to in [(s, tutor), (tutor, s)] * 2))
    assert all(r.status_code == 201 for r in results), [r.text for r in results if r.status_code != 201]
    assert await db.fetchval("SELECT count(*) FROM conversations") == len(students)
    by_pair: dict[frozenset[str], set[str]] = {}
    for r in results:
        m = r.json()
        by_pair.setdefault(frozenset((m["from_user_id"], m["to_user_id"])), set()).add(m["conversation_id"])
    assert len(by_pair) == len(students) and all(len(ids) == 1 for ids in by_pair.values())
    listed = await conversations(client, tutor, limit=100)
    assert len(listed["items"]) == len(students) and listed["unread_total"] == 2 * len(students)
    assert all(c["unread"] == 2 for c in listed["items"])


async def test_concurrent_sends_never_pass_the_per_minute_limit(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student = await make_user(db, settings)
    tutor = await make_user(db, settings, "tutor")
    limit = settings.message_limit_per_minute
    assert 0 < limit < 40
    results = await asyncio.gather(*(send(client, student, tutor, f"m{i}") for i in range(limit + 15)))
    statuses = [r.status_code for r in results]
    assert statuses.count(201) == limit and statuses.count(429) == 15
    refused = next(r for r in results if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert await db.fetchval("SELECT count(*) FROM messages") == limit
    # The limit is per sender: the tutor can still answer; other endpoints are not limited by it.
    assert (await send(client, tutor, student, "slow down")).status_code == 201
    assert (await conversations(client, student))["unread_total"] == 1

"""Every admin action leaves one audit row (who, what, on what, why) in its own transaction;
admins cancel with a full refund; the audit log and the live overview are admin-only."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

import tasks.all  # noqa: F401 - declares every task (dead-letter retries look them up)
from server.identity import issue_access_token
from server.settings import Settings
from tests.helpers import bearer, register

ADMIN_GETS = ["/api/v1/admin/audit", "/api/v1/admin/overview"]


async def _admin(db: asyncpg.Pool, settings: Settings, name: str = "Ada Admin") -> tuple[uuid.UUID, dict[str, str]]:
    uid = uuid.uuid4()
    await db.execute("INSERT INTO users (id, email, name, role) VALUES ($1, $2, $3, 'admin')",
                     uid, f"admin-{uid.hex[:10]}@example.com", name)
    return uid, bearer(issue_access_token(settings, uid, "admin"))


@pytest.fixture
async def admin(db: asyncpg.Pool, settings: Settings) -> tuple[uuid.UUID, dict[str, str]]:
    return await _admin(db, settings)


async def _booking(db: asyncpg.Pool, tutor_id: str, student_id: str, *, hours_ahead: int = 72,
                   payment_status: str = "paid") -> uuid.UUID:
    booking_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, price_cents, currency, "
        "payment_provider, payment_status) VALUES ($1, $2, $3, 'confirmed', now() + make_interval(hours => $4), "
        "now() + make_interval(hours => $4 + 1), "
        "tstzrange(now() + make_interval(hours => $4), now() + make_interval(hours => $4 + 1)), "
        "6000, 'USD', 'test', $5)",
        booking_id, uuid.UUID(tutor_id), uuid.UUID(student_id), hours_ahead, payment_status)
    return booking_id


async def _audit(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[dict]:
    r = await client.get("/api/v1/admin/audit", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


@pytest.mark.parametrize("path", ADMIN_GETS)
async def test_audit_and_overview_refuse_anonymous_with_401_and_students_and_tutors_with_403(
        client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    for role in ("student", "tutor"):
        user = await register(client, role=role)
        r = await client.get(path, headers=user["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


async def test_admin_actions_refuse_students_and_tutors_and_record_nothing(
        client: httpx.AsyncClient, admin: tuple[uuid.UUID, dict[str, str]], db: asyncpg.Pool) -> None:
    tutor, student = await register(client, role="tutor"), await register(client)
    booking_id = await _booking(db, tutor["user"]["id"], student["user"]["id"])
    actions = [
        (f"/api/v1/admin/users/{student['user']['id']}/suspend", {"reason": "x"}),
        (f"/api/v1/admin/users/{student['user']['id']}/reinstate", {"reason": "x"}),
        (f"/api/v1/admin/bookings/{booking_id}/cancel", {"reason": "x"}),
        (f"/api/v1/admin/bookings/{booking_id}/refund", {"reason": "x"}),
    ]
    for path, body in actions:
        client.cookies.clear()
        assert (await client.post(path, json=body)).status_code == 401
        for caller in (student, tutor):
            assert (await client.post(path, headers=caller["headers"], json=body)).status_code == 403
    assert await db.fetchval("SELECT count(*) FROM admin_actions") == 0
    assert await db.fetchval("SELECT status FROM bookings WHERE id = $1", booking_id) == "confirmed"


async def test_suspend_and_reinstate_are_audited_with_who_and_why(
        client: httpx.AsyncClient, admin: tuple[uuid.UUID, dict[str, str]]) -> None:
    admin_id, headers = admin
    user = await register(client)
    uid = user["user"]["id"]
    r = await client.post(f"/api/v1/admin/users/{uid}/suspend", headers=headers, json={"reason": "spam messages"})
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/admin/users/{uid}/reinstate", headers=headers, json={"reason": "appeal upheld"})
    assert r.status_code == 200, r.text
    entries = await _audit(client, headers, target_id=uid)
    assert [(e["action"], e["reason"]) for e in entries] == [("user_reinstated", "appeal upheld"),
                                                               ("user_suspended", "spam messages")]
    assert all(e["admin_id"] == str(admin_id) and e["admin_name"] == "Ada Admin" and e["target_type"] == "user"
               for e in entries)
    assert entries[0]["details"]["email"] == user["user"]["email"]


async def test_reinstating_needs_a_reason(client: httpx.AsyncClient,
                                          admin: tuple[uuid.UUID, dict[str, str]]) -> None:
    user = await register(client)
    r = await client.post(f"/api/v1/admin/users/{user['user']['id']}/reinstate", headers=admin[1], json={"reason": ""})
    assert r.status_code == 422


async def test_an_admin_cancellation_refunds_in_full_inside_the_students_window_and_is_audited(
        client: httpx.AsyncClient, admin: tuple[uuid.UUID, dict[str, str]], db: asyncpg.Pool,
        tutor: dict[str, Any]) -> None:
    student = await register(client)
    booking_id = await _booking(db, tutor["id"], student["user"]["id"], hours_ahead=2)
    r = await client.post(f"/api/v1/admin/bookings/{booking_id}/cancel", headers=admin[1],
                          json={"reason": "tutor is ill"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled" and body["refund_cents"] == 6000 and body["payment_status"] == "refunded"
    [entry] = await _audit(client, admin[1], target_id=str(booking_id))
    assert entry["action"] == "booking_cancelled" and entry["reason"] == "tutor is ill"
    assert entry["details"] == {"refund_cents": 6000, "currency": "USD"}
    history = await client.get(f"/api/v1/bookings/{booking_id}/events", headers=admin[1])
    assert history.status_code == 200 and history.json()["items"][-1]["kind"] == "cancelled"


async def test_a_refused_action_leaves_no_audit_row(client: httpx.AsyncClient,
                                                    admin: tuple[uuid.UUID, dict[str, str]],
                                                    db: asyncpg.Pool) -> None:
    tutor, student = await register(client, role="tutor"), await register(client)
    booking_id = await _booking(db, tutor["user"]["id"], student["user"]["id"], payment_status="refunded")
    r = await client.post(f"/api/v1/admin/bookings/{booking_id}/refund", headers=admin[1], json={"reason": "again"})
    assert r.status_code == 409
    await db.execute("UPDATE bookings SET status = 'cancelled' WHERE id = $1", booking_id)
    r = await client.post(f"/api/v1/admin/bookings/{booking_id}/cancel", headers=admin[1], json={"reason": "again"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_cancellable"
    r = await client.post(f"/api/v1/admin/bookings/{uuid.uuid4()}/cancel", headers=admin[1], json={"reason": "x"})
    assert r.status_code == 404
    assert await db.fetchval("SELECT count(*) FROM admin_actions") == 0


async def test_a_refund_is_audited_with_its_amount(client: httpx.AsyncClient,
                                                   admin: tuple[uuid.UUID, dict[str, str]],
                                                   db: asyncpg.Pool) -> None:
    tutor, student = await register(client, role="tutor"), await register(client)
    booking_id = await _booking(db, tutor["user"]["id"], student["user"]["id"])
    r = await client.post(f"/api/v1/admin/bookings/{booking_id}/refund", headers=admin[1],
                          json={"amount_cents": 1500, "reason": "late start"})
    assert r.status_code == 200, r.text
    [entry] = await _audit(client, admin[1], action="booking_refunded")
    assert entry["target_id"] == str(booking_id) and entry["details"]["refund_cents"] == 1500
    assert entry["reason"] == "late start"


async def test_two_admins_retrying_one_dead_letter_at_once_requeue_it_and_audit_it_once(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    (_, first), (_, second) = await _admin(db, settings, "First"), await _admin(db, settings, "Second")
    letter = int(await db.fetchval(
        "INSERT INTO dead_letters (task_name, args, last_error, attempts) VALUES ('email.send', $1::jsonb, 'boom', 6) "
        "RETURNING id", json.dumps({"args": ["a@example.com", "welcome", {"name": "Ada"}], "kwargs": {}})))
    results = await asyncio.gather(*(client.post(f"/api/v1/admin/dead-letters/{letter}/retry", headers=h)
                                     for h in (first, second)))
    assert sorted(r.status_code for r in results) == [202, 409], [r.text for r in results]
    rows = await db.fetch("SELECT admin_id, action, target_type, target_id, details FROM admin_actions")
    assert len(rows) == 1 and rows[0]["action"] == "dead_letter_retried" and rows[0]["target_id"] == str(letter)
    assert rows[0]["target_type"] == "dead_letter"
    assert json.loads(rows[0]["details"])["task_name"] == "email.send"


async def test_the_audit_log_pages_newest_first(client: httpx.AsyncClient,
                                                admin: tuple[uuid.UUID, dict[str, str]]) -> None:
    user = await register(client)
    for i in range(3):
        r = await client.post(f"/api/v1/admin/users/{user['user']['id']}/suspend", headers=admin[1],
                              json={"reason": f"reason {i}"})
        assert r.status_code == 200
    first = (await client.get("/api/v1/admin/audit", headers=admin[1], params={"limit": 2})).json()
    rest = (await client.get("/api/v1/admin/audit", headers=admin[1],
                             params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [e["reason"] for e in first["items"] + rest["items"]] == ["reason 2", "reason 1", "reason 0"]
    assert rest["next_cursor"] is None
    bad = await client.get("/api/v1/admin/audit", headers=admin[1], params={"cursor": "nonsense"})
    assert bad.status_code == 400 or bad.status_code == 422


async def test_the_overview_counts_holds_per_minute_and_what_needs_an_admin(
        client: httpx.AsyncClient, admin: tuple[uuid.UUID, dict[str, str]], db: asyncpg.Pool) -> None:
    tutor, student = await register(client, role="tutor"), await register(client)
    await _booking(db, tutor["user"]["id"], student["user"]["id"], payment_status="refund_failed")
    await _booking(db, tutor["user"]["id"], student["user"]["id"], hours_ahead=10)
    await db.execute("INSERT INTO dead_letters (task_name, args, last_error, attempts) "
                     "VALUES ('email.send', '{}'::jsonb, 'boom', 6)")
    r = await client.get("/api/v1/admin/overview", headers=admin[1])
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["holds_per_minute"]) == 15
    assert sum(m["count"] for m in body["holds_per_minute"]) == 2  # every booking starts as a hold
    # As instants: the strings differ in form ("…:00Z" vs "…:00.544138Z" compare the wrong way round).
    assert (datetime.fromisoformat(body["holds_per_minute"][-1]["minute"])
            <= datetime.fromisoformat(body["generated_at"]))
    assert body["refunds_failed"] == 1 and body["dead_letters_waiting"] == 1 and body["active_holds"] == 0
    assert body["live_connections"] >= 0 and body["holds_conflicted_total"] >= 0

"""Admins search accounts, suspend and reinstate them, and list bookings by any filter."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import pytest

from server.identity import issue_access_token
from server.settings import Settings
from tests.helpers import DEFAULT_PASSWORD, bearer, register


@pytest.fixture
async def admin(db: asyncpg.Pool, settings: Settings) -> dict[str, str]:
    uid = uuid.uuid4()
    await db.execute("INSERT INTO users (id, email, name, role) VALUES ($1, $2, 'Admin', 'admin')",
                     uid, f"admin-{uid.hex[:10]}@example.com")
    return bearer(issue_access_token(settings, uid, "admin"))


async def _until_status(client: httpx.AsyncClient, headers: dict[str, str], status: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        r = await client.get("/api/v1/me", headers=headers)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        await asyncio.sleep(0.1)


async def test_only_admins_may_suspend(client: httpx.AsyncClient) -> None:
    student, victim = await register(client), await register(client)
    r = await client.post(f"/api/v1/admin/users/{victim['user']['id']}/suspend", headers=student["headers"],
                          json={"reason": "spite"})
    assert r.status_code == 403
    assert (await client.get("/api/v1/me", headers=victim["headers"])).status_code == 200


async def test_a_suspended_account_loses_its_tokens_and_cannot_sign_in_until_reinstated(
        client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    user = await register(client)
    email = user["user"]["email"]
    r = await client.post(f"/api/v1/admin/users/{user['user']['id']}/suspend", headers=admin,
                          json={"reason": "hoarding slots with many accounts"})
    assert r.status_code == 200, r.text
    assert r.json()["suspended_at"] and r.json()["suspended_reason"] == "hoarding slots with many accounts"

    refused = await _until_status(client, user["headers"], 403)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_suspended"
    client.cookies.clear()
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    assert login.status_code == 403 and login.json()["error"]["code"] == "account_suspended"
    client.cookies.clear()
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert refresh.status_code == 401  # revoked with the suspension

    r = await client.post(f"/api/v1/admin/users/{user['user']['id']}/reinstate", headers=admin,
                          json={"reason": "appeal accepted"})
    assert r.status_code == 200 and r.json()["suspended_at"] is None
    client.cookies.clear()
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    assert login.status_code == 200
    assert (await _until_status(client, user["headers"], 200)).status_code == 200


async def test_suspending_an_unknown_account_is_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post(f"/api/v1/admin/users/{uuid.uuid4()}/suspend", headers=admin, json={"reason": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "account_not_found"


async def test_admins_search_accounts_by_email_or_name_page_by_page(client: httpx.AsyncClient,
                                                                  admin: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:8]
    for i in range(3):
        await register(client, email=f"{tag}-{i}@example.com")
    await register(client, name=f"Zed {tag}")
    first = await client.get("/api/v1/admin/users", headers=admin, params={"q": tag.upper(), "limit": 3})
    assert first.status_code == 200, first.text
    second = await client.get("/api/v1/admin/users", headers=admin,
                              params={"q": tag, "limit": 3, "cursor": first.json()["next_cursor"]})
    found = [u["email"] for u in first.json()["items"] + second.json()["items"]]
    assert len(found) == 4 and len(set(found)) == 4 and second.json()["next_cursor"] is None


async def test_admins_list_refunds_that_were_given_up(client: httpx.AsyncClient, admin: dict[str, str],
                                                      db: asyncpg.Pool) -> None:
    tutor, student = await register(client, role="tutor"), await register(client)
    booking_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, price_cents, currency, "
        "payment_provider, payment_status, refund_cents) VALUES ($1, $2, $3, 'cancelled', now() + interval '2 days', "
        "now() + interval '2 days 1 hour', tstzrange(now() + interval '2 days', now() + interval '2 days 1 hour'), "
        "6000, 'USD', 'stripe', 'refund_failed', 6000)",
        booking_id, uuid.UUID(tutor["user"]["id"]), uuid.UUID(student["user"]["id"]))
    r = await client.get("/api/v1/admin/bookings", headers=admin,
                         params={"payment_status": "refund_failed", "student_id": student["user"]["id"]})
    assert r.status_code == 200, r.text
    assert [b["id"] for b in r.json()["items"]] == [str(booking_id)]
    r = await client.get("/api/v1/admin/bookings", headers=student["headers"])
    assert r.status_code == 403


async def _paid_booking(db: asyncpg.Pool, tutor_id: str, student_id: str, payment_status: str = "paid",
                        provider: str = "test") -> uuid.UUID:
    booking_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, price_cents, currency, "
        "payment_provider, payment_status) VALUES ($1, $2, $3, 'confirmed', now() + interval '3 days', "
        "now() + interval '3 days 1 hour', tstzrange(now() + interval '3 days', now() + interval '3 days 1 hour'), "
        "6000, 'USD', $4, $5)",
        booking_id, uuid.UUID(tutor_id), uuid.UUID(student_id), provider, payment_status)
    return booking_id


async def test_an_admin_refunds_part_of_a_paid_booking_and_it_is_recorded(
        client: httpx.AsyncClient, admin: dict[str, str], db: asyncpg.Pool) -> None:
    tutor, student = await register(client, role="tutor"), await register(client)
    booking_id = await _paid_booking(db, tutor["user"]["id"], student["user"]["id"])
    r = await client.post(f"/api/v1/admin/bookings/{booking_id}/refund", headers=admin,
                          json={"amount_cents": 2500, "reason": "the video link failed for 20 minutes"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["refund_cents"] == 2500
    assert r.json()["payment_status"] == "refunded"  # the test provider refunds at once
    event = await db.fetchrow("SELECT actor_id, data FROM booking_events WHERE booking_id = $1 "
                              "AND kind = 'refund_by_admin'", booking_id)
    assert event is not None and "video link" in event["data"]
    again = await client.post(f"/api/v1/admin/bookings/{booking_id}/refund", headers=admin, json={"reason": "twice"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_refundable"


async def test_an_admin_refund_is_capped_at_the_price_and_admin_only(
        client: httpx.AsyncClient, admin: dict[str, str], db: asyncpg.Pool) -> None:
    tutor, student = await register(client, role="tutor"), await register(client)
    booking_id = await _paid_booking(db, tutor["user"]["id"], student["user"]["id"])
    r = await client.post(f"/api/v1/admin/bookings/{booking_id}/refund", headers=admin,
                          json={"amount_cents": 6001, "reason": "too much"})
    assert r.status_code == 409 and r.json()["error"]["details"]["max_cents"] == 6000
    r = await client.post(f"/api/v1/admin/bookings/{booking_id}/refund", headers=student["headers"],
                          json={"reason": "myself"})
    assert r.status_code == 403
    assert await db.fetchval("SELECT payment_status FROM bookings WHERE id = $1", booking_id) == "paid"


async def test_an_admin_retries_a_refund_that_was_given_up(client: httpx.AsyncClient, admin: dict[str, str],
                                                           db: asyncpg.Pool) -> None:
    tutor, student = await register(client, role="tutor"), await register(client)
    booking_id = await _paid_booking(db, tutor["user"]["id"], student["user"]["id"], payment_status="refund_failed")
    r = await client.post(f"/api/v1/admin/bookings/{booking_id}/refund", headers=admin,
                          json={"reason": "card issuer fixed"})
    assert r.status_code == 200, r.text
    assert r.json()["payment_status"] == "refunded" and r.json()["refund_cents"] == 6000


async def test_an_admin_cancellation_refunds_in_full_even_inside_the_students_window(
        client: httpx.AsyncClient, admin: dict[str, str], db: asyncpg.Pool, tutor: dict) -> None:
    student = await register(client)
    booking_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, price_cents, currency, "
        "payment_provider, payment_status) VALUES ($1, $2, $3, 'confirmed', now() + interval '2 hours', "
        "now() + interval '3 hours', tstzrange(now() + interval '2 hours', now() + interval '3 hours'), "
        "6000, 'USD', 'test', 'paid')",
        booking_id, uuid.UUID(tutor["id"]), uuid.UUID(student["user"]["id"]))
    r = await client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=admin, json={"reason": "tutor is ill"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["refund_cents"] == 6000
    assert '"by": "admin"' in await db.fetchval(
        "SELECT data::text FROM booking_events WHERE booking_id = $1 AND kind = 'cancelled'", booking_id)

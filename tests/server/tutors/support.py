"""Helpers for tutor and availability tests: users minted straight into the database
(no argon2, no auth routes involved) and profiles created through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from server.identity import issue_access_token
from server.settings import Settings
from tests.helpers import bearer

ALL_WEEK = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)]


def profile_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``PUT /tutors/me`` body."""
    body: dict[str, Any] = {
        "headline": "Patient maths tutor", "bio": "Ten years of teaching algebra and calculus.",
        "subjects": ["Mathematics"], "hourly_rate_cents": 6000, "currency": "USD", "timezone": "UTC",
        "lesson_minutes": [60], "min_notice_minutes": 0, "buffer_minutes": 0, "max_advance_days": 365,
    }
    body.update(overrides)
    return body


async def make_user(db: asyncpg.Pool, settings: Settings, role: str = "tutor", name: str | None = None
                    ) -> dict[str, Any]:
    """A user row plus a Bearer header for it."""
    uid = uuid.uuid4()
    name = name or f"Test {role.capitalize()} {uid.hex[:6]}"
    async with db.acquire() as conn:
        await conn.execute("INSERT INTO users (id, email, name, role) VALUES ($1, $2, $3, $4)",
                           uid, f"{role}-{uid.hex[:12]}@example.com", name, role)
    return {"id": str(uid), "uuid": uid, "name": name,
            "headers": bearer(issue_access_token(settings, uid, role))}


async def make_tutor(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings, *, name: str | None = None,
                     rules: list[dict[str, Any]] | None = None, overrides: list[dict[str, Any]] | None = None,
                     **profile: Any) -> dict[str, Any]:
    """A tutor with a profile (``profile`` overrides :func:`profile_body`) and, when
    ``rules``/``overrides`` are given, availability."""
    tutor = await make_user(db, settings, "tutor", name)
    r = await client.put("/api/v1/tutors/me", headers=tutor["headers"], json=profile_body(**profile))
    assert r.status_code == 200, r.text
    tutor["profile"] = r.json()
    if rules is not None or overrides is not None:
        r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"],
                             json={"rules": rules or [], "overrides": overrides or []})
        assert r.status_code == 200, r.text
    return tutor


async def insert_booking(db: asyncpg.Pool, tutor_id: uuid.UUID, student_id: uuid.UUID, start: datetime,
                         minutes: int = 60, buffer: int = 0, status: str = "confirmed",
                         expires_at: datetime | None = None) -> uuid.UUID:
    """A booking row written directly (the holds API is not under test here)."""
    booking_id = uuid.uuid4()
    end = start + timedelta(minutes=minutes)
    async with db.acquire() as conn:
        await conn.execute(
            "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, "
            "price_cents, currency) VALUES ($1, $2, $3, $4, $5, $6, tstzrange($5, $7, '[)'), $8, 1000, 'USD')",
            booking_id, tutor_id, student_id, status, start, end, end + timedelta(minutes=buffer), expires_at)
    return booking_id


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

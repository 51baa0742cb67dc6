"""Tutors and bookings made through the API for browser tests (payments by the test provider)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from server.db import libpq_url
from server.settings import Settings
from tests.browser.conftest import PASSWORD
from tests.helpers import register, unique_email


async def london_tutor(api: httpx.AsyncClient, name: str, headline: str, subject: str = "Chemistry",
                       **profile: Any) -> dict[str, Any]:
    """A listed London tutor (``headline`` marks the test's tutors for :func:`unlist_tutors`)
    teaching 08:00-20:00 every day, 60-minute lessons at 40 GBP, an hour's notice."""
    tutor = await register(api, role="tutor", email=unique_email(name.split()[0].lower()), name=name,
                           password=PASSWORD)
    r = await api.put("/api/v1/tutors/me", headers=tutor["headers"], json={
        "headline": headline, "bio": "", "subjects": [subject], "hourly_rate_cents": 4000,
        "currency": "GBP", "timezone": "Europe/London", "lesson_minutes": [60], "min_notice_minutes": 60,
        "buffer_minutes": 0, "max_advance_days": 60, **profile})
    assert r.status_code == 200, r.text
    r = await api.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
        "rules": [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(7)], "overrides": []})
    assert r.status_code == 200, r.text
    return tutor


async def unlist_tutors(settings: Settings, headline: str) -> None:
    """The tutors with ``headline`` leave the listing, their holds released first.

    The browser tests share one platform and its database, and the search tests count the
    cast's tutors, so a test's own tutors must not outlive it. Holds go first: the worker's
    expiry sweep cannot expire a hold of a deactivated tutor (its policy no longer loads)."""
    conn = await asyncpg.connect(libpq_url(settings.database_url))
    try:
        await conn.execute("UPDATE bookings SET status = 'released', expires_at = NULL WHERE status = 'held' AND "
                           "tutor_id IN (SELECT user_id FROM tutor_profiles WHERE headline = $1)", headline)
        await conn.execute("UPDATE tutor_profiles SET is_active = false WHERE headline = $1", headline)
    finally:
        await conn.close()


async def hold_somewhere(api: httpx.AsyncClient, headers: dict[str, str], tutor_id: str, days: int) -> dict[str, Any]:
    """A hold on the tutor's first free hour (London 09:00-18:00) ``days`` from now."""
    day = (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    for hour in range(9, 18):
        r = await api.post("/api/v1/holds", headers=headers,
                           json={"tutor_id": tutor_id, "start": day.replace(hour=hour).isoformat(), "minutes": 60})
        if r.status_code == 201:
            return dict(r.json())
    raise AssertionError(f"no free hour {days} days ahead: {r.text}")


async def confirmed_booking(api: httpx.AsyncClient, headers: dict[str, str], tutor_id: str, days: int) -> dict[str, Any]:
    held = await hold_somewhere(api, headers, tutor_id, days)
    r = await api.post(f"/api/v1/bookings/{held['id']}/checkout", headers=headers)
    assert r.status_code == 200, r.text
    r = await api.post("/api/v1/payments/test/confirm", headers=headers, json={"booking_id": held["id"]})
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
    return dict(r.json())

"""Completed lessons to review: booked through the API, moved into the past, completed by the real task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from tasks.bookings import complete_finished_bookings
from tests.fixtures.bookings import hold, next_day_at


async def confirmed_booking(client: httpx.AsyncClient, student: dict[str, Any], tutor_id: str,
                            hour: int = 10) -> str:
    """A confirmed lesson with a free tutor (checkout confirms at once)."""
    r = await hold(client, student, tutor_id, next_day_at(hour))
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/bookings/{r.json()['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200 and r.json()["booking"]["status"] == "confirmed", r.text
    return str(r.json()["booking"]["id"])


async def complete(app: Starlette, db: asyncpg.Pool, booking_id: str, ended_ago: timedelta = timedelta(hours=1),
                   ) -> None:
    end = datetime.now(UTC) - ended_ago
    await db.execute("UPDATE bookings SET start_at = $2, end_at = $3, guarded = tstzrange($2, $3, '[)') "
                     "WHERE id = $1", booking_id, end - timedelta(hours=1), end)
    assert await complete_finished_bookings(app.state.sessionmaker, datetime.now(UTC)) >= 1


async def completed_booking(client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, student: dict[str, Any],
                            tutor_id: str, hour: int = 10) -> str:
    booking_id = await confirmed_booking(client, student, tutor_id, hour)
    await complete(app, db, booking_id)
    return booking_id

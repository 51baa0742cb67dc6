"""GET /tutors/{id}/slots over real HTTP, PostgreSQL and bookings rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from server.settings import Settings
from tests.server.tutors.support import ALL_WEEK, insert_booking, iso, make_tutor, make_user

SLOTS = "/api/v1/tutors/{}/slots"


async def slots(client: httpx.AsyncClient, tutor_id: str, **params: Any) -> dict[str, Any]:
    r = await client.get(SLOTS.format(tutor_id), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def day(days_ahead: int) -> datetime:
    """Midnight UTC ``days_ahead`` days from today."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days_ahead)


async def test_new_york_monday_hours_follow_the_dst_change(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                           settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, timezone="America/New_York",
                             rules=[{"weekday": 0, "start": "09:00", "end": "12:00"}])
    data = await slots(client, tutor["id"], **{"from": "2027-03-08T00:00:00Z", "to": "2027-03-16T00:00:00Z"})
    assert [s["start"] for s in data["slots"]] == [
        "2027-03-08T14:00:00Z", "2027-03-08T15:00:00Z", "2027-03-08T16:00:00Z",
        "2027-03-15T13:00:00Z", "2027-03-15T14:00:00Z", "2027-03-15T15:00:00Z"]
    assert data["tutor_id"] == tutor["id"] and data["minutes"] == 60 and data["version"] == 1
    assert all(s["status"] == "open" for s in data["slots"])

"""Bookings made through the API for browser tests (payments by the test provider)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


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

"""Instants a client sends are ISO 8601 with an offset between 2000 and 2199 (server/timestamps.py):
an extreme but well-formed one is a 422 on every endpoint that takes one, never a 5xx.

``0001-01-01T00:00:00+01:00`` is year 0 in UTC, which neither Python nor PostgreSQL can hold
(found by the API fuzzer on ``GET /tutors/me/earnings``)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.bookings import StudentFactory

EXTREMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1999-12-31T23:00:00+00:00",
            "2200-01-01T00:00:00+00:00"]


@pytest.mark.parametrize("when", EXTREMES)
async def test_an_instant_out_of_range_is_422_on_every_endpoint_that_takes_one(
        client: httpx.AsyncClient, tutor: dict[str, Any], make_students: StudentFactory, when: str) -> None:
    [student] = await make_students(1)
    tutor_id, booking_id, series_id = tutor["id"], uuid.uuid4(), uuid.uuid4()
    calls: list[tuple[str, str, dict[str, Any], dict[str, Any] | None, dict[str, str] | None]] = [
        ("GET", f"/api/v1/tutors/{tutor_id}/slots", student["headers"], None, {"from": when}),
        ("GET", f"/api/v1/tutors/{tutor_id}/slots", student["headers"], None, {"to": when}),
        ("POST", "/api/v1/holds", student["headers"], {"tutor_id": tutor_id, "start": when, "minutes": 60}, None),
        ("POST", f"/api/v1/bookings/{booking_id}/reschedule", student["headers"], {"start": when}, None),
        ("POST", "/api/v1/series", student["headers"],
         {"tutor_id": tutor_id, "start": when, "minutes": 60, "weeks": 2}, None),
        ("POST", f"/api/v1/series/{series_id}/cancel", student["headers"], {"from": when}, None),
        ("POST", "/api/v1/waitlist", student["headers"], {"tutor_id": tutor_id, "start": when, "minutes": 60}, None),
        ("GET", f"/api/v1/tutors/{tutor_id}/waitlist", student["headers"], None, {"from": when}),
        ("GET", "/api/v1/tutors/me/earnings", tutor["headers"], None, {"from": when}),
        ("GET", "/api/v1/tutors/me/earnings", tutor["headers"], None, {"to": when}),
    ]
    for method, path, headers, body, params in calls:
        r = await client.request(method, path, headers=headers, json=body, params=params)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "invalid_request", r.text

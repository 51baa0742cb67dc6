"""The shared default slot listing (server/availability/snapshots.py) stays exact while reused:
as the clock moves it equals a fresh computation, and a storm of readers computes it once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from server.availability import service, snapshots
from server.db import unit_of_work
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at


async def _default(app: Starlette, tutor_id: uuid.UUID, now: datetime) -> dict:
    # No age cap: only the listing's own exactness decides how long it is reused.
    settings = app.state.settings.model_copy(update={"slots_snapshot_ttl_seconds": 86_400.0})
    async with unit_of_work(app.state.sessionmaker) as session:
        listing = await service.get_slots(session, settings, tutor_id, now)
    return json.loads(listing.body)


async def _fresh(app: Starlette, tutor_id: uuid.UUID, now: datetime) -> dict:
    """The same window computed without the cache (an explicit window is never shared)."""
    async with unit_of_work(app.state.sessionmaker) as session:
        listing = await service.get_slots(session, app.state.settings, tutor_id, now, window_from=now,
                                          window_to=now + service.DEFAULT_WINDOW)
    return json.loads(listing.body)


@pytest.mark.parametrize("notice", [0, 45])
async def test_a_reused_listing_equals_a_fresh_one_as_the_clock_moves(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, make_tutor: TutorFactory,
        make_students: StudentFactory, notice: int) -> None:
    """Every ten seconds for half an hour, with two holds lapsing, a slot dropping under the
    notice and another entering the window: the shared listing read at each moment is the
    fresh one."""
    # Open all day: a slot falls under the notice and another enters the window every 30 minutes.
    tutor = await make_tutor(min_notice=notice, max_advance=30, lesson_minutes=[30])
    tutor_id = uuid.UUID(tutor["id"])
    students = await make_students(2)
    for student, at in zip(students, (next_day_at(8, days=1), next_day_at(9, days=3)), strict=True):
        assert (await hold(client, student, tutor["id"], at, 30)).status_code == 201
    # The holds lapse at 10 and 25 minutes into the walk.
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    await db.execute("UPDATE bookings SET expires_at = $2::timestamptz + (CASE WHEN start_at < $3::timestamptz THEN interval '10 minutes 31 seconds' "
                     "ELSE interval '25 minutes 17 seconds' END) WHERE tutor_id = $1", tutor_id, start, next_day_at(9, days=2))
    reused = 0
    for step in range(180):
        now = start + timedelta(seconds=10 * step + 3)
        before = snapshots.computations
        assert await _default(app, tutor_id, now) == await _fresh(app, tutor_id, now), f"at +{10 * step} s"
        reused += snapshots.computations == before
    assert reused > 160, f"the listing was reused only {reused} times in 180 reads"


async def test_a_storm_of_readers_computes_the_listing_once(
        app: Starlette, make_tutor: TutorFactory) -> None:
    tutor = await make_tutor()
    tutor_id = uuid.UUID(tutor["id"])
    now = datetime.now(UTC)
    before = snapshots.computations
    listings = await asyncio.gather(*(_default(app, tutor_id, now) for _ in range(200)))
    assert snapshots.computations - before == 1
    assert all(listing == listings[0] for listing in listings)


async def test_a_hold_or_an_edit_is_seen_by_the_next_read(
        client: httpx.AsyncClient, app: Starlette, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor(lesson_minutes=[30])
    tutor_id = uuid.UUID(tutor["id"])
    [student] = await make_students(1)
    at = next_day_at(10)
    first = await _default(app, tutor_id, datetime.now(UTC))
    assert {"start": at.isoformat().replace("+00:00", "Z"), "status": "open"}.items() <= next(
        s for s in first["slots"] if s["start"] == at.isoformat().replace("+00:00", "Z")).items()
    assert (await hold(client, student, tutor["id"], at, 30)).status_code == 201
    second = await _default(app, tutor_id, datetime.now(UTC))
    assert second["version"] > first["version"]
    assert next(s for s in second["slots"] if s["start"] == at.isoformat().replace("+00:00", "Z"))["status"] == "held"
    r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"],
                         json={"rules": [{"weekday": d, "start": "00:00", "end": "06:00"} for d in range(7)],
                               "overrides": []})
    assert r.status_code == 200, r.text
    third = await _default(app, tutor_id, datetime.now(UTC))
    assert third == await _fresh(app, tutor_id, datetime.now(UTC)) or third["version"] > second["version"]
    assert all(datetime.fromisoformat(s["start"]).hour < 6 for s in third["slots"])

"""Booking jobs through the real stack: an API process (REST + /live), a taskiq worker and
scheduler as processes on the Redis stream broker, and Socket.IO clients watching."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from server.settings import Settings
from tests.tasks.conftest import (
    HOLD_LEAD,
    HOLD_TTL,
    TimedClient,
    book,
    grid_after,
    hold,
    make_free_tutor,
    make_user,
    parse_time,
)

pytestmark = pytest.mark.xdist_group("jobs")

# The scheduler kicks the sweeps on whole seconds; a sweep finds what is due, commits, and
# the relay publishes: an alert arrives at most about a second after it is due.
LATE = 1.6


def _reopened(client: TimedClient, start: datetime) -> list[float]:
    """When ``client`` heard that the slot at ``start`` is open again."""
    return [at for at, data in client.timed("slots.changed")
            for change in data["changes"] if parse_time(change["start"]) == start and change["status"] == "open"]


def _statuses(client: TimedClient, booking_id: str) -> list[str]:
    return [d["booking"]["status"] for d in client.of("booking.updated") if d["booking"]["id"] == booking_id]


async def test_lapsed_hold_reopens_for_watchers_within_two_seconds_after_a_hold_expiring_warning(
        api: httpx.AsyncClient, jobs, watcher, db: asyncpg.Pool, settings: Settings) -> None:
    starting = asyncio.create_task(jobs())
    tutor = await make_free_tutor(api)
    student = await make_user(db, settings)
    start = grid_after(datetime.now(UTC) + timedelta(days=2))
    anonymous = await watcher()
    await anonymous.watch(tutor["id"])
    student_conn = await watcher(token=student["token"])
    await starting

    booking = await hold(api, student, tutor["id"], start)
    expires = parse_time(booking["expires_at"]).timestamp()
    await anonymous.wait_for(lambda c: bool(_reopened(c, start)), within=HOLD_TTL + 30)  # type: ignore[arg-type]
    await student_conn.wait_for(lambda c: "expired" in _statuses(c, booking["id"]))  # type: ignore[arg-type]

    [reopened_at] = _reopened(anonymous, start)
    assert reopened_at - expires <= 2.0, f"reopened {reopened_at - expires:.2f}s after expiry"
    [(warned_at, warning)] = student_conn.timed("hold.expiring")
    assert warning["booking_id"] == booking["id"]
    assert parse_time(warning["expires_at"]).timestamp() == pytest.approx(expires, abs=1e-3)
    assert expires - HOLD_LEAD <= warned_at < expires
    assert _statuses(student_conn, booking["id"]) == ["held", "expired"]
    assert await db.fetchval("SELECT status FROM bookings WHERE id = $1", booking["id"]) == "expired"


async def test_expiry_racing_manual_releases_publishes_one_event(
        api: httpx.AsyncClient, jobs, watcher, db: asyncpg.Pool, settings: Settings) -> None:
    starting = asyncio.create_task(jobs())
    tutor = await make_free_tutor(api)
    student = await make_user(db, settings)
    start = grid_after(datetime.now(UTC) + timedelta(days=2))
    anonymous = await watcher()
    await anonymous.watch(tutor["id"])
    await starting
    booking = await hold(api, student, tutor["id"], start)

    # The sweep runs just after each whole second: aim releases at the first one after expiry.
    sweep_at = int(parse_time(booking["expires_at"]).timestamp()) + 1
    await asyncio.sleep(max(0.0, sweep_at - 0.03 - time.time()))

    async def release(offset: float) -> int:
        await asyncio.sleep(offset)
        r = await api.delete(f"/api/v1/holds/{booking['id']}", headers=student["headers"])
        return r.status_code

    codes = await asyncio.gather(*(release(offset) for offset in (0.0, 0.02, 0.03, 0.035, 0.04, 0.06)))
    await asyncio.sleep(1.5)

    assert set(codes) <= {204, 409} and codes.count(204) <= 1, codes
    assert len(_reopened(anonymous, start)) == 1
    transitions = await db.fetch("SELECT to_status FROM booking_events WHERE booking_id = $1 AND kind <> 'held' "
                                 "AND to_status IN ('expired', 'released')", booking["id"])
    assert len(transitions) == 1
    updates = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE event = 'booking.updated' AND room = $1 "
        "AND payload->'booking'->>'id' = $2 AND payload->'booking'->>'status' <> 'held'",
        f"user:{student['id']}", booking["id"])
    assert updates == 1


async def test_session_starting_reaches_both_parties_once_at_each_lead_across_scheduler_restarts(
        api: httpx.AsyncClient, jobs, watcher, db: asyncpg.Pool, settings: Settings, redis) -> None:
    t0 = time.time()
    lesson = grid_after(datetime.now(UTC) + timedelta(seconds=45))
    first_at, second_at = t0 + 8, t0 + 13
    leads = [round(lesson.timestamp() - first_at, 3), round(lesson.timestamp() - second_at, 3)]
    starting = asyncio.create_task(jobs(SESSION_ALERT_SECONDS=",".join(map(str, leads))))
    tutor = await make_free_tutor(api)
    student = await make_user(db, settings)
    student_conn = await watcher(token=student["token"])
    tutor_conn = await watcher(token=tutor["token"])
    group = await starting
    booking = await book(api, student, tutor["id"], lesson)
    await db.execute("UPDATE bookings SET join_url = 'https://meet.example/abc' WHERE id = $1", booking["id"])

    await student_conn.wait_for(lambda c: len(c.of("session.starting")) >= 1, within=first_at - time.time() + 30)
    # A scheduler killed without warning, then two at once (a restart overlapping an old one).
    [old_scheduler] = [p for p in group.processes if p.name == "scheduler"]
    old_scheduler.kill()
    group.start_scheduler()
    group.start_scheduler()
    await student_conn.wait_for(lambda c: len(c.of("session.starting")) >= 2, within=second_at - time.time() + 30)
    await tutor_conn.wait_for(lambda c: len(c.of("session.starting")) >= 2)
    await asyncio.sleep(1.5)  # any duplicate would have arrived by now

    for conn in (student_conn, tutor_conn):
        alerts = conn.timed("session.starting")
        assert [a["minutes_before"] for _, a in alerts] == [pytest.approx(lead / 60, abs=1e-3) for lead in leads]
        for (at, alert), due in zip(alerts, (first_at, second_at), strict=True):
            assert alert["booking_id"] == booking["id"]
            assert parse_time(alert["starts_at"]) == lesson
            assert alert["join_url"] == "https://meet.example/abc"
            assert due - 0.2 <= at <= due + LATE, f"alert {at - due:+.2f}s from its lead time"


async def test_rescheduled_booking_alerts_at_its_new_time_only(
        api: httpx.AsyncClient, jobs, watcher, db: asyncpg.Pool, settings: Settings) -> None:
    t0 = time.time()
    old = grid_after(datetime.now(UTC) + timedelta(minutes=15, seconds=45))
    new = old - timedelta(minutes=15)
    # With these leads the old time would alert at t0+9; the new time alerts at t0+12 (short
    # lead) and, because the move lands inside its long lead, at once (long lead).
    long_lead = round(old.timestamp() - (t0 + 9), 3)
    short_lead = round(new.timestamp() - (t0 + 12), 3)
    starting = asyncio.create_task(jobs(SESSION_ALERT_SECONDS=f"{long_lead},{short_lead}"))
    tutor = await make_free_tutor(api)
    student = await make_user(db, settings)
    student_conn = await watcher(token=student["token"])
    await starting
    booking = await book(api, student, tutor["id"], old)
    r = await api.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=student["headers"],
                       json={"start": new.isoformat()})
    assert r.status_code == 200, r.text
    moved_at = time.time()

    await student_conn.wait_for(lambda c: len(c.of("session.starting")) >= 2, within=t0 + 12 - time.time() + 30)
    await asyncio.sleep(0.5)

    alerts = student_conn.timed("session.starting")
    assert [parse_time(a["starts_at"]) for _, a in alerts] == [new, new]
    assert [a["minutes_before"] for _, a in alerts] == [pytest.approx(long_lead / 60, abs=1e-3),
                                                        pytest.approx(short_lead / 60, abs=1e-3)]
    assert alerts[0][0] - moved_at <= LATE
    assert t0 + 12 - 0.2 <= alerts[1][0] <= t0 + 12 + LATE


async def test_cancelled_booking_gets_no_session_alert(
        api: httpx.AsyncClient, jobs, watcher, db: asyncpg.Pool, settings: Settings) -> None:
    t0 = time.time()
    lesson = grid_after(datetime.now(UTC) + timedelta(seconds=45))
    lead = round(lesson.timestamp() - (t0 + 8), 3)
    starting = asyncio.create_task(jobs(SESSION_ALERT_SECONDS=str(lead)))
    cancelled_tutor, kept_tutor = await make_free_tutor(api), await make_free_tutor(api)
    student = await make_user(db, settings)
    student_conn = await watcher(token=student["token"])
    cancelled_tutor_conn = await watcher(token=cancelled_tutor["token"])
    await starting
    cancelled = await book(api, student, cancelled_tutor["id"], lesson)
    kept = await book(api, student, kept_tutor["id"], lesson)
    r = await api.post(f"/api/v1/bookings/{cancelled['id']}/cancel", headers=student["headers"], json={})
    assert r.status_code == 200, r.text

    # The kept booking's alert (same lead, same time) shows the sweep ran past the lead time.
    await student_conn.wait_for(lambda c: bool(c.of("session.starting")), within=t0 + 8 - time.time() + 30)
    await asyncio.sleep(1.2)
    assert [a["booking_id"] for a in student_conn.of("session.starting")] == [kept["id"]]
    assert cancelled_tutor_conn.of("session.starting") == []

"""Transactional e-mail through Brevo (a local fake): every template, sent to the right person,
in their time zone, with the .ics attachments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from edustream.cli import main as cli_main
from server.emails.render import TEMPLATES
from tests.fakes.brevo import FakeBrevo
from tests.fixtures.bookings import next_change, weeks_before
from tests.fixtures.integrations import Fakes, InlineTasks, book, quick_user, tutor_with_profile
from tests.helpers import register

EMAIL = {"email.send"}


def lesson_start(days: int = 2, hour: int = 13) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def local(value: datetime, zone: str) -> str:
    return f"{value.astimezone(ZoneInfo(zone)):%H:%M}"


async def parties(ic: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tutor in New York (profile zone) and a student in Tokyo (account zone)."""
    tutor = await tutor_with_profile(ic, timezone="America/New_York")
    student = await quick_user("student", "Sam Taylor")
    r = await ic.put("/api/v1/me", headers=student["headers"], json={"timezone": "Asia/Tokyo"})
    assert r.status_code == 200, r.text
    return tutor, student


def only(brevo: FakeBrevo, address: str, template: str) -> dict[str, Any]:
    found = [m for m in brevo.to(address) if m["tags"] == [template]]
    assert len(found) == 1, [m["tags"] for m in brevo.to(address)]
    return found[0]


async def test_welcome_email_goes_to_each_new_account(ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks) -> None:
    student = await register(ic, role="student", name="Sam Taylor")
    tutor = await register(ic, role="tutor", name="Amelia Hart")
    await tasks.settle(EMAIL)
    for user, link in ((student, "/tutors"), (tutor, "/tutor")):
        message = only(fakes.brevo, user["user"]["email"], "welcome")
        assert message["to"] == [{"email": user["user"]["email"], "name": user["user"]["name"]}]
        assert message["sender"] == {"name": "EduStream", "email": "lessons@edustream.test"}
        assert message["subject"] == f"Welcome to EduStream, {user['user']['name']}"
        assert f"http://frontend.test{link}" in message["htmlContent"]
        assert f"http://frontend.test{link}" in message["textContent"]
    [request] = fakes.brevo.calls("POST", "/v3/smtp/email")[:1]
    assert request.headers["api-key"] == "xkeysib-test-key"


async def test_booking_confirmed_goes_to_both_parties_in_their_time_zones_with_an_ics(
        ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks) -> None:
    tutor, student = await parties(ic)
    start = lesson_start()
    booking = await book(ic, student, tutor["id"], start)
    await tasks.settle(EMAIL)

    to_student = only(fakes.brevo, student["user"]["email"], "booking_confirmed")
    to_tutor = only(fakes.brevo, tutor["user"]["email"], "booking_confirmed")
    assert f"at {local(start, 'Asia/Tokyo')}" in to_student["subject"]
    assert "(Asia/Tokyo)" in to_student["textContent"] and "with Amelia Hart" in to_student["subject"]
    assert "paid (60.00 USD)" in to_student["textContent"]
    assert f"at {local(start, 'America/New_York')}" in to_tutor["subject"]
    assert "(America/New_York)" in to_tutor["htmlContent"] and "with Sam Taylor" in to_tutor["subject"]
    for message in (to_student, to_tutor):
        ics = FakeBrevo.attachment(message, "lesson.ics").decode()
        assert "METHOD:PUBLISH" in ics and f"UID:booking-{booking['id']}@edustream" in ics
        assert f"DTSTART:{start:%Y%m%dT%H%M%SZ}" in ics
        assert f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}" in ics
        assert "SEQUENCE:0" in ics and "\r\n" in ics


async def test_hold_expiring_email_goes_to_the_student_only(ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks,
                                                            db: asyncpg.Pool) -> None:
    tutor, student = await parties(ic)
    r = await ic.post("/api/v1/holds", headers=student["headers"],
                      json={"tutor_id": tutor["id"], "start": lesson_start().isoformat(), "minutes": 60})
    held = r.json()
    # What the jobs' alert sweep records when it sends hold.expiring.
    await db.execute("INSERT INTO booking_events (booking_id, kind, from_status, to_status, data) "
                     "VALUES ($1, 'hold_expiring', 'held', 'held', '{}')", uuid.UUID(held["id"]))
    await tasks.settle(EMAIL)
    message = only(fakes.brevo, student["user"]["email"], "hold_expiring")
    expires = datetime.fromisoformat(held["expires_at"].replace("Z", "+00:00"))
    assert f"lapses at {local(expires, 'Asia/Tokyo')} JST" in message["subject"]
    assert f"http://frontend.test/bookings/{held['id']}/checkout" in message["htmlContent"]
    assert [m for m in fakes.brevo.to(tutor["user"]["email"]) if m["tags"] == ["hold_expiring"]] == []


async def test_hold_expiring_email_is_skipped_once_the_hold_is_paid(ic: httpx.AsyncClient, fakes: Fakes,
                                                                   tasks: InlineTasks, db: asyncpg.Pool) -> None:
    tutor, student = await parties(ic)
    booking = await book(ic, student, tutor["id"], lesson_start())
    await db.execute("INSERT INTO booking_events (booking_id, kind, from_status, to_status, data) "
                     "VALUES ($1, 'hold_expiring', 'held', 'held', '{}')", uuid.UUID(booking["id"]))
    results = await tasks.settle(EMAIL)
    assert [r for n, a, r in results if a[1] == "hold_expiring"] == ["skipped"]
    assert [m for m in fakes.brevo.sent if m["tags"] == ["hold_expiring"]] == []


async def test_reminder_goes_to_both_parties_once_before_the_lesson(ic: httpx.AsyncClient, fakes: Fakes,
                                                                   tasks: InlineTasks) -> None:
    tutor, student = await parties(ic)
    start = lesson_start(days=3)
    booking = await book(ic, student, tutor["id"], start)
    await tasks.settle(EMAIL)
    assert [m for m in fakes.brevo.sent if m["tags"] == ["session_reminder"]] == []
    # EMAIL_REMINDER_MINUTES (24 h) before the lesson, the reminder is due; a later sweep sends nothing more.
    await tasks.dispatch(now=start - timedelta(hours=2))
    await tasks.dispatch(now=start - timedelta(hours=1))
    await tasks.drain(EMAIL)
    to_student = only(fakes.brevo, student["user"]["email"], "session_reminder")
    only(fakes.brevo, tutor["user"]["email"], "session_reminder")
    assert f"{local(start, 'Asia/Tokyo')}–" in to_student["textContent"]
    assert f"http://frontend.test/bookings/{booking['id']}" in to_student["textContent"]


async def test_no_reminder_for_a_lesson_booked_inside_the_reminder_lead(ic: httpx.AsyncClient, fakes: Fakes,
                                                                       tasks: InlineTasks) -> None:
    tutor, student = await parties(ic)
    soon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)
    await book(ic, student, tutor["id"], soon)
    await tasks.settle(EMAIL)
    assert [m for m in fakes.brevo.sent if m["tags"] == ["session_reminder"]] == []


async def test_rescheduled_email_shows_the_old_and_new_times_with_an_updated_ics(
        ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks) -> None:
    tutor, student = await parties(ic)
    old, new = lesson_start(), lesson_start(days=4, hour=9)
    booking = await book(ic, student, tutor["id"], old)
    r = await ic.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=tutor["headers"],
                      json={"start": new.isoformat()})
    assert r.status_code == 200, r.text
    await tasks.settle(EMAIL)
    for party, zone in ((student, "Asia/Tokyo"), (tutor, "America/New_York")):
        message = only(fakes.brevo, party["user"]["email"], "booking_rescheduled")
        assert f"at {local(new, zone)}" in message["subject"]
        assert f"from {old.astimezone(ZoneInfo(zone)):%A}" in message["textContent"]
        ics = FakeBrevo.attachment(message, "lesson.ics").decode()
        assert f"DTSTART:{new:%Y%m%dT%H%M%SZ}" in ics and "SEQUENCE:1" in ics


async def test_cancellation_emails_both_parties_and_the_refund_email_follows(
        ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks) -> None:
    tutor, student = await parties(ic)
    booking = await book(ic, student, tutor["id"], lesson_start())
    r = await ic.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=tutor["headers"],
                      json={"reason": "I am unwell"})
    assert r.status_code == 200, r.text
    assert r.json()["payment_status"] == "refunded"
    await tasks.settle(EMAIL)
    to_student = only(fakes.brevo, student["user"]["email"], "booking_cancelled")
    to_tutor = only(fakes.brevo, tutor["user"]["email"], "booking_cancelled")
    assert "Amelia Hart cancelled this lesson" in to_student["textContent"]
    assert "You will be refunded 60.00 USD" in to_student["textContent"]
    assert "You cancelled this lesson" in to_tutor["textContent"] and "refunded" not in to_tutor["textContent"]
    assert "I am unwell" in to_tutor["htmlContent"]
    ics = FakeBrevo.attachment(to_student, "lesson.ics").decode()
    assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics
    refund = only(fakes.brevo, student["user"]["email"], "refund_issued")
    assert refund["subject"] == "Your refund of 60.00 USD has been issued"
    assert [m for m in fakes.brevo.to(tutor["user"]["email"]) if m["tags"] == ["refund_issued"]] == []


async def test_preview_command_renders_every_template_to_html(tmp_path: Path) -> None:
    assert cli_main(["emails", "preview", "--out", str(tmp_path)]) == 0
    for name in TEMPLATES:
        page = (tmp_path / f"{name}.html").read_text()
        assert page.startswith("<!doctype html>") and "{{" not in page and "Sam Taylor" in page
        assert (tmp_path / f"{name}.txt").read_text().startswith("Subject: ")
    index = (tmp_path / "index.html").read_text()
    assert all(f'href="{name}.html"' in index for name in TEMPLATES)


async def test_reserved_domains_such_as_the_demo_accounts_get_no_mail(fakes: Fakes, tasks: InlineTasks) -> None:
    assert await tasks.run("email.send", "student1@demo.edustream.test", "welcome", {}) == "skipped"
    assert await tasks.run("email.send", "someone@example.com", "welcome", {}) != "skipped"
    assert [m["to"][0]["email"] for m in fakes.brevo.sent] == ["someone@example.com"]


async def test_a_series_is_confirmed_in_one_email_that_marks_the_lessons_moving_on_the_students_clock(
        ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks) -> None:
    tutor = await tutor_with_profile(ic, timezone="America/New_York", max_advance_days=365)
    student = await quick_user("student", "Sam Taylor")
    assert (await ic.put("/api/v1/me", headers=student["headers"], json={"timezone": "Europe/London"})).status_code == 200
    us = next_change("America/New_York", datetime.now(UTC).date() + timedelta(days=21))
    uk = next_change("Europe/London", datetime.now(UTC).date() + timedelta(days=21))
    start = weeks_before(min(us, uk), 1, "America/New_York", 10)
    weeks = 1 + (max(us, uk) - min(us, uk)).days // 7 + 2
    r = await ic.post("/api/v1/series", headers=student["headers"],
                      json={"tutor_id": tutor["id"], "start": start.isoformat(), "minutes": 60, "weeks": weeks})
    assert r.status_code == 201, r.text
    series = r.json()
    moves = sum(o["clock_change"] for o in series["occurrences"])
    assert moves >= 1
    first = series["occurrences"][0]["booking_id"]
    assert (await ic.post(f"/api/v1/bookings/{first}/checkout", headers=student["headers"])).status_code == 200
    r = await ic.post("/api/v1/payments/test/confirm", headers=student["headers"], json={"booking_id": first})
    assert r.status_code == 200, r.text
    await tasks.settle(EMAIL)
    to_student = only(fakes.brevo, student["user"]["email"], "booking_confirmed")  # one, not one per lesson
    to_tutor = only(fakes.brevo, tutor["user"]["email"], "booking_confirmed")
    text = to_student["textContent"]
    assert f"Your {weeks} weekly lessons are confirmed" in text
    assert f"CLOCK CHANGE: {moves} of these lessons" in text
    assert text.count("  * ") == moves and text.count("  - ") == weeks - moves
    assert "time moves on your clock" in to_student["htmlContent"]
    assert f"Your {weeks} weekly lessons are confirmed" in to_tutor["textContent"]
    assert "CLOCK CHANGE" not in to_tutor["textContent"] and to_tutor["textContent"].count("  - ") == weeks

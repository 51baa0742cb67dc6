"""Google Calendar against a local fake: connecting (tokens encrypted at rest), busy time that
blocks slots, bookings mirrored as events (created, moved, deleted), revoked access."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql import Range
from starlette.applications import Starlette

from server.calendar.repository import calendar_conflict
from server.calendar.service import tutors_to_refresh
from server.db import unit_of_work
from server.providers import crypto
from tests.fakes.google import Identity
from tests.fixtures.integrations import Fakes, InlineTasks, book, connect_calendar, quick_user, tutor_with_profile

CALENDAR_TASKS = {"calendar.sync_booking", "calendar.pull_busy"}


def day_at(hour: int, days: int = 2) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def z(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def connected_tutor(ic: httpx.AsyncClient, fakes: Fakes) -> dict[str, Any]:
    tutor = await tutor_with_profile(ic)
    tutor["google"] = Identity(f"g-{uuid.uuid4().hex[:8]}", tutor["user"]["email"])
    r = await connect_calendar(ic, fakes, tutor, tutor["google"])
    assert r.status_code == 302, r.text
    return tutor


async def slot_starts(ic: httpx.AsyncClient, tutor_id: str, day: datetime) -> set[str]:
    r = await ic.get(f"/api/v1/tutors/{tutor_id}/slots",
                     params={"from": z(day.replace(hour=0)), "to": z(day.replace(hour=0) + timedelta(days=1)),
                             "minutes": 60})
    assert r.status_code == 200, r.text
    return {s["start"] for s in r.json()["slots"]}


async def test_connecting_stores_encrypted_tokens_and_returns_to_the_frontend(
        ic: httpx.AsyncClient, fakes: Fakes, db: asyncpg.Pool, iapp: Starlette) -> None:
    tutor = await tutor_with_profile(ic)
    r = await connect_calendar(ic, fakes, tutor, Identity("g-cal-1", "amelia.cal@example.com"))
    assert r.status_code == 302 and r.headers["location"] == "http://frontend.test/account?google_calendar=connected"
    [auth] = fakes.google.authorizations
    assert auth["access_type"] == "offline" and auth["prompt"] == "consent" and auth["code_challenge"]
    assert set(auth["scope"].split()) == {"openid", "email", "https://www.googleapis.com/auth/calendar.events",
                                          "https://www.googleapis.com/auth/calendar.freebusy"}
    row = await db.fetchrow("SELECT * FROM oauth_connections WHERE user_id = $1", uuid.UUID(tutor["id"]))
    [refresh_token] = [t for t in fakes.google._refresh if fakes.google._refresh[t].sub == "g-cal-1"]
    assert row["status"] == "active" and row["account_email"] == "amelia.cal@example.com"
    assert refresh_token not in row["refresh_token_enc"]
    assert crypto.decrypt(iapp.state.settings, row["refresh_token_enc"]) == refresh_token
    status = (await ic.get("/api/v1/integrations", headers=tutor["headers"])).json()["google_calendar"]
    assert status["connected"] is True and status["account_email"] == "amelia.cal@example.com"


async def test_busy_calendar_time_blocks_the_slot_and_tells_watchers(ic: httpx.AsyncClient, fakes: Fakes,
                                                                    db: asyncpg.Pool) -> None:
    tutor = await connected_tutor(ic, fakes)
    day = day_at(10)
    before = await slot_starts(ic, tutor["id"], day)
    assert z(day) in before
    fakes.google.busy[tutor["user"]["email"]] = [(z(day + timedelta(minutes=15)), z(day + timedelta(minutes=45)))]
    version = await db.fetchval("SELECT version FROM tutor_versions WHERE tutor_id = $1", uuid.UUID(tutor["id"]))
    r = await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "changed"
    assert body["busy"] == [{"start": z(day + timedelta(minutes=15)), "end": z(day + timedelta(minutes=45))}]
    after = await slot_starts(ic, tutor["id"], day)
    assert before - after == {z(day)}
    row = await db.fetchrow("SELECT version, payload FROM outbox WHERE tutor_id = $1 AND event = 'slots.changed' "
                            "ORDER BY id DESC LIMIT 1", uuid.UUID(tutor["id"]))
    assert row["version"] == version + 1 and json.loads(row["payload"])["resync"] is True
    # Unchanged busy time: no new version.
    assert (await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])).json()["outcome"] \
        == "unchanged"
    assert await db.fetchval("SELECT version FROM tutor_versions WHERE tutor_id = $1", uuid.UUID(tutor["id"])) \
        == version + 1
    fakes.google.busy.clear()
    assert (await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])).json()["outcome"] \
        == "changed"
    assert await slot_starts(ic, tutor["id"], day) == before


async def test_calendar_conflict_reports_busy_time_for_the_hold_path(ic: httpx.AsyncClient, fakes: Fakes,
                                                                    iapp: Starlette) -> None:
    tutor = await connected_tutor(ic, fakes)
    day = day_at(10)
    fakes.google.busy[tutor["user"]["email"]] = [(z(day), z(day + timedelta(hours=1)))]
    await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    async with unit_of_work(iapp.state.sessionmaker) as session:
        tid = uuid.UUID(tutor["id"])
        assert await calendar_conflict(session, tid, Range(day + timedelta(minutes=30), day + timedelta(hours=2)))
        assert not await calendar_conflict(session, tid, Range(day + timedelta(hours=1), day + timedelta(hours=2)))


async def test_a_hold_on_busy_calendar_time_is_refused(ic: httpx.AsyncClient, fakes: Fakes) -> None:
    tutor = await connected_tutor(ic, fakes)
    day = day_at(10)
    fakes.google.busy[tutor["user"]["email"]] = [(z(day + timedelta(minutes=15)), z(day + timedelta(minutes=30)))]
    await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    student = await quick_user("student")
    r = await ic.post("/api/v1/holds", headers=student["headers"],
                      json={"tutor_id": tutor["id"], "start": day.isoformat(), "minutes": 60})
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_unavailable", r.text
    r = await ic.post("/api/v1/holds", headers=student["headers"],
                      json={"tutor_id": tutor["id"], "start": (day + timedelta(hours=1)).isoformat(), "minutes": 60})
    assert r.status_code == 201, r.text


async def test_a_confirmed_booking_becomes_an_event_that_moves_and_is_deleted(
        ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks, db: asyncpg.Pool) -> None:
    tutor = await connected_tutor(ic, fakes)
    student = await quick_user("student", "Sam Taylor")
    student_google = Identity("g-student-cal", student["user"]["email"])
    assert (await connect_calendar(ic, fakes, student, student_google)).status_code == 302
    first, second = day_at(10), day_at(15, days=3)
    booking = await book(ic, student, tutor["id"], first)
    await tasks.settle(CALENDAR_TASKS)
    event_id = uuid.UUID(booking["id"]).hex
    for email, other in ((tutor["user"]["email"], "Sam Taylor"), (student["user"]["email"], "Amelia Hart")):
        events = fakes.google.events_of(email)
        assert list(events) == [event_id]
        event = events[event_id]
        assert event["summary"] == f"EduStream lesson with {other}"
        assert datetime.fromisoformat(event["start"]["dateTime"]) == first
        assert datetime.fromisoformat(event["end"]["dateTime"]) == first + timedelta(hours=1)
        assert event["extendedProperties"]["private"]["edustream_booking_id"] == booking["id"]
    assert await db.fetchval("SELECT count(*) FROM calendar_events WHERE booking_id = $1",
                             uuid.UUID(booking["id"])) == 2

    r = await ic.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=student["headers"],
                      json={"start": second.isoformat()})
    assert r.status_code == 200, r.text
    ran = await tasks.settle(CALENDAR_TASKS)
    assert ("calendar.pull_busy", (tutor["id"],)) in [(n, a) for n, a, _ in ran]
    for email in (tutor["user"]["email"], student["user"]["email"]):
        event = fakes.google.events_of(email)[event_id]
        assert datetime.fromisoformat(event["start"]["dateTime"]) == second
    assert len(fakes.google.calls("PATCH", "/calendar/v3/calendars/primary/events/")) == 2

    r = await ic.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=student["headers"], json={})
    assert r.status_code == 200, r.text
    await tasks.settle(CALENDAR_TASKS)
    assert fakes.google.events_of(tutor["user"]["email"]) == {}
    assert fakes.google.events_of(student["user"]["email"]) == {}
    assert await db.fetchval("SELECT count(*) FROM calendar_events") == 0
    # Running the same sync again changes nothing at Google.
    calls = len(fakes.google.requests)
    assert await tasks.run("calendar.sync_booking", booking["id"]) == "tutor:nothing student:nothing"
    assert len([r for r in fakes.google.requests[calls:] if "/events" in r.path]) == 0


async def test_an_event_inserted_by_a_run_that_died_is_adopted_not_duplicated(
        ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks, db: asyncpg.Pool) -> None:
    tutor = await connected_tutor(ic, fakes)
    student = await quick_user("student")
    booking = await book(ic, student, tutor["id"], day_at(11))
    await tasks.settle(CALENDAR_TASKS)
    await db.execute("DELETE FROM calendar_events")  # as if the first run died before recording its event
    assert await tasks.run("calendar.sync_booking", booking["id"]) == "tutor:patched student:not_connected"
    assert len(fakes.google.events_of(tutor["user"]["email"])) == 1


async def test_a_revoked_grant_disconnects_cleanly_and_tells_the_user(ic: httpx.AsyncClient, fakes: Fakes,
                                                                     db: asyncpg.Pool) -> None:
    tutor = await connected_tutor(ic, fakes)
    day = day_at(10)
    fakes.google.busy[tutor["user"]["email"]] = [(z(day), z(day + timedelta(hours=1)))]
    await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    assert z(day) not in await slot_starts(ic, tutor["id"], day)
    fakes.google.revoke_all(tutor["user"]["email"])

    r = await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    assert r.status_code == 200 and r.json()["outcome"] == "revoked"
    row = await db.fetchrow("SELECT status, refresh_token_enc, access_token_enc, last_error FROM oauth_connections "
                            "WHERE user_id = $1", uuid.UUID(tutor["id"]))
    assert row["status"] == "revoked" and row["refresh_token_enc"] is None and row["access_token_enc"] is None
    assert "revoked" in row["last_error"]
    assert await db.fetchval("SELECT count(*) FROM calendar_busy") == 0
    assert z(day) in await slot_starts(ic, tutor["id"], day)
    [told] = await db.fetch("SELECT room, payload FROM outbox WHERE event = 'integration.disconnected'")
    assert told["room"] == f"user:{tutor['id']}"
    assert json.loads(told["payload"])["provider"] == "google_calendar"
    status = (await ic.get("/api/v1/integrations", headers=tutor["headers"])).json()["google_calendar"]
    assert status["connected"] is False and status["status"] == "revoked" and "connect the calendar again" in \
        status["last_error"]
    # Reconnecting brings it back.
    assert (await connect_calendar(ic, fakes, tutor, tutor["google"])).status_code == 302
    status = (await ic.get("/api/v1/integrations", headers=tutor["headers"])).json()["google_calendar"]
    assert status["connected"] is True and status["last_error"] is None


async def test_an_expired_access_token_is_refreshed_and_stored_encrypted(ic: httpx.AsyncClient, fakes: Fakes,
                                                                        db: asyncpg.Pool, iapp: Starlette) -> None:
    tutor = await connected_tutor(ic, fakes)
    await db.execute("UPDATE oauth_connections SET access_token_expires_at = now() - interval '1 minute'")
    old = await db.fetchval("SELECT access_token_enc FROM oauth_connections")
    r = await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    assert r.status_code == 200, r.text
    [refresh] = [c for c in fakes.google.calls("POST", "/token") if c.form()["grant_type"] == "refresh_token"]
    row = await db.fetchrow("SELECT access_token_enc, access_token_expires_at FROM oauth_connections")
    assert row["access_token_enc"] != old and row["access_token_expires_at"] > datetime.now(UTC)
    assert crypto.decrypt(iapp.state.settings, row["access_token_enc"]).startswith("ya29.")
    assert refresh.form()["client_id"]


async def test_google_failing_on_sync_is_a_502_and_is_remembered(ic: httpx.AsyncClient, fakes: Fakes,
                                                                db: asyncpg.Pool) -> None:
    tutor = await connected_tutor(ic, fakes)
    fakes.google.fail_next("/calendar/v3/freeBusy", 503)
    r = await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    assert r.status_code == 502 and r.json()["error"]["code"] == "calendar_provider_error"
    assert "503" in await db.fetchval("SELECT last_error FROM oauth_connections")


async def test_disconnecting_revokes_at_google_and_forgets_everything(ic: httpx.AsyncClient, fakes: Fakes,
                                                                     db: asyncpg.Pool) -> None:
    tutor = await connected_tutor(ic, fakes)
    day = day_at(10)
    fakes.google.busy[tutor["user"]["email"]] = [(z(day), z(day + timedelta(hours=1)))]
    await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    r = await ic.delete("/api/v1/integrations/google-calendar", headers=tutor["headers"])
    assert r.status_code == 204
    assert len(fakes.google.calls("POST", "/revoke")) == 1
    assert await db.fetchval("SELECT count(*) FROM oauth_connections") == 0
    assert z(day) in await slot_starts(ic, tutor["id"], day)
    r = await ic.post("/api/v1/integrations/google-calendar/sync", headers=tutor["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "calendar_not_connected"


async def test_the_scheduled_refresh_covers_connected_tutors_only(ic: httpx.AsyncClient, fakes: Fakes,
                                                                 iapp: Starlette) -> None:
    tutor = await connected_tutor(ic, fakes)
    student = await quick_user("student")
    await connect_calendar(ic, fakes, student, Identity("g-s", student["user"]["email"]))
    async with unit_of_work(iapp.state.sessionmaker) as session:
        assert await tutors_to_refresh(session) == [uuid.UUID(tutor["id"])]


async def test_a_callback_that_is_not_googles_redirect_is_a_typed_422(ic: httpx.AsyncClient) -> None:
    for params in ({}, {"state": "abc"}, {"code": "c"}):
        r = await ic.get("/api/v1/integrations/google-calendar/callback", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["code"] == "invalid_request"


async def test_refusing_access_at_google_is_explained_on_a_page(ic: httpx.AsyncClient) -> None:
    r = await ic.get("/api/v1/integrations/google-calendar/callback", params={"state": "s", "error": "access_denied"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    assert "You did not allow access to your calendar." in r.text
    # Back to the account settings, where calendar connect lives (there is no "account page").
    assert "/settings\">Back to EduStream</a>" in r.text


async def test_the_callback_on_a_server_without_google_is_a_typed_4xx(client: httpx.AsyncClient) -> None:
    url = "/api/v1/integrations/google-calendar/callback"
    r = await client.get(url)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_request")
    r = await client.get(url, params={"state": "s", "code": "c"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "google_not_configured")


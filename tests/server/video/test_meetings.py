"""Zoom meetings against a local fake: Server-to-Server OAuth token caching, and a meeting that
is created on confirmation (join link on the booking), moved on reschedule, deleted on cancel."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from server.providers.http import ProviderRejected
from tasks.bookings import alert_sessions
from tasks.outbound import PermanentError, permanent_on_rejection
from tests.fixtures.integrations import Fakes, InlineTasks, book, quick_user, tutor_with_profile

VIDEO = {"video.create_meeting"}


def day_at(hour: int, days: int = 2) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


async def confirmed(ic: httpx.AsyncClient, start: datetime) -> tuple[dict, dict, dict]:
    tutor = await tutor_with_profile(ic)
    student = await quick_user("student")
    return tutor, student, await book(ic, student, tutor["id"], start)


async def test_a_meeting_follows_the_booking_from_confirmation_to_cancellation(
        ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks, db: asyncpg.Pool) -> None:
    start, moved = day_at(10), day_at(16, days=3)
    tutor, student, booking = await confirmed(ic, start)
    ran = await tasks.settle(VIDEO)
    assert [r for n, _, r in ran] == ["created"]
    [meeting] = fakes.zoom.meetings.values()
    assert meeting["start_time"] == start.strftime("%Y-%m-%dT%H:%M:%SZ") and meeting["duration"] == 60
    assert meeting["type"] == 2 and meeting["timezone"] == "UTC"
    seen = (await ic.get(f"/api/v1/bookings/{booking['id']}", headers=student["headers"])).json()
    assert seen["join_url"] == meeting["join_url"]
    updates = await db.fetch("SELECT room, payload FROM outbox WHERE event = 'booking.updated' "
                             "ORDER BY id DESC LIMIT 2")
    assert {u["room"] for u in updates} == {f"user:{student['user']['id']}", f"user:{tutor['id']}"}
    assert all(json.loads(u["payload"])["booking"]["join_url"] == meeting["join_url"] for u in updates)

    r = await ic.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=tutor["headers"],
                      json={"start": moved.isoformat()})
    assert r.status_code == 200, r.text
    assert [r for n, _, r in await tasks.settle(VIDEO)] == ["updated"]
    assert meeting["start_time"] == moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    [patch] = fakes.zoom.calls("PATCH", "/v2/meetings/")
    assert patch.path == f"/v2/meetings/{meeting['id']}"

    r = await ic.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=tutor["headers"], json={})
    assert r.status_code == 200, r.text
    assert [r for n, _, r in await tasks.settle(VIDEO)] == ["deleted"]
    assert fakes.zoom.meetings == {}
    seen = (await ic.get(f"/api/v1/bookings/{booking['id']}", headers=student["headers"])).json()
    assert seen["join_url"] is None
    assert await db.fetchval("SELECT count(*) FROM video_meetings") == 0
    # One token served every call.
    assert fakes.zoom.tokens_issued == 1
    [token_call] = fakes.zoom.calls("POST", "/oauth/token")
    assert token_call.query == {"grant_type": "account_credentials", "account_id": "zoom-account-1"}


async def test_running_the_meeting_task_twice_creates_one_meeting(ic: httpx.AsyncClient, fakes: Fakes,
                                                                  tasks: InlineTasks) -> None:
    _, _, booking = await confirmed(ic, day_at(11))
    results = await asyncio.gather(tasks.run("video.create_meeting", booking["id"]),
                                   tasks.run("video.create_meeting", booking["id"]))
    assert sorted(results) == ["created", "unchanged"]
    assert len(fakes.zoom.meetings) == 1


async def test_the_access_token_is_cached_until_it_expires(ic: httpx.AsyncClient, fakes: Fakes,
                                                          tasks: InlineTasks) -> None:
    fakes.zoom.token_ttl = 61  # cached for 61 - 60 = 1 second
    _, _, first = await confirmed(ic, day_at(9))
    tutor, _, second = await confirmed(ic, day_at(12))
    await tasks.run("video.create_meeting", first["id"])
    await tasks.run("video.create_meeting", second["id"])
    assert fakes.zoom.tokens_issued == 1
    await asyncio.sleep(1.2)
    await ic.post(f"/api/v1/bookings/{second['id']}/cancel", headers=tutor["headers"], json={})
    await tasks.run("video.create_meeting", second["id"])
    assert fakes.zoom.tokens_issued == 2


async def test_a_token_zoom_no_longer_honours_is_replaced_once(ic: httpx.AsyncClient, fakes: Fakes,
                                                              tasks: InlineTasks) -> None:
    _, _, first = await confirmed(ic, day_at(9))
    _, _, second = await confirmed(ic, day_at(13))
    await tasks.run("video.create_meeting", first["id"])
    fakes.zoom.invalidate_tokens()
    assert await tasks.run("video.create_meeting", second["id"]) == "created"
    assert fakes.zoom.tokens_issued == 2 and len(fakes.zoom.meetings) == 2


async def test_session_starting_carries_the_join_link(ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks,
                                                      iapp: Starlette, db: asyncpg.Pool) -> None:
    start = day_at(10)
    _, _, booking = await confirmed(ic, start)
    await tasks.settle(VIDEO)
    [meeting] = fakes.zoom.meetings.values()
    assert await alert_sessions(iapp.state.sessionmaker, iapp.state.settings, start - timedelta(minutes=5)) == 1
    payloads = [json.loads(r["payload"]) for r in await db.fetch(
        "SELECT payload FROM outbox WHERE event = 'session.starting'")]
    assert len(payloads) == 2 and all(p["join_url"] == meeting["join_url"] for p in payloads)
    assert payloads[0]["booking_id"] == booking["id"]


async def test_zoom_refusing_a_meeting_is_permanent_and_a_zoom_outage_is_not(
        ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks, db: asyncpg.Pool) -> None:
    _, _, booking = await confirmed(ic, day_at(14))
    fakes.zoom.fail_next("/v2/users/me/meetings", 400, body={"code": 300, "message": "Invalid start_time"})
    with pytest.raises(PermanentError, match="Invalid start_time"), permanent_on_rejection():
        await tasks.run("video.create_meeting", booking["id"])
    fakes.zoom.fail_next("/v2/users/me/meetings", 503)
    with pytest.raises(Exception) as outage, permanent_on_rejection():
        await tasks.run("video.create_meeting", booking["id"])
    assert not isinstance(outage.value, (PermanentError, ProviderRejected))
    assert await tasks.run("video.create_meeting", booking["id"]) == "created"
    assert await db.fetchval("SELECT join_url FROM bookings WHERE id = $1", uuid.UUID(booking["id"]))

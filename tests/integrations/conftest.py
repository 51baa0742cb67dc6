"""Integration-test fixtures: local fake Google, Zoom and Brevo servers (one set per module,
reset before each test), an app configured to use them, and an in-process task runner that
runs what the dispatch sweep kicks with the same functions the worker's tasks call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.auth.tokens import issue_access_token
from server.db import libpq_url
from server.integrations.calendar_mirror import sync_booking_events
from server.integrations.dispatch import dispatch_due
from server.integrations.google_calendar import refresh_busy
from server.integrations.mail import deliver
from server.integrations.zoom import sync_meeting
from server.settings import Settings
from tests.conftest import _worker_database_url, make_settings, start_app
from tests.fakes import google as fg
from tests.fakes import zoom as fz
from tests.fakes.brevo import API_KEY, FakeBrevo
from tests.fakes.google import FakeGoogle, Identity
from tests.fixtures.bookings import _PASSWORD_HASH
from tests.helpers import bearer, unique_email
from tests.tasks.conftest import jobs as jobs  # the real worker + scheduler fixture (tests/integrations/test_worker.py)


@dataclass
class Fakes:
    google: FakeGoogle
    zoom: fz.FakeZoom
    brevo: FakeBrevo


@pytest.fixture(scope="module")
async def fakes() -> AsyncIterator[Fakes]:
    servers = Fakes(await FakeGoogle().start(), await fz.FakeZoom().start(), await FakeBrevo().start())
    yield servers
    for server in (servers.google, servers.zoom, servers.brevo):
        await server.stop()


def integration_settings(fakes: Fakes, **overrides: Any) -> Settings:
    """Every integration configured against the fakes."""
    values: dict[str, Any] = {
        "public_url": "http://testserver", "frontend_url": "http://frontend.test",
        "google_client_id": fg.CLIENT_ID, "google_client_secret": fg.CLIENT_SECRET,
        "google_discovery_url": fakes.google.discovery_url, "google_calendar_api_base": fakes.google.calendar_base,
        "zoom_account_id": fz.ACCOUNT_ID, "zoom_client_id": fz.CLIENT_ID, "zoom_client_secret": fz.CLIENT_SECRET,
        "zoom_oauth_url": fakes.zoom.oauth_url, "zoom_api_base": fakes.zoom.api_base,
        "brevo_api_key": API_KEY, "brevo_api_base": fakes.brevo.url,
        "email_sender_address": "lessons@edustream.test",
        "integrations_http_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return make_settings(**values)


@pytest.fixture(scope="module")
async def isettings(fakes: Fakes, database_url: str) -> Settings:
    return integration_settings(fakes)


@pytest.fixture(scope="module")
async def iapp(isettings: Settings, db: asyncpg.Pool, redis: Redis) -> AsyncIterator[Starlette]:
    application, ctx = await start_app(isettings)
    yield application
    await ctx.__aexit__(None, None, None)


@pytest.fixture(autouse=True)
def _reset_fakes(request: pytest.FixtureRequest) -> None:
    if "fakes" in request.fixturenames:
        servers: Fakes = request.getfixturevalue("fakes")
        servers.google.reset()
        servers.zoom.reset()
        servers.brevo.requests.clear()
        servers.brevo.sent.clear()
        servers.brevo._failures.clear()


@pytest.fixture
async def ic(iapp: Starlette, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the integration-configured app (its cookie jar keeps the OAuth session)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=iapp), base_url="http://testserver") as c:
        yield c


@dataclass
class InlineTasks:
    """Runs kicked integration tasks in this process, in order, until none are left."""

    app: Starlette
    kicked: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    ran: list[tuple[str, tuple[Any, ...], Any]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        settings: Settings = self.app.state.settings
        return settings

    async def kick(self, name: str, *args: Any) -> None:
        self.kicked.append((name, args))

    async def dispatch(self, now: datetime | None = None) -> int:
        return await dispatch_due(self.app.state.sessionmaker, self.settings, now or datetime.now(UTC), self.kick)

    async def run(self, name: str, *args: Any) -> Any:
        sm, settings = self.app.state.sessionmaker, self.settings
        if name == "email.send":
            return await deliver(sm, settings, *args)
        if name == "calendar.sync_booking":
            return await sync_booking_events(sm, settings, self.app.state.redis, uuid.UUID(args[0]), kick=self.kick)
        if name == "video.create_meeting":
            return await sync_meeting(sm, settings, self.app.state.redis, uuid.UUID(args[0]), kick=self.kick)
        if name == "calendar.pull_busy":
            return await refresh_busy(sm, settings, uuid.UUID(args[0]))
        raise LookupError(name)

    async def drain(self, only: set[str] | None = None) -> list[tuple[str, tuple[Any, ...], Any]]:
        """Run every kicked task (and what they kick) whose name is in ``only`` (default: all)."""
        done: list[tuple[str, tuple[Any, ...], Any]] = []
        while True:
            pending = [k for k in self.kicked if only is None or k[0] in only]
            if not pending:
                return done
            self.kicked = [k for k in self.kicked if k not in pending]
            for name, args in pending:
                result = await self.run(name, *args)
                done.append((name, args, result))
                self.ran.append((name, args, result))

    async def settle(self, only: set[str] | None = None) -> list[tuple[str, tuple[Any, ...], Any]]:
        """Dispatch what changed, then run it all."""
        await self.dispatch()
        return await self.drain(only)


@pytest.fixture
def tasks(iapp: Starlette) -> InlineTasks:
    return InlineTasks(iapp)


async def connect_calendar(client: httpx.AsyncClient, fakes: Fakes, user: dict[str, Any],
                           identity: Identity) -> httpx.Response:
    """Walk the real connect flow: our redirect, Google's consent (simulated), our callback."""
    r = await client.get("/api/v1/integrations/google-calendar/connect", headers=user["headers"],
                         params={"next": "/account"})
    assert r.status_code == 302, r.text
    fakes.google.next_identity = identity
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(r.headers["location"])
    assert consent.status_code == 302, consent.text
    return await client.get(consent.headers["location"])


async def quick_user(role: str = "student", name: str | None = None, email: str | None = None) -> dict[str, Any]:
    """An account inserted straight into the database (registering through argon2 costs most of a
    second on a busy machine), shaped like ``tests.helpers.register``'s result."""
    uid = uuid.uuid4()
    name = name or f"Test {role.capitalize()}"
    email = email or unique_email(role)
    conn = await asyncpg.connect(libpq_url(_worker_database_url()))
    try:
        await conn.execute("INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5)",
                           uid, email, name, role, _PASSWORD_HASH)
    finally:
        await conn.close()
    token = issue_access_token(make_settings(), uid, role)
    return {"user": {"id": str(uid), "email": email, "name": name, "role": role}, "access_token": token,
            "headers": bearer(token)}


async def tutor_with_profile(client: httpx.AsyncClient, *, rate: int = 6000, timezone: str = "UTC",
                             lesson_minutes: int = 60) -> dict[str, Any]:
    """A tutor teaching around the clock."""
    tutor = await quick_user("tutor", "Amelia Hart")
    r = await client.put("/api/v1/tutors/me", headers=tutor["headers"], json={
        "headline": "Maths", "bio": "Patient.", "subjects": ["mathematics"], "hourly_rate_cents": rate,
        "currency": "USD", "timezone": timezone, "lesson_minutes": [lesson_minutes], "min_notice_minutes": 0,
        "buffer_minutes": 0, "max_advance_days": 60})
    assert r.status_code == 200, r.text
    r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
        "rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)], "overrides": []})
    assert r.status_code == 200, r.text
    tutor["id"] = tutor["user"]["id"]
    return tutor


async def book(client: httpx.AsyncClient, student: dict[str, Any], tutor_id: str, start: datetime,
               minutes: int = 60) -> dict[str, Any]:
    """Hold and pay (test provider) a lesson; returns the confirmed booking."""
    r = await client.post("/api/v1/holds", headers=student["headers"],
                          json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": minutes})
    assert r.status_code == 201, r.text
    booking_id = r.json()["id"]
    r = await client.post(f"/api/v1/bookings/{booking_id}/checkout", headers=student["headers"])
    assert r.status_code == 200, r.text
    if r.json()["booking"]["status"] != "confirmed":
        r = await client.post("/api/v1/payments/test/confirm", headers=student["headers"],
                              json={"booking_id": booking_id})
        assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/bookings/{booking_id}", headers=student["headers"])
    booking: dict[str, Any] = r.json()
    assert booking["status"] == "confirmed", booking
    return booking


__all__ = ["Fakes", "InlineTasks", "book", "connect_calendar", "integration_settings", "quick_user",
           "tutor_with_profile"]

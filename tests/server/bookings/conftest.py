"""Fixtures for booking tests: a bookable tutor and cheaply minted students."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from server.auth.tokens import hash_password, issue_access_token
from server.settings import Settings
from tests.helpers import bearer, register

_PASSWORD_HASH = hash_password("correct horse battery")

TutorFactory = Callable[..., Awaitable[dict[str, Any]]]
StudentFactory = Callable[[int], Awaitable[list[dict[str, Any]]]]


def next_day_at(hour: int, minute: int = 0, days: int = 2) -> datetime:
    """A UTC time ``days`` days from now at ``hour:minute``."""
    base = datetime.now(UTC) + timedelta(days=days)
    return base.replace(hour=hour, minute=minute, second=0, microsecond=0)


@pytest.fixture
def make_tutor(client: httpx.AsyncClient) -> TutorFactory:
    async def factory(*, rate: int = 6000, lesson_minutes: list[int] | None = None, buffer: int = 0,
                      min_notice: int = 0, max_advance: int = 60, timezone: str = "UTC",
                      rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        tutor = await register(client, role="tutor")
        r = await client.put("/api/v1/tutors/me", headers=tutor["headers"], json={
            "headline": "Patient maths tutor", "bio": "Ten years of teaching.", "subjects": ["mathematics"],
            "hourly_rate_cents": rate, "currency": "USD", "timezone": timezone,
            "lesson_minutes": lesson_minutes or [30, 60, 90], "min_notice_minutes": min_notice,
            "buffer_minutes": buffer, "max_advance_days": max_advance})
        assert r.status_code == 200, r.text
        all_week = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)]
        r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"],
                             json={"rules": rules if rules is not None else all_week, "overrides": []})
        assert r.status_code == 200, r.text
        tutor["id"] = tutor["user"]["id"]
        return tutor

    return factory


@pytest.fixture
async def tutor(make_tutor: TutorFactory) -> dict[str, Any]:
    return await make_tutor()


@pytest.fixture
def make_students(db: asyncpg.Pool, settings: Settings) -> StudentFactory:
    """Students inserted straight into the database (registering hundreds through argon2 is slow)."""

    async def factory(n: int) -> list[dict[str, Any]]:
        rows = [(uuid.uuid4(), f"s-{uuid.uuid4().hex[:10]}@example.com") for _ in range(n)]
        async with db.acquire() as conn:
            await conn.executemany(
                "INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, 'Student', 'student', $3)",
                [(uid, email, _PASSWORD_HASH) for uid, email in rows])
        return [{"id": str(uid), "headers": bearer(issue_access_token(settings, uid, "student"))} for uid, _ in rows]

    return factory


async def hold(client: httpx.AsyncClient, student: dict[str, Any], tutor_id: str, start: datetime,
               minutes: int = 60, **headers: str) -> httpx.Response:
    return await client.post("/api/v1/holds", headers={**student["headers"], **headers},
                             json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": minutes})

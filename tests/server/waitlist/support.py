"""Helpers for waitlist tests: joining a line, paying, expiring a hold, reading offers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from tasks.bookings import expire_lapsed_holds


async def join(client: httpx.AsyncClient, student: dict[str, Any], tutor_id: str, start: datetime,
               minutes: int = 60) -> httpx.Response:
    return await client.post("/api/v1/waitlist", headers=student["headers"],
                             json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": minutes})


async def pay(client: httpx.AsyncClient, student: dict[str, Any], booking_id: str) -> dict[str, Any]:
    r = await client.post(f"/api/v1/bookings/{booking_id}/checkout", headers=student["headers"])
    assert r.status_code == 200, r.text
    if r.json()["payment"]["provider"] == "test":
        r = await client.post("/api/v1/payments/test/confirm", headers=student["headers"],
                              json={"booking_id": booking_id})
        assert r.status_code == 200, r.text
        return dict(r.json())
    return dict(r.json()["booking"])


async def lapse(db: asyncpg.Pool, booking_id: str) -> None:
    """Let a hold's time run out (the sweep, or a takeover, then acts on it)."""
    await db.execute("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", booking_id)


async def lapsed_with_a_line(client: httpx.AsyncClient, db: asyncpg.Pool, tutor_id: str,
                             students: list[dict[str, Any]], start: datetime, minutes: int = 60) -> None:
    """``students[0]`` holds the slot, ``students[1]`` joins the line behind it, then the hold
    lapses (the sweep has not run: the line has not been offered it yet)."""
    holder, waiter = students[:2]
    r = await client.post("/api/v1/holds", headers=holder["headers"],
                          json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": minutes})
    assert r.status_code == 201, r.text
    assert (await join(client, waiter, tutor_id, start, minutes)).status_code == 201
    await lapse(db, r.json()["id"])


async def sweep(app: Starlette) -> int:
    return await expire_lapsed_holds(app.state.sessionmaker, app.state.settings, datetime.now(UTC))


async def live_holds(db: asyncpg.Pool, tutor_id: str, start: datetime) -> list[asyncpg.Record]:
    return await db.fetch("SELECT id, student_id, expires_at FROM bookings WHERE tutor_id = $1 AND start_at = $2 "
                          "AND status = 'held' AND expires_at > now()", tutor_id, start)


async def entries(db: asyncpg.Pool, tutor_id: str) -> list[asyncpg.Record]:
    return await db.fetch("SELECT id, student_id, status, reason, booking_id, seq FROM waitlist_entries "
                          "WHERE tutor_id = $1 ORDER BY seq", tutor_id)


async def outbox(db: asyncpg.Pool, event: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT room, payload, version FROM outbox WHERE event = $1 ORDER BY id", event)
    return [{"room": r["room"], "version": r["version"],
             "payload": json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"]} for r in rows]

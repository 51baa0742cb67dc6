"""The smallest honest Starlette + asyncpg endpoints doing the database work of EduStream's
two hot paths: the yardstick ``bench/holds.py`` measures the real API against.

    DATABASE_URL=postgresql://postgres@127.0.0.1/bench_x BENCH_STUDENT_ID=<uuid> \\
        uvicorn bench.minimal_app:app --workers 2

* ``POST /holds`` with ``{"tutor_id": uuid, "start": ISO 8601 with offset}``: one
  ``INSERT INTO bookings`` (the real table, so the same exclusion constraint, checks and foreign
  keys) of a 30-minute hold for ``BENCH_STUDENT_ID``; 201 with the new id, 409 when the
  exclusion constraint refuses it, 422 for a malformed body. No auth, rules, history or outbox:
  that is what the real endpoint adds.
* ``GET /tutors/{tutor_id}/slots``: the rows the real slot listing reads for the default window
  (now to now + 7 days): the tutor's weekly availability rules and the live bookings meeting the
  window, returned as JSON without computing slots from them.

Each uvicorn worker opens its own asyncpg pool (``MINIMAL_POOL_SIZE``, default 16).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HOLD_MINUTES = 30
HOLD_TTL = timedelta(minutes=10)
SLOT_WINDOW = timedelta(days=7)

# The raw baseline in bench/holds.py runs this very statement: one round trip, autocommit.
INSERT_HOLD = (
    "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, "
    "price_cents, currency) VALUES ($1, $2, $3, 'held', $4, $5, tstzrange($4, $5), $6, 6000, 'USD')"
)
RULES = ("SELECT weekday, start_minute, end_minute FROM availability_rules WHERE tutor_id = $1 "
         "ORDER BY weekday, start_minute")
LIVE_BOOKINGS = ("SELECT lower(guarded), upper(guarded), status, expires_at FROM bookings "
                 "WHERE tutor_id = $1 AND guarded && tstzrange($2, $3, '[)') "
                 "AND (status = 'confirmed' OR (status = 'held' AND expires_at > $4)) ORDER BY 1")


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.state.pool
    return pool


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def place_hold(request: Request) -> Response:
    try:
        body = json.loads(await request.body())
        tutor_id = uuid.UUID(body["tutor_id"])
        start = datetime.fromisoformat(body["start"])
    except (ValueError, KeyError, TypeError):
        return _error(422, "invalid_request", "expected {tutor_id: uuid, start: ISO 8601 with offset}")
    if start.tzinfo is None:
        return _error(422, "invalid_request", "start needs a UTC offset")
    hold_id = uuid.uuid4()
    end = start + timedelta(minutes=HOLD_MINUTES)
    expires = datetime.now(UTC) + HOLD_TTL
    try:
        await _pool(request).execute(INSERT_HOLD, hold_id, tutor_id, request.state.student_id, start, end, expires)
    except asyncpg.ExclusionViolationError:
        return _error(409, "slot_unavailable", "This slot is no longer available.")
    return JSONResponse({"id": str(hold_id), "status": "held", "tutor_id": str(tutor_id),
                         "start": start.isoformat(), "end": end.isoformat(), "expires_at": expires.isoformat()},
                        status_code=201)


async def slot_rows(request: Request) -> Response:
    try:
        tutor_id = uuid.UUID(request.path_params["tutor_id"])
    except ValueError:
        return _error(422, "invalid_request", "tutor_id must be a UUID")
    now = datetime.now(UTC)
    async with _pool(request).acquire() as conn:
        rules = await conn.fetch(RULES, tutor_id)
        busy = await conn.fetch(LIVE_BOOKINGS, tutor_id, now, now + SLOT_WINDOW, now)
    payload: dict[str, Any] = {
        "tutor_id": str(tutor_id),
        "rules": [[r[0], r[1], r[2]] for r in rules],
        "busy": [{"start": b[0].isoformat(), "end": b[1].isoformat(), "status": b[2],
                  "expires_at": b[3].isoformat() if b[3] else None} for b in busy],
    }
    return JSONResponse(payload)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    size = int(os.environ.get("MINIMAL_POOL_SIZE", "16"))
    pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=size, max_size=size)
    try:
        yield {"pool": pool, "student_id": uuid.UUID(os.environ["BENCH_STUDENT_ID"])}
    finally:
        await pool.close()


app = Starlette(routes=[Route("/holds", place_hold, methods=["POST"]),
                        Route("/tutors/{tutor_id}/slots", slot_rows, methods=["GET"])],
                lifespan=lifespan)

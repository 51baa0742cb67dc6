"""Readiness: can this process reach PostgreSQL and Redis?"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from server.db import Session
from server.health import repository

PROBE_TIMEOUT_SECONDS = 2.0


async def _probe(check: Callable[[], Awaitable[object]]) -> str:
    try:
        await asyncio.wait_for(check(), timeout=PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return f"error: {type(exc).__name__}"
    return "ok"


async def readiness(session: Session, redis: Redis) -> dict[str, str]:
    """``{"postgres": "ok"|"error: …", "redis": "ok"|"error: …"}``."""
    return {"postgres": await _probe(lambda: repository.ping(session)), "redis": await _probe(redis.ping)}

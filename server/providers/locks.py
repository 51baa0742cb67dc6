"""A short Redis lock that serializes the provider calls of one booking.

A PostgreSQL advisory lock would hold a pooled connection for the whole run while the run
needs a second one for its own writes: a burst of such tasks could take every connection and
wait on each other. A Redis key (SET NX PX, released only by its holder) costs nothing while
held; its TTL frees it if the holder dies.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

_UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class LockBusy(Exception):
    """Another run still holds the lock; the task is retried later."""


@asynccontextmanager
async def booking_lock(redis: Redis, name: str, *, ttl_seconds: float, wait_seconds: float) -> AsyncIterator[None]:
    """Hold ``edustream:lock:<name>`` while the block runs; wait up to ``wait_seconds`` for it."""
    key, token = f"edustream:lock:{name}", secrets.token_hex(8)
    deadline = time.monotonic() + wait_seconds
    while not await redis.set(key, token, nx=True, px=int(ttl_seconds * 1000)):
        if time.monotonic() > deadline:
            raise LockBusy(f"{name} is being synced by another run")
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        await redis.eval(_UNLOCK, 1, key, token)  # type: ignore[misc]

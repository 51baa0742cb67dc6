"""This process's tutor connections, kept present in Redis (:mod:`server.instant.presence`).

The namespace reports a tutor's connection when it signs in and when it closes; a heartbeat
task refreshes every local one each ``INSTANT_PRESENCE_HEARTBEAT_SECONDS``. One lock orders a
process's presence writes, so a heartbeat can never re-add a connection that has just left.
Redis trouble is logged and survived: presence is then missing (tutors look offline until the
next heartbeat), never wrong for longer than the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from server.instant import presence
from server.settings import Settings

log = logging.getLogger("edustream.live.presence")


class TutorPresence:
    """The tutor connections this API process holds (sid → tutor id)."""

    def __init__(self, settings: Settings, redis: Callable[[], Any]) -> None:
        self.settings = settings
        self._redis = redis
        self._local: dict[str, uuid.UUID] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def joined(self, sid: str, tutor_id: uuid.UUID) -> None:
        """A tutor signed in on connection ``sid``: present from now on."""
        async with self._lock:
            self._local[sid] = tutor_id
            await self._write(presence.touch, [(tutor_id, sid)])

    async def left(self, sid: str) -> None:
        """Connection ``sid`` closed (a no-op for connections of anyone but a tutor)."""
        async with self._lock:
            tutor_id = self._local.pop(sid, None)
            if tutor_id is not None:
                await self._write(presence.leave, tutor_id, sid)

    async def refresh(self) -> None:
        """One heartbeat: every local tutor connection present for another TTL."""
        async with self._lock:
            await self._write(presence.touch, [(t, sid) for sid, t in self._local.items()])

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="presence-heartbeat")

    async def stop(self) -> None:
        """Stop the heartbeat and let go of every local connection (a clean shutdown ends
        their presence at once; a crash ends it within the TTL)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sid in list(self._local):
            await self.left(sid)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.instant_presence_heartbeat_seconds)
            await self.refresh()

    async def _write(self, op: Callable[..., Any], *args: Any) -> None:
        redis = self._redis()
        if redis is None:
            return
        try:
            async with asyncio.timeout(self.settings.live_redis_timeout_seconds):
                await op(redis, self.settings, *args)
        except Exception:  # presence is best effort; the next heartbeat repairs it
            log.warning("presence update failed", exc_info=True)

"""The outbox relay: publishes every committed outbox row once, in order, after commit.

Design (docs/live.md, "Ordering and exactly once"):

* **One publisher at a time.** Each process that runs a relay (every API process, and the
  worker through :mod:`realtime.publisher`) keeps one PostgreSQL connection and tries to
  take a session-level advisory lock on it. The holder is the leader and the only process
  that publishes; the others stand by and retry every ``LIVE_RELAY_POLL_SECONDS``. When the
  leader dies its connection closes, PostgreSQL releases the lock, and a stand-by takes
  over on its next try. A leader that is frozen rather than dead (SIGSTOP) keeps its
  connection open, so the connection carries a lease: ``idle_session_timeout`` (and its
  in-transaction twin) a little over the publish timeout, which an active relay never reaches. A single publisher keeps the global ``id`` order, which within one
  tutor is the version order: a change bumps the tutor's version (row-locking it until
  commit) before inserting its outbox rows, so a later version always gets a larger id.
* **Woken after commit, and polling.** :func:`server.outbox.add_listener` calls
  :meth:`OutboxRelay.wake` after each commit that wrote outbox rows. The leader then
  publishes at once; a stand-by sends ``NOTIFY edustream_outbox`` so the leader (which
  ``LISTEN``s) does. Rows whose process died between commit and wake-up are found by the
  leader's poll.
* **Claim, publish, mark, commit.** A batch is claimed with ``FOR UPDATE SKIP LOCKED``,
  published to Redis, marked ``published_at`` and committed in one transaction. A crash
  after publishing but before the commit publishes the batch again; the fan-out manager
  of each process delivers a row (id and insert time) once, and clients ignore versions at or below the one
  they hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from realtime.manager import Broadcast
from server.db import libpq_url
from server.observability import metrics

log = logging.getLogger("edustream.live.relay")

NOTIFY_CHANNEL = "edustream_outbox"
LIVE_NAMESPACE = "/live"
NOTIFICATION_EVENT = "notification.new"
# A fixed 64-bit advisory-lock key; advisory locks are per database, so every deployment
# (and every test database) elects its own leader.
RELAY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"edustream.outbox.relay").digest()[:8], "big", signed=True)

# A row stored as a notification (models/notification.py) is published twice: the event, then
# ``notification.new`` built from the same row, so the two can never disagree.
_CLAIM = ("SELECT id, event, room, payload::text AS payload, version, "
          "id::text || '@' || (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint::text AS key, "
          "CASE WHEN notification_id IS NOT NULL THEN jsonb_build_object('notification', jsonb_build_object("
          "  'id', notification_id, 'kind', event, 'data', payload, 'read_at', NULL, 'created_at', "
          "  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')))::text END AS notification, "
          "EXTRACT(EPOCH FROM clock_timestamp() - created_at)::float8 AS age FROM outbox "
          "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED")
_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"

Publish = Callable[[Sequence[Broadcast]], Awaitable[None]]


def to_broadcasts(rows: Sequence[Any], namespace: str = LIVE_NAMESPACE) -> list[Broadcast]:
    """Outbox rows as broadcasts, keyed by row so no process delivers a row twice.

    The key is the id and the insert time: ids alone repeat if the sequence is ever reset
    (a restored database; tests that truncate with RESTART IDENTITY).
    """
    out: list[Broadcast] = []
    for r in rows:
        out.append(Broadcast(event=r["event"], data_json=r["payload"], room=r["room"], namespace=namespace,
                             key=r["key"]))
        if r.get("notification") is not None:
            out.append(Broadcast(event=NOTIFICATION_EVENT, data_json=r["notification"], room=r["room"],
                                 namespace=namespace, key=r["key"] + "/notification"))
    return out


class OutboxRelay:
    """Leader-elected publisher of unpublished outbox rows (see the module docstring)."""

    def __init__(self, database_url: str, publish: Publish, *, poll_seconds: float = 0.5,
                 batch_size: int = 500, lock_key: int = RELAY_LOCK_KEY, name: str = "api") -> None:
        self._dsn = libpq_url(database_url)
        self._publish = publish
        self._poll = poll_seconds
        self._batch = batch_size
        self._lock_key = lock_key
        self._name = name
        self._wake = asyncio.Event()
        self._notify_pending = False
        self._leader = False
        self._task: asyncio.Task[None] | None = None
        # A hung Redis must not hold the claimed rows forever: give up, roll back, retry.
        self._publish_timeout = max(5.0, 10 * poll_seconds)
        # The leadership lease: a relay works on its connection at least every poll, so a session
        # idle this long belongs to a frozen process (SIGSTOP, a VM pause). PostgreSQL ends it,
        # which frees the lock for a stand-by; the frozen one reconnects as a stand-by when it
        # wakes up (and a batch it published unmarked is delivered once, by key).
        self.lease_seconds = self._publish_timeout + 5.0
        self.published = 0

    @property
    def is_leader(self) -> bool:
        return self._leader

    def wake(self) -> None:
        """An outbox commit happened in this process: publish now (or ask the leader to)."""
        self._notify_pending = True
        self._wake.set()

    async def start(self) -> None:
        """Run the relay in the background until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"outbox-relay-{self._name}")

    async def stop(self) -> None:
        """Stop; the connection closes, which hands leadership to another process."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        backoff = self._poll
        while True:
            conn: asyncpg.Connection | None = None
            try:
                lease = str(int(self.lease_seconds * 1000))
                conn = await asyncpg.connect(self._dsn, server_settings={
                    "application_name": f"edustream-relay:{self._name}:{os.getpid()}",
                    "idle_session_timeout": lease, "idle_in_transaction_session_timeout": lease})
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                backoff = self._poll
                await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except Exception:  # database or Redis trouble: start over on a fresh connection
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                self._leader = False
                if conn is not None:
                    conn.terminate()

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _serve(self, conn: asyncpg.Connection) -> None:
        while True:
            self._wake.clear()
            if not self._leader:
                self._leader = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key))
                if self._leader:
                    log.info("outbox relay %s is now the publisher", self._name)
            if self._leader:
                self._notify_pending = False
                while await self._publish_batch(conn) >= self._batch:
                    pass
            elif self._notify_pending:
                self._notify_pending = False
                await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    async def _publish_batch(self, conn: asyncpg.Connection) -> int:
        async with conn.transaction():
            rows = await conn.fetch(_CLAIM, self._batch)
            if rows:
                started = time.monotonic()
                await asyncio.wait_for(self._publish(to_broadcasts(rows)), self._publish_timeout)
                metrics.events_relayed(rows, time.monotonic() - started)  # events published, fan-out delay
                await conn.execute(_MARK, [r["id"] for r in rows])
        self.published += len(rows)
        return len(rows)

"""Fan-out across API processes: python-socketio's Redis manager, with broadcasts made cheap.

The stock :class:`socketio.AsyncRedisManager` publishes every emit as JSON on one channel;
each process decodes it, re-encodes the Socket.IO packet and starts one asyncio task per
recipient, then waits for all of them before reading the next message. Measured here
(``bench/fanout``, ``docs/benchmarks.md``) that is where the time goes. This subclass keeps
the library's rooms, sessions, callbacks and wire protocol and changes only the broadcast
path:

* a broadcast is encoded once, by the process that emits it, into the final Socket.IO
  packet text; receiving processes neither decode nor re-encode it, and each builds the
  WebSocket frame once for all its recipients;
* delivery is a synchronous loop over the room's local members: the frame is written
  straight to each idle WebSocket (:mod:`realtime.internals`), or the shared packet is put
  on the socket's queue: no task, no await, no per-recipient encoding;
* a burst of broadcasts (a relay batch, or emits made while a publish is in flight)
  travels as one Redis message;
* a slow consumer whose queue passes ``max_queued_packets`` is disconnected instead of
  growing memory without bound; it reconnects and re-watches with ``since``;
* while a publish hangs, at most ``max_pending`` broadcasts wait for Redis: later ones are
  delivered locally and fail with :class:`FanoutBacklogFull` (the relay re-publishes its rows
  later), and the Redis client's socket timeout bounds the hang itself;
* a broadcast from the outbox carries a key naming its row: a process delivers each key
  once, so a batch re-published after a relay crash (or a failed publish) is not seen twice;
* ``session.revoked`` (recorded by :mod:`server.live_sessions` when a user signs out, changes
  password or is suspended) is delivered to the user's room like any event, and then every
  process disconnects its local members of that room.

Everything else (emits with callbacks, binary data, ``skip_sid``, disconnects and room
changes requested from other processes) goes through the library unchanged. Whatever this
needs of the libraries' internals is in :mod:`realtime.internals`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engineio import packet as eio_packet
from socketio.packet import Packet

from realtime.internals import (
    RedisManagerBase,
    StockRedisManagerBase,
    abort_socket,
    deliver_local,
    frame_bytes,
    room_members,
)
from server.live_sessions import SESSION_REVOKED

log = logging.getLogger("edustream.live.fanout")

# Marks our batches on the shared channel; the library's own JSON messages start with "{".
_BATCH_PREFIX = b"\x1eedustream-fanout-1\x1e"
_PROBE_PREFIX = b"\x1eedustream-probe-1\x1e"
_MAX_REMEMBERED_KEYS = 100_000  # recent outbox ids; duplicates only follow a failed batch closely
_MAX_BATCH = 500  # broadcasts per Redis message


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One event for one room, its data already JSON text (as stored in the outbox)."""

    event: str
    data_json: str
    room: str | None
    namespace: str = "/"
    key: str | int | None = None  # identifies an outbox row; a process delivers each key once


def encode_event(namespace: str, event: str, data_json: str) -> str:
    """The Socket.IO EVENT packet text (Engine.IO adds its ``4`` message prefix)."""
    return f"{event_prefix(namespace, event)}{data_json}]"


def event_prefix(namespace: str, event: str) -> str:
    """How :func:`encode_event`'s text starts for ``event`` (the data follows)."""
    prefix = "2" if namespace == "/" else f"2{namespace},"
    return f"{prefix}[{json.dumps(event)},"


async def disconnect_members(server: Any, namespace: str, sids: Sequence[str]) -> None:
    """Disconnect these local connections of ``namespace`` (after their session was revoked)."""
    for sid in sids:
        try:
            await server.disconnect(sid, namespace=namespace, ignore_queue=True)
        except Exception:  # one failure must not keep the others connected
            log.exception("could not disconnect revoked live connection %s", sid)


# Rooms whose members must learn that events may have been missed (they re-watch with ``since``).
LOSSY_ROOM_PREFIXES = ("tutor:", "user:", "signin:")


def disconnect_room_members(manager: Any, affected: Any) -> int:
    """Drop the connections of this process's members of the rooms ``affected(room)`` selects;
    returns how many. The transport is aborted (no Socket.IO disconnect packet), so clients see
    a dropped connection and reconnect by themselves, then re-watch with ``since``: a
    server-side disconnect would tell socket.io-client not to reconnect."""
    eio_sids = {eio_sid for rooms in list(manager.rooms.values()) for room, members in list(rooms.items())
                if isinstance(room, str) and affected(room) for eio_sid in members.values()}
    for eio_sid in eio_sids:
        manager._background.spawn(abort_socket(manager.server, eio_sid))
    if eio_sids:
        log.warning("dropping %d live connection(s) whose rooms' events may have been lost", len(eio_sids))
    return len(eio_sids)


class _Background:
    """Fire-and-forget tasks kept referenced until they finish."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class FanoutBacklogFull(ConnectionError):
    """Too many broadcasts already wait for Redis; this one was delivered locally only."""


def redis_options(timeout: float) -> dict[str, Any]:
    """Socket timeouts for the manager's Redis client: a hung Redis fails a publish instead of
    blocking it forever. Blocking subscription reads are exempt (redis-py reads them without a
    timeout), so an idle channel does not reconnect; keepalive detects a dead peer there."""
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "socket_keepalive": True}


class LiveRedisManager(RedisManagerBase):
    """``AsyncRedisManager`` whose broadcasts are encoded once and written to sockets directly."""

    name = "edustream-redis"

    def __init__(self, url: str, *, channel: str, write_only: bool = False, max_queued_packets: int = 1000,
                 max_pending: int = 10_000, redis_timeout: float = 5.0,
                 logger: logging.Logger | None = None) -> None:
        super().__init__(url, channel=channel, write_only=write_only, logger=logger,
                         redis_options=redis_options(redis_timeout))
        self.max_queued_packets = max_queued_packets
        self.max_pending = max_pending
        self.dropped = 0  # broadcasts not published because the backlog was full
        self._last_drop_warning = 0.0
        self._delivered: set[str | int] = set()
        self._delivered_order: collections.deque[str | int] = collections.deque()
        self._slow: set[str] = set()
        self._background = _Background()
        self._revoked_prefixes: dict[str, str] = {}
        self._ready = asyncio.Event()
        self._outgoing: list[list[Any]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    # -- emitting ---------------------------------------------------------------------

    async def emit(self, event: str, data: Any, namespace: str | None = None, room: str | None = None,
                   skip_sid: Any = None, callback: Any = None, to: str | None = None, **kwargs: Any) -> None:
        """Broadcasts without callbacks, ``skip_sid`` or binary data take the fast path."""
        room = to or room
        if (callback is not None or skip_sid is not None or kwargs.get("ignore_queue") or isinstance(data, tuple)
                or Packet.data_is_binary(data) or (room is not None and not isinstance(room, str))):
            await super().emit(event, data, namespace=namespace, room=room, skip_sid=skip_sid, callback=callback,
                               **kwargs)
            return
        data_json = self.json.dumps(data, separators=(",", ":"))
        await self.broadcast([Broadcast(event, data_json, room, namespace or "/")])

    async def broadcast(self, items: Sequence[Broadcast]) -> None:
        """Deliver ``items`` in order to this process's sockets and, once published, to every other process."""
        await self.broadcast_nowait(items)

    def broadcast_nowait(self, items: Sequence[Broadcast]) -> asyncio.Future[None]:
        """Deliver locally now and queue the items for Redis; the future resolves once they are published.

        Everything queued while a publish is in flight goes out in the next one, as one
        message per ``_MAX_BATCH`` items, on one connection in order: a burst of emits costs
        one Redis round trip, not one each (the Node adapter pipelines the same way).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        batch = [[b.namespace, b.room, encode_event(b.namespace, b.event, b.data_json), b.key] for b in items]
        if batch and not self.write_only and self.server is not None:
            self._deliver(batch)
        if self._outgoing and len(self._outgoing) + len(batch) > self.max_pending:
            # Redis is not keeping up (a publish hangs): bound memory, tell the caller. The relay rolls
            # back and re-publishes the rows later; processes deliver each row once (by key).
            self._backlog_full(len(batch))
            done.set_exception(FanoutBacklogFull(f"{len(self._outgoing)} broadcasts already wait for Redis"))
            return done
        self._outgoing.extend(batch)
        self._waiters.append(done)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return done

    @property
    def pending(self) -> int:
        """Broadcasts waiting for the next publish (not counting the one in flight)."""
        return len(self._outgoing)

    def _backlog_full(self, count: int) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._last_drop_warning >= 10.0:
            self._last_drop_warning = now
            log.warning("fan-out backlog full (%d waiting for Redis): refusing broadcasts, %d so far",
                        len(self._outgoing), self.dropped)

    async def _flush(self) -> None:
        try:
            while self._waiters:
                batch, waiters = self._outgoing, self._waiters
                self._outgoing, self._waiters = [], []
                try:
                    await self.publish_round(batch)
                except ConnectionError as exc:  # every waiter of this round learns it failed
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._flusher = None

    async def publish_round(self, batch: list[list[Any]]) -> None:
        """Publish one round of queued broadcasts, ``_MAX_BATCH`` per Redis message, in order."""
        for first in range(0, len(batch), _MAX_BATCH):
            await self.publish_raw(_BATCH_PREFIX + self.encode_batch(batch[first:first + _MAX_BATCH]))

    def encode_batch(self, items: list[list[Any]]) -> bytes:
        return json.dumps({"h": self.node_id, "m": items}, separators=(",", ":")).encode()

    # -- receiving --------------------------------------------------------------------

    async def wait_ready(self) -> None:
        """Return once this process's subscription delivers: a probe makes the round trip.

        Until then an event published by another process could be missed, so the API
        serves watchers only after this (callers bound it with ``asyncio.timeout``).
        """
        while not self._ready.is_set():
            await self.publish_raw(_PROBE_PREFIX + self.host_id.encode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 0.25)

    def receive_raw(self, message: bytes) -> bool:
        """Our probes and batches; anything else (the library's JSON messages) is not ours."""
        if message.startswith(_PROBE_PREFIX):
            if message[len(_PROBE_PREFIX):] == self.node_id.encode():
                self._ready.set()
            return True
        if message.startswith(_BATCH_PREFIX):
            try:
                envelope = json.loads(message[len(_BATCH_PREFIX):])
                if envelope.get("h") != self.node_id:
                    self._deliver(envelope["m"])
            except Exception:  # a malformed message must not stop the listener
                log.exception("dropping malformed fan-out message")
            return True
        return False

    def resubscribed(self) -> None:
        """Redis came back: broadcasts published while this process was not subscribed are lost
        here, so its watchers and signed-in connections reconnect and re-watch with ``since``."""
        disconnect_room_members(self, lambda room: room.startswith(LOSSY_ROOM_PREFIXES))

    def _deliver(self, batch: Sequence[Sequence[Any]]) -> None:
        """Hand each encoded packet to the local members of its room (synchronously, in order)."""
        for namespace, room, text, key in batch:
            if key is not None:
                if key in self._delivered:
                    continue
                self._delivered.add(key)
                self._delivered_order.append(key)
                if len(self._delivered_order) > _MAX_REMEMBERED_KEYS:
                    self._delivered.discard(self._delivered_order.popleft())
            members = room_members(self, namespace, room)
            if not members:
                continue
            pkt = eio_packet.Packet(eio_packet.MESSAGE, text)
            # the same frame bytes for every recipient
            for eio_sid in deliver_local(self.server, members, pkt, frame_bytes(pkt), self.max_queued_packets):
                self._drop_slow(eio_sid)
            if text.startswith(self._revoked_prefix(namespace)):
                self._background.spawn(disconnect_members(self.server, namespace, list(members)))

    def _revoked_prefix(self, namespace: str) -> str:
        prefix = self._revoked_prefixes.get(namespace)
        if prefix is None:
            prefix = self._revoked_prefixes[namespace] = event_prefix(namespace, SESSION_REVOKED)
        return prefix

    def _drop_slow(self, eio_sid: str) -> None:
        if eio_sid in self._slow:
            return
        self._slow.add(eio_sid)
        log.warning("disconnecting slow live client %s (send queue over %d packets)", eio_sid,
                    self.max_queued_packets)
        self._background.spawn(self._close_slow(eio_sid))

    async def _close_slow(self, eio_sid: str) -> None:
        try:
            # Drop what it has not read: it re-watches with ``since`` after reconnecting.
            await abort_socket(self.server, eio_sid)
        finally:
            self._slow.discard(eio_sid)


class StockRedisManager(StockRedisManagerBase):
    """The library's Redis manager (``LIVE_FAST_FANOUT=false``), also ending revoked sessions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._background = _Background()

    def delivered(self, event: str, namespace: str, room: str | None) -> None:
        if event == SESSION_REVOKED:
            members = room_members(self, namespace, room)
            if members:
                self._background.spawn(disconnect_members(self.server, namespace, list(members)))

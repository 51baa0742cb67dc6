"""The live fan-out over a Redis Cluster: sharded pub/sub, one channel per room.

With one Redis, every API process subscribes to one channel and receives every broadcast
(:mod:`realtime.manager`). With ``REDIS_CLUSTER_NODES`` set, :class:`ShardedLiveManager`
uses Redis 7's sharded pub/sub instead, the way ``@socket.io/redis-adapter``'s sharded
adapter does in its dynamic mode:

* a broadcast to a room (``tutor:…``, ``user:…``, ``signin:…``) is ``SPUBLISH``-ed on that
  room's channel, which lives on the shard owning its hash slot: tutors' rooms spread over
  the shards, so fan-out capacity grows with them;
* a process ``SSUBSCRIBE``-s a room's channel while it has a member in the room (the first
  join subscribes, and :meth:`ShardedLiveManager.enter_room` returns only once Redis
  confirmed it, so a ``watch`` never reads its snapshot before its events can arrive; the
  last leave unsubscribes). A process receives only the rooms it serves;
* everything else (the library's own messages: remote disconnects, room changes, callbacks;
  broadcasts to every connection or to a sid) goes on one control channel every process
  subscribes to.

Subscriptions are held by :class:`ShardSubscriptions`: one connection per shard, read by its
own task (no polling). When a shard's connection fails (its master died and a replica took
over), the client's view of the cluster is refreshed, every channel is subscribed again where
its slot now lives, and the local members of the rooms whose channel was interrupted are
disconnected: events published while nobody listened are gone, and a client that reconnects
re-watches with ``since`` and repairs its view (docs/live.md, "Keeping a correct view").
Publishing during the failover fails (the relay rolls back and publishes the rows again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from realtime.internals import room_members
from realtime.manager import _BATCH_PREFIX, _MAX_BATCH, LOSSY_ROOM_PREFIXES, LiveRedisManager, disconnect_room_members
from server.redis_client import REDIS_FAILURES

log = logging.getLogger("edustream.live.sharded")

# Rooms with a channel of their own; other rooms (a connection's sid) use the control channel.
SHARDED_ROOM_PREFIXES = LOSSY_ROOM_PREFIXES
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
HEALTH_CHECK_SECONDS = 5
_RECOVERY_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)


def is_sharded_room(room: object) -> bool:
    return isinstance(room, str) and room.startswith(SHARDED_ROOM_PREFIXES)


class ShardSubscriptions:
    """``SSUBSCRIBE`` over a cluster: channels grouped by the shard owning their slot, one
    connection per shard, each read by a task of its own.

    ``on_message(channel, data)`` is called for every message, in order per channel;
    ``on_interrupted(channels)`` after the channels of a failed shard were subscribed again
    (wherever their slots now live).
    """

    def __init__(self, cluster: RedisCluster, on_message: Callable[[bytes, bytes], None],
                 on_interrupted: Callable[[list[bytes]], None], *, connection_options: dict[str, Any]) -> None:
        self._cluster = cluster
        self._on_message = on_message
        self._on_interrupted = on_interrupted
        self._options = connection_options
        self._owner: dict[bytes, str] = {}  # channel -> shard (node name)
        self._shards: dict[str, _Shard] = {}
        self._lock = asyncio.Lock()  # subscription changes, one at a time
        self._recovering: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def channels(self) -> set[bytes]:
        return set(self._owner)

    async def add(self, channel: bytes) -> None:
        """Subscribe ``channel`` (no-op when subscribed); returns once Redis confirmed it. While
        the cluster is failing over, the slot map is reloaded and the subscription retried."""
        async with self._lock:
            if channel in self._owner:
                return
            for delay in (*_RECOVERY_BACKOFF, None):
                try:
                    await self._subscribe(channel)
                    return
                except REDIS_FAILURES:
                    if delay is None:
                        raise
                await asyncio.sleep(delay)
                with contextlib.suppress(*REDIS_FAILURES):
                    await self._cluster.nodes_manager.initialize()

    async def remove(self, channel: bytes, still_wanted: Callable[[], bool] = lambda: False) -> None:
        """Unsubscribe ``channel`` unless ``still_wanted()`` says otherwise (checked under the lock)."""
        async with self._lock:
            if channel not in self._owner or still_wanted():
                return
            shard = self._shards.get(self._owner.pop(channel))
            if shard is None:
                return
            shard.channels.discard(channel)
            if not shard.channels:
                # Its last channel: close the connection instead of keeping it idle. redis-py
                # health-checks an unsubscribed pub/sub connection before the next command with
                # a PING whose reply it reads itself, racing the reader task for the socket (the
                # next SSUBSCRIBE failed once the connection had idled past the health check).
                del self._shards[shard.node.name]
                await shard.close()
                return
            with contextlib.suppress(*REDIS_FAILURES):
                await shard.pubsub.sunsubscribe(channel)

    async def close(self) -> None:
        self._closed = True
        if self._recovering is not None:
            self._recovering.cancel()
        for shard in list(self._shards.values()):
            await shard.close()
        self._shards.clear()

    async def _subscribe(self, channel: bytes) -> None:
        if not self._owner and not self._shards:
            await self._cluster.initialize()  # the slot map (idempotent once loaded)
        node = self._cluster.get_node_from_key(channel.decode())
        if node is None:
            raise ConnectionError(f"no shard owns {channel!r} (the cluster is changing)")
        shard = self._shards.get(node.name)
        if shard is None:
            shard = self._shards[node.name] = _Shard(node, self._options, self._on_message, self._failed)
        try:
            await shard.subscribe(channel)
        except REDIS_FAILURES:
            if not shard.channels and self._shards.get(node.name) is shard:
                del self._shards[node.name]  # never worked: a dead node, or one that lost the slot
                await shard.close()
            raise
        self._owner[channel] = node.name

    def _failed(self, shard: _Shard, exc: BaseException) -> None:
        if self._closed or self._shards.get(shard.node.name) is not shard:
            return
        log.warning("live shard %s lost (%s): resubscribing %d channel(s)", shard.node.name, exc,
                    len(shard.channels))
        self._shards.pop(shard.node.name, None)
        interrupted = list(shard.channels)
        previous = self._recovering
        self._recovering = asyncio.get_running_loop().create_task(self._recover(shard, interrupted, previous))

    async def _recover(self, broken: _Shard, interrupted: list[bytes], previous: asyncio.Task[None] | None) -> None:
        await broken.close()
        if previous is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await previous
        attempt = 0
        while not self._closed:
            try:
                async with self._lock:
                    await self._cluster.nodes_manager.initialize()
                    for channel in interrupted:
                        if self._owner.get(channel) == broken.node.name:
                            del self._owner[channel]
                            await self._subscribe(channel)
                break
            except REDIS_FAILURES as exc:
                delay = _RECOVERY_BACKOFF[min(attempt, len(_RECOVERY_BACKOFF) - 1)]
                attempt += 1
                log.warning("live shard recovery failed (%s); again in %.2fs", exc, delay)
                await asyncio.sleep(delay)
        if not self._closed:
            log.info("live channels resubscribed after losing %s: %d channel(s)", broken.node.name, len(interrupted))
            self._on_interrupted(interrupted)


class _Shard:
    """One shard's subscriber connection and the task reading it."""

    def __init__(self, node: ClusterNode, options: dict[str, Any], on_message: Callable[[bytes, bytes], None],
                 on_failed: Callable[[_Shard, BaseException], None]) -> None:
        self.node = node
        # No socket timeout on a subscriber: an idle channel is normal (keepalive and the health
        # check find a dead peer). No reconnect-and-retry inside redis-py either: a lost shard
        # must surface at once, so that its channels move to where their slots went.
        self.client = Redis(host=node.host, port=int(node.port), socket_keepalive=True,
                            socket_connect_timeout=options.get("socket_connect_timeout", 5.0),
                            retry=Retry(NoBackoff(), 0), health_check_interval=HEALTH_CHECK_SECONDS)
        self.pubsub: PubSub = self.client.pubsub()
        self.channels: set[bytes] = set()
        self._on_message = on_message
        self._on_failed = on_failed
        self._pending: dict[bytes, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def subscribe(self, channel: bytes) -> None:
        loop = asyncio.get_running_loop()
        confirmed = self._pending[channel] = loop.create_future()
        try:
            await self.pubsub.ssubscribe(channel)
            if self._reader is None:
                self._reader = loop.create_task(self._read())
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT_SECONDS)
        finally:
            self._pending.pop(channel, None)
        self.channels.add(channel)

    async def _read(self) -> None:
        try:
            while True:
                message = await self.pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind, channel = message.get("type"), message.get("channel")
                if kind == "smessage":
                    self._on_message(channel, message["data"])
                elif kind == "ssubscribe":
                    waiter = self._pending.get(channel)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError, ConnectionError) as exc:  # the shard is gone: recover where its slots went
            for waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError(f"shard {self.node.name} failed: {exc}"))
            self._on_failed(self, exc)

    async def close(self) -> None:
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.client.aclose()


class ShardedLiveManager(LiveRedisManager):
    """:class:`LiveRedisManager` over a Redis Cluster's sharded pub/sub (see the module doc)."""

    name = "edustream-redis-cluster"

    def __init__(self, nodes: Sequence[ClusterNode], *, channel: str, **kwargs: Any) -> None:
        first = nodes[0]
        super().__init__(f"redis://{first.host}:{first.port}/0", channel=channel, **kwargs)
        self.nodes = list(nodes)
        self.control_channel = f"{channel}:ctl".encode()
        self._control: asyncio.Queue[bytes] = asyncio.Queue()
        self._subscriptions: ShardSubscriptions | None = None
        self._init_lock = asyncio.Lock()
        self._initialized = False
        self.interruptions = 0  # shard failovers this process recovered from

    def room_channel(self, room: str) -> bytes:
        return f"{self.channel}:room:{room}".encode()

    def channel_for(self, room: str | None) -> bytes:
        return self.room_channel(room) if is_sharded_room(room) and room is not None else self.control_channel

    # -- connections ------------------------------------------------------------------

    def _redis_connect(self) -> None:
        self.redis = RedisCluster(startup_nodes=self.nodes, **self.redis_options)
        self.connected = True
        self._initialized = False

    async def _cluster(self) -> RedisCluster:
        """The cluster client with its slot map loaded (once; concurrent first commands on a
        fresh client would race its initialisation)."""
        if not self.connected:
            self._redis_connect()
        if not self._initialized:
            async with self._init_lock:
                if not self._initialized:
                    await self.redis.initialize()
                    self._initialized = True
        cluster: RedisCluster = self.redis
        return cluster

    def _subs(self) -> ShardSubscriptions:
        if self._subscriptions is None:
            if not self.connected:
                self._redis_connect()
            options = {k: v for k, v in self.redis_options.items() if k == "socket_connect_timeout"}
            self._subscriptions = ShardSubscriptions(self.redis, self._received, self._interrupted,
                                                     connection_options=options)
        return self._subscriptions

    async def close_subscriptions(self) -> None:
        if self._subscriptions is not None:
            await self._subscriptions.close()
            self._subscriptions = None

    # -- publishing -------------------------------------------------------------------

    async def _spublish(self, channel: bytes, message: bytes) -> None:
        for attempt in range(2):
            try:
                await (await self._cluster()).spublish(channel, message)
                return
            except Exception as exc:  # the cluster client already retried MOVED/failovers
                if attempt == 1:
                    raise ConnectionError(f"cannot publish to the Redis Cluster: {exc}") from exc
                with contextlib.suppress(Exception):  # a failover: learn where the slots went
                    await self.redis.nodes_manager.initialize()

    async def publish_raw(self, message: bytes) -> None:
        await self._spublish(self.control_channel, message)

    async def _publish(self, data: Any) -> None:
        """The library's own messages (remote disconnects, room changes, callbacks)."""
        try:
            await self._spublish(self.control_channel, json.dumps(data).encode())
        except ConnectionError as exc:
            log.error("cannot publish a Socket.IO control message: %s", exc)

    async def publish_round(self, batch: list[list[Any]]) -> None:
        """One Redis message per room channel (``_MAX_BATCH`` items at most), the rooms'
        messages published concurrently: a room's items keep their order."""
        by_channel: dict[bytes, list[Any]] = {}
        for item in batch:
            by_channel.setdefault(self.channel_for(item[1]), []).append(item)
        await asyncio.gather(*(self._publish_items(channel, items) for channel, items in by_channel.items()))

    async def _publish_items(self, channel: bytes, items: list[Any]) -> None:
        for first in range(0, len(items), _MAX_BATCH):
            await self._spublish(channel, _BATCH_PREFIX + self.encode_batch(items[first:first + _MAX_BATCH]))

    # -- subscribing ------------------------------------------------------------------

    async def enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        """Join, and once this is the process's first member, subscribe the room's channel."""
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        if is_sharded_room(room) and not self.write_only:
            await self._subs().add(self.room_channel(room))

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        if is_sharded_room(room) and not self._has_members(room) and self._subscriptions is not None:
            self._background.spawn(self._subscriptions.remove(self.room_channel(room),
                                                              lambda: self._has_members(room)))

    def _has_members(self, room: str) -> bool:
        return any(room_members(self, namespace, room) for namespace in list(self.rooms))

    async def _listen(self) -> Any:
        """The control channel's messages for the library (ours are handled on arrival)."""
        await self._subs().add(self.control_channel)
        while True:
            message = await self._control.get()
            if not self.receive_raw(message):
                yield message

    def _received(self, channel: bytes, data: bytes) -> None:
        if channel == self.control_channel:
            self._control.put_nowait(data)
        else:
            self.receive_raw(data)

    def _interrupted(self, channels: list[bytes]) -> None:
        """Events of these channels may have been lost: their rooms' local members reconnect
        and re-watch with ``since``."""
        self.interruptions += 1
        prefix = f"{self.channel}:room:".encode()
        rooms = {c[len(prefix):].decode() for c in channels if c.startswith(prefix)}
        disconnect_room_members(self, rooms.__contains__)

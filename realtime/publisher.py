"""Publishing live events from processes that serve no sockets (the worker, the scheduler).

Those processes record events exactly like the API does: through :mod:`server.outbox` in
the transaction that makes the change. :class:`LivePublisher` makes them publish too:

* an outbox listener wakes the relay after each commit, so a change made by a task is
  published at once (by this process when it leads, otherwise by the leader, woken with
  ``NOTIFY``);
* this process's relay is a leader candidate like every API process's, publishing through
  a write-only Redis manager (no sockets, no subscription): events still flow when no API
  process is up to lead, and the API's sockets receive them through Redis.

Usage in a worker's startup/shutdown::

    publisher = LivePublisher(settings)
    await publisher.start()
    ...
    await publisher.stop()

For an ad-hoc event that is not part of a database change (rare: prefer the outbox),
``await publisher.emit(event, data, room)`` goes straight to Redis.
"""

from __future__ import annotations

from typing import Any

from realtime.internals import close_redis
from realtime.manager import LiveRedisManager
from realtime.relay import LIVE_NAMESPACE, OutboxRelay
from realtime.sharded import ShardedLiveManager
from server import outbox
from server.redis_client import cluster_nodes, is_cluster
from server.settings import Settings


def write_only_manager(settings: Settings) -> LiveRedisManager:
    """A Redis manager that only publishes, on the channel the API processes listen to (the
    rooms' sharded channels with a Redis Cluster)."""
    if is_cluster(settings):
        return ShardedLiveManager(cluster_nodes(settings), channel=settings.live_channel, write_only=True,
                                  max_pending=settings.live_max_pending_broadcasts,
                                  redis_timeout=settings.live_redis_timeout_seconds)
    return LiveRedisManager(settings.redis_url, channel=settings.live_channel, write_only=True,
                            max_pending=settings.live_max_pending_broadcasts,
                            redis_timeout=settings.live_redis_timeout_seconds)


class LivePublisher:
    """The relay (a leader candidate) and a write-only manager for a process without sockets."""

    def __init__(self, settings: Settings, *, name: str = "worker") -> None:
        self.manager = write_only_manager(settings)
        self.relay = OutboxRelay(settings.session_database_url, self.manager.broadcast,  # LISTEN + a session lock
                                 poll_seconds=settings.live_relay_poll_seconds,
                                 batch_size=settings.live_relay_batch_size, name=name)

    async def start(self) -> None:
        """Start the relay and wake it after every outbox commit made in this process."""
        outbox.add_listener(self.relay.wake)
        await self.relay.start()

    async def stop(self) -> None:
        outbox.remove_listener(self.relay.wake)
        await self.relay.stop()
        await close_redis(self.manager)

    async def emit(self, event: str, data: Any, room: str) -> None:
        """Publish one event to a room of ``/live`` without the outbox (no ordering, no retry)."""
        await self.manager.emit(event, data, namespace=LIVE_NAMESPACE, room=room)

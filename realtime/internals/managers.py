"""The hooks of python-socketio's Redis manager that the fan-out managers use.

Part of :mod:`realtime.internals` (its docstring lists each library internal touched and
why): publishing and receiving pre-encoded messages on the manager's channel, resubscribing
after Redis failed, the stock manager's local delivery, and starting and stopping the
manager's listener inside our lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import socketio
from redis.exceptions import RedisError


class RedisManagerBase(socketio.AsyncRedisManager):  # type: ignore[misc]
    """``AsyncRedisManager`` with the hooks the fast fan-out needs, named and documented.

    Subclasses override :meth:`receive_raw` to take their own messages off the channel and use
    :meth:`publish_raw` and :attr:`node_id`.
    """

    connected: bool

    @property
    def node_id(self) -> str:
        """This process's id on the channel (the library's ``host_id``)."""
        return str(self.host_id)

    async def publish_raw(self, message: bytes) -> None:
        """Publish a pre-encoded message; one reconnect attempt, then ``ConnectionError``.

        Mirrors ``AsyncRedisManager._publish`` (which JSON-encodes a dict and only logs failures).
        """
        for attempt in range(2):
            try:
                if not self.connected:
                    self._redis_connect()
                await self.redis.publish(self.channel, message)
                return
            except Exception as exc:  # any Redis/connection failure: reconnect once, then report
                self.connected = False
                if attempt == 1:
                    raise ConnectionError(f"cannot publish to Redis: {exc}") from exc

    def receive_raw(self, message: bytes) -> bool:
        """Handle a message of our own off the channel; False passes it to the library."""
        return False

    def resubscribed(self) -> None:
        """Called when the subscription is back after Redis failed: what was published in the
        gap never reached this process."""

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        """The library's listener loop (``AsyncRedisManager._redis_listen_with_retries``), with
        :meth:`resubscribed` after a reconnect and retries capped at 5 s."""
        retry_sleep, subscribed, first = 0.5, False, True
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed, retry_sleep = True, 0.5
                    if not first:
                        self.resubscribed()
                    first = False
                async for message in self.pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:  # Redis failed or went away: reconnect, subscribe again
                self._get_logger().error("Cannot receive from redis... retrying in %.1f secs (%s)", retry_sleep, exc)
                subscribed = False
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, 5.0)

    async def _listen(self) -> AsyncIterator[Any]:
        async for message in super()._listen():
            if isinstance(message, bytes) and self.receive_raw(message):
                continue
            yield message


class StockRedisManagerBase(socketio.AsyncRedisManager):  # type: ignore[misc]
    """The library's Redis manager with a hook after each emit it delivers in this process."""

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        await super()._handle_emit(message)
        self.delivered(str(message.get("event")), message.get("namespace") or "/", message.get("room"))

    def delivered(self, event: str, namespace: str, room: str | None) -> None:
        """Called after an emit reached this process's members of ``room``."""


def room_members(manager: socketio.AsyncManager, namespace: str, room: str | None) -> dict[str, str] | None:
    """The local members of a room, ``{sid: eio_sid}`` (the library's own dict: do not keep it)."""
    members: dict[str, str] | None = manager.rooms.get(namespace, {}).get(room)
    return members


def start_manager(sio: socketio.AsyncServer) -> socketio.AsyncManager:
    """Start the client manager now (its Redis listener), not on the first connection."""
    if not sio.manager_initialized:
        sio.manager_initialized = True
        sio.manager.initialize()
    return sio.manager


async def stop_listener(manager: socketio.AsyncManager) -> None:
    """Stop the manager's Redis listener task (the library's ``thread``)."""
    listener = getattr(manager, "thread", None)
    if isinstance(listener, asyncio.Task):
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener


async def close_redis(manager: socketio.AsyncManager) -> None:
    """Close the manager's Redis client, if it opened one."""
    redis = getattr(manager, "redis", None)
    if redis is not None:
        with contextlib.suppress(Exception):
            await redis.aclose()

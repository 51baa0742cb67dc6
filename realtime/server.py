"""The Socket.IO server beside the REST API, on one port.

``create_asgi(settings)`` is what ``edustream.asgi.app_factory`` serves: Socket.IO at
``/socket.io/`` and everything else to the Starlette app. The live layer starts and stops
inside the Starlette lifespan (through ``app.state.startup_hooks``/``shutdown_hooks``;
ASGIApp's own hooks stay unset so the lifespan reaches Starlette).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import socketio
from starlette.applications import Starlette

from realtime import wire
from realtime.internals import DirectAsyncServer, close_redis, start_manager, stop_listener
from realtime.manager import Broadcast, LiveRedisManager, StockRedisManager, redis_options
from realtime.namespace import LiveNamespace
from realtime.relay import OutboxRelay, Publish
from realtime.sharded import ShardedLiveManager
from server import outbox
from server.app import create_app
from server.redis_client import cluster_nodes, is_cluster
from server.settings import Settings, get_settings

log = logging.getLogger("edustream.live")

# Hard cap of one Engine.IO message; events over LIVE_MAX_PAYLOAD_BYTES but under this get
# an error ack, bigger ones close the connection (the transport refuses to buffer them).
TRANSPORT_MAX_BYTES = 64 * 1024


def create_manager(settings: Settings) -> socketio.AsyncRedisManager:
    """The fast fan-out manager (over sharded pub/sub with a Redis Cluster), or the library's
    stock one when ``LIVE_FAST_FANOUT=false`` (one Redis only)."""
    if is_cluster(settings):
        return ShardedLiveManager(cluster_nodes(settings), channel=settings.live_channel,
                                  max_queued_packets=settings.live_max_queued_packets,
                                  max_pending=settings.live_max_pending_broadcasts,
                                  redis_timeout=settings.live_redis_timeout_seconds)
    if settings.live_fast_fanout:
        return LiveRedisManager(settings.redis_url, channel=settings.live_channel,
                                max_queued_packets=settings.live_max_queued_packets,
                                max_pending=settings.live_max_pending_broadcasts,
                                redis_timeout=settings.live_redis_timeout_seconds)
    return StockRedisManager(settings.redis_url, channel=settings.live_channel,
                             redis_options=redis_options(settings.live_redis_timeout_seconds))


def create_sio(settings: Settings) -> socketio.AsyncServer:
    """The Socket.IO server: Redis-shared rooms, CORS as the REST API, WebSocket (and polling if allowed)."""
    transports = ["polling", "websocket"] if settings.live_allow_polling else ["websocket"]
    server_class = DirectAsyncServer if settings.live_fast_fanout or is_cluster(settings) else socketio.AsyncServer
    return server_class(
        async_mode="asgi", client_manager=create_manager(settings), cors_allowed_origins=settings.cors_origins,
        cors_credentials=True, transports=transports,
        max_http_buffer_size=max(TRANSPORT_MAX_BYTES, settings.live_max_payload_bytes),
        ping_interval=settings.live_ping_interval_seconds, ping_timeout=settings.live_ping_timeout_seconds,
        logger=False, engineio_logger=False, json=wire)


def publisher_for(manager: socketio.AsyncRedisManager) -> Publish:
    """How the relay hands a batch of outbox rows to the manager."""
    if isinstance(manager, LiveRedisManager):
        return manager.broadcast

    async def emit_each(items: Sequence[Broadcast]) -> None:
        for item in items:
            await manager.emit(item.event, json.loads(item.data_json), namespace=item.namespace, room=item.room)

    return emit_each


class LiveLayer:
    """The parts that live as long as the process: Socket.IO server, namespace and relay."""

    def __init__(self, settings: Settings, app: Starlette) -> None:
        self.settings = settings
        self.sio = create_sio(settings)
        self.namespace = LiveNamespace(settings, app.state)
        self.sio.register_namespace(self.namespace)
        self.relay = OutboxRelay(settings.session_database_url, publisher_for(self.sio.manager),  # LISTEN + session lock
                                 poll_seconds=settings.live_relay_poll_seconds,
                                 batch_size=settings.live_relay_batch_size, name="api")

    async def start(self, app: Any = None) -> None:
        """Subscribe to Redis (and wait until it is live), then start the relay."""
        manager = start_manager(self.sio)
        if isinstance(manager, LiveRedisManager):
            async with asyncio.timeout(10.0):
                await manager.wait_ready()
        outbox.add_listener(self.relay.wake)
        await self.relay.start()
        self.namespace.presence.start()

    async def stop(self, app: Any = None) -> None:
        """Stop the relay (handing leadership on), the Redis listener and the Socket.IO server."""
        await self.namespace.presence.stop()
        outbox.remove_listener(self.relay.wake)
        await self.relay.stop()
        await stop_listener(self.sio.manager)
        await self.sio.shutdown()
        if isinstance(self.sio.manager, ShardedLiveManager):
            await self.sio.manager.close_subscriptions()
        await close_redis(self.sio.manager)


def create_asgi(settings: Settings | None = None) -> socketio.ASGIApp:
    """REST + live on one ASGI app; the live layer starts with the Starlette lifespan."""
    settings = settings or get_settings()
    app = create_app(settings)
    live = LiveLayer(settings, app)
    app.state.live = live
    app.state.sio = live.sio
    app.state.startup_hooks.append(live.start)
    app.state.shutdown_hooks.append(live.stop)
    return socketio.ASGIApp(live.sio, other_asgi_app=app)

"""Every reach into python-socketio, python-engineio and uvicorn internals, in one package.

The fast fan-out (docs/live.md, "Fan-out") keeps the libraries' wire protocol, rooms and
sessions but replaces two hot paths: how a broadcast reaches the local members of a room,
and how a packet reaches an idle WebSocket. Both need attributes and methods that these
libraries do not document as public. They are used in this package and nowhere else; the
rest of ``realtime/`` imports the names re-exported here:

* :mod:`realtime.internals.queues` — a socket's send queue that writes frames straight to an
  idle WebSocket (:class:`DirectQueue`), and delivering one broadcast to a room's members;
* :mod:`realtime.internals.sockets` — the Engine.IO socket, WebSocket wrapper and servers
  that attach those queues to uvicorn's protocol, and what a connection keeps while idle;
* :mod:`realtime.internals.managers` — the hooks of python-socketio's Redis manager.

Verified against exactly the versions in :data:`VERIFIED_VERSIONS` (pinned in
``pyproject.toml``). ``tests/realtime/test_internals.py`` asserts every item below still
exists with the shape we rely on and that the installed versions are these, and it fails
with the name of what changed. Upgrading a pin means re-running that test and
``tests/realtime/`` (and ideally ``bench/fanout``), then updating :data:`VERIFIED_VERSIONS`.

Internals touched, and why:

python-engineio
  * ``engineio.AsyncServer._async`` (the async-driver table, a module dict shared by every
    server): a copy with ``"websocket"`` replaced by :class:`DirectWebSocket`, so our
    wrapper serves each WebSocket and can reach uvicorn's protocol object.
  * ``engineio.AsyncServer.create_queue()``: overridden to give every socket a
    :class:`DirectQueue` (a documented hook in spirit, not in the docs).
  * ``engineio.async_drivers.asgi.WebSocket`` (``handler``, ``__call__(environ)``,
    ``send(message)``): subclassed; ``handler.__self__`` is the Engine.IO socket.
  * ``engineio.async_socket.AsyncSocket`` attributes ``queue``, ``upgraded``, ``upgrading``,
    ``closed``, ``closing`` and ``close(wait=, abort=)``: whether a socket may be written
    directly, and aborting a slow consumer.
  * ``AsyncServer.sockets`` (Engine.IO sid → socket): finding a room member's socket.
  * The writer task's use of the queue (``get`` → ``send`` → ``task_done``; ``None`` ends it):
    :class:`DirectQueue` counts packets taken but not yet written, so a direct write never
    overtakes them, and puts ``None`` to end a dropped connection's writer.
  * ``AsyncSocket._websocket_handler()``, ``_send_ping`` (started through
    ``server.start_background_task``), ``receive()``, ``connected``, ``last_ping``: a
    directly opened WebSocket's socket becomes a :class:`DirectSocket` (same layout; the
    handler rewritten with no task of its own while idle: a writer runs only while packets
    are queued) and its pings become loop timers.
  * ``engineio.async_drivers.asgi.WebSocket.wait()``, inlined in that handler: reads
    uvicorn's ASGI ``receive`` (``asgi_receive``) directly.
  * The WSGI-style ``environ`` python-engineio builds and python-socketio keeps, whose
    ``asgi.scope``/``asgi.send``/``REQUEST_METHOD`` it reads when the connection ends:
    :func:`release_handshake` keeps only those and what a later connect reads.
python-socketio
  * ``socketio.AsyncServer._engineio_server_class()``: returns :class:`DirectEngineIOServer`.
  * ``AsyncServer.manager_initialized`` / ``manager.initialize()``: starting the Redis
    listener inside our lifespan (before the first connection) and ``manager.thread`` (the
    listener task) to stop it.
  * ``AsyncRedisManager``: ``_listen()`` (overridden to take our pre-encoded batches off the
    channel), ``_redis_connect()``, ``redis`` and ``connected`` (publishing a pre-encoded body with
    the library's one-reconnect policy), ``host_id`` (skipping our own batches),
    ``_handle_emit(message)`` (the stock manager's local delivery, hooked to end revoked
    sessions when ``LIVE_FAST_FANOUT=false``).
  * ``BaseManager.rooms`` (namespace → room → {sid: eio_sid}): the local members of a room,
    read synchronously on the broadcast path.
uvicorn (``websockets-sansio`` protocol, ``uvicorn.protocols.websockets.websockets_sansio_impl``)
  * the ASGI ``send`` callable is a bound method of ``WebSocketsSansIOProtocol``; its
    ``transport``, ``conn``, ``writable`` (cleared while the transport is paused),
    ``close_sent``, ``disconnected`` and ``handshake_complete`` say whether a frame may be
    written now; ``transport.write(frame)`` writes it. Its ``queue`` and ``writable`` get
    lean waiters and items (``slim_waiters``, ``Waiters``); ``request``/``response`` (the
    handshake) are dropped once the connection is accepted, and the request's headers cleared
    (websockets' ``ServerProtocol.parse()`` generator keeps the request for the connection's
    life).
asyncio
  * ``asyncio.Queue._queue`` (the items), ``_init()`` and ``_get()``: an O(1) "anything
    queued?" check and counting what the writer took; ``_queue``, ``_getters``/``_putters`` and
    ``_finished._waiters`` (an ``Event``'s), which only ``append``/``popleft``/``remove``, take
    ``len`` and iterate: lists instead of deques (``Waiters``, ``slim_waiters``).
redis-py
  * blocking ``PubSub`` reads (``listen()``) are made without the client's ``socket_timeout``
    (``parse_response`` passes ``math.inf``): the managers' clients get a socket timeout so a
    hung Redis fails a publish, and an idle subscription must not time out with it.
websockets
  * ``websockets.frames.Frame(...).serialize(mask=False, extensions=[])`` (public API, pinned
    because uvicorn's sans-I/O protocol is built on the same version).

Frames are sent uncompressed: permessage-deflate (RFC 7692 §6) lets an endpoint leave any
message uncompressed, and a slot change is a few hundred bytes.
"""

from __future__ import annotations

import importlib.metadata

from realtime.internals.managers import (
    RedisManagerBase,
    StockRedisManagerBase,
    close_redis,
    room_members,
    start_manager,
    stop_listener,
)
from realtime.internals.queues import DirectQueue, abort_socket, deliver_local, frame_bytes
from realtime.internals.sockets import (
    SANSIO_ATTRIBUTES,
    SANSIO_MODULE,
    DirectAsyncServer,
    DirectEngineIOServer,
    DirectSocket,
    DirectWebSocket,
    release_handshake,
    sansio_protocol,
)

__all__ = [
    "SANSIO_ATTRIBUTES",
    "SANSIO_MODULE",
    "VERIFIED_VERSIONS",
    "DirectAsyncServer",
    "DirectEngineIOServer",
    "DirectQueue",
    "DirectSocket",
    "DirectWebSocket",
    "RedisManagerBase",
    "StockRedisManagerBase",
    "abort_socket",
    "close_redis",
    "deliver_local",
    "frame_bytes",
    "release_handshake",
    "room_members",
    "sansio_protocol",
    "start_manager",
    "stop_listener",
    "version_mismatches",
]

#: The exact versions this module was verified against (also pinned in pyproject.toml).
VERIFIED_VERSIONS = {
    "python-socketio": "5.18.1",
    "python-engineio": "4.15.1",
    "uvicorn": "0.54.0",
    "websockets": "17.4",
    "redis": "8.1.0",
}


def version_mismatches() -> dict[str, tuple[str, str | None]]:
    """``{distribution: (verified, installed)}`` for every pinned library that differs."""
    found: dict[str, tuple[str, str | None]] = {}
    for name, verified in VERIFIED_VERSIONS.items():
        try:
            installed: str | None = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != verified:
            found[name] = (verified, installed)
    return found

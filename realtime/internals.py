"""Every reach into python-socketio, python-engineio and uvicorn internals, in one place.

The fast fan-out (docs/live.md, "Fan-out") keeps the libraries' wire protocol, rooms and
sessions but replaces two hot paths: how a broadcast reaches the local members of a room,
and how a packet reaches an idle WebSocket. Both need attributes and methods that these
libraries do not document as public. They are used here and nowhere else; the rest of
``realtime/`` talks to this module through the names it exports.

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
  * ``AsyncSocket.poll()``, ``_websocket_handler()``, ``_send_ping`` (started through
    ``server.start_background_task``), ``receive()``, ``connected``, ``last_ping``: a
    directly opened WebSocket's socket becomes a :class:`DirectSocket` (same layout, ``poll``
    and the handler rewritten without helper tasks) and its pings become loop timers.
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
    lean waiters (:func:`slim_waiters`); ``request``/``response`` (the handshake) are dropped
    once the connection is accepted.
asyncio
  * ``asyncio.Queue._queue`` (the deque) and ``_get()``: an O(1) "anything queued?" check and
    counting what the writer took; ``_getters``/``_putters`` and ``_finished._waiters`` (an
    ``Event``'s), which only ``append``/``popleft``/``remove`` and iterate: swapped for lists
    (:func:`slim_waiters`).
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

import asyncio
import collections
import contextlib
import importlib.metadata
import time
from collections.abc import AsyncIterator
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers.asgi import WebSocket as AsgiWebSocket
from engineio.async_socket import AsyncSocket
from redis.exceptions import RedisError
from websockets.frames import Frame, Opcode

#: The exact versions this module was verified against (also pinned in pyproject.toml).
VERIFIED_VERSIONS = {
    "python-socketio": "5.18.1",
    "python-engineio": "4.15.1",
    "uvicorn": "0.54.0",
    "websockets": "17.4",
    "redis": "8.1.0",
}

SANSIO_MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"
#: What :class:`DirectQueue` reads on uvicorn's protocol object.
SANSIO_ATTRIBUTES = ("transport", "conn", "writable", "close_sent", "disconnected", "handshake_complete")
_FRAME_ATTR = "_edustream_ws_frame"


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


def frame_bytes(pkt: eio_packet.Packet) -> bytes:
    """The complete unmasked WebSocket frame of an Engine.IO packet (cached on the packet)."""
    frame: bytes | None = pkt.__dict__.get(_FRAME_ATTR)
    if frame is None:
        encoded = pkt.encode()
        if isinstance(encoded, str):
            frame = Frame(Opcode.TEXT, encoded.encode()).serialize(mask=False, extensions=[])
        else:
            frame = Frame(Opcode.BINARY, bytes(encoded)).serialize(mask=False, extensions=[])
        setattr(pkt, _FRAME_ATTR, frame)
    return frame


def sansio_protocol(send: Any) -> Any:
    """uvicorn's websockets-sansio protocol behind an ASGI ``send``, or None for anything else."""
    proto = getattr(send, "__self__", None)
    if type(proto).__module__ != SANSIO_MODULE:
        return None
    return proto if all(hasattr(proto, name) for name in SANSIO_ATTRIBUTES) else None


# -- Engine.IO sockets ------------------------------------------------------------------


class _Waiters(list[Any]):
    """The ``deque`` operations ``asyncio.Queue`` uses on its waiters and items, in a list.

    An empty ``deque`` reserves a 64-slot block (760 bytes); an empty list is 56. A connection's
    queues are empty nearly all the time and short otherwise (at most ``LIVE_MAX_QUEUED_PACKETS``
    before the connection is dropped), so ``pop(0)`` costs nothing that matters.
    """

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


#: Shared by every unbounded :class:`DirectQueue`: nothing is ever appended (``put`` on an
#: unbounded queue never waits), so it stays empty (``maxlen=0`` would drop an append anyway).
_NO_PUTTERS: collections.deque[Any] = collections.deque(maxlen=0)


def slim_waiters(queue: asyncio.Queue[Any]) -> None:
    """Give an idle queue list-based waiters instead of three empty deques.

    An empty ``deque`` reserves a 64-slot block (~600 bytes). An ``asyncio.Queue`` holds three
    for waiters (getters, putters, and its ``join()`` event's) besides the one for items; a
    connection's queues see at most one getter (the task reading it), no putter when unbounded
    (``put`` never waits), and ``join()`` rarely. Only while nobody waits (it swaps containers).
    """
    q: Any = queue
    if q._getters or q._putters or q._finished._waiters:
        return
    q._getters = _Waiters()
    if queue.maxsize <= 0:
        q._putters = _NO_PUTTERS
    q._finished._waiters = _Waiters()


class DirectQueue(asyncio.Queue[Any]):
    """An Engine.IO socket's send queue that writes through to an idle WebSocket.

    While the connection is a WebSocket served by uvicorn's ``websockets-sansio`` protocol
    (the default with websockets >= 14), open, not paused by back-pressure, and nothing is
    queued or in the writer's hands, ``put``/``put_nowait`` write the frame at once;
    otherwise the packet is queued and the library's writer sends it as usual (and every
    later packet queues behind it until the writer has caught up, so order never changes).
    Long-polling connections, other ASGI servers and ``--ws wsproto``/``websockets`` use the
    library path unchanged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        slim_waiters(self)
        self._ws: DirectWebSocket | None = None
        self._sock: Any = None
        self._in_flight = 0  # taken by the writer task, not yet written

    def _init(self, maxsize: int) -> None:
        self._queue = _Waiters()  # the items: a list, not a deque (see _Waiters)

    @property
    def direct(self) -> bool:
        """True while packets may be written straight to uvicorn's transport."""
        return self._ws is not None

    def attach(self, ws: DirectWebSocket, sock: Any) -> None:
        self._ws, self._sock, self._in_flight = ws, sock, 0

    def detach(self) -> None:
        self._ws = self._sock = None

    def _counting(self) -> bool:
        sock = self._sock
        return sock is not None and sock.upgraded and not sock.upgrading

    def put_nowait(self, item: Any) -> None:
        sock = self._sock
        on_demand = type(sock) is DirectSocket
        # On a connection upgraded from long-polling, PINGs take the queue: the library's writer
        # task ends the connection when its queue stays empty for ping_interval + ping_timeout.
        if (self._ws is not None and item is not None and (on_demand or item.packet_type != eio_packet.PING)
                and self.write_frame(frame_bytes(item))):
            return
        super().put_nowait(item)
        if on_demand:
            sock.wake_writer()

    def write_frame(self, frame: bytes) -> bool:
        """Write a whole WebSocket frame now if nothing is queued or in flight and the socket is open.

        The broadcast hot path (one call per recipient): flat attribute checks, then one write.
        """
        ws = self._ws
        if ws is None or self._queue or self._in_flight:  # type: ignore[attr-defined]
            return False
        sock = self._sock
        if not sock.upgraded or sock.upgrading:
            return False
        proto = ws.proto
        # uvicorn sets close_sent when it starts closing and closes the transport when the peer's
        # close frame arrives; a paused transport clears `writable` (back-pressure).
        if (proto.close_sent or proto.disconnected or not proto.handshake_complete or not proto.writable.is_set()
                or proto.transport.is_closing()):
            return False
        proto.transport.write(frame)
        return True

    def _get(self) -> Any:
        item = super()._get()  # type: ignore[misc]
        if self._ws is not None and item is not None and self._counting():
            self._in_flight += 1
        return item

    def written(self) -> None:
        """The writer task sent one packet it had taken from this queue."""
        if self._in_flight > 0:
            self._in_flight -= 1


class DirectSocket(AsyncSocket):  # type: ignore[misc]
    """An Engine.IO socket on a WebSocket that keeps no task of its own while idle.

    python-engineio 4.15 keeps, per WebSocket, besides the ASGI task: a writer task waiting on
    the queue (``poll``, whose ``asyncio.wait_for(queue.get())`` is one more task on Python
    3.11), a task per read (``wait_task``) and a ping task sleeping ``ping_interval``: 5 tasks,
    17 suspended coroutines. Here the read loop waits on uvicorn's ``receive`` under
    ``asyncio.timeout`` in the ASGI task itself; a writer task runs only while packets are
    queued (most are written at once by :class:`DirectQueue`) and ends when the queue is empty;
    pings are loop timers (:meth:`DirectEngineIOServer.start_background_task`). An idle
    connection keeps 1 task. The library's writer also ended a connection whose queue stayed
    empty for ping_interval + ping_timeout; a connection that stopped answering pings is ended
    by the read time-out (the same length) instead. Behaviour is the library's otherwise (a
    change proposed upstream: docs/benchmarks.md, "Memory per idle live connection").
    """

    _out: Any = None  # the DirectWebSocket served, while the handler runs
    _writer: asyncio.Future[None] | None = None  # the writer task, while packets are queued
    _writer_done = False  # the WebSocket was closed by the writer (end of connection or failed send)

    def wake_writer(self) -> None:
        """Packets were queued: start a writer unless one is sending them already."""
        if self._writer is None and self._out is not None and not self._writer_done:
            self._writer = asyncio.ensure_future(self._write_queued(self._out))

    async def _write_queued(self, ws: Any) -> None:
        """Send the queued packets in order, and end when the queue is empty; ``None`` (or a
        failed send) closes the WebSocket, as the library's writer does."""
        queue = self.queue
        try:
            while True:
                try:
                    pkt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                queue.task_done()
                if pkt is None:
                    break  # the connection ends
                try:
                    await ws.send(pkt.encode())
                except Exception:  # noqa: BLE001 - as the library: any send failure ends the writer
                    break
            self._writer_done = True
            await ws.close()
        finally:
            self._writer = None

    async def _websocket_handler(self, ws: Any) -> None:
        """The library's handler for a WebSocket opened directly (not an upgrade from polling)."""
        server = self.server
        limit = server.ping_interval + server.ping_timeout
        receive = ws.asgi_receive
        self.connected = True
        self.upgraded = True
        self._out = ws
        self.wake_writer()  # what was queued before the WebSocket opened (Engine.IO's OPEN packet)
        while True:
            try:
                # engineio's WebSocket.wait(), inline: one suspended coroutine less per connection.
                async with asyncio.timeout(limit):
                    event = await receive()
                if event["type"] != "websocket.receive":
                    break
                p = event.get("bytes")
                if p is None:
                    p = event.get("text")
                    if p is None:
                        break
                if len(p) > server.max_http_buffer_size:
                    raise ValueError("packet is too large")
            except BaseException:  # noqa: BLE001 - as the library: a cancel, time-out or error ends the loop
                break
            pkt = eio_packet.Packet(encoded_packet=p)
            try:
                await self.receive(pkt)
            except engineio.exceptions.UnknownPacketError:
                pass
            except engineio.exceptions.SocketIsClosedError:
                break
            except Exception:
                server.logger.exception("Unknown receive error")
        await self.queue.put(None)  # the writer sends what is still queued, then closes the WebSocket
        if self._writer is not None:
            await self._writer
        self._out = None
        await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


class DirectWebSocket(AsgiWebSocket):  # type: ignore[misc]
    """engineio's ASGI WebSocket wrapper that lets its socket's queue write frames directly."""

    proto: Any = None  # uvicorn's protocol object, when it is the websockets-sansio one
    _send_queue: DirectQueue | None = None

    async def __call__(self, environ: dict[str, Any]) -> Any:
        sock: Any = getattr(self.handler, "__self__", None)
        queue = getattr(sock, "queue", None)
        self.proto = sansio_protocol(environ.get("asgi.send"))
        if self.proto is None or sock is None or not isinstance(queue, DirectQueue):
            return await super().__call__(environ)
        self._send_queue = queue
        queue.attach(self, sock)
        # uvicorn's receive queue and write flag, as lean as ours (nobody waits on them yet).
        slim_waiters(self.proto.queue)
        received: Any = self.proto.queue
        received._queue = _Waiters(received._queue)
        writable: Any = self.proto.writable
        if not writable._waiters:
            writable._waiters = _Waiters()
        try:
            if sock.connected or type(sock) is not AsyncSocket:
                return await super().__call__(environ)  # an upgrade from long-polling: the library's way
            sock.__class__ = DirectSocket  # same layout, fewer tasks (see DirectSocket)
            self.asgi_receive = environ["asgi.receive"]
            self.asgi_send = environ["asgi.send"]
            await self.asgi_send({"type": "websocket.accept"})
            await sock._websocket_handler(self)
            return ""  # as the library: nothing more to send
        finally:
            queue.detach()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self._send_queue is not None:
            self._send_queue.written()


class DirectEngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO server whose sockets use :class:`DirectQueue` and :class:`DirectWebSocket`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A copy: the driver table is module state shared with every other server.
        self._async: dict[str, Any] = {**self._async, "websocket": DirectWebSocket}

    def create_queue(self, *args: Any, **kwargs: Any) -> DirectQueue:
        return DirectQueue(*args, **kwargs)

    def start_background_task(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        """A socket's next ping is a loop timer, not a task sleeping ``ping_interval``."""
        sock = getattr(target, "__self__", None)
        if getattr(target, "__func__", None) is AsyncSocket._send_ping and isinstance(sock, AsyncSocket):
            return asyncio.get_running_loop().call_later(self.ping_interval, _ping_due, sock)
        return super().start_background_task(target, *args, **kwargs)


def _ping_due(sock: Any) -> None:
    """The library's ``_send_ping`` after its sleep: ping unless the socket is closing or closed."""
    if not sock.closing and not sock.closed:
        sock.last_ping = time.time()
        task = asyncio.ensure_future(_send_ping(sock))  # short-lived: the library's send (with its time-out check)
        _PINGS.add(task)
        task.add_done_callback(_PINGS.discard)


_PINGS: set[asyncio.Future[None]] = set()


async def _send_ping(sock: Any) -> None:
    with contextlib.suppress(engineio.exceptions.SocketIsClosedError):
        await sock.send(eio_packet.Packet(eio_packet.PING))


# -- The handshake, once a namespace is connected ----------------------------------------

#: What stays of a connection's WSGI-style environ after its namespace connected: what
#: python-engineio reads when the connection ends and what a later namespace connect on the
#: same connection reads (the cookie, and the client IP as first computed).
KEPT_ENVIRON = ("asgi.scope", "asgi.receive", "asgi.send", "REQUEST_METHOD", "REMOTE_ADDR", "HTTP_COOKIE")


def release_handshake(environ: dict[str, Any], extra: dict[str, Any]) -> None:
    """Drop what only the handshake needed, in place, once the connection is accepted.

    python-engineio builds a WSGI-style environ per connection (every header as a key, and a
    ``wsgi.input`` whose class it defines per request) and python-socketio keeps it for the
    connection's life; uvicorn keeps the handshake's request and response (with their headers)
    and the scope's header list. For an idle connection that is several KB of its memory.
    ``extra`` is added to what is kept (what the caller derived from the dropped parts).
    """
    kept = {key: environ[key] for key in KEPT_ENVIRON if key in environ}
    environ.clear()
    environ.update(kept)
    environ.update(extra)
    scope = environ.get("asgi.scope")
    if isinstance(scope, dict) and scope.get("type") == "websocket":
        scope["headers"] = []
    proto = sansio_protocol(environ.get("asgi.send"))
    if proto is not None and proto.handshake_complete and proto.request is not None:
        # websockets' parser generator keeps the request in its frame for the connection's life.
        proto.request.headers.clear()
        proto.request = proto.response = None


class DirectAsyncServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` on :class:`DirectEngineIOServer`."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return DirectEngineIOServer


def deliver_local(server: socketio.AsyncServer, members: dict[str, str], pkt: eio_packet.Packet, frame: bytes,
                  max_queued: int) -> list[str]:
    """Hand one packet to each member's socket (``{sid: eio_sid}``); the Engine.IO sids over ``max_queued``.

    Written straight to an idle WebSocket, else put on the socket's queue: no task, no await.
    """
    sockets = server.eio.sockets
    too_slow: list[str] = []
    for eio_sid in members.values():
        sock = sockets.get(eio_sid)
        if sock is None or sock.closed or sock.closing:
            continue
        queue = sock.queue
        if type(queue) is DirectQueue and queue.write_frame(frame):
            continue
        if queue.qsize() >= max_queued:
            too_slow.append(eio_sid)
            continue
        queue.put_nowait(pkt)
    return too_slow


async def abort_socket(server: socketio.AsyncServer, eio_sid: str) -> None:
    """Drop what an Engine.IO socket has not sent and close it at once (a consumer too far behind)."""
    sock = server.eio.sockets.get(eio_sid)
    if sock is None:
        return
    while not sock.queue.empty():
        sock.queue.get_nowait()
        sock.queue.task_done()
    await sock.close(wait=False, abort=True)
    sock.queue.put_nowait(None)  # ends the transport's writer, which closes the WebSocket


# -- the Redis manager --------------------------------------------------------------------


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

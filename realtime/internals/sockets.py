"""The Engine.IO socket, WebSocket wrapper and servers of the direct path, and the handshake's release.

Part of :mod:`realtime.internals` (its docstring lists each library internal touched and
why). :class:`DirectAsyncServer` is the Socket.IO server ``realtime/server.py`` builds; its
Engine.IO server serves every WebSocket through :class:`DirectWebSocket`, which attaches the
socket's :class:`~realtime.internals.queues.DirectQueue` to uvicorn's ``websockets-sansio``
protocol and, for a WebSocket opened directly, turns the socket into a :class:`DirectSocket`:
what an idle connection keeps is docs/benchmarks.md, "Memory per idle live connection".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers.asgi import WebSocket as AsgiWebSocket
from engineio.async_socket import AsyncSocket

from realtime.internals.queues import DirectQueue, Waiters, slim_waiters

SANSIO_MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"
#: What :class:`DirectQueue` reads on uvicorn's protocol object.
SANSIO_ATTRIBUTES = ("transport", "conn", "writable", "close_sent", "disconnected", "handshake_complete")


def sansio_protocol(send: Any) -> Any:
    """uvicorn's websockets-sansio protocol behind an ASGI ``send``, or None for anything else."""
    proto = getattr(send, "__self__", None)
    if type(proto).__module__ != SANSIO_MODULE:
        return None
    return proto if all(hasattr(proto, name) for name in SANSIO_ATTRIBUTES) else None


class DirectSocket(AsyncSocket):  # type: ignore[misc]
    """An Engine.IO socket on a WebSocket that keeps no task of its own while idle.

    python-engineio 4.15 keeps, per WebSocket, besides the ASGI task: a writer task waiting on
    the queue (``poll``, whose ``asyncio.wait_for(queue.get())`` is one more task on Python
    3.11), a task per read (``wait_task``) and a ping task sleeping ``ping_interval``: 5 tasks.
    Here the read loop waits on uvicorn's ``receive`` under ``asyncio.timeout`` in the ASGI
    task itself; a writer task runs only while packets are queued (most are written at once
    by :class:`DirectQueue`) and ends when the queue is empty; pings are loop timers
    (:meth:`DirectEngineIOServer.start_background_task`). An idle connection keeps 1 task. The library's writer also ended a connection whose queue stayed
    empty for ping_interval + ping_timeout; a connection that stopped answering pings is ended
    by the read time-out (the same length) instead. Behaviour is the library's otherwise (a
    change proposed upstream: docs/benchmarks.md, "Memory per idle live connection").
    """

    writes_on_demand = True  # DirectQueue wakes the writer when it queues a packet
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
        received._queue = Waiters(received._queue)
        writable: Any = self.proto.writable
        if not writable._waiters:
            writable._waiters = Waiters()
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

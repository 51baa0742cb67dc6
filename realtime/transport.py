"""Writing Engine.IO packets straight onto uvicorn's WebSocket transport when it is idle.

python-engineio sends each packet through a per-connection queue and writer task:
``queue.put`` → task wake-up → ``poll`` → ``ws.send`` → the ASGI ``send`` message →
uvicorn's sans-I/O WebSocket → ``transport.write``. For a broadcast that is several task
switches and a frame encoding per recipient, and it is where the time goes (see
docs/benchmarks.md). A server-to-client WebSocket frame is not masked, so the frame bytes
are the same for every recipient: built once per packet, they can be written to each
socket's transport directly.

:class:`DirectQueue` replaces each Engine.IO socket's send queue. While the connection is
a WebSocket served by uvicorn's ``websockets-sansio`` protocol (the default with
websockets ≥ 14), open, not paused by back-pressure, and nothing is queued or in the
writer's hands, ``put``/``put_nowait`` write the frame at once; otherwise the packet is
queued and the library's writer sends it as usual (and every later packet queues behind it
until the writer has caught up, so order never changes). Long-polling connections, other
ASGI servers and ``--ws wsproto``/``websockets`` use the library path unchanged.

Frames are sent uncompressed: permessage-deflate (RFC 7692 §6) lets an endpoint leave any
message uncompressed, and a slot change is a few hundred bytes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers.asgi import WebSocket as AsgiWebSocket
from websockets.frames import Frame, Opcode

_SANSIO_MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"
_FRAME_ATTR = "_edustream_ws_frame"


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


def _sansio_protocol(send: Any) -> Any:
    """uvicorn's websockets-sansio protocol behind an ASGI ``send``, or None for anything else."""
    proto = getattr(send, "__self__", None)
    if type(proto).__module__ != _SANSIO_MODULE:
        return None
    needed = ("transport", "conn", "writable", "close_sent", "disconnected", "handshake_complete")
    return proto if all(hasattr(proto, name) for name in needed) else None


class DirectQueue(asyncio.Queue[Any]):
    """An Engine.IO socket's send queue that writes through to an idle WebSocket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ws: DirectWebSocket | None = None
        self._sock: Any = None
        self._in_flight = 0  # taken by the writer task, not yet written

    def attach(self, ws: DirectWebSocket, sock: Any) -> None:
        self._ws, self._sock, self._in_flight = ws, sock, 0

    def detach(self) -> None:
        self._ws = self._sock = None

    def _counting(self) -> bool:
        sock = self._sock
        return sock is not None and sock.upgraded and not sock.upgrading

    def put_nowait(self, item: Any) -> None:
        # PINGs always take the queue: the library's writer task ends the connection when its
        # queue stays empty for ping_interval + ping_timeout, and the ping keeps it alive.
        if (self._ws is not None and item is not None and item.packet_type != eio_packet.PING
                and self.write_frame(frame_bytes(item))):
            return
        super().put_nowait(item)

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


class DirectWebSocket(AsgiWebSocket):  # type: ignore[misc]
    """engineio's ASGI WebSocket wrapper that lets its socket's queue write frames directly."""

    proto: Any = None  # uvicorn's protocol object, when it is the websockets-sansio one
    _send_queue: DirectQueue | None = None

    async def __call__(self, environ: dict[str, Any]) -> Any:
        sock = getattr(self.handler, "__self__", None)
        queue = getattr(sock, "queue", None)
        self.proto = _sansio_protocol(environ.get("asgi.send"))
        if self.proto is not None and isinstance(queue, DirectQueue):
            self._send_queue = queue
            queue.attach(self, sock)
        try:
            return await super().__call__(environ)
        finally:
            if self._send_queue is not None:
                self._send_queue.detach()

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


class DirectAsyncServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` on :class:`DirectEngineIOServer`."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return DirectEngineIOServer

"""A socket's send queue that writes straight to an idle WebSocket, and delivering a broadcast.

Part of :mod:`realtime.internals` (its docstring lists each library internal touched and
why). :class:`DirectQueue` is what every Engine.IO socket of our server queues on
(``create_queue()``); :mod:`realtime.internals.sockets` attaches it to uvicorn's protocol
while the connection is a WebSocket. Frames are sent uncompressed: permessage-deflate
(RFC 7692 §6) lets an endpoint leave any message uncompressed, and a slot change is a few
hundred bytes.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import socketio
from engineio import packet as eio_packet
from websockets.frames import Frame, Opcode

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


class Waiters(list[Any]):
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

    An empty ``deque`` reserves a 64-slot block (760 bytes). An ``asyncio.Queue`` holds three
    for waiters (getters, putters, and its ``join()`` event's) besides the one for items; a
    connection's queues see at most one getter (the task reading it), no putter when unbounded
    (``put`` never waits), and ``join()`` rarely. Only while nobody waits (it swaps containers).
    """
    q: Any = queue
    if q._getters or q._putters or q._finished._waiters:
        return
    q._getters = Waiters()
    if queue.maxsize <= 0:
        q._putters = _NO_PUTTERS
    q._finished._waiters = Waiters()


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
        self._ws: Any = None  # the sockets module's DirectWebSocket, while attached
        self._sock: Any = None
        self._in_flight = 0  # taken by the writer task, not yet written

    def _init(self, maxsize: int) -> None:
        self._queue = Waiters()  # the items: a list, not a deque (see Waiters)

    @property
    def direct(self) -> bool:
        """True while packets may be written straight to uvicorn's transport."""
        return self._ws is not None

    def attach(self, ws: Any, sock: Any) -> None:
        self._ws, self._sock, self._in_flight = ws, sock, 0

    def detach(self) -> None:
        self._ws = self._sock = None

    def _counting(self) -> bool:
        sock = self._sock
        return sock is not None and sock.upgraded and not sock.upgrading

    def put_nowait(self, item: Any) -> None:
        sock = self._sock
        on_demand = getattr(sock, "writes_on_demand", False)  # a DirectSocket: no writer task while idle
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

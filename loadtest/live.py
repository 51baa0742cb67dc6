"""Socket.IO ``/live`` connections for watchers: python-socketio's client, or a lean one.

``socketio`` (the default) is python-socketio's ``AsyncClient`` over WebSocket, sharing one
aiohttp session. ``raw`` speaks the same wire protocol (Engine.IO 4 / Socket.IO 5 text
frames over WebSocket: open, namespace connect, ping/pong, events, acks) with nothing
else, for runs with thousands of watchers per process: measured here it needs about a
quarter of the memory and half the CPU per received event, so the load tester's own
process is less of a bottleneck than the server it measures.

Both call ``on_event(name, data, received_at)`` for every server event (in arrival
order, synchronously) and ``on_reconnect()`` after they reconnected on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import socketio

NAMESPACE = "/live"
EventHandler = Callable[[str, Any, float], None]
ReconnectHandler = Callable[[], Coroutine[Any, Any, None]]

log = logging.getLogger("edustream.loadtest.live")


class LiveError(RuntimeError):
    """A connection or call failed (refused, timed out, closed)."""


class LiveTransport:
    """What a watcher needs from a connection."""

    def __init__(self, url: str, on_event: EventHandler, on_reconnect: ReconnectHandler,
                 auth: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.on_event = on_event
        self.on_reconnect = on_reconnect
        self.auth = auth
        self.disconnects = 0
        self.reconnects = 0

    async def connect(self, within: float = 20.0) -> None:
        raise NotImplementedError

    async def call(self, event: str, data: Any, within: float = 20.0) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class SioTransport(LiveTransport):
    """python-socketio's ``AsyncClient`` (WebSocket only, reconnecting by itself)."""

    def __init__(self, url: str, on_event: EventHandler, on_reconnect: ReconnectHandler,
                 auth: dict[str, Any] | None = None, *, http: aiohttp.ClientSession | None = None) -> None:
        super().__init__(url, on_event, on_reconnect, auth)
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=2,
                                        handle_sigint=False, http_session=http, request_timeout=20)
        self._connected_once = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.sio.on("*", self._event, namespace=NAMESPACE)
        self.sio.on("connect", self._connected, namespace=NAMESPACE)
        self.sio.on("disconnect", self._disconnected, namespace=NAMESPACE)

    def _event(self, event: str, data: Any = None) -> None:
        self.on_event(event, data, time.time())

    def _connected(self) -> None:
        if self._connected_once:
            self.reconnects += 1
            task = asyncio.get_running_loop().create_task(self.on_reconnect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._connected_once = True

    def _disconnected(self, reason: Any = None) -> None:
        self.disconnects += 1

    async def connect(self, within: float = 20.0) -> None:
        try:
            await self.sio.connect(self.url, namespaces=[NAMESPACE], transports=["websocket"], auth=self.auth,
                                   wait_timeout=within)
        except socketio.exceptions.ConnectionError as exc:
            raise LiveError(f"cannot connect to {self.url}: {exc}") from exc

    async def call(self, event: str, data: Any, within: float = 20.0) -> Any:
        try:
            return await self.sio.call(event, data, namespace=NAMESPACE, timeout=within)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
                socketio.exceptions.SocketIOError) as exc:
            raise LiveError(f"{event}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        self.sio.reconnection = False
        with contextlib.suppress(Exception):
            await self.sio.disconnect()
        for task in list(self._tasks):
            task.cancel()


class RawTransport(LiveTransport):
    """Engine.IO 4 / Socket.IO 5 over one aiohttp WebSocket, parsed by hand (text frames only)."""

    def __init__(self, url: str, on_event: EventHandler, on_reconnect: ReconnectHandler,
                 auth: dict[str, Any] | None = None, *, http: aiohttp.ClientSession) -> None:
        super().__init__(url, on_event, on_reconnect, auth)
        self.http = http
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnect_delay = 0.2  # seconds before the first reconnect attempt
        self._prefix_event = f"42{NAMESPACE},"
        self._prefix_ack = f"43{NAMESPACE},"

    def _ws_url(self) -> str:
        scheme = "wss" if self.url.startswith("https") else "ws"
        return f"{scheme}{self.url[self.url.index(':'):]}/socket.io/?EIO=4&transport=websocket"

    async def _open(self, within: float) -> None:
        try:
            async with asyncio.timeout(within):
                # autoping answers WebSocket-level pings (uvicorn closes a connection that misses
                # them); Engine.IO's own "2"/"3" pings are answered in _read.
                ws = await self.http.ws_connect(self._ws_url(), autoping=True, max_msg_size=0)
                opened = await ws.receive()
                if opened.type != aiohttp.WSMsgType.TEXT or not str(opened.data).startswith("0"):
                    raise LiveError(f"unexpected Engine.IO open: {opened.data!r}")
                await ws.send_str(f"40{NAMESPACE}," + (json.dumps(self.auth) if self.auth else ""))
                while True:
                    msg = await ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise LiveError(f"connection closed during the handshake ({msg.type.name})")
                    text = str(msg.data)
                    if text == "2":
                        await ws.send_str("3")
                    elif text.startswith(f"40{NAMESPACE}"):
                        break
                    elif text.startswith(f"44{NAMESPACE}"):
                        raise LiveError(f"connection refused: {text[len(NAMESPACE) + 3:]}")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise LiveError(f"cannot connect to {self.url}: {type(exc).__name__}: {exc}") from exc
        self.ws = ws
        self._reader = asyncio.get_running_loop().create_task(self._read(ws))

    async def connect(self, within: float = 20.0) -> None:
        await self._open(within)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                text: str = msg.data
                if text.startswith(self._prefix_event):
                    self._dispatch_event(text, time.time())
                elif text == "2":
                    await ws.send_str("3")
                elif text.startswith(self._prefix_ack):
                    self._dispatch_ack(text)
                elif text.startswith(f"41{NAMESPACE}") or text == "1":
                    break
        except (aiohttp.ClientError, OSError):
            pass
        finally:
            self._fail_acks()
        if not self._closing:
            self.disconnects += 1
            await self._reconnect()

    def _dispatch_event(self, text: str, received: float) -> None:
        body = text[len(self._prefix_event):]
        start = body.find("[")
        try:
            payload = json.loads(body[start:])
        except ValueError:
            log.warning("undecodable event frame %.80r", text)
            return
        if isinstance(payload, list) and payload and isinstance(payload[0], str):
            self.on_event(payload[0], payload[1] if len(payload) > 1 else None, received)

    def _dispatch_ack(self, text: str) -> None:
        body = text[len(self._prefix_ack):]
        start = body.find("[")
        if start <= 0 or not body[:start].isdigit():
            return
        future = self._acks.pop(int(body[:start]), None)
        if future is None or future.done():
            return
        try:
            args = json.loads(body[start:])
        except ValueError as exc:
            future.set_exception(LiveError(f"undecodable ack: {exc}"))
            return
        future.set_result(args[0] if args else None)

    def _fail_acks(self) -> None:
        for future in self._acks.values():
            if not future.done():
                future.set_exception(LiveError("connection closed before the ack"))
        self._acks.clear()

    async def _reconnect(self) -> None:
        delay = self.reconnect_delay
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self._open(20.0)
            except LiveError:
                delay = min(delay * 2, 2.0)
                continue
            self.reconnects += 1
            await self.on_reconnect()
            return

    async def call(self, event: str, data: Any, within: float = 20.0) -> Any:
        ws = self.ws
        if ws is None or ws.closed:
            raise LiveError(f"{event}: not connected")
        ack_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        try:
            await ws.send_str(f"42{NAMESPACE},{ack_id}" + json.dumps([event, data], separators=(",", ":")))
            async with asyncio.timeout(within):
                return await future
        except TimeoutError as exc:
            raise LiveError(f"{event}: no ack within {within:.0f}s") from exc
        except (aiohttp.ClientError, OSError, ConnectionError) as exc:
            raise LiveError(f"{event}: {type(exc).__name__}: {exc}") from exc
        finally:
            self._acks.pop(ack_id, None)

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.send_str(f"41{NAMESPACE},")
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


def make_transport(kind: str, url: str, on_event: EventHandler, on_reconnect: ReconnectHandler,
                   http: aiohttp.ClientSession, auth: dict[str, Any] | None = None) -> LiveTransport:
    """A ``socketio`` or ``raw`` connection to ``url`` (not yet connected)."""
    if kind == "raw":
        return RawTransport(url, on_event, on_reconnect, auth, http=http)
    if kind == "socketio":
        return SioTransport(url, on_event, on_reconnect, auth, http=http)
    raise ValueError(f"unknown watcher client {kind!r}: use socketio or raw")

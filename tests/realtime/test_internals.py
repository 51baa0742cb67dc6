"""The library internals the fast fan-out relies on (realtime/internals/) are still there.

Each test names what changed when it fails. After upgrading python-socketio, python-engineio,
uvicorn or websockets: fix realtime/internals/ until these pass, run tests/realtime/ and the
fan-out benchmark, then update ``VERIFIED_VERSIONS`` and the pins in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import threading
from collections.abc import AsyncIterator
from typing import Any

import engineio
import pytest
import socketio
import uvicorn
from engineio.async_drivers import asgi as engineio_asgi
from engineio.async_socket import AsyncSocket
from redis.asyncio.client import PubSub as RedisPubSub
from socketio.async_pubsub_manager import AsyncPubSubManager
from uvicorn.protocols.websockets import websockets_sansio_impl
from uvicorn.server import ServerState
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import ConnectionClosed

from edustream.cli import LIVE_UVICORN_OPTIONS
from realtime import internals
from realtime.internals import DirectAsyncServer, DirectEngineIOServer, DirectQueue, RedisManagerBase
from realtime.internals import sockets as internal_sockets
from tests.realtime.conftest import served_in_process

CHANGED = ("{what} changed: realtime/internals/ relies on it (verified with {versions}); "
           "re-verify the fast fan-out against the installed version before changing the pin.")


def _fail(what: str) -> str:
    return CHANGED.format(what=what, versions=internals.VERIFIED_VERSIONS)


def _params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def test_installed_versions_are_the_verified_ones() -> None:
    mismatches = internals.version_mismatches()
    assert not mismatches, ("installed versions differ from those realtime/internals/ was verified against "
                            f"({{name: (verified, installed)}}): {mismatches}")


def test_engineio_server_internals() -> None:
    eio = DirectEngineIOServer(async_mode="asgi")
    assert isinstance(getattr(eio, "_async", None), dict) and "websocket" in eio._async, \
        _fail("engineio.AsyncServer._async (the async-driver table with a 'websocket' entry)")
    assert eio._async["websocket"] is internals.DirectWebSocket, _fail("engineio.AsyncServer._async")
    assert engineio.AsyncServer(async_mode="asgi")._async["websocket"] is engineio_asgi.WebSocket, \
        _fail("the shared engineio ASGI driver table (our copy must not leak into it)")
    assert hasattr(engineio.AsyncServer, "create_queue"), _fail("engineio.AsyncServer.create_queue")
    assert isinstance(getattr(eio, "sockets", None), dict), _fail("engineio.AsyncServer.sockets")


def test_engineio_socket_internals() -> None:
    sock = AsyncSocket(DirectEngineIOServer(async_mode="asgi"), "sid")
    assert isinstance(sock.queue, DirectQueue), _fail("engineio socket queue from server.create_queue()")
    for name in ("upgraded", "upgrading", "closed", "closing"):
        assert isinstance(getattr(sock, name, None), bool), _fail(f"engineio AsyncSocket.{name}")
    assert {"wait", "abort"} <= set(_params(AsyncSocket.close)), _fail("engineio AsyncSocket.close(wait=, abort=)")
    # The writer polls (queue.get / get_nowait, task_done; None ends it), then ws.send()s each packet.
    poll = inspect.getsource(AsyncSocket.poll)
    for needle in ("self.queue.get()", "self.queue.get_nowait()", "task_done()", "packets == [None]"):
        assert needle in poll, _fail(f"engineio AsyncSocket.poll() ({needle!r})")
    handler = inspect.getsource(AsyncSocket._websocket_handler)
    for needle in ("await self.poll()", "await ws.send(pkt.encode())"):
        assert needle in handler, _fail(f"engineio AsyncSocket._websocket_handler's writer ({needle!r})")
    # DirectSocket mirrors the handler for direct WebSockets and turns pings into timers.
    for needle in ("self.connected = True", "self.upgraded = True", "await self.receive(pkt)",
                   "await self.queue.put(None)", "reason=self.server.reason.TRANSPORT_CLOSE"):
        assert needle in handler, _fail(f"engineio AsyncSocket._websocket_handler ({needle!r})")
    assert "self.server.start_background_task(self._send_ping)" in inspect.getsource(AsyncSocket.schedule_ping), \
        _fail("engineio AsyncSocket.schedule_ping starting _send_ping as a background task")
    assert "await self.send(packet.Packet(packet.PING))" in inspect.getsource(AsyncSocket._send_ping), \
        _fail("engineio AsyncSocket._send_ping")


def test_engineio_asgi_websocket_wrapper() -> None:
    assert _params(engineio_asgi.WebSocket.__init__) == ["self", "handler", "server"], \
        _fail("engineio.async_drivers.asgi.WebSocket(handler, server)")
    assert _params(engineio_asgi.WebSocket.__call__) == ["self", "environ"], \
        _fail("engineio.async_drivers.asgi.WebSocket.__call__(environ)")
    assert _params(engineio_asgi.WebSocket.send) == ["self", "message"], \
        _fail("engineio.async_drivers.asgi.WebSocket.send(message)")
    assert "environ['asgi.send']" in inspect.getsource(engineio_asgi.WebSocket.__call__), \
        _fail("engineio ASGI WebSocket reading environ['asgi.send']")


def test_socketio_server_internals() -> None:
    sio = DirectAsyncServer(async_mode="asgi")
    assert isinstance(sio.eio, DirectEngineIOServer), _fail("socketio.AsyncServer._engineio_server_class()")
    assert sio.manager_initialized is False, _fail("socketio.AsyncServer.manager_initialized")
    assert callable(getattr(sio.manager, "initialize", None)), _fail("socketio manager.initialize()")


def test_redis_manager_internals() -> None:
    manager = RedisManagerBase("redis://127.0.0.1:1/0", channel="internals-test", write_only=True)
    for name in ("redis", "connected", "host_id", "rooms", "channel"):
        assert hasattr(manager, name), _fail(f"socketio.AsyncRedisManager.{name}")
    assert isinstance(manager.rooms, dict), _fail("socketio BaseManager.rooms (namespace -> room -> {sid: eio_sid})")
    assert inspect.isasyncgenfunction(socketio.AsyncRedisManager._listen), _fail("AsyncRedisManager._listen()")
    assert _params(socketio.AsyncRedisManager._redis_connect) == ["self"], _fail("AsyncRedisManager._redis_connect()")
    assert "self.thread" in inspect.getsource(AsyncPubSubManager.initialize), \
        _fail("AsyncPubSubManager.initialize() keeping its listener task in .thread")


def test_redis_subscription_reads_ignore_the_socket_timeout() -> None:
    source = inspect.getsource(RedisPubSub.parse_response)
    assert "math.inf if block" in source, \
        _fail("redis-py PubSub.parse_response reading blocking subscriptions without socket_timeout")


def test_asyncio_queue_internals() -> None:
    queue = DirectQueue()
    assert hasattr(queue, "_queue") and hasattr(asyncio.Queue, "_get"), _fail("asyncio.Queue._queue / _get()")
    # Waiters are only appended, popped from the left, removed and iterated (slim_waiters).
    for name, needles in {"get": ("self._getters.append(", "self._getters.remove("),
                          "_wakeup_next": ("waiters.popleft()",)}.items():
        source = inspect.getsource(getattr(asyncio.Queue, name))
        assert all(n in source for n in needles), _fail(f"asyncio.Queue.{name} use of its waiters")
    assert isinstance(queue._getters, list) and isinstance(queue._finished, asyncio.Event), \
        _fail("asyncio.Queue._getters / _finished")
    assert "self._waiters.append(" in inspect.getsource(asyncio.Event.wait), _fail("asyncio.Event._waiters")


def test_uvicorn_sansio_protocol_attributes() -> None:
    config = uvicorn.Config(app=lambda *a: None, ws="websockets-sansio", log_level="warning")
    config.load()
    proto = websockets_sansio_impl.WebSocketsSansIOProtocol(config, ServerState(), {},
                                                            _loop=asyncio.new_event_loop())
    for name in internals.SANSIO_ATTRIBUTES:
        assert hasattr(proto, name), _fail(f"uvicorn WebSocketsSansIOProtocol.{name}")
    assert isinstance(proto.writable, asyncio.Event), _fail("uvicorn WebSocketsSansIOProtocol.writable (an Event)")
    assert internals.sansio_protocol(proto.send) is proto, \
        _fail(f"uvicorn's ASGI send being a bound method of {internals.SANSIO_MODULE}.WebSocketsSansIOProtocol")
    proto.loop.close()


@pytest.fixture
async def direct_server() -> AsyncIterator[tuple[str, socketio.AsyncServer]]:
    """A bare DirectAsyncServer under an in-process uvicorn with its default WebSocket implementation."""
    sio = DirectAsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
    async with served_in_process(sio) as url:
        yield url, sio


async def test_the_direct_write_path_engages_under_uvicorn(direct_server: tuple[str, socketio.AsyncServer]) -> None:
    url, sio = direct_server
    got: asyncio.Queue[Any] = asyncio.Queue()
    client = socketio.AsyncClient(reconnection=False)
    client.on("hello", got.put_nowait)
    await client.connect(url, transports=["websocket"], wait_timeout=10)
    try:
        [sock] = sio.eio.sockets.values()
        assert isinstance(sock.queue, DirectQueue) and sock.queue.direct, \
            _fail("the direct path attaching to uvicorn's websockets-sansio protocol (DirectWebSocket.__call__)")
        await sio.emit("hello", {"n": 1})
        assert sock.queue.qsize() == 0, _fail("DirectQueue writing an idle socket's frame at once")
        assert await asyncio.wait_for(got.get(), 10) == {"n": 1}
    finally:
        await client.disconnect()


@contextlib.asynccontextmanager
async def clients_in_a_thread(url: str, count: int) -> AsyncIterator[dict[str, Any]]:
    """``count`` Python Socket.IO clients on their own event loop in another thread, so the
    tasks of this loop are the server's alone. Yields a box; ``box["connected"]`` is set when
    the block ends (how many were still connected)."""
    box: dict[str, Any] = {}
    ready = threading.Event()

    def run() -> None:
        async def main() -> None:
            clients = [socketio.AsyncClient(reconnection=False) for _ in range(count)]
            for client in clients:
                await client.connect(url, transports=["websocket"], wait_timeout=20)
            box["stop"], box["loop"] = asyncio.Event(), asyncio.get_running_loop()
            ready.set()
            await box["stop"].wait()
            box["connected"] = sum(client.connected for client in clients)
            for client in clients:
                await client.disconnect()

        try:
            asyncio.run(main())
        finally:
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert await asyncio.to_thread(ready.wait, 60) and "loop" in box, "the clients did not connect"
    try:
        yield box
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        await asyncio.to_thread(thread.join, 60)


async def test_an_idle_websocket_keeps_one_server_task_and_is_still_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    """DirectSocket: only the ASGI task per idle connection (the library keeps five; a writer
    runs only while packets are queued), and pings (loop timers now) still go out, are answered,
    and keep every connection open well past ping_interval + ping_timeout."""
    pings: collections.Counter[str] = collections.Counter()
    ping_due = internal_sockets._ping_due

    def counted(sock: Any) -> None:
        pings[sock.sid] += 1
        ping_due(sock)

    monkeypatch.setattr(internal_sockets, "_ping_due", counted)
    sio = DirectAsyncServer(async_mode="asgi", logger=False, engineio_logger=False, ping_interval=1, ping_timeout=2)
    async with served_in_process(sio) as url:
        before = asyncio.all_tasks()
        async with clients_in_a_thread(url, 10) as box:
            socks = list(sio.eio.sockets.values())
            assert len(socks) == 10 and all(type(s) is internals.DirectSocket for s in socks), \
                _fail("DirectWebSocket.__call__ giving a direct WebSocket connection a DirectSocket")
            # Engine.IO's service task (one per server, with its wait) starts with the first connection.
            per_connection = sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks() - before
                                    if t.get_coro().__qualname__ not in ("AsyncServer._service_task", "Event.wait"))
            assert per_connection == ["WebSocketsSansIOProtocol.run_asgi"] * 10
            # A ping is scheduled only when the previous one was answered (engineio's schedule_ping on
            # PONG), and an unanswered one closes the socket after ping_timeout: three pings each
            # means pongs came back.
            async with asyncio.timeout(60):
                while min((pings[s.sid] for s in socks), default=0) < 3:  # noqa: ASYNC110 - polling a counter
                    await asyncio.sleep(0.05)
            assert all(not s.closed for s in socks) and len(sio.eio.sockets) == 10
        assert box["connected"] == 10


async def test_a_client_that_stops_answering_pings_is_disconnected() -> None:
    """Under ``edustream api``'s uvicorn options (no WebSocket-level keepalive) and without the
    library's writer time-out, Engine.IO's heartbeat alone still ends a connection whose client
    went silent: pinged, unanswered, closed after ping_interval + ping_timeout."""
    sio = DirectAsyncServer(async_mode="asgi", logger=False, engineio_logger=False, ping_interval=1, ping_timeout=1)
    async with served_in_process(sio, **LIVE_UVICORN_OPTIONS) as url:
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        async with websockets_connect(ws_url, open_timeout=20) as ws:
            assert str(await asyncio.wait_for(ws.recv(), 20)).startswith("0{")  # Engine.IO's OPEN
            [sock] = sio.eio.sockets.values()
            assert type(sock) is internals.DirectSocket
            received = []
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(20):
                    while True:  # never answer
                        received.append(await ws.recv())
            assert "2" in received, "the server sent no ping"
        async with asyncio.timeout(20):
            while sio.eio.sockets:  # noqa: ASYNC110 - polling the server's socket table
                await asyncio.sleep(0.02)
        assert sock.closed


def test_releasing_the_handshake_keeps_only_what_is_read_later() -> None:
    scope: dict[str, Any] = {"type": "websocket", "headers": [(b"cookie", b"a=b"), (b"user-agent", b"x")]}
    environ: dict[str, Any] = {"asgi.scope": scope, "asgi.send": object(), "asgi.receive": object(),
                               "REQUEST_METHOD": "GET", "HTTP_COOKIE": "a=b", "HTTP_USER_AGENT": "x",
                               "wsgi.input": object(), "QUERY_STRING": "EIO=4&transport=websocket"}
    internals.release_handshake(environ, {"edustream.client_ip": "10.0.0.1"})
    assert set(environ) == {"asgi.scope", "asgi.send", "asgi.receive", "REQUEST_METHOD", "HTTP_COOKIE",
                            "edustream.client_ip"}
    assert scope["headers"] == [] and environ["asgi.scope"] is scope
    http_scope: dict[str, Any] = {"type": "http", "headers": [(b"cookie", b"a=b")]}
    internals.release_handshake({"asgi.scope": http_scope}, {})
    assert http_scope["headers"] == [(b"cookie", b"a=b")]  # a long-polling request's scope is left alone

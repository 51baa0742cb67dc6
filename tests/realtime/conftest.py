"""Live-layer fixtures: real uvicorn API processes, real Redis, the real Socket.IO client.

``live_servers`` starts two API processes (``uvicorn edustream.asgi:app_factory``) on the
worker's test database; they share rooms through Redis on a channel of their own (through
sharded pub/sub when the run is on a Redis Cluster: ``EDUSTREAM_TEST_REDIS=cluster``). Users are
made through the API (tutors) or straight in the database (students, for speed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import socketio
import uvicorn
from redis.asyncio import Redis

from realtime.publisher import LivePublisher
from server.identity import issue_access_token
from server.settings import PROJECT_ROOT, Settings
from tests.helpers import bearer, register
from tests.realtime.node import installed_node_client

LIVE_ENV = {
    "LIVE_MAX_WATCHES": "3",
    "LIVE_MAX_PAYLOAD_BYTES": "2048",
    "LIVE_EVENTS_PER_SECOND": "20",
    "LIVE_RELAY_POLL_SECONDS": "0.2",
    "HOLD_TTL_SECONDS": "600",
    # Short heartbeats, so a test can outlast ping_interval + ping_timeout several times.
    "LIVE_PING_INTERVAL_SECONDS": "1",
    "LIVE_PING_TIMEOUT_SECONDS": "1",
    # The back-pressure test lets a client fall far behind without being dropped.
    "LIVE_MAX_QUEUED_PACKETS": "1000000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def served_in_process(sio: socketio.AsyncServer, **options: Any) -> AsyncIterator[str]:
    """``sio`` under an in-process uvicorn (default WebSocket implementation, or ``options``); yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(socketio.ASGIApp(sio), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off", **options))
    task = asyncio.get_running_loop().create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:  # noqa: ASYNC110 (uvicorn.Server offers no start event)
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(20):
                await task


@dataclass
class LiveServer:
    """One ``uvicorn`` API process serving REST and ``/live``."""

    name: str
    settings: Settings
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVE_", "PYTEST_"))}
        env.update({
            "ENVIRONMENT": "test", "DATABASE_URL": self.settings.database_url, "REDIS_URL": self.settings.redis_url,
            # A Redis Cluster's nodes (EDUSTREAM_TEST_REDIS=cluster), else empty: a single Redis.
            "REDIS_CLUSTER_NODES": self.settings.redis_cluster_nodes,
            "SECRET_KEY": self.settings.secret_key,
            # The default channel (from REDIS_URL's database): the one every other process on this
            # test database uses too (a worker's publisher, another test's app), whoever leads the relay.
            "LIVE_REDIS_CHANNEL": self.settings.live_channel,
            "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **LIVE_ENV,
            **self.extra_env})
        return env

    async def start(self) -> None:
        self.port = self.port or free_port()  # preset when the process must know its own URL
        # Spawning returns at once; the process runs on its own (hence the noqa).
        log = open(self.log_dir / f"uvicorn-{self.name}-{self.port}.log", "ab")  # noqa: ASYNC230
        self.proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "uvicorn", "edustream.asgi:app_factory", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--ws-max-size", "65536",
             "--ws-ping-interval", "0", "--timeout-graceful-shutdown", "2"],
            cwd=PROJECT_ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"API process {self.name} exited with {self.proc.returncode}; see {self.log_dir}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/healthz", timeout=1)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"API process {self.name} did not start; see {self.log_dir}")
                await asyncio.sleep(0.1)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        for _ in range(100):
            if self.proc.poll() is not None:
                return
            await asyncio.sleep(0.05)
        self.proc.kill()
        self.proc.wait()

    async def ensure_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            await self.start()


@asynccontextmanager
async def running_servers(settings: Settings, log_dir: Path, names: list[str],
                          extra_env: dict[str, str] | None = None) -> AsyncIterator[list[LiveServer]]:
    """API processes named ``names`` on this worker's database, started together, stopped after."""
    servers = [LiveServer(name, settings, log_dir, extra_env=dict(extra_env or {})) for name in names]
    try:
        await asyncio.gather(*(s.start() for s in servers))
        yield servers
    finally:
        await asyncio.gather(*(s.stop() for s in servers))


@pytest.fixture(scope="package")
async def live_servers(database_url: str, settings: Settings, db: asyncpg.Pool, redis: Redis,
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[LiveServer]]:
    """Two API processes (A and B) on this worker's database; restarted by tests that kill one.

    Package-scoped: they stop before tests elsewhere run on this database, which may expect
    their own process to lead the outbox relay. Depends on ``db`` and ``redis`` so both
    session fixtures exist before the autouse cleaner (which looks them up from inside the
    running loop) needs them.
    """
    async with running_servers(settings, tmp_path_factory.mktemp("live-logs"), ["A", "B"]) as servers:
        yield servers


@pytest.fixture
async def live(live_servers: list[LiveServer], db: asyncpg.Pool) -> list[LiveServer]:
    """Both API processes up (a test before may have killed one), on freshly emptied tables."""
    for server in live_servers:
        await server.ensure_running()
    return live_servers


class LiveClient:
    """A real ``socketio.AsyncClient`` on ``/live`` that records every server event in order."""

    def __init__(self, url: str, *, token: str | None = None, cookie: str | None = None,
                 auth: Any = None) -> None:
        self.url = url
        self.token = token
        self.cookie = cookie
        self.auth = auth if auth is not None else ({"token": token} if token else None)
        self.sio = socketio.AsyncClient(reconnection=False)
        # The version of each tutor's last watch snapshot: a client ignores slots.changed versions
        # it already has (one committed before the watch may still be on its way; docs/live.md).
        self.snapshot_versions: dict[str, int] = {}
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.connect_errors: list[Any] = []
        self.disconnects: list[Any] = []
        self.sio.on("*", self._record, namespace="/live")
        self.sio.on("connect_error", self._connect_error, namespace="/live")
        self.sio.on("disconnect", self._disconnected, namespace="/live")

    async def _record(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        self._changed.set()

    async def _connect_error(self, data: Any = None) -> None:
        self.connect_errors.append(data)

    async def _disconnected(self, reason: Any = None) -> None:
        self.disconnects.append(reason)
        self._changed.set()

    async def connect(self) -> LiveClient:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        await self.sio.connect(self.url, namespaces=["/live"], auth=self.auth, headers=headers,
                               transports=["websocket"], wait_timeout=10)
        return self

    async def disconnect(self) -> None:
        await self.sio.disconnect()

    async def call(self, event: str, *args: Any, within: float = 10) -> Any:
        return await self.sio.call(event, args[0] if len(args) == 1 else args, namespace="/live", timeout=within)

    async def watch(self, tutor_id: str, since: int | None = None) -> Any:
        data: dict[str, Any] = {"tutor_id": tutor_id}
        if since is not None:
            data["since"] = since
        ack = await self.call("watch", data)
        if isinstance(ack, dict) and "slots" in ack and isinstance(ack.get("version"), int):
            self.snapshot_versions[tutor_id] = ack["version"]
        return ack

    def changes_after_snapshot(self, tutor_id: str) -> list[Any]:
        """The ``slots.changed`` events for ``tutor_id`` newer than its last watch snapshot."""
        known = self.snapshot_versions.get(tutor_id, -1)
        return [d for d in self.of("slots.changed") if d["tutor_id"] == tutor_id and d["version"] > known]

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(self, predicate: Callable[[LiveClient], bool], within: float = 30) -> None:
        """Until ``predicate(self)`` holds (checked after every event), at most ``within`` seconds."""
        deadline = asyncio.get_running_loop().time() + within
        while not predicate(self):
            self._changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {self.events}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_versions(self, tutor_id: str, up_to: int, within: float = 10) -> list[int]:
        """The ``slots.changed`` versions received for ``tutor_id`` once ``up_to`` arrived, newer
        than the last watch snapshot (a client ignores versions it already has)."""
        def versions(c: LiveClient) -> list[int]:
            return [d["version"] for d in c.changes_after_snapshot(tutor_id)]

        await self.wait_for(lambda c: up_to in versions(c), within)
        return versions(self)


@pytest.fixture
async def live_client() -> AsyncIterator[Callable[..., Awaitable[LiveClient]]]:
    """``await live_client(url, token=...)`` → a connected client, disconnected after the test."""
    clients: list[LiveClient] = []

    async def factory(url: str, **kwargs: Any) -> LiveClient:
        client = LiveClient(url, **kwargs)
        clients.append(client)
        return await client.connect()

    yield factory
    for client in clients:
        with contextlib.suppress(Exception):
            await client.disconnect()


@pytest.fixture
async def api(live: list[LiveServer]) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for process A (pass full URLs for B)."""
    async with httpx.AsyncClient(base_url=live[0].url, timeout=30) as client:
        yield client


async def make_tutor(api: httpx.AsyncClient, *, lesson_minutes: list[int] | None = None) -> dict[str, Any]:
    """A tutor with a profile and all-week availability, made through the API."""
    tutor = await register(api, role="tutor")
    r = await api.put("/api/v1/tutors/me", headers=tutor["headers"], json={
        "headline": "Live tutor", "bio": "Watches well.", "subjects": ["mathematics"], "hourly_rate_cents": 6000,
        "currency": "USD", "timezone": "UTC", "lesson_minutes": lesson_minutes or [60], "min_notice_minutes": 0,
        "buffer_minutes": 0, "max_advance_days": 60})
    assert r.status_code == 200, r.text
    r = await api.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
        "rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)], "overrides": []})
    assert r.status_code == 200, r.text
    tutor["id"] = tutor["user"]["id"]
    tutor["token"] = tutor["access_token"]
    return tutor


async def insert_students(db: asyncpg.Pool, settings: Settings, n: int) -> list[dict[str, Any]]:
    """``n`` students inserted straight into ``db``, with access tokens minted for ``settings``."""
    ids = [uuid.uuid4() for _ in range(n)]
    async with db.acquire() as conn:
        await conn.executemany("INSERT INTO users (id, email, name, role) VALUES ($1, $2, 'Student', 'student')",
                               [(uid, f"s-{uid.hex[:12]}@example.com") for uid in ids])
    out = []
    for uid in ids:
        token = issue_access_token(settings, uid, "student")
        out.append({"id": str(uid), "token": token, "headers": bearer(token)})
    return out


@pytest.fixture
def make_students(db: asyncpg.Pool, settings: Settings) -> Callable[[int], Awaitable[list[dict[str, Any]]]]:
    """Students inserted straight into the database, with minted access tokens."""

    async def factory(n: int) -> list[dict[str, Any]]:
        return await insert_students(db, settings, n)

    return factory


def slot_start(day: int = 2, hour: int = 10) -> datetime:
    """A whole hour ``day`` days from now (UTC), inside the default 7-day watch window."""
    base = datetime.now(UTC) + timedelta(days=day)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


async def place_hold(base_url: str, student: dict[str, Any], tutor_id: str, start: datetime,
                     minutes: int = 60) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        r = await client.post("/api/v1/holds", headers=student["headers"],
                              json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": minutes})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def get_slots(base_url: str, tutor_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        r = await client.get(f"/api/v1/tutors/{tutor_id}/slots")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


@pytest.fixture
async def publisher(settings: Settings) -> AsyncIterator[LivePublisher]:
    """A worker-style publisher in this test process, on the live servers' channel."""
    worker_settings = settings.model_copy(update={"live_relay_poll_seconds": 5.0})
    pub = LivePublisher(worker_settings, name="test-worker")
    await pub.start()
    yield pub
    await pub.stop()


@pytest.fixture(scope="session")
def node_client_dir() -> Path:
    """``tests/realtime/node_client`` with the npm ``socket.io-client`` installed (tests/realtime/node.py)."""
    return installed_node_client()

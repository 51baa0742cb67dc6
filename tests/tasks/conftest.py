"""Job-test fixtures: a real taskiq worker and scheduler as subprocesses on this test worker's
database and Redis, one stream per test; a real API process with a short hold TTL; real
Socket.IO clients that note when each event arrived."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from server.identity import issue_access_token
from server.jobs import CONSUMER_GROUP, TaskClient
from server.settings import PROJECT_ROOT, Settings
from tests.conftest import NAMESPACE, WORKER, make_settings
from tests.helpers import bearer, register
from tests.realtime.conftest import LiveClient, LiveServer
from tests.tasks import probe_tasks  # noqa: F401  (kicking a probe needs its declaration)

HOLD_TTL = 3
HOLD_LEAD = 2
PROBES = "tests.tasks.probe_tasks"


@dataclass
class JobProcess:
    """A ``python -m taskiq worker|scheduler`` process in its own process group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=PROJECT_ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the whole group (taskiq's manager and its worker processes): no cleanup at all."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait()

    async def stop(self, grace: float = 15) -> int | None:
        """SIGTERM, wait for a graceful exit, SIGKILL what is left; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
        code = self.proc.poll()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait()
        return code

    async def exited(self, within: float) -> int | None:
        """The exit code once the process has exited by itself (None after ``within`` seconds)."""
        assert self.proc is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        return self.proc.poll()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Jobs:
    """The worker(s) and scheduler of one test, on a stream of their own."""

    settings: Settings
    log_dir: Path
    overrides: dict[str, str]
    queue: str = field(default_factory=lambda: f"test:{NAMESPACE or 'default'}:{WORKER}:{uuid.uuid4().hex[:8]}")
    processes: list[JobProcess] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVE_", "PYTEST_", "TASK_"))}
        env.update({
            "ENVIRONMENT": "test", "DATABASE_URL": self.settings.database_url, "REDIS_URL": self.settings.redis_url,
            "REDIS_CLUSTER_NODES": self.settings.redis_cluster_nodes,
            "SECRET_KEY": self.settings.secret_key, "TASK_QUEUE_NAME": self.queue,
            "LIVE_REDIS_CHANNEL": self.settings.live_channel, "LIVE_RELAY_POLL_SECONDS": "0.2", "DB_POOL_SIZE": "5",
            "HOLD_EXPIRING_LEAD_SECONDS": str(HOLD_LEAD), "PYTHONUNBUFFERED": "1", **self.overrides})
        return env

    def _spawn(self, name: str, argv: list[str]) -> JobProcess:
        process = JobProcess(name, argv, self.env(), self.log_dir / f"{name}-{len(self.processes)}.log")
        process.start()
        self.processes.append(process)
        return process

    def start_worker(self) -> JobProcess:
        return self._spawn("worker", [
            sys.executable, "-m", "taskiq", "worker", "tasks.broker:broker", "tasks.all", PROBES,
            "--workers", "1", "--max-async-tasks", "100", "--ack-type", "when_executed"])

    def start_scheduler(self) -> JobProcess:
        return self._spawn("scheduler", [
            sys.executable, "-m", "taskiq", "scheduler", "tasks.scheduler:scheduler",
            "--update-interval", "5", "--skip-first-run"])

    async def ready(self, redis: Redis, workers: int = 1, within: float = 30) -> None:
        """Until ``workers`` consumers read the stream and the scheduler has kicked a sweep."""
        deadline = time.monotonic() + within
        while True:
            with contextlib.suppress(Exception):
                consumers = await redis.xinfo_consumers(self.queue, CONSUMER_GROUP)
                [group] = [g for g in await redis.xinfo_groups(self.queue) if g["name"].decode() == CONSUMER_GROUP]
                if len(consumers) >= workers and group["last-delivered-id"] != b"0-0":
                    return
            for process in self.processes:
                if process.proc is not None and process.proc.poll() is not None:
                    raise RuntimeError(f"{process.name} exited early:\n{process.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("jobs did not start:\n" + "\n".join(p.log()[-2000:] for p in self.processes))
            await asyncio.sleep(0.1)

    def client(self) -> TaskClient:
        return TaskClient(make_settings(task_queue_name=self.queue))

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes))


@pytest.fixture
async def jobs(settings: Settings, db: asyncpg.Pool, redis: Redis,
               tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Jobs]]]:
    """``await jobs(TASK_MAX_RETRIES="2", workers=1)``: a scheduler and worker(s), ready; stopped after the test."""
    started: list[Jobs] = []

    async def factory(*, workers: int = 1, scheduler: bool = True, wait: bool = True, **overrides: str) -> Jobs:
        group = Jobs(settings, tmp_path, overrides)
        started.append(group)
        for _ in range(workers):
            group.start_worker()
        if scheduler:
            group.start_scheduler()
        if wait:
            await group.ready(redis, workers)
        return group

    yield factory
    for group in started:
        await group.stop()


@pytest.fixture(scope="module")
async def jobs_api(database_url: str, settings: Settings, db: asyncpg.Pool, redis: Redis,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """One API process (REST + /live) with a 3-second hold TTL."""
    server = LiveServer("jobs", settings, tmp_path_factory.mktemp("jobs-api"),
                        extra_env={"HOLD_TTL_SECONDS": str(HOLD_TTL), "HOLD_EXPIRING_LEAD_SECONDS": str(HOLD_LEAD)})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def api(jobs_api: LiveServer, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    await jobs_api.ensure_running()
    async with httpx.AsyncClient(base_url=jobs_api.url, timeout=30) as client:
        yield client


class TimedClient(LiveClient):
    """A :class:`LiveClient` that also notes the wall-clock time each event arrived."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.arrivals: list[tuple[float, str, Any]] = []
        super().__init__(url, **kwargs)

    async def _record(self, event: str, data: Any) -> None:
        self.arrivals.append((time.time(), event, data))
        await super()._record(event, data)

    def timed(self, event: str) -> list[tuple[float, Any]]:
        return [(at, data) for at, name, data in self.arrivals if name == event]


@pytest.fixture
async def watcher(jobs_api: LiveServer) -> AsyncIterator[Callable[..., Awaitable[TimedClient]]]:
    """``await watcher(token=...)``: a connected Socket.IO client on the jobs API process."""
    clients: list[TimedClient] = []

    async def factory(**kwargs: Any) -> TimedClient:
        client = TimedClient(jobs_api.url, **kwargs)
        clients.append(client)
        return await client.connect()  # type: ignore[return-value]

    yield factory
    for client in clients:
        with contextlib.suppress(Exception):
            await client.disconnect()


async def make_free_tutor(api: httpx.AsyncClient, *, rate: int = 0, lesson_minutes: int = 15) -> dict[str, Any]:
    """A tutor teaching ``lesson_minutes``-minute lessons around the clock (UTC), free by default."""
    tutor = await register(api, role="tutor")
    r = await api.put("/api/v1/tutors/me", headers=tutor["headers"], json={
        "headline": "Punctual tutor", "bio": "Starts on time.", "subjects": ["mathematics"],
        "hourly_rate_cents": rate, "currency": "USD", "timezone": "UTC", "lesson_minutes": [lesson_minutes],
        "min_notice_minutes": 0, "buffer_minutes": 0, "max_advance_days": 60})
    assert r.status_code == 200, r.text
    r = await api.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
        "rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)], "overrides": []})
    assert r.status_code == 200, r.text
    tutor["id"] = tutor["user"]["id"]
    tutor["token"] = tutor["access_token"]
    return tutor


async def make_user(db: asyncpg.Pool, settings: Settings, role: str = "student") -> dict[str, Any]:
    """A user inserted straight into the database, with a minted access token."""
    uid = uuid.uuid4()
    await db.execute("INSERT INTO users (id, email, name, role) VALUES ($1, $2, 'Job Test', $3)",
                     uid, f"{role}-{uid.hex[:12]}@example.com", role)
    token = issue_access_token(settings, uid, role)
    return {"id": str(uid), "token": token, "headers": bearer(token)}


def grid_after(moment: datetime, minutes: int = 15) -> datetime:
    """The first ``minutes``-aligned UTC time at or after ``moment``."""
    step = timedelta(minutes=minutes)
    base = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return base + step * -(-(moment - base) // step)


async def hold(api: httpx.AsyncClient, student: dict[str, Any], tutor_id: str, start: datetime,
               minutes: int = 15) -> dict[str, Any]:
    r = await api.post("/api/v1/holds", headers=student["headers"],
                       json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": minutes})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def book(api: httpx.AsyncClient, student: dict[str, Any], tutor_id: str, start: datetime) -> dict[str, Any]:
    """Hold and confirm a free lesson."""
    held = await hold(api, student, tutor_id, start)
    r = await api.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200, r.text
    booking: dict[str, Any] = r.json()["booking"]
    assert booking["status"] == "confirmed", booking
    return booking


async def notes(redis: Redis, key: str) -> list[dict[str, Any]]:
    """What a probe task recorded under ``key``."""
    return [json.loads(raw) for raw in await redis.lrange(key, 0, -1)]  # type: ignore[misc]


async def until(predicate: Callable[[], Awaitable[bool]], within: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(step)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)

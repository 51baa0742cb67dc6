"""The hold and slot hot paths against their yardsticks, measured in one run with wrk.

    .venv/bin/python -m bench.holds --seconds 10 --connections 32 --json /tmp/holds.json

Scenarios (``--scenarios``, default all, in this order):

raw      asyncpg ``INSERT INTO bookings`` (exclusion-guarded), no web stack: an asyncio loop in
         this process with ``--connections`` pooled connections, one autocommit statement each.
statement the hold's own statement (``place_hold()``, server/bookings/repository.py's
         ``PLACE_HOLD_SQL``) the same way: locks, checks, insert, history row, change set,
         version bump and outbox rows, with no web stack: the database's ceiling for the hold.
minimal  the same INSERT behind the smallest honest Starlette + asyncpg endpoint
         (``bench/minimal_app.py``, 2 uvicorn workers), driven by wrk.
api      ``POST /api/v1/holds`` on ``edustream api --workers 2``, driven by wrk with one Bearer
         token per student, rotated per request.
hot      every client on one slot of the API; a winner releases its hold at once so the race
         goes on. wrk cannot pair a response with its connection, so this one is driven by a
         small aiohttp client (one student per connection); it reports p99.9 and the deadlocks
         PostgreSQL counted for the scratch database (pg_stat_database, read after the API stops).
slots    ``GET /api/v1/tutors/{id}/slots`` on ONE API process vs the minimal endpoint reading the
         same rows (rules and live bookings of the tutor for the default 7-day window), both
         with ``--slots-connections`` wrk connections, rotating over the tutors.

In the uncontended runs every request is a distinct valid slot: request i goes to tutor
i mod T at tomorrow 00:00 UTC + 30 min x (i div T), i unique across wrk threads (the Lua
``setup`` hook numbers the threads). Rate limits and the slot-hoarding limits are off
(``RATE_LIMIT_ENABLED=false``, ``HOLD_LIMIT_PER_TUTOR=0``, ``HOLD_REHOLD_COOLDOWN_SECONDS=0``:
the hot-slot race re-holds the slot it just released) and ``MAX_ACTIVE_HOLDS`` is raised for the run; everything else is the API's default
configuration (log level INFO: the access log is part of what is measured).

Everything runs in a scratch database ``bench_holds_<pid>`` on ``--database-url``'s server
(dropped at the end) and uses ``--redis-url`` (nothing is flushed). Each server gets a
warm-up before its measurement; bookings are truncated between runs. The table goes to
stdout, progress to stderr; ``--json`` writes every number. ``--profile PATH`` adds a pass of
the api scenario under py-spy (not the measured one) and summarises where the API's CPU went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import httpx

from bench import pyspy
from bench.minimal_app import HOLD_MINUTES, HOLD_TTL, INSERT_HOLD
from bench.wrk import Measurement, latency_fields, percentile_ms, run_wrk, wrk_script
from server.bookings.repository import PLACE_HOLD_SQL

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("raw", "statement", "minimal", "api", "hot", "slots")
SECRET = "bench-holds-secret-0123456789abcdef-0123456789"
SLOT_STEP = timedelta(minutes=HOLD_MINUTES)
# Each kind of run holds its own days (tutors take bookings up to 365 days ahead), so requests a
# finished run left in flight never collide with the next run's slots.
HOT_DAYS = 100
WARMUP_DAYS = 150
PROFILE_DAYS = 250


def log(message: str) -> None:
    print(f"[holds {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A server process (and its uvicorn workers) in its own process group, output to a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=PROJECT_ROOT, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not become ready; end of {self.log_path}:\n{tail}")
            time.sleep(0.3)

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the supervisor), or the process itself."""
        if self.proc is None:
            return []
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        return pids or [self.proc.pid]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # uvicorn workers leave with their supervisor; make sure nothing of the group lingers.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def server_cpu(server: Server) -> Iterator[dict[str, float]]:
    """Yields a dict that holds, on exit, the server's CPU use in the block (% of one core)."""
    pids = server.worker_pids()
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    out: dict[str, float] = {}
    yield out
    out["percent"] = round(100 * (cpu_seconds(pids) - cpu0) / (time.monotonic() - t0), 1)


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (from /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# --- database -----------------------------------------------------------------------------


@dataclass
class Seed:
    tutors: list[uuid.UUID]
    students: list[uuid.UUID]
    tokens: list[str]


def database_url(server_url: str, name: str) -> str:
    """``server_url`` with its database replaced by ``name`` (plain ``postgresql://`` form)."""
    parts = urlsplit(re.sub(r"^postgresql\+\w+://", "postgresql://", server_url))
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def recreate_database(url: str) -> None:
    name = database_name(url)
    admin = await asyncpg.connect(database_url(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def drop_database(url: str) -> None:
    name = database_name(url)
    admin = await asyncpg.connect(database_url(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def mint_tokens(students: Sequence[uuid.UUID], ttl_seconds: int) -> list[str]:
    # The API's own token function, with the secret the bench's servers run with.
    from server.identity import issue_access_token
    from server.settings import Settings

    settings = Settings(secret_key=SECRET, access_token_ttl_seconds=ttl_seconds)
    return [issue_access_token(settings, s, "student") for s in students]


async def seed(url: str, tutors: int, students: int, token_ttl_seconds: int = 4 * 3600) -> Seed:
    """Tutors open all day every day (UTC, 30/60-minute lessons, no notice or buffer, a year
    ahead) and students without passwords (they use minted tokens), straight into the tables."""
    tutor_ids = [uuid.uuid4() for _ in range(tutors)]
    student_ids = [uuid.uuid4() for _ in range(students)]
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany("INSERT INTO users (id, email, name, role) VALUES ($1, $2, $3, $4)",
                               [(t, f"bench-tutor-{i}@example.com", f"Tutor {i}", "tutor")
                                for i, t in enumerate(tutor_ids)]
                               + [(s, f"bench-student-{i}@example.com", f"Student {i}", "student")
                                  for i, s in enumerate(student_ids)])
        await conn.executemany(
            "INSERT INTO tutor_profiles (user_id, headline, bio, hourly_rate_cents, currency, timezone, "
            "lesson_minutes, min_notice_minutes, buffer_minutes, max_advance_days) "
            "VALUES ($1, 'Benchmark tutor', 'Teaches load.', 6000, 'USD', 'UTC', '{30,60}', 0, 0, 365)",
            [(t,) for t in tutor_ids])
        await conn.executemany("INSERT INTO availability_rules (tutor_id, weekday, start_minute, end_minute) "
                               "VALUES ($1, $2, 0, 1440)", [(t, d) for t in tutor_ids for d in range(7)])
    finally:
        await conn.close()
    return Seed(tutor_ids, student_ids, mint_tokens(student_ids, token_ttl_seconds))


def prepare_database(url: str, redis_url: str, tutors: int, students: int) -> Seed:
    """(Re)create the scratch database ``url``, migrate it with ``edustream migrate`` and seed it."""
    asyncio.run(recreate_database(url))
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}
    subprocess.run([str(Path(sys.executable).parent / "edustream"), "migrate"], env=env, cwd=PROJECT_ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    return asyncio.run(seed(url, tutors, students))


async def truncate_bookings(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE bookings CASCADE")
    finally:
        await conn.close()


async def seed_slot_bookings(url: str, seed_: Seed, per_tutor: int = 8) -> int:
    """A realistic week for the slot listings: ``per_tutor`` live bookings per tutor in the next
    7 days, three in four confirmed, the rest held for an hour."""
    now = datetime.now(UTC)
    first = (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    rows = []
    for t in seed_.tutors:
        for k in range(per_tutor):
            start = first + timedelta(hours=19 * k)
            held = k % 4 == 3
            rows.append((uuid.uuid4(), t, seed_.students[k % len(seed_.students)], "held" if held else "confirmed",
                         start, start + SLOT_STEP, now + timedelta(hours=1) if held else None))
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE bookings CASCADE")
        await conn.executemany(
            "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, "
            "price_cents, currency) VALUES ($1, $2, $3, $4, $5, $6, tstzrange($5, $6), $7, 3000, 'USD')", rows)
    finally:
        await conn.close()
    return len(rows)


async def deadlocks(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        name = database_name(url)
        return int(await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = $1", name) or 0)
    finally:
        await conn.close()


def first_slot() -> datetime:
    """Tomorrow 00:00 UTC: the first start of every uncontended run."""
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


# --- the drivers without wrk --------------------------------------------------------------


async def run_raw(url: str, seed_: Seed, connections: int, seconds: float, *,
                  statement: bool = False) -> Measurement:
    """``INSERT_HOLD`` (or, with ``statement``, the API's ``place_hold()`` statement) over
    ``connections`` pooled asyncpg connections for ``seconds``."""
    pool = await asyncpg.create_pool(url, min_size=connections, max_size=connections)
    base, n = first_slot(), len(seed_.tutors)
    versions = {r["user_id"]: r["policy_version"]
                for r in await pool.fetch("SELECT user_id, policy_version FROM tutor_profiles")}
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            i = next(counter)
            # Students rotate per request as the api scenario's tokens do: a student's live-hold
            # count (which place_hold() reads) stays what it is there, not a worker's thousands.
            student = seed_.students[i % len(seed_.students)]
            start = base + SLOT_STEP * (i // n)
            t0 = time.perf_counter()
            try:
                if statement:
                    outcome = await place_hold(pool, seed_.tutors[i % n], student, start, versions)
                    statuses["201" if outcome == "held" else outcome] += 1
                else:
                    await pool.execute(INSERT_HOLD, uuid.uuid4(), seed_.tutors[i % n], student, start,
                                       start + SLOT_STEP, datetime.now(UTC) + HOLD_TTL)
                    statuses["201"] += 1
            except asyncpg.ExclusionViolationError:
                statuses["409"] += 1
            except asyncpg.PostgresError as exc:
                statuses[f"pg:{exc.sqlstate}"] += 1
            latencies.append(time.perf_counter() - t0)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    name, path = ("statement", "place_hold() statement (no HTTP)") if statement else ("raw", "asyncpg INSERT (no HTTP)")
    return Measurement(name=name, path=path, driver="asyncio + asyncpg in the bench process",
                       connections=connections, seconds=elapsed, requests=len(latencies), statuses=dict(statuses),
                       **latency_fields(latencies))


async def place_hold(pool: asyncpg.Pool, tutor: uuid.UUID, student: uuid.UUID, start: datetime,
                     versions: dict[uuid.UUID, int]) -> str:
    """One hold through the API's own statement, with the arguments the API would pass for the
    bench's tutors (30-minute lessons, no buffer: the slot is its only change-set candidate)."""
    now = datetime.now(UTC)
    end = start + SLOT_STEP
    booking_id = uuid.uuid4()
    booking = {"id": str(booking_id), "status": "held", "tutor_id": str(tutor), "student_id": str(student),
               "start": start.isoformat(), "end": end.isoformat(), "minutes": HOLD_MINUTES,
               "expires_at": (now + HOLD_TTL).isoformat(), "price_cents": 3000, "currency": "USD",
               "created_at": now.isoformat()}
    row = await pool.fetchrow(
        PLACE_HOLD_SQL, booking_id, student, tutor, start, end,
        asyncpg.Range(start, end, lower_inc=True, upper_inc=False), now + HOLD_TTL, 3000, "USD", now, 10**6,
        versions[tutor], [start], SLOT_STEP, SLOT_STEP, json.dumps(booking), 0, timedelta(0))
    return str(row["outcome"])


async def run_hot(base_url: str, seed_: Seed, connections: int, seconds: float) -> Measurement:
    """Every client holds the same slot; a winner releases at once. One student per client."""
    tutor = seed_.tutors[0]
    start = first_slot() + timedelta(days=HOT_DAYS)
    body = json.dumps({"tutor_id": str(tutor), "start": start.isoformat(), "minutes": HOLD_MINUTES}).encode()
    post_latencies: list[float] = []
    release_latencies: list[float] = []
    statuses: Counter[str] = Counter()
    releases: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds

    async def client(http: aiohttp.ClientSession, k: int) -> None:
        headers = {"Authorization": f"Bearer {seed_.tokens[k]}", "Content-Type": "application/json"}
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                async with http.post("/api/v1/holds", data=body, headers=headers) as r:
                    payload = await r.read()
                    status = r.status
            except aiohttp.ClientError as exc:
                errors[type(exc).__name__] += 1
                continue
            post_latencies.append(time.perf_counter() - t0)
            statuses[str(status)] += 1
            if status == 201:
                hold_id = json.loads(payload)["id"]
                t1 = time.perf_counter()
                async with http.delete(f"/api/v1/holds/{hold_id}", headers=headers) as d:
                    await d.read()
                    releases[str(d.status)] += 1
                release_latencies.append(time.perf_counter() - t1)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http, k) for k in range(connections)))
        elapsed = time.perf_counter() - started
    rel = sorted(release_latencies)
    return Measurement(name="hot", path="POST /api/v1/holds, one hot slot", driver="aiohttp client, winners release",
                       connections=connections, seconds=elapsed, requests=len(post_latencies),
                       statuses=dict(statuses), errors=dict(errors), **latency_fields(post_latencies),
                       extra={"releases": dict(releases), "release_p50_ms": percentile_ms(rel, 50),
                              "release_p99_ms": percentile_ms(rel, 99)})


# --- the run ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count(), "arch": platform.machine(), "python": platform.python_version()}
    with contextlib.suppress(OSError):
        cpu = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.+)$", cpu, re.MULTILINE)
        info["cpu"] = model.group(1) if model else None
    with contextlib.suppress(OSError):
        mem = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
        info["memory_gib"] = round(int(mem.group(1)) / 2**20, 1) if mem else None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("[")[0].strip()
    return info


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class Run:
    args: argparse.Namespace
    url: str
    workdir: Path
    servers: list[Server] = field(default_factory=list)
    results: dict[str, Measurement] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("LIVE_", "PYTEST_", "TASK_", "RATE_LIMIT", "DB_", "LOG_"))}
        return {**keep, "DATABASE_URL": self.url, "REDIS_URL": self.args.redis_url, "PYTHONUNBUFFERED": "1", **extra}

    def api_env(self, workers: int) -> dict[str, str]:
        return self.env(
            ENVIRONMENT="test", SECRET_KEY=SECRET, RATE_LIMIT_ENABLED="false",
            HOLD_LIMIT_PER_TUTOR="0", HOLD_REHOLD_COOLDOWN_SECONDS="0",
            MAX_ACTIVE_HOLDS=str(self.args.max_active_holds), ACCESS_TOKEN_TTL_SECONDS=str(4 * 3600),
            LOG_LEVEL=self.args.api_log_level,
            DB_POOL_SIZE=str(max(5, math.ceil(self.args.connections / workers))),
            LIVE_REDIS_CHANNEL=f"bench-holds-{os.getpid()}-live", TASK_QUEUE_NAME=f"bench-holds-{os.getpid()}:tasks")

    def start(self, name: str, argv: list[str], env: dict[str, str], ready_path: str) -> Server:
        port = free_port()
        server = Server(name, [*argv, "--port", str(port)], env, port, ready_path, self.workdir / f"{name}.log")
        self.servers.append(server)
        log(f"starting {name} on :{port}")
        server.start()
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        self.servers.remove(server)

    def start_minimal(self, workers: int, seed_: Seed, connections: int) -> Server:
        env = self.env(BENCH_STUDENT_ID=str(seed_.students[0]),
                       MINIMAL_POOL_SIZE=str(max(2, math.ceil(connections / workers))))
        return self.start(f"minimal-w{workers}", [sys.executable, "-m", "uvicorn", "bench.minimal_app:app",
                                                  "--host", "127.0.0.1", "--workers", str(workers),
                                                  "--log-level", "warning", "--no-access-log"],
                          env, f"/tutors/{seed_.tutors[0]}/slots")

    def start_api(self, workers: int) -> Server:
        edustream = str(Path(sys.executable).parent / "edustream")
        return self.start(f"api-w{workers}", [edustream, "api", "--host", "127.0.0.1", "--workers", str(workers),
                                              "--no-migrate"], self.api_env(workers), "/readyz")

    def wrk(self, name: str, url: str, script: str, path_label: str, connections: int,
            seconds: float | None = None) -> Measurement:
        return run_wrk(name, url, script, connections=connections, threads=self.args.threads,
                       seconds=seconds if seconds is not None else self.args.seconds, path_label=path_label,
                       workdir=self.workdir)

    def warm_up(self, name: str, url: str, script: str, connections: int) -> None:
        if self.args.warmup > 0:
            log(f"{name}: warm-up {self.args.warmup:g} s")
            self.wrk(f"{name}-warmup", url, script, "warm-up", connections, self.args.warmup)
            # Requests wrk left in flight still finish on the server (on their own, later slots).
            time.sleep(1)
            asyncio.run(truncate_bookings(self.url))

    def measure(self, name: str, server: Server, url: str, script: Callable[[int], str], path_label: str,
                connections: int) -> Measurement:
        """Warm up (on slots WARMUP_DAYS ahead), then measure with wrk."""
        self.warm_up(name, url, script(WARMUP_DAYS), connections)
        log(f"{name}: {self.args.seconds:g} s at {connections} connections")
        with server_cpu(server) as cpu:
            load0 = load_average()
            result = self.wrk(name, url, script(0), path_label, connections)
        result.extra.update(server_cpu_percent=cpu["percent"], load_average={"before": load0, "after": load_average()})
        self.results[name] = result
        log(f"{name}: {result.rate:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
            f"statuses {result.statuses}, other {result.other}")
        return result

    def hold_script(self, seed_: Seed, path: str, *, api: bool) -> Callable[[int], str]:
        """The holds script, its slots starting ``days`` after tomorrow 00:00 UTC."""
        def script(days: int) -> str:
            return wrk_script(mode="hold", path=path, tutors=seed_.tutors, tokens=seed_.tokens if api else (),
                              threads=min(self.args.threads, self.args.connections),
                              base=first_slot() + timedelta(days=days),
                              step=SLOT_STEP, extra_json=f',"minutes":{HOLD_MINUTES}' if api else "")
        return script

    def slots_script(self, seed_: Seed, path: str) -> Callable[[int], str]:
        text = wrk_script(mode="slots", path=path, tutors=seed_.tutors,
                          threads=min(self.args.threads, self.args.slots_connections))
        return lambda days: text

    def execute(self) -> None:
        args, chosen = self.args, set(self.args.scenarios)
        log(f"scratch database {database_name(self.url)}: migrating and seeding "
            f"{args.tutors} tutors, {args.students} students")
        seed_ = prepare_database(self.url, args.redis_url, args.tutors, args.students)

        if "raw" in chosen:
            log(f"raw: {args.seconds:g} s at {args.connections} connections")
            load0 = load_average()
            self.results["raw"] = raw = asyncio.run(run_raw(self.url, seed_, args.connections, args.seconds))
            raw.extra["load_average"] = {"before": load0, "after": load_average()}
            log(f"raw: {raw.rate:,.0f} holds/s, p50 {raw.p50_ms:.1f} ms, p99 {raw.p99_ms:.1f} ms")
            asyncio.run(truncate_bookings(self.url))

        if "statement" in chosen:
            log(f"statement: {args.seconds:g} s at {args.connections} connections")
            load0 = load_average()
            self.results["statement"] = st = asyncio.run(
                run_raw(self.url, seed_, args.connections, args.seconds, statement=True))
            st.extra["load_average"] = {"before": load0, "after": load_average()}
            log(f"statement: {st.rate:,.0f} holds/s, p50 {st.p50_ms:.1f} ms, p99 {st.p99_ms:.1f} ms, "
                f"outcomes {st.statuses}")
            asyncio.run(truncate_bookings(self.url))

        if "minimal" in chosen:
            server = self.start_minimal(args.api_workers, seed_, args.connections)
            self.measure("minimal", server, server.url + "/holds", self.hold_script(seed_, "/holds", api=False),
                         f"minimal Starlette + asyncpg POST /holds ({args.api_workers} workers)", args.connections)
            self.stop(server)
            asyncio.run(truncate_bookings(self.url))

        if chosen & {"api", "hot"}:
            server = self.start_api(args.api_workers)
            if "api" in chosen:
                self.measure("api", server, server.url + "/api/v1/holds",
                             self.hold_script(seed_, "/api/v1/holds", api=True),
                             f"POST /api/v1/holds (edustream api --workers {args.api_workers})", args.connections)
                asyncio.run(truncate_bookings(self.url))
                if args.profile:
                    self.profile(server, seed_)
                    asyncio.run(truncate_bookings(self.url))
            if "hot" in chosen:
                before = asyncio.run(deadlocks(self.url))
                log(f"hot: {args.seconds:g} s at {args.connections} connections, one slot")
                load0 = load_average()
                with server_cpu(server) as cpu:
                    hot = asyncio.run(run_hot(server.url, seed_, args.connections, args.seconds))
                hot.extra.update(server_cpu_percent=cpu["percent"],
                                 load_average={"before": load0, "after": load_average()})
                self.results["hot"] = hot
            # Backends flush their statistics when they exit: read the deadlock count after the API stops.
            self.stop(server)
            if "hot" in chosen:
                time.sleep(0.5)
                hot.extra["deadlocks"] = asyncio.run(deadlocks(self.url)) - before
                log(f"hot: {hot.rate:,.0f} decisions/s, {hot.count(201)} won, {hot.count(409)} conflicts, "
                    f"p99.9 {hot.p999_ms:.1f} ms, {hot.extra['deadlocks']} deadlocks")
            asyncio.run(truncate_bookings(self.url))

        if "slots" in chosen:
            rows = asyncio.run(seed_slot_bookings(self.url, seed_))
            self.notes["slot_bookings"] = rows
            conns = args.slots_connections
            server = self.start_minimal(1, seed_, conns)
            self.measure("slots-minimal", server, server.url,
                         self.slots_script(seed_, "/tutors/{tutor}/slots"),
                         "minimal GET /tutors/{id}/slots rows (1 worker)", conns)
            self.stop(server)
            server = self.start_api(1)
            self.measure("slots-api", server, server.url,
                         self.slots_script(seed_, "/api/v1/tutors/{tutor}/slots"),
                         "GET /api/v1/tutors/{id}/slots (edustream api --workers 1)", conns)
            self.stop(server)

    def profile(self, server: Server, seed_: Seed) -> None:
        """The api scenario again, on later slots, with py-spy recording the API's workers."""
        seconds, out = self.args.profile_seconds, Path(self.args.profile)
        log(f"profile: api scenario again for {seconds:g} s under py-spy (not the measured run)")
        assert server.proc is not None
        try:
            spy = pyspy.record(server.proc.pid, seconds + 1, out)
        except FileNotFoundError as exc:
            log(f"profile: {exc}; skipped")
            self.notes["profile_error"] = str(exc)
            return
        try:
            time.sleep(1)  # py-spy attaching to the workers
            with server_cpu(server) as cpu:
                result = self.wrk("api-profiled", server.url + "/api/v1/holds",
                                  self.hold_script(seed_, "/api/v1/holds", api=True)(PROFILE_DAYS), "profiled",
                                  self.args.connections, seconds)
            _, err = spy.communicate(timeout=60)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        if not out.exists():
            self.notes["profile_error"] = err.decode(errors="replace")[-500:]
            log(f"profile: py-spy wrote nothing: {self.notes['profile_error']}")
            return
        summary = pyspy.summarise(out.read_text())
        summary.update(path=str(out), rate_while_profiled=round(result.rate, 1), seconds=seconds,
                       server_cpu_percent=cpu["percent"], statuses=result.statuses)
        self.notes["profile"] = summary
        log(f"profile: {summary['samples']} samples in {out}")


# --- report -------------------------------------------------------------------------------


def ratio(a: Measurement | None, b: Measurement | None) -> float | None:
    return round(a.rate / b.rate, 3) if a and b and b.rate else None


def _ratio(a: Measurement | None, b: Measurement | None) -> str:
    value = ratio(a, b)
    return "–" if value is None else f"{value:.2f}"


def render(run: Run, started: dict[str, Any], ended: dict[str, Any]) -> str:
    r = run.results
    raw, statement, minimal, api, hot = r.get("raw"), r.get("statement"), r.get("minimal"), r.get("api"), r.get("hot")
    smin, sapi = r.get("slots-minimal"), r.get("slots-api")
    a = run.args
    lines = [
        f"holds and slots benchmark (bench/holds.py), {started['at']} – {ended['at']}: "
        f"{started['machine']['cores']} cores, load average {started['load_average']} at start, "
        f"{ended['load_average']} at end; {a.seconds:g} s per run after {a.warmup:g} s warm-up, "
        f"{a.connections} connections (slots: {a.slots_connections}), wrk {a.threads} threads",
        "",
        "| path | req/s | p50 ms | p99 ms | ratio vs minimal | ratio vs raw |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def row(m: Measurement | None, label: str, vs_minimal: str, vs_raw: str) -> None:
        if m is not None:
            lines.append(f"| {label} | {m.rate:,.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | {vs_minimal} | {vs_raw} |")

    row(raw, "raw asyncpg INSERT (no HTTP)", "–", "1.00")
    row(statement, "the hold's place_hold() statement (no HTTP)", "–", _ratio(statement, raw))
    row(minimal, f"minimal Starlette + asyncpg POST /holds ({a.api_workers} workers)", "1.00", _ratio(minimal, raw))
    row(api, f"POST /api/v1/holds ({a.api_workers} workers)", _ratio(api, minimal), _ratio(api, raw))
    row(hot, "POST /api/v1/holds, one hot slot (decisions/s)", "–", "–")
    row(smin, "minimal GET slot rows (1 worker)", "1.00", "–")
    row(sapi, "GET /api/v1/tutors/{id}/slots (1 worker)", _ratio(sapi, smin), "–")
    lines += ["", "| run | requests | 2xx | 409 | other (non-2xx, non-409, errors) | p99.9 ms | max ms | server CPU % "
                  "| server CPU ms per request |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in r.values():
        two = sum(n for s, n in m.statuses.items() if s.startswith("2"))
        cpu = m.extra.get("server_cpu_percent")
        per_request = f"{cpu / 100 * m.seconds * 1000 / m.requests:.2f}" if cpu is not None and m.requests else "–"
        lines.append(f"| {m.name} | {m.requests:,} | {two:,} | {m.count(409):,} | {m.other:,} | {m.p999_ms:.1f} "
                     f"| {m.max_ms:.0f} | {cpu if cpu is not None else '–'} | {per_request} |")
    if hot is not None:
        lines += ["", f"Hot slot: {hot.count(201):,} won (each released at once: {hot.extra['releases']}), "
                      f"{hot.count(409):,} conflicts, **{hot.extra.get('deadlocks', '?')} deadlocks**, "
                      f"p99.9 {hot.p999_ms:.1f} ms, release p99 {hot.extra['release_p99_ms']:.1f} ms."]
    lines += ["", f"API: `RATE_LIMIT_ENABLED=false`, `MAX_ACTIVE_HOLDS={a.max_active_holds}` with {a.students} "
                  f"students (tokens rotated per request) and {a.tutors} tutors, `LOG_LEVEL={a.api_log_level}`, "
                  "other settings at their defaults."]
    profile = run.notes.get("profile")
    if profile:
        lines += ["", f"Profile of the API workers (py-spy --gil, {profile['samples']:,} samples in "
                      f"{profile['seconds']:g} s while serving {profile['rate_while_profiled']:,.0f} holds/s, "
                      f"workers at {profile['server_cpu_percent']}% of one core):", "",
                  "| where (first frame from the leaf up in) | share |", "|---|---:|"]
        lines += [f"| {b['name']} | {b['share']:.0%} |" for b in profile["buckets"]]
        lines += ["", "| cost (any frame in the stack) | share |", "|---|---:|"]
        lines += [f"| {c['name']} | {c['share']:.0%} |" for c in profile["costs"]]
        lines += ["", "| function (self time) | share |", "|---|---:|"]
        lines += [f"| `{s['name']}` | {s['share']:.1%} |" for s in profile["self"]]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.holds", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__,
        epilog="Needs wrk (apt-get install -y wrk); --profile needs py-spy (pip install py-spy) and "
               "permission to ptrace the API processes.")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per run (default %(default)s)")
    parser.add_argument("--connections", type=int, default=32,
                        help="concurrent connections for raw, minimal, api and hot (default %(default)s)")
    parser.add_argument("--slots-connections", type=int, default=8,
                        help="wrk connections for the slot reads (default %(default)s)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated subset of %(default)s")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds per server (default %(default)s)")
    parser.add_argument("--api-workers", type=int, default=2,
                        help="uvicorn workers of the API and the minimal app for the holds runs (default %(default)s)")
    parser.add_argument("--tutors", type=int, default=200, help="seeded tutors (default %(default)s)")
    parser.add_argument("--students", type=int, default=1000, help="seeded students (default %(default)s)")
    parser.add_argument("--max-active-holds", type=int, default=100_000,
                        help="MAX_ACTIVE_HOLDS for the API (default %(default)s)")
    parser.add_argument("--api-log-level", default="INFO", help="LOG_LEVEL of the API (default %(default)s)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL server to create the scratch database on (its database name is ignored; "
                             "default $DATABASE_URL or %(default)s)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
                        help="Redis for the API (default $REDIS_URL or %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="write every number to PATH")
    parser.add_argument("--profile", metavar="PATH",
                        help="after the api run, run it again under py-spy and write its collapsed stacks to PATH")
    parser.add_argument("--profile-seconds", type=float, default=10, help="length of the profiled run (default %(default)s)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and wrk scripts (printed path)")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    if args.profile and "api" not in args.scenarios:
        parser.error("--profile profiles the api scenario: include it in --scenarios")
    if args.students < args.connections:
        parser.error("--students must be at least --connections (the hot slot gives each client its own student)")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, and Ctrl-C works even when started from a shell that made
    background jobs ignore SIGINT, so the servers and the scratch database are cleaned up."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if {"minimal", "api", "slots"} & set(args.scenarios) and shutil.which("wrk") is None:
        print("bench.holds: wrk not found; install it with `apt-get install -y wrk`", file=sys.stderr)
        return 2
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    url = database_url(args.database_url, f"bench_holds_{os.getpid()}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-holds-"))
    run = Run(args, url, workdir)
    started = {"at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_average": load_average(),
               "machine": machine()}
    log(f"load average {started['load_average']}; logs and wrk scripts in {workdir}")
    failed = True
    try:
        with _signals_as_interrupt():
            run.execute()
        failed = False
    except KeyboardInterrupt:
        log("interrupted: stopping what was started")
        return 130
    finally:
        for server in list(run.servers):
            server.stop()
        with contextlib.suppress(Exception):
            asyncio.run(drop_database(url))
        if failed or args.keep_logs:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    ended = {"at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_average": load_average()}
    print(render(run, started, ended))
    if args.json:
        report = {"command": [sys.executable, "-m", "bench.holds", *(argv if argv is not None else sys.argv[1:])],
                  "started": started, "ended": ended,
                  "options": {k: v for k, v in vars(args).items() if k not in ("json",)},
                  "results": {name: m.as_json() for name, m in run.results.items()},
                  "ratios": {"minimal_vs_raw": ratio(run.results.get("minimal"), run.results.get("raw")),
                             "api_vs_minimal": ratio(run.results.get("api"), run.results.get("minimal")),
                             "api_vs_raw": ratio(run.results.get("api"), run.results.get("raw")),
                             "slots_api_vs_minimal": ratio(run.results.get("slots-api"),
                                                           run.results.get("slots-minimal"))},
                  "notes": run.notes}
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hold endpoint vs a raw asyncpg INSERT into the same constrained table, in one run.

    .venv/bin/python -m bench.holds --seconds 10 --concurrency 32

Starts a uvicorn API process on a scratch database, then measures for each scenario:
* raw: one ``INSERT INTO bookings`` per transaction through asyncpg (no HTTP, no rules);
* api: ``POST /api/v1/holds`` over HTTP (auth, validation, locks, history, outbox, versions).
Scenarios: ``uncontended`` (every request a distinct free slot) and ``hot`` (everyone races
for one slot; the winner releases it at once so the race goes on). Prints holds/s, p50/p99
and the api/raw ratio, and appends nothing anywhere: copy the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from server.auth.tokens import hash_password, issue_access_token
from server.db import libpq_url
from server.migrate import upgrade
from server.settings import Settings


@dataclass
class Result:
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return (self.ok + self.conflicts) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(url: str, tutors: int, students: int) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    target = make_url(url)
    admin = await asyncpg.connect(libpq_url(target.set(database="postgres").render_as_string(hide_password=False)))
    await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{target.database}"')
    await admin.close()
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(libpq_url(url))
    pw = hash_password("bench-password")
    tutor_ids = [uuid.uuid4() for _ in range(tutors)]
    student_ids = [uuid.uuid4() for _ in range(students)]
    await conn.executemany("INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, 'T', 'tutor', $3)",
                           [(t, f"t{i}@bench.test", pw) for i, t in enumerate(tutor_ids)])
    await conn.executemany("INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, 'S', 'student', $3)",
                           [(s, f"s{i}@bench.test", pw) for i, s in enumerate(student_ids)])
    await conn.executemany(
        "INSERT INTO tutor_profiles (user_id, headline, bio, hourly_rate_cents, currency, timezone, lesson_minutes, "
        "min_notice_minutes, buffer_minutes, max_advance_days) VALUES ($1, 'h', 'b', 6000, 'USD', 'UTC', '{30,60}', 0, 0, 365)",
        [(t,) for t in tutor_ids])
    await conn.executemany("INSERT INTO availability_rules (tutor_id, weekday, start_minute, end_minute) "
                           "VALUES ($1, $2, 0, 1440)", [(t, d) for t in tutor_ids for d in range(7)])
    await conn.close()
    return tutor_ids, student_ids


def _slot(i: int, tutor_count: int) -> tuple[int, datetime]:
    base = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return i % tutor_count, base + timedelta(minutes=30 * (i // tutor_count))


async def _run(n: int, seconds: float, op: Callable[[int, int], Awaitable[str]]) -> Result:
    result = Result()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        while time.perf_counter() < deadline:
            i = next(counter)
            t0 = time.perf_counter()
            outcome = await op(w, i)
            result.latencies.append(time.perf_counter() - t0)
            setattr(result, outcome, getattr(result, outcome) + 1)

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(n)))
    result.seconds = time.perf_counter() - start
    return result


async def bench_raw(url: str, tutors: list[uuid.UUID], students: list[uuid.UUID], hot: bool, conc: int,
                    seconds: float) -> Result:
    pool = await asyncpg.create_pool(libpq_url(url), min_size=conc, max_size=conc)
    sql = ("INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, "
           "price_cents, currency) VALUES ($1, $2, $3, 'held', $4, $5, tstzrange($4, $5), now() + interval '10 min', "
           "6000, 'USD')")
    async def op(w: int, i: int) -> str:
        t_idx, start = (0, _slot(0, 1)[1] + timedelta(days=200)) if hot else _slot(i, len(tutors))
        try:
            async with pool.acquire() as conn:
                bid = uuid.uuid4()
                await conn.execute(sql, bid, tutors[t_idx], students[w % len(students)], start,
                                   start + timedelta(minutes=30))
                if hot:
                    await conn.execute("UPDATE bookings SET status = 'released' WHERE id = $1", bid)
            return "ok"
        except asyncpg.ExclusionViolationError:
            return "conflicts"
        except asyncpg.DeadlockDetectedError:
            return "errors"

    result = await _run(conc, seconds, op)
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE bookings CASCADE")
    await pool.close()
    return result


async def bench_api(base: str, settings: Settings, tutors: list[uuid.UUID], students: list[uuid.UUID], hot: bool,
                    conc: int, seconds: float) -> Result:
    tokens = [issue_access_token(settings, s, "student") for s in students]
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def op(w: int, i: int) -> str:
            t_idx, start = (0, _slot(0, 1)[1] + timedelta(days=100)) if hot else _slot(i, len(tutors))
            headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
            r = await client.post("/api/v1/holds", headers=headers,
                                  json={"tutor_id": str(tutors[t_idx]), "start": start.isoformat(), "minutes": 30})
            if r.status_code == 201:
                if hot:
                    await client.delete(f"/api/v1/holds/{r.json()['id']}", headers=headers)
                return "ok"
            if r.status_code == 409:
                return "conflicts"
            return "errors"

        return await _run(conc, seconds, op)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1/edustream"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    url = make_url(libpq_url(args.database_url)).set(database="edustream_bench").render_as_string(hide_password=False)
    settings = Settings(environment="test", database_url=url, redis_url=args.redis_url)
    tutors, students = asyncio.run(_prepare(url, tutors=200, students=2000))
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": args.redis_url, "ENVIRONMENT": "test",
           "RATE_LIMIT_ENABLED": "false", "MAX_ACTIVE_HOLDS": "1000", "LOG_LEVEL": "WARNING",
           "DB_POOL_SIZE": str(max(5, args.concurrency // args.api_workers)), "SECRET_KEY": settings.secret_key}
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "edustream.asgi:app_factory", "--factory", "--port", str(port),
                            "--workers", str(args.api_workers), "--log-level", "warning", "--no-access-log"], env=env)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise SystemExit("API did not become ready")
            time.sleep(0.3)
        rows = []
        for hot in (False, True):
            name = "one hot slot" if hot else "uncontended"
            print(f"[bench] {name}: raw asyncpg insert ...", file=sys.stderr)
            raw = asyncio.run(bench_raw(url, tutors, students, hot, args.concurrency, args.seconds))
            print(f"[bench] {name}: POST /holds ...", file=sys.stderr)
            api_r = asyncio.run(bench_api(f"http://127.0.0.1:{port}", settings, tutors, students, hot,
                                          args.concurrency, args.seconds))
            rows.append((name, raw, api_r))
        print(f"\nholds benchmark: {os.cpu_count()} cores, concurrency {args.concurrency}, "
              f"{args.seconds:.0f} s per run, API with {args.api_workers} uvicorn workers\n")
        print("| scenario | path | decisions/s | won | conflicts | errors | p50 ms | p99 ms | max ms | api/raw |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, raw, api_r in rows:
            for label, r in (("raw asyncpg INSERT", raw), ("POST /api/v1/holds", api_r)):
                ratio = f"{api_r.rate / raw.rate:.0%}" if label.startswith("POST") and raw.rate else ""
                print(f"| {name} | {label} | {r.rate:,.0f} | {r.ok} | {r.conflicts} | {r.errors} | {r.pct(0.5):.1f} "
                      f"| {r.pct(0.99):.1f} | {max(r.latencies or [0]) * 1000:.0f} | {ratio} |")
    finally:
        api.terminate()
        api.wait(timeout=10)


if __name__ == "__main__":
    main()

"""What a hold costs inside PostgreSQL: backend CPU per call, the hold's statement against a bare INSERT.

    .venv/bin/python -m bench.statement_cpu --calls 3000

One client connection calls, one autocommit transaction each, the API's own ``place_hold()``
statement (server/bookings/repository.py's ``PLACE_HOLD_SQL``, as bench/holds.py's ``statement``
scenario sends it) and the bare exclusion-guarded ``INSERT INTO bookings`` of its ``raw``
scenario, and reads the CPU time its PostgreSQL backend used
(``/proc/<pid>/stat``: the server must run on this machine). CPU time rather than throughput:
it does not depend on what else the machine is doing, so two runs minutes apart, or on a busy
machine, compare. The statement is measured twice, on a new connection each time: first while
``bookings`` is empty and analyzed as empty (its plans are made then, and kept while the table
grows), and again after the INSERT's rows.
Each gets ``--warmup`` calls first (plans made, caches warm), all on one fresh scratch
database ``bench_cpu_<pid>`` (migrated with ``edustream migrate``, seeded like bench/holds.py,
dropped at the end).

For the statement alone; bench/holds.py measures the whole hold, HTTP included. To see where
the backend's time goes, run ``perf record -g -p <backend pid>`` while it runs (the pid is
printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.holds import (
    HOLD_TTL,
    INSERT_HOLD,
    SLOT_STEP,
    database_url,
    drop_database,
    first_slot,
    load_average,
    log,
    place_hold,
    prepare_database,
)

# In this order, each on a new connection (so each plans afresh): the statement planned while
# ``bookings`` is empty and analyzed as such (a new deployment, a fresh benchmark database), the
# bare INSERT, then the statement planned on the table the two before it filled.
KINDS = ("statement-first", "insert", "statement")


def backend_cpu_seconds(pid: int) -> float:
    """User + system CPU of a local process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(url: str, tutors: Sequence[uuid.UUID], students: Sequence[uuid.UUID], kind: str, calls: int,
                  warmup: int) -> dict[str, Any]:
    """``warmup`` + ``calls`` calls of ``kind`` on one pooled connection; CPU and wall per call."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            if kind == "statement-first":
                # What autovacuum records for a new deployment's still-empty table: an empty bookings.
                await conn.execute("ANALYZE bookings")
            pid = conn.get_server_pid()
            versions = {r["user_id"]: r["policy_version"]
                        for r in await conn.fetch("SELECT user_id, policy_version FROM tutor_profiles")}
        log(f"{kind}: backend pid {pid}")
        base = first_slot()
        # Each kind takes its own slots, so the statement never meets the INSERT's bookings.
        offset = KINDS.index(kind) * (warmup + calls)

        async def call(i: int) -> str:
            k = offset + i
            start = base + SLOT_STEP * (k // len(tutors))
            tutor, student = tutors[k % len(tutors)], students[k % len(students)]
            if kind == "insert":
                await pool.execute(INSERT_HOLD, uuid.uuid4(), tutor, student, start, start + SLOT_STEP,
                                   datetime.now(UTC) + HOLD_TTL)
                return "inserted"
            return await place_hold(pool, tutor, student, start, versions)  # statement-first, statement

        await _run(call, 0, warmup)
        cpu0, wall0 = backend_cpu_seconds(pid), time.perf_counter()
        outcomes = await _run(call, warmup, calls)
        cpu, wall = backend_cpu_seconds(pid) - cpu0, time.perf_counter() - wall0
    finally:
        await pool.close()
    return {"kind": kind, "calls": calls, "backend_pid": pid, "outcomes": outcomes,
            "backend_cpu_ms_per_call": round(1000 * cpu / calls, 3), "wall_ms_per_call": round(1000 * wall / calls, 3)}


async def _run(call: Callable[[int], Awaitable[str]], first: int, count: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for i in range(first, first + count):
        outcome = await call(i)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.statement_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000, help="measured calls of each kind (default 3000)")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured calls of each kind first (default 300)")
    parser.add_argument("--tutors", type=int, default=200)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a server on this machine (its /proc is read); a scratch database is made on it")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help="only for `edustream migrate`'s settings")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = database_url(args.database_url, f"bench_cpu_{os.getpid()}")
    started = {"at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_average": load_average()}
    log(f"scratch database {url.rsplit('/', 1)[1]}: migrating and seeding {args.tutors} tutors, "
        f"{args.students} students")
    try:
        seed = prepare_database(url, args.redis_url, args.tutors, args.students)
        results = [asyncio.run(measure(url, seed.tutors, seed.students, kind, args.calls, args.warmup))
                   for kind in KINDS]
    finally:
        asyncio.run(drop_database(url))
    first, insert, statement = results
    ratio = statement["backend_cpu_ms_per_call"] / max(insert["backend_cpu_ms_per_call"], 1e-9)
    print(f"PostgreSQL backend CPU per call ({args.calls} calls each, one connection, load average "
          f"{started['load_average']} at start)")
    print("| call | CPU ms | wall ms | outcomes |\n|---|---:|---:|---|")
    for r in results:
        print(f"| {r['kind']} | {r['backend_cpu_ms_per_call']:.3f} | {r['wall_ms_per_call']:.3f} | {r['outcomes']} |")
    print(f"place_hold() costs {ratio:.1f}x the bare INSERT's backend CPU; planned on the empty table, "
          f"{first['backend_cpu_ms_per_call'] / max(insert['backend_cpu_ms_per_call'], 1e-9):.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": [sys.executable, "-m", "bench.statement_cpu",
                                                           *(argv if argv is not None else sys.argv[1:])],
                                               "started": started, "results": results,
                                               "statement_vs_insert": round(ratio, 2)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

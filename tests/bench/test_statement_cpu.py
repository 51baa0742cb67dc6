"""bench/statement_cpu.py: the hold's statement and the bare INSERT, called on one connection each,
with their PostgreSQL backend's CPU read from /proc."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import asyncpg

from bench.holds import database_url
from bench.statement_cpu import main
from server.db import libpq_url
from tests.conftest import _worker_database_url, _worker_redis_url


async def _databases(like: str) -> list[str]:
    conn = await asyncpg.connect(database_url(libpq_url(_worker_database_url()), "postgres"))
    try:
        return [r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", like)]
    finally:
        await conn.close()


def test_every_call_lands_its_backend_cpu_is_read_and_the_scratch_database_is_dropped(tmp_path: Path) -> None:
    out = tmp_path / "cpu.json"
    assert main(["--calls", "40", "--warmup", "5", "--tutors", "3", "--students", "5",
                 "--database-url", libpq_url(_worker_database_url()), "--redis-url", _worker_redis_url(),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    by_kind = {r["kind"]: r for r in report["results"]}
    assert by_kind["insert"]["outcomes"] == {"inserted": 40}
    assert by_kind["statement-first"]["outcomes"] == by_kind["statement"]["outcomes"] == {"held": 40}
    assert len({r["backend_pid"] for r in report["results"]}) == 3  # a connection each: plans made afresh
    assert all(r["backend_cpu_ms_per_call"] >= 0 and r["wall_ms_per_call"] > 0 for r in report["results"])
    assert asyncio.run(_databases(f"bench_cpu_{os.getpid()}")) == []

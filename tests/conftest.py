"""Test fixtures: real PostgreSQL, real Redis, the real ASGI app over HTTP.

With ``DATABASE_URL``/``REDIS_URL`` set (CI), those servers are used; otherwise the
embedded ones are started under ``.edustream/test``. Each xdist worker gets its own
database (``<db>_test_<worker>``) and its own Redis database number.

``EDUSTREAM_TEST_REDIS=cluster`` runs the tests against a Redis Cluster instead: each xdist
worker starts a local cluster of its own (three masters, three replicas:
tests/fixtures/redis_cluster.py) and exports ``REDIS_CLUSTER_NODES``, so every ``Settings``
built here and every process a test starts (API, worker, scheduler) uses it. A cluster has
only database 0; a worker owning its cluster keeps it apart from the others, and the per-test
cleaner empties every master. ``./scripts/test`` runs tests/realtime, tests/tasks and the rate
limits this way a second time (README, "Tests").
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from server.app import create_app
from server.db import libpq_url
from server.migrate import upgrade
from server.redis_client import open_redis
from server.settings import PROJECT_ROOT, Settings
from tests.fixtures.redis_cluster import LocalCluster, redis_server_7

pytest_plugins = ["tests.fixtures.bookings", "tests.fixtures.stripe"]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
WORKER_NUM = int(WORKER.removeprefix("gw") or 0)


# EDUSTREAM_TEST_REDIS=cluster: Redis is a local Redis Cluster, one per xdist worker.
CLUSTER = os.environ.get("EDUSTREAM_TEST_REDIS", "").strip().lower() == "cluster"
_local_cluster: LocalCluster | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _local_cluster
    if "PYTEST_XDIST_WORKER" not in os.environ:
        from devtools.embedded import ensure_services

        ensure_services(PROJECT_ROOT / ".edustream" / "test", redis_port=6391, database="edustream_test")
    controller = "PYTEST_XDIST_WORKER" not in os.environ and bool(getattr(config.option, "numprocesses", None))
    if CLUSTER and not controller:
        if redis_server_7() is None:
            raise pytest.UsageError("EDUSTREAM_TEST_REDIS=cluster needs redis-server >= 7 (Debian: apt-get install "
                                    "redis-server)")
        directory = Path(tempfile.mkdtemp(prefix=f"edustream-cluster-{NAMESPACE or 'test'}-{WORKER}-"))
        _local_cluster = asyncio.run(LocalCluster.start(directory))
        # Inherited by every Settings() and every process the tests start.
        os.environ["REDIS_CLUSTER_NODES"] = _local_cluster.startup_nodes


def pytest_unconfigure(config: pytest.Config) -> None:
    global _local_cluster
    if _local_cluster is not None:
        asyncio.run(_local_cluster.stop())
        shutil.rmtree(_local_cluster.directory, ignore_errors=True)
        _local_cluster = None
        os.environ.pop("REDIS_CLUSTER_NODES", None)


# Several test runs may share one server (developers working side by side): EDUSTREAM_TEST_NS
# keeps their databases apart, and the Redis database number counts up from REDIS_URL's.
NAMESPACE = os.environ.get("EDUSTREAM_TEST_NS", "")


def _worker_database_url() -> str:
    url = make_url(libpq_url(os.environ["DATABASE_URL"]))
    name = f"{url.database or 'postgres'}{'_' + NAMESPACE if NAMESPACE else ''}_t{WORKER_NUM}"
    return url.set(database=name).render_as_string(hide_password=False)


def _worker_redis_url() -> str:
    """This worker's Redis database (single Redis); on a cluster, empty: the first node's db 0."""
    if CLUSTER:
        return ""
    root, _, tail = os.environ["REDIS_URL"].rstrip("/").rpartition("/")
    if not tail.isdigit():
        root, tail = os.environ["REDIS_URL"].rstrip("/"), "0"
    return f"{root}/{(int(tail) + 1 + WORKER_NUM) % 16}"


async def _recreate_database(url: str) -> None:
    target = make_url(url)
    admin = libpq_url(target.set(database="postgres").render_as_string(hide_password=False))
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": _worker_database_url(),
        "redis_url": _worker_redis_url(),
        "redis_cluster_nodes": os.environ.get("REDIS_CLUSTER_NODES", "") if CLUSTER else "",
        # PostgreSQL allows 100 connections for everything on the machine (two test workers,
        # their uvicorn/worker subprocesses): keep each pool small.
        "db_pool_size": 10,
        "db_max_overflow": 5,
        "db_statement_pool_size": 4,
        "rate_limit_per_ip": 100_000,
        "rate_limit_per_user": 100_000,
        "rate_limit_auth_per_ip": 100_000,
        # Slot-hoarding limits are tested where they are the subject (tests/server/bookings/test_hoarding.py).
        "hold_limit_per_ip": 100_000,
        "hold_limit_per_tutor": 0,
        "hold_rehold_cooldown_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
async def database_url() -> str:
    url = _worker_database_url()
    await _recreate_database(url)
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture(scope="session")
async def settings(database_url: str) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A raw asyncpg pool, for assertions straight against the database."""
    pool = await asyncpg.create_pool(libpq_url(database_url), min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """The worker's Redis: a plain client, or a cluster client (EDUSTREAM_TEST_REDIS=cluster)."""
    client = await open_redis(settings)
    yield client
    await client.aclose()


_TABLES: list[str] = []


@pytest.fixture(autouse=True)
async def _clean(request: pytest.FixtureRequest) -> None:
    """Empty every table and the worker's Redis database (on a cluster: every master, which
    ``FLUSHDB`` goes to through a cluster client) before each test that uses them."""
    if "db" not in request.fixturenames and "app" not in request.fixturenames:
        return
    pool: asyncpg.Pool = request.getfixturevalue("db")
    redis: Redis = request.getfixturevalue("redis")
    async with pool.acquire() as conn:
        if not _TABLES:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                    "AND tablename <> 'alembic_version'")
            _TABLES.extend(r["tablename"] for r in rows)
        await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in _TABLES) + " RESTART IDENTITY CASCADE")
    await redis.flushdb()


async def start_app(settings: Settings) -> tuple[Starlette, Any]:
    """Create the app and enter its lifespan; returns the app and the lifespan context to exit."""
    app = create_app(settings)
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    return app, ctx


@pytest.fixture(scope="session")
async def app(settings: Settings, db: asyncpg.Pool, redis: Redis) -> AsyncIterator[Starlette]:
    application, ctx = await start_app(settings)
    yield application
    await ctx.__aexit__(None, None, None)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path

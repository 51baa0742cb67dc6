"""Redis Cluster fixtures: a local cluster (three masters, three replicas) for the package, a
database of its own (so no process on single Redis leads its outbox relay), and two API
processes configured with ``REDIS_CLUSTER_NODES``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from server.db import libpq_url
from server.migrate import upgrade
from server.settings import Settings
from tests.conftest import _recreate_database, _worker_database_url, make_settings
from tests.fixtures.redis_cluster import LocalCluster

__all__ = ["live_client"]  # the real Socket.IO client fixture of tests/realtime
from tests.realtime.conftest import LiveServer, insert_students, live_client, running_servers


@pytest.fixture(scope="package")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = await LocalCluster.start(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield local
    finally:
        await local.stop()


@pytest.fixture(scope="package")
async def cluster_settings(cluster: LocalCluster) -> Settings:
    url = make_url(_worker_database_url())
    url = url.set(database=f"{url.database}_cluster").render_as_string(hide_password=False)
    await _recreate_database(url)
    await asyncio.to_thread(upgrade, url)
    return make_settings(database_url=url, redis_url="", redis_cluster_nodes=cluster.startup_nodes,
                         live_redis_channel=f"edustream-cluster-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="package")
async def cluster_db(cluster_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(libpq_url(cluster_settings.database_url), min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="package")
async def cluster_servers(cluster: LocalCluster, cluster_settings: Settings, cluster_db: asyncpg.Pool,
                          tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[LiveServer]]:
    """API processes CA and CB on the cluster (every node listed: any may be the one killed)."""
    async with running_servers(cluster_settings, tmp_path_factory.mktemp("cluster-logs"), ["CA", "CB"],
                               extra_env={"REDIS_CLUSTER_NODES": cluster.startup_nodes}) as servers:
        yield servers


@pytest.fixture
async def servers(cluster_servers: list[LiveServer]) -> list[LiveServer]:
    for server in cluster_servers:
        await server.ensure_running()
    return cluster_servers


@pytest.fixture
async def capi(servers: list[LiveServer]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as client:
        yield client


@pytest.fixture
def cluster_students(cluster_db: asyncpg.Pool,
                     cluster_settings: Settings) -> Callable[[int], Awaitable[list[dict[str, Any]]]]:
    async def factory(n: int) -> list[dict[str, Any]]:
        return await insert_students(cluster_db, cluster_settings, n)

    return factory

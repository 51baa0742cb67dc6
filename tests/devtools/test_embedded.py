"""The embedded PostgreSQL and Redis keep their data across a stop and a start."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from devtools import embedded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def long_data_dir(tmp_path: Path) -> Iterator[Path]:
    # Deep enough that <data_dir>/pg/.s.PGSQL.5432 would pass the unix socket limit.
    data_dir = tmp_path / ("d" * 60) / ("e" * 40)
    yield data_dir
    embedded.stop_postgres(data_dir)


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    yield port
    embedded.stop_redis(tmp_path, port)


async def test_postgres_with_long_data_dir_uses_short_socket_and_keeps_data_across_restart(
        long_data_dir: Path) -> None:
    url = await asyncio.to_thread(embedded.start_postgres, long_data_dir, "survivor")
    socket_dir = url.partition("host=")[2]
    assert len(f"{socket_dir}/.s.PGSQL.5432".encode()) < embedded.SOCKET_PATH_LIMIT
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    await conn.execute("CREATE TABLE kept (v text)")
    await conn.execute("INSERT INTO kept VALUES ('still here')")
    await conn.close()

    assert await asyncio.to_thread(embedded.stop_postgres, long_data_dir) is True
    with pytest.raises(OSError):
        await asyncpg.connect(url, timeout=2)

    url_again = await asyncio.to_thread(embedded.start_postgres, long_data_dir, "survivor")
    conn = await asyncpg.connect(url_again)
    assert await conn.fetchval("SELECT v FROM kept") == "still here"
    await conn.close()


def test_redis_keeps_data_across_restart_and_refuses_a_foreign_server(tmp_path: Path, redis_port: int) -> None:
    url = embedded.start_redis(tmp_path, redis_port)
    client = redis.Redis.from_url(url)
    client.set("kept", "still here")
    client.close()
    assert embedded.start_redis(tmp_path, redis_port) == url  # reused, not restarted

    assert embedded.stop_redis(tmp_path, redis_port) is True
    embedded.start_redis(tmp_path, redis_port)
    client = redis.Redis.from_url(url)
    assert client.get("kept") == b"still here"
    client.close()

    embedded.stop_redis(tmp_path, redis_port)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", redis_port))
        squatter.listen()
        with pytest.raises(embedded.EmbeddedServiceError, match="not this project's embedded Redis"):
            embedded.start_redis(tmp_path, redis_port)

"""While a publish to Redis hangs, the fan-out's outgoing buffer stays bounded and the hang ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest

from realtime.manager import Broadcast, FanoutBacklogFull, LiveRedisManager


@pytest.fixture
async def hung_redis() -> AsyncIterator[str]:
    """A TCP peer that accepts connections and never answers (a hung Redis)."""
    connections: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in connections:
        writer.close()
    server.close()


def _items(first: int, count: int) -> list[Broadcast]:
    return [Broadcast("seq", json.dumps({"n": n}), "user:x", "/live", key=f"k{n}") for n in range(first, first + count)]


async def test_the_backlog_is_bounded_while_a_publish_hangs_and_the_hang_times_out(hung_redis: str) -> None:
    manager = LiveRedisManager(hung_redis, channel="backlog-test", write_only=True, max_pending=100,
                               redis_timeout=0.5)
    in_flight = manager.broadcast_nowait(_items(0, 10))  # the publish that hangs
    async with asyncio.timeout(10):
        while manager.pending:  # noqa: ASYNC110 (until the flusher has taken it: a few loop turns)
            await asyncio.sleep(0)
    waiting = [manager.broadcast_nowait(_items(10 + 10 * i, 10)) for i in range(10)]  # 100: the bound
    assert manager.pending == 100

    refused = manager.broadcast_nowait(_items(200, 10))
    assert refused.done() and isinstance(refused.exception(), FanoutBacklogFull)
    assert manager.pending == 100 and manager.dropped == 10

    # The socket timeout ends the hung publish (one reconnect attempt: about twice the timeout).
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(in_flight, 30)
    for waiter in waiting:
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(waiter, 30)
    assert manager.pending == 0
    if manager.redis is not None:
        await manager.redis.aclose()

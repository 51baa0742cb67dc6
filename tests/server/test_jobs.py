"""Kicking a task after commit when Redis hangs: the request is held up for at most
ENQUEUE_TIMEOUT_SECONDS and the committed change stays."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from server.db import unit_of_work
from server.jobs import enqueue
from server.settings import Settings


@pytest.fixture
async def black_hole() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()


async def test_a_hung_redis_delays_the_commit_hooks_by_the_enqueue_timeout_only(
        app: Starlette, settings: Settings, black_hole: str) -> None:
    hung = settings.model_copy(update={"redis_url": black_hole, "enqueue_timeout_seconds": 0.5,
                                       "redis_socket_timeout_seconds": 30})
    started = time.monotonic()
    async with unit_of_work(app.state.sessionmaker) as session:
        enqueue(session, hung, "email.send", "someone")
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 5, f"the commit hooks took {elapsed:.2f}s"

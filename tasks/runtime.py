"""Per-process resources of a task worker: one engine, one sessionmaker, one Redis client.

They are created when the worker process starts (taskiq's ``WORKER_STARTUP`` event) and
closed when it stops, never at import time, so importing a task module is free of side
effects and the API process (which only kicks tasks) opens nothing here.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq import AsyncBroker, TaskiqEvents, TaskiqState

from realtime.publisher import LivePublisher
from server.db import Sessionmaker, make_engine, make_sessionmaker
from server.observability import setup_process, shutdown_tracing
from server.redis_client import open_redis
from server.settings import Settings

log = logging.getLogger("edustream.tasks")


@dataclass(slots=True)
class Runtime:
    """What a task needs to touch the world."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: Sessionmaker
    redis: Redis
    # Publishes the outbox rows this process commits.
    publisher: LivePublisher | None = None

    def key(self, *parts: str) -> str:
        """A Redis key in this deployment's task namespace (the queue name)."""
        return ":".join((self.settings.task_queue_name, *parts))


_current: Runtime | None = None


async def start(settings: Settings) -> Runtime:
    """Open this process's resources (idempotent)."""
    global _current
    if _current is None:
        if not settings.database_url or not settings.redis_url:
            raise RuntimeError("DATABASE_URL and REDIS_URL must be set for the task worker "
                               "(`edustream worker` fills them with the embedded services)")
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                             max_overflow=settings.db_max_overflow, pgbouncer=settings.database_pgbouncer)
        _current = Runtime(settings=settings, engine=engine, sessionmaker=make_sessionmaker(engine),
                           redis=await open_redis(settings), publisher=await _start_publisher(settings))
        log.info("task runtime started (queue %s)", settings.task_queue_name)
    return _current


async def stop() -> None:
    """Close this process's resources (idempotent)."""
    global _current
    runtime, _current = _current, None
    if runtime is not None:
        if runtime.publisher is not None:
            await runtime.publisher.stop()
        await runtime.redis.aclose()
        await runtime.engine.dispose()


async def _start_publisher(settings: Settings) -> LivePublisher:
    """The live layer's publisher, so events recorded by tasks reach watchers at once."""
    publisher = LivePublisher(settings, name="worker")
    await publisher.start()
    return publisher


def get() -> Runtime:
    """The running process's resources; only inside a worker (or after :func:`start`)."""
    if _current is None:
        raise RuntimeError("the task runtime is not started: tasks run inside `edustream worker`")
    return _current


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """``start`` … ``stop`` as a context manager (scripts and in-process tests)."""
    runtime = await start(settings)
    try:
        yield runtime
    finally:
        await stop()


_UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@asynccontextmanager
async def exclusive(name: str, ttl_seconds: float = 30.0) -> AsyncIterator[bool]:
    """Yield True when this process holds the lock ``name`` (False: another run is busy).

    Sweeps use it so that a backlog of ticks (say, after the workers were down) does not
    run the same sweep many times side by side; the TTL frees a lock whose holder died."""
    rt = get()
    key, token = rt.key("lock", name), secrets.token_hex(8)
    acquired = bool(await rt.redis.set(key, token, nx=True, px=int(ttl_seconds * 1000)))
    try:
        yield acquired
    finally:
        if acquired:
            await rt.redis.eval(_UNLOCK, 1, key, token)  # type: ignore[misc]


def install(broker: AsyncBroker, settings: Callable[[], Settings]) -> None:
    """Open the resources when ``broker``'s worker process starts and close them when it stops."""
    tracing: list[Any] = []

    async def on_startup(state: TaskiqState) -> None:
        tracing.append(setup_process(settings(), "worker"))
        await start(settings())

    async def on_shutdown(state: TaskiqState) -> None:
        started = time.monotonic()
        await stop()
        for handle in tracing:
            shutdown_tracing(handle)
        log.info("task runtime stopped in %.2fs", time.monotonic() - started)

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, on_startup)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, on_shutdown)

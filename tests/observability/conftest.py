"""Observability fixtures: the real app with tracing on, its spans in an in-memory exporter.

``app`` is overridden here: every test in this folder (and the booking fixtures such as
``make_tutor``, through ``client``) talks to an app built with ``TRACING_ENABLED=true`` and
a sample rate of 1. ``start_traced(**settings)`` builds more apps with other settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.observability import tracing
from tests.conftest import make_settings, start_app

TRACED = {"tracing_enabled": True, "tracing_exporter": "console", "tracing_sample_rate": 1.0}


@dataclass
class Running:
    """An app whose lifespan is running, a client for it, and the spans it finished."""

    app: Starlette
    client: httpx.AsyncClient
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def names(self) -> list[str]:
        return [s.name for s in self.spans()]


StartApp = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_traced(db: asyncpg.Pool, redis: Redis) -> AsyncIterator[StartApp]:
    """Start apps with ``TRACED`` settings plus overrides; stops them (and tracing) afterwards."""
    stops: list[Callable[[], Awaitable[Any]]] = []

    async def start(**overrides: Any) -> Running:
        app, ctx = await start_app(make_settings(**{**TRACED, **overrides}))
        exporter = InMemorySpanExporter()
        state = tracing.current()
        if state is not None:
            state.provider.add_span_processor(SimpleSpanProcessor(exporter))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

        async def stop() -> None:
            await client.aclose()
            await ctx.__aexit__(None, None, None)

        stops.append(stop)
        return Running(app, client, exporter)

    yield start
    for stop in reversed(stops):
        await stop()
    tracing.shutdown_tracing()


@pytest.fixture
async def running(start_traced: StartApp) -> Running:
    return await start_traced()


@pytest.fixture
async def app(running: Running) -> Starlette:
    return running.app


@pytest.fixture
def spans(running: Running) -> InMemorySpanExporter:
    return running.exporter


@pytest.fixture
def traced_process() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this process without an app (task and Socket.IO tests); spans in memory."""
    state = tracing.setup_tracing(make_settings(**TRACED), service_name="edustream-worker")
    assert state is not None
    exporter = InMemorySpanExporter()
    state.provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown_tracing()

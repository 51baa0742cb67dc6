"""The live layer, traced: the real REST + Socket.IO app under uvicorn, a real Socket.IO client;
spans for connect and events, the connection gauge, events published with their delay."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import socketio
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from realtime.server import create_asgi
from server.observability import metrics, tracing
from tests.conftest import make_settings
from tests.fixtures.bookings import next_day_at
from tests.helpers import register
from tests.observability.conftest import TRACED

LIVE = "/live"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveApp:
    url: str
    exporter: InMemorySpanExporter

    def spans(self, prefix: str = "socketio") -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(prefix)]


@pytest.fixture
async def live_app(db: asyncpg.Pool, redis: Redis) -> AsyncIterator[LiveApp]:
    settings = make_settings(**TRACED, live_redis_channel=f"edustream-obs-{uuid.uuid4().hex[:8]}",
                             live_relay_poll_seconds=0.1, tracing_trusted_sources=["127.0.0.1"])
    asgi = create_asgi(settings)
    state = tracing.current()
    assert state is not None
    exporter = InMemorySpanExporter()
    state.provider.add_span_processor(SimpleSpanProcessor(exporter))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, lifespan="on", log_config=None))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    yield LiveApp(f"http://127.0.0.1:{port}", exporter)
    server.should_exit = True
    await serving
    tracing.shutdown_tracing()


async def _bookable_tutor(http: httpx.AsyncClient) -> str:
    tutor = await register(http, role="tutor")
    r = await http.put("/api/v1/tutors/me", headers=tutor["headers"], json={
        "headline": "Patient maths tutor", "bio": "Ten years of teaching.", "subjects": ["mathematics"],
        "hourly_rate_cents": 6000, "currency": "USD", "timezone": "UTC", "lesson_minutes": [60],
        "min_notice_minutes": 0, "buffer_minutes": 0, "max_advance_days": 60})
    assert r.status_code == 200, r.text
    r = await http.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
        "rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)], "overrides": []})
    assert r.status_code == 200, r.text
    return str(tutor["user"]["id"])


def _live_connections() -> float:
    return metrics.REGISTRY.get_sample_value("edustream_live_connections") or 0.0


async def test_socketio_connect_and_events_are_spans(live_app: LiveApp) -> None:
    async with httpx.AsyncClient(base_url=live_app.url) as http:
        tutor_id = await _bookable_tutor(http)
    client = socketio.AsyncClient()
    trace_id = uuid.uuid4().hex
    await client.connect(live_app.url, namespaces=[LIVE], transports=["websocket"],
                         headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    try:
        ack = await client.call("watch", {"tutor_id": tutor_id}, namespace=LIVE, timeout=10)
        assert "error" not in ack, ack
        bad = await client.call("watch", {"tutor_id": "not-a-uuid"}, namespace=LIVE, timeout=10)
        assert bad["error"]["code"] == "invalid_request"
    finally:
        await client.disconnect()
    await asyncio.sleep(0.2)

    spans = {s.name: s for s in live_app.spans()}
    connect = spans[f"socketio {LIVE} connect"]
    assert connect.kind == SpanKind.SERVER
    assert f"{connect.context.trace_id:032x}" == trace_id, "the handshake's traceparent is continued"
    watches = [s for s in live_app.spans() if s.name == f"socketio {LIVE} watch"]
    assert len(watches) == 2
    ok, refused = sorted(watches, key=lambda s: "socketio.error_code" in (s.attributes or {}))
    assert (refused.attributes or {})["socketio.error_code"] == "invalid_request"
    assert ok.status.status_code.name == "UNSET"
    assert any(s.parent is not None and s.parent.span_id == ok.context.span_id
               for s in live_app.exporter.get_finished_spans() if (s.attributes or {}).get("db.system")), \
        "the watch handler's SQL is inside its span"
    assert f"socketio {LIVE} disconnect" in spans


async def test_handshake_trace_context_is_continued_only_from_trusted_peers(
        traced_process: InMemorySpanExporter) -> None:
    state = tracing.current()
    assert state is not None

    @tracing.traced_event()
    async def on_connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        return None

    async def connect_from(peer: str) -> int:
        trace_id = uuid.uuid4().int >> 1
        environ = {"HTTP_TRACEPARENT": f"00-{trace_id:032x}-00f067aa0ba902b7-01",
                   "asgi.scope": {"type": "websocket", "client": (peer, 5000)}}
        await on_connect("sid", environ, None)
        return trace_id

    foreign = await connect_from("203.0.113.9")
    state.trusted_sources = (ipaddress.ip_network("198.51.100.0/24"),)
    proxied = await connect_from("198.51.100.20")
    first, second = traced_process.get_finished_spans()
    assert first.context.trace_id != foreign and first.parent is None
    assert second.context.trace_id == proxied and second.parent is not None


async def test_refused_connection_is_recorded_not_an_error(live_app: LiveApp) -> None:
    client = socketio.AsyncClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(live_app.url, namespaces=[LIVE], transports=["websocket"],
                             auth={"token": "not-a-token"}, wait_timeout=5)
    await asyncio.sleep(0.1)
    [connect] = [s for s in live_app.spans() if s.name == f"socketio {LIVE} connect"]
    assert (connect.attributes or {})["socketio.refused"] is True
    assert connect.status.status_code.name == "UNSET"


async def test_live_connections_gauge_follows_connects_and_disconnects(live_app: LiveApp) -> None:
    before = _live_connections()
    clients = [socketio.AsyncClient() for _ in range(3)]
    for c in clients:
        await c.connect(live_app.url, namespaces=[LIVE], transports=["websocket"])
    await asyncio.sleep(0.1)
    assert _live_connections() == before + 3
    for c in clients:
        await c.disconnect()
    for _ in range(50):
        if _live_connections() == before:
            break
        await asyncio.sleep(0.05)
    assert _live_connections() == before


async def test_relayed_events_are_counted_with_their_fanout_delay(live_app: LiveApp) -> None:
    def published(event: str) -> float:
        return metrics.REGISTRY.get_sample_value("edustream_events_published_total", {"event": event}) or 0.0

    def delays(event: str) -> float:
        return metrics.REGISTRY.get_sample_value("edustream_event_fanout_delay_seconds_count",
                                                 {"event": event}) or 0.0

    before, before_delays = published("slots.changed"), delays("slots.changed")
    async with httpx.AsyncClient(base_url=live_app.url) as http:
        tutor_id = await _bookable_tutor(http)
        student = await register(http, role="student")
        r = await http.post("/api/v1/holds", headers=student["headers"], json={
            "tutor_id": tutor_id, "start": next_day_at(15).isoformat(), "minutes": 60})
        assert r.status_code == 201, r.text
    for _ in range(100):
        if published("slots.changed") > before:
            break
        await asyncio.sleep(0.05)
    assert published("slots.changed") > before
    assert delays("slots.changed") > before_delays
    total = metrics.REGISTRY.get_sample_value("edustream_event_fanout_delay_seconds_sum", {"event": "slots.changed"})
    assert total is not None and total >= 0

"""Tracing: spans from the real app, one trace across request, SQL, task and outbound call,
sampling, tracing off, and the exporters against local receivers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from taskiq import InMemoryBroker

from server import outbox
from server.db import unit_of_work
from server.observability import tracing
from server.observability.taskiq import TracingMiddleware
from server.settings import Settings
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at
from tests.observability.conftest import Running, StartApp
from tests.observability.receivers import exported_spans, grpc_collector, parse_otlp_http, recording_server


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name!r} in {[s.name for s in spans]}"
    return found[0]


def _sql(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get("db.system") == "postgresql"]


def _ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    by_id = {s.context.span_id: s for s in spans}
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_hold_request_is_one_trace_with_its_sql_spans(
        running: Running, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [student] = await make_students(1)
    running.exporter.clear()

    r = await hold(running.client, student, tutor["id"], next_day_at(10))

    assert r.status_code == 201, r.text
    spans = running.spans()
    server = _one(spans, "POST /api/v1/holds")
    assert server.kind == SpanKind.SERVER
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/v1/holds"
    assert server.attributes["edustream.request_id"] == r.headers["x-request-id"]
    sql = _sql(spans)
    # The policy (on a cold cache), then the hold itself in one statement (place_hold(): locks,
    # checks, insert, history, version and outbox inside PostgreSQL).
    assert any("place_hold" in str((s.attributes or {}).get("db.statement", "")) for s in sql)
    assert {s.context.trace_id for s in sql} == {server.context.trace_id}
    assert all("POST /api/v1/holds" in _ancestors(s, spans) for s in sql)
    assert any("tutor_profiles" in str((s.attributes or {}).get("db.statement", "")) for s in sql)


async def test_server_spans_are_named_by_route_template_not_raw_path(running: Running) -> None:
    booking_id = uuid.uuid4()
    r = await running.client.get(f"/api/v1/bookings/{booking_id}")
    assert r.status_code == 401
    names = running.names()
    assert "GET /api/v1/bookings/{booking_id}" in names
    assert not any(str(booking_id) in n for n in names)


async def test_task_kicked_by_a_request_continues_its_trace_through_sql_and_outbound_call(
        running: Running, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    """request → SQL → (after commit) task via a real taskiq broker → task's SQL → outbound call."""
    tutor = await make_tutor()
    [student] = await make_students(1)
    broker = InMemoryBroker().with_middlewares(TracingMiddleware())
    done = asyncio.Event()

    with recording_server() as partner:

        @broker.task(task_name="tests.after_hold")
        async def after_hold(url: str) -> None:
            async with unit_of_work(running.app.state.sessionmaker) as session:
                await session.execute(text("SELECT count(*) FROM bookings"))
            async with httpx.AsyncClient() as c:
                await c.post(url, json={"ok": True})
            done.set()

        async def kick() -> None:
            await after_hold.kiq(f"{partner.url}/notify")

        kicked: list[asyncio.Task[None]] = []

        def on_commit() -> None:  # called in the request's context, after its commit
            kicked.append(asyncio.get_running_loop().create_task(kick()))

        await broker.startup()
        outbox.add_listener(on_commit)
        try:
            running.exporter.clear()
            r = await hold(running.client, student, tutor["id"], next_day_at(11))
            assert r.status_code == 201, r.text
            await asyncio.wait_for(done.wait(), 30)
            await asyncio.gather(*kicked)
        finally:
            outbox.remove_listener(on_commit)
            await broker.shutdown()

    spans = running.spans()
    server = _one(spans, "POST /api/v1/holds")
    enqueue = _one(spans, "enqueue tests.after_hold")
    task = _one(spans, "task tests.after_hold")
    outbound = [s for s in spans if s.kind == SpanKind.CLIENT and (s.attributes or {}).get("db.system") is None
                and s.name.startswith("POST")]
    assert len(outbound) == 1, [s.name for s in spans]
    trace_id = server.context.trace_id
    assert {enqueue.context.trace_id, task.context.trace_id, outbound[0].context.trace_id} == {trace_id}
    assert enqueue.kind == SpanKind.PRODUCER and task.kind == SpanKind.CONSUMER
    assert task.parent is not None and task.parent.span_id == enqueue.context.span_id
    assert _ancestors(task, spans)[-1] == "POST /api/v1/holds"
    task_sql = [s for s in _sql(spans) if "task tests.after_hold" in _ancestors(s, spans)]
    assert task_sql, "the task's own query is in the trace"
    assert outbound[0].parent is not None and outbound[0].parent.span_id == task.context.span_id
    # The partner received the W3C header naming the outbound span.
    [call] = partner.requests
    version, header_trace, header_parent, flags = call.headers["traceparent"].split("-")
    assert (version, header_trace, header_parent) == ("00", f"{trace_id:032x}", f"{outbound[0].context.span_id:016x}")
    assert int(flags, 16) & 0x01, "sampled flag set"


async def test_outbound_httpx_call_carries_traceparent(running: Running) -> None:
    with recording_server() as partner:
        with tracing.get_tracer().start_as_current_span("job") as parent:
            async with httpx.AsyncClient() as c:
                r = await c.get(f"{partner.url}/ping")
        assert r.status_code == 200
    client_span = _one(running.spans(), "GET")
    assert client_span.parent is not None and client_span.parent.span_id == parent.get_span_context().span_id
    [call] = partner.requests
    trace_id, span_id = call.headers["traceparent"].split("-")[1:3]
    assert trace_id == f"{parent.get_span_context().trace_id:032x}"
    assert span_id == f"{client_span.context.span_id:016x}"


async def test_incoming_traceparent_from_a_trusted_source_is_continued(start_traced: StartApp) -> None:
    trusted = await start_traced(tracing_trusted_sources=["127.0.0.0/8"])  # the ASGI test client's address
    trace_id = uuid.uuid4().hex
    r = await trusted.client.get("/healthz", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert r.status_code == 200
    server = _one(trusted.spans(), "GET /healthz")
    assert f"{server.context.trace_id:032x}" == trace_id
    assert server.parent is not None and server.parent.span_id == 0x00F067AA0BA902B7


async def test_incoming_traceparent_from_anyone_else_starts_a_new_trace(start_traced: StartApp) -> None:
    elsewhere = await start_traced(tracing_trusted_sources=["10.0.0.0/8"])
    trace_id = uuid.uuid4().hex
    r = await elsewhere.client.get("/healthz", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
                                                        "tracestate": "vendor=x", "baggage": "user=1"})
    assert r.status_code == 200
    server = _one(elsewhere.spans(), "GET /healthz")
    assert f"{server.context.trace_id:032x}" != trace_id
    assert server.parent is None


async def test_untrusted_caller_cannot_force_sampling(start_traced: StartApp) -> None:
    unsampled = await start_traced(tracing_sample_rate=0.0)  # no trusted sources: the default
    r = await unsampled.client.get("/healthz", headers={"traceparent": f"00-{uuid.uuid4().hex}-00f067aa0ba902b7-01"})
    assert r.status_code == 200
    assert unsampled.spans() == []


def test_trusted_sources_must_be_addresses_or_networks() -> None:
    assert Settings(tracing_trusted_sources="10.0.0.0/8, 192.168.1.7").tracing_trusted_sources == [
        "10.0.0.0/8", "192.168.1.7"]
    with pytest.raises(ValueError, match="TRACING_TRUSTED_SOURCES"):
        Settings(tracing_trusted_sources="proxy.internal")


async def test_sample_rate_zero_records_no_spans(start_traced: StartApp,
                                                 make_students: StudentFactory) -> None:
    unsampled = await start_traced(tracing_sample_rate=0.0)
    [student] = await make_students(1)
    for _ in range(5):
        r = await unsampled.client.get("/api/v1/bookings", headers=student["headers"])
        assert r.status_code == 200
    assert unsampled.spans() == []


async def test_sampled_parent_is_followed_even_at_rate_zero(start_traced: StartApp) -> None:
    """ParentBased: the caller's decision wins, so a trace is never cut in half."""
    unsampled = await start_traced(tracing_sample_rate=0.0, tracing_trusted_sources=["127.0.0.1"])
    r = await unsampled.client.get("/healthz", headers={"traceparent": f"00-{uuid.uuid4().hex}-00f067aa0ba902b7-01"})
    assert r.status_code == 200
    assert unsampled.names() == ["GET /healthz"]


def test_sample_rate_keeps_that_share_of_traces() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.make_sampler(0.25))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for _ in range(2000):
        with tracer.start_as_current_span("root", kind=SpanKind.SERVER):
            with tracer.start_as_current_span("child"):
                pass
    roots = [s for s in exporter.get_finished_spans() if s.name == "root"]
    children = [s for s in exporter.get_finished_spans() if s.name == "child"]
    assert 0.2 * 2000 < len(roots) < 0.3 * 2000
    assert len(children) == len(roots)  # whole traces kept or dropped


def test_client_spans_without_a_parent_start_no_trace() -> None:
    """A worker's broker polls and pool pings outside any request or task are not traces."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.make_sampler(1.0))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("XREADGROUP", kind=SpanKind.CLIENT):
        pass
    with tracer.start_as_current_span("task", kind=SpanKind.CONSUMER):
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
            pass
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["SELECT", "task"]


def test_sample_rate_defaults_to_full_in_development_and_a_tenth_in_production() -> None:
    common: dict[str, Any] = {"tracing_enabled": True, "tracing_exporter": "console"}
    production = Settings(environment="production", secret_key="s" * 40, database_url="postgresql://x/y",
                          redis_url="redis://x", stripe_secret_key="sk_live_x", stripe_webhook_secret="whsec_x",
                          metrics_token="m" * 32, **common)
    try:
        assert (dev := tracing.setup_tracing(Settings(environment="development", **common))) is not None
        assert dev.sample_rate == 1.0
        assert (prod := tracing.setup_tracing(production)) is not None
        assert prod.sample_rate == 0.1
        assert "0.1" in prod.provider.sampler.get_description()
    finally:
        tracing.shutdown_tracing()


async def test_tracing_off_installs_nothing_and_adds_no_spans(start_traced: StartApp,
                                                              make_students: StudentFactory) -> None:
    off = await start_traced(tracing_enabled=False)
    [student] = await make_students(1)

    r = await off.client.get("/api/v1/bookings", headers=student["headers"])

    assert r.status_code == 200 and r.headers["x-request-id"]
    assert tracing.current() is None
    assert isinstance(tracing.get_tracer(), trace.NoOpTracer)
    assert not any(m.cls.__name__ == "OpenTelemetryMiddleware" for m in off.app.user_middleware)
    for instrumentor in (HTTPXClientInstrumentor(), RedisInstrumentor(), SQLAlchemyInstrumentor()):
        assert not instrumentor.is_instrumented_by_opentelemetry, instrumentor
    with recording_server() as partner:
        async with httpx.AsyncClient() as c:
            await c.get(f"{partner.url}/ping")
    assert "traceparent" not in partner.requests[0].headers
    assert off.spans() == []


async def test_otlp_exporter_delivers_spans_to_an_otlp_http_receiver(start_traced: StartApp) -> None:
    with recording_server() as collector:
        exported = await start_traced(tracing_exporter="otlp", otlp_endpoint=f"{collector.url}/v1/traces")
        assert tracing.current() is not None and tracing.current().target.protocol == "http"  # type: ignore[union-attr]
        r = await exported.client.get("/healthz")
        assert r.status_code == 200
        tracing.shutdown_tracing()  # flushes the batch processor
        collector.wait_for(lambda reqs: any(x.path == "/v1/traces" for x in reqs))
        spans = exported_spans(parse_otlp_http(collector.requests))
    assert {"service": "edustream-api", "name": "GET /healthz"}.items() <= next(
        s for s in spans if s["name"] == "GET /healthz").items()
    assert collector.requests[0].headers["content-type"] == "application/x-protobuf"


async def test_jaeger_exporter_sends_otlp_grpc_to_the_jaeger_host(start_traced: StartApp) -> None:
    with grpc_collector() as (port, collector):
        exported = await start_traced(tracing_exporter="jaeger", jaeger_agent_host="127.0.0.1",
                                      jaeger_agent_port=port)
        r = await exported.client.get("/healthz")
        assert r.status_code == 200
        tracing.shutdown_tracing()
        for _ in range(100):
            if collector.requests:
                break
            await asyncio.sleep(0.05)
        spans = exported_spans(collector.requests)
    assert [s["name"] for s in spans if s["service"] == "edustream-api"] == ["GET /healthz"]


@pytest.mark.parametrize(("overrides", "protocol", "endpoint"), [
    ({"tracing_exporter": "console"}, "console", ""),
    ({"tracing_exporter": "jaeger"}, "grpc", "http://localhost:4317"),
    ({"tracing_exporter": "jaeger", "jaeger_agent_host": "jaeger", "jaeger_agent_port": 6831},
     "grpc", "http://jaeger:4317"),
    ({"tracing_exporter": "jaeger", "jaeger_agent_host": "jaeger", "jaeger_agent_port": 4318},
     "http", "http://jaeger:4318/v1/traces"),
    ({"tracing_exporter": "jaeger", "jaeger_agent_host": "jaeger", "jaeger_agent_port": 14317},
     "grpc", "http://jaeger:14317"),
    ({"tracing_exporter": "otlp"}, "grpc", "http://localhost:4317"),
    ({"tracing_exporter": "otlp", "otlp_endpoint": "https://otel.example.com:4317"}, "grpc",
     "https://otel.example.com:4317"),
    ({"tracing_exporter": "otlp", "otlp_endpoint": "http://collector:4318"}, "http",
     "http://collector:4318/v1/traces"),
    ({"tracing_exporter": "otlp", "otlp_endpoint": "https://otel.example.com/otlp"}, "http",
     "https://otel.example.com/otlp/v1/traces"),
    ({"tracing_exporter": "otlp", "otlp_endpoint": "collector:4317"}, "grpc", "http://collector:4317"),
])
def test_exporter_is_chosen_by_tracing_exporter_and_endpoint(overrides: dict[str, Any], protocol: str,
                                                            endpoint: str) -> None:
    target = tracing.exporter_target(Settings(**overrides))
    assert (target.protocol, target.endpoint) == (protocol, endpoint)


def test_worker_and_scheduler_report_their_own_service_names() -> None:
    settings = Settings()
    assert [tracing.service_name_for(settings, p) for p in ("api", "worker", "scheduler")] == [
        "edustream-api", "edustream-worker", "edustream-scheduler"]
    custom = Settings(tracing_service_name="tutoring")
    assert tracing.service_name_for(custom, "worker") == "tutoring-worker"

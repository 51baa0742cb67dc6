"""The taskiq middleware with a real taskiq broker (in memory): context in labels, task spans,
failures, retries, metrics and log fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from taskiq import Context, InMemoryBroker, TaskiqDepends

from server.observability import metrics, tracing
from server.observability.logging import configure_logging
from server.observability.taskiq import TracingMiddleware
from tests.conftest import make_settings

seen: dict[str, Any] = {}


@pytest.fixture
async def broker() -> AsyncIterator[InMemoryBroker]:
    broker = InMemoryBroker(await_inplace=True).with_middlewares(TracingMiddleware())

    @broker.task(task_name="probe.record")
    async def record(context: Context = TaskiqDepends()) -> None:
        seen["labels"] = dict(context.message.labels)
        seen["trace"] = tracing.current_ids()
        logging.getLogger("edustream.tasks.probe").info("probe ran")

    @broker.task(task_name="probe.fail")
    async def fail() -> None:
        raise RuntimeError("provider said no")

    seen.clear()
    await broker.startup()
    yield broker
    await broker.shutdown()


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_task_kicked_in_a_span_carries_its_context_in_labels(traced_process: InMemorySpanExporter,
                                                                   broker: InMemoryBroker) -> None:
    with tracing.get_tracer().start_as_current_span("request") as request_span:
        await broker.find_task("probe.record").kiq()  # type: ignore[union-attr]

    trace_id = f"{request_span.get_span_context().trace_id:032x}"
    assert seen["labels"]["traceparent"].split("-")[1] == trace_id
    assert seen["trace"][0] == trace_id
    spans = {s.name: s for s in traced_process.get_finished_spans()}
    enqueue, task = spans["enqueue probe.record"], spans["task probe.record"]
    assert enqueue.kind == SpanKind.PRODUCER and task.kind == SpanKind.CONSUMER
    assert enqueue.parent is not None and enqueue.parent.span_id == request_span.get_span_context().span_id
    assert task.parent is not None and task.parent.span_id == enqueue.context.span_id
    assert (task.attributes or {})["taskiq.task_name"] == "probe.record"


async def test_context_injected_when_scheduling_is_continued_later(traced_process: InMemorySpanExporter,
                                                                  broker: InMemoryBroker) -> None:
    """``schedule_by_time`` runs later in the scheduler, outside the request: the labels carry it."""
    with tracing.get_tracer().start_as_current_span("request") as request_span:
        labels = tracing.inject_context()
    assert set(labels) >= {"traceparent"}

    await broker.find_task("probe.record").kicker().with_labels(**labels).kiq()  # type: ignore[union-attr]

    assert seen["trace"][0] == f"{request_span.get_span_context().trace_id:032x}"
    enqueue = next(s for s in traced_process.get_finished_spans() if s.name == "enqueue probe.record")
    assert enqueue.parent is not None and enqueue.parent.span_id == request_span.get_span_context().span_id


async def test_extract_context_reads_what_inject_context_wrote(traced_process: InMemorySpanExporter) -> None:
    with tracing.get_tracer().start_as_current_span("origin") as origin:
        labels = tracing.inject_context()
    with tracing.get_tracer().start_as_current_span("later", context=tracing.extract_context(labels)) as later:
        pass
    assert later.get_span_context().trace_id == origin.get_span_context().trace_id


async def test_failed_task_marks_its_span_and_counts_a_failure(traced_process: InMemorySpanExporter,
                                                               broker: InMemoryBroker) -> None:
    runs, failures = _value("edustream_task_runs_total", task="probe.fail"), \
        _value("edustream_task_failures_total", task="probe.fail")

    await broker.find_task("probe.fail").kiq()  # type: ignore[union-attr]

    task = next(s for s in traced_process.get_finished_spans() if s.name == "task probe.fail")
    assert task.status.status_code == StatusCode.ERROR
    assert any(e.name == "exception" for e in task.events)
    assert _value("edustream_task_runs_total", task="probe.fail") == runs + 1
    assert _value("edustream_task_failures_total", task="probe.fail") == failures + 1


async def test_a_retry_attempt_is_counted_as_a_retry(traced_process: InMemorySpanExporter,
                                                     broker: InMemoryBroker) -> None:
    before = _value("edustream_task_retries_total", task="probe.record")
    await broker.find_task("probe.record").kicker().with_labels(_retries=2).kiq()  # type: ignore[union-attr]
    await broker.find_task("probe.record").kiq()  # type: ignore[union-attr]
    assert _value("edustream_task_retries_total", task="probe.record") == before + 1


async def test_task_log_lines_carry_task_id_and_trace_id(traced_process: InMemorySpanExporter,
                                                         broker: InMemoryBroker) -> None:
    stream = io.StringIO()
    configure_logging(make_settings(log_json=True), "worker", stream=stream)

    sent = await broker.find_task("probe.record").kiq()  # type: ignore[union-attr]

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    probe = next(line for line in lines if line["message"] == "probe ran")
    assert probe["task_id"] == sent.task_id and probe["task_name"] == "probe.record"
    assert probe["trace_id"] == seen["trace"][0] and probe["service"] == "worker"
    logging.getLogger("edustream.tasks.probe").info("after")
    assert "task_id" not in json.loads(stream.getvalue().splitlines()[-1])


async def test_without_tracing_the_labels_still_pass_an_upstream_context_on(broker: InMemoryBroker) -> None:
    tracing.shutdown_tracing()
    upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    await broker.find_task("probe.record").kicker().with_labels(traceparent=upstream).kiq()  # type: ignore[union-attr]

    assert seen["labels"]["traceparent"] == upstream

"""taskiq middleware: a span per task, W3C trace context carried in task labels, task metrics,
task errors to Sentry, and the task id on every log line the task writes.

One line on the broker: ``broker.add_middlewares(TracingMiddleware())``. Then a task kicked
while a request's span is current becomes part of that request's trace: ``pre_send`` opens
an ``enqueue <task>`` producer span and writes its ``traceparent`` into the message labels;
the worker's ``pre_execute`` continues that context with a ``task <task>`` consumer span.

Scheduled tasks (``schedule_by_time``) are kicked later by the scheduler, outside the
request: carry the context yourself with
``task.kicker().with_labels(**inject_context()).schedule_by_time(...)`` and the scheduler's
enqueue span continues the request's trace.
"""

from __future__ import annotations

import time
from contextvars import Token
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind, Status, StatusCode
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from server.observability import metrics, sentry
from server.observability.logging import bind, unbind
from server.observability.tracing import extract_context, get_tracer

_SPANS = "_observability_spans"
_TRACE_LABELS = ("traceparent", "tracestate")


@dataclass
class _Active:
    span: trace.Span
    context_token: object | None
    log_token: Token[Any] | None
    started: float


def _stash(message: TaskiqMessage, key: str, active: _Active) -> None:
    store = getattr(message, _SPANS, None)
    if store is None:
        store = {}
        # TaskiqMessage is a pydantic model: an undeclared attribute needs object.__setattr__.
        object.__setattr__(message, _SPANS, store)
    store[key] = active


def _unstash(message: TaskiqMessage, key: str) -> _Active | None:
    store = getattr(message, _SPANS, None)
    return store.pop(key, None) if store else None


def _retries(message: TaskiqMessage) -> int:
    try:
        return int(message.labels.get("_retries", 0) or 0)
    except (TypeError, ValueError):
        return 0


class TracingMiddleware(TaskiqMiddleware):
    """Spans, trace-context propagation, metrics and Sentry reports for every task."""

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        """Open the ``enqueue`` span and write its context into the labels."""
        current = trace.get_current_span().get_span_context()
        # Kicked inside a span: that is the parent. Otherwise (the scheduler) a context
        # stored in the labels when the task was scheduled.
        parent = None if current.is_valid else extract_context(message.labels)
        span = get_tracer().start_span(f"enqueue {message.task_name}", context=parent, kind=SpanKind.PRODUCER,
                                       attributes={"messaging.system": "taskiq",
                                                   "messaging.operation.type": "send",
                                                   "messaging.message.id": message.task_id,
                                                   "taskiq.task_name": message.task_name})
        for key in _TRACE_LABELS:
            message.labels.pop(key, None)
        # The enqueue span's context; when it is not a real span (tracing off here), pass on
        # whatever context there is, so a traced process further on can still continue it.
        ctx = trace.set_span_in_context(span, parent) if span.get_span_context().is_valid else parent
        message.labels.update(_headers(ctx))
        _stash(message, "send", _Active(span, None, None, time.perf_counter()))
        return message

    def post_send(self, message: TaskiqMessage) -> None:
        """Close the ``enqueue`` span."""
        active = _unstash(message, "send")
        if active is not None:
            active.span.end()

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        """Continue the trace from the labels, open the ``task`` span, bind the task id to logs."""
        parent = extract_context(message.labels)
        span = get_tracer().start_span(f"task {message.task_name}", context=parent, kind=SpanKind.CONSUMER,
                                       attributes={"messaging.system": "taskiq",
                                                   "messaging.operation.type": "process",
                                                   "messaging.message.id": message.task_id,
                                                   "taskiq.task_name": message.task_name,
                                                   "taskiq.retries": _retries(message)})
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        log_token = bind(task_id=message.task_id, task_name=message.task_name)
        _stash(message, "execute", _Active(span, token, log_token, time.perf_counter()))
        return message

    def on_error(self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException) -> None:
        """Mark the task span failed and report the exception to Sentry."""
        store = getattr(message, _SPANS, None) or {}
        active: _Active | None = store.get("execute")
        if active is not None and active.span.is_recording():
            active.span.record_exception(exception)
            active.span.set_status(Status(StatusCode.ERROR, str(exception)))
        sentry.capture_exception(exception, task_name=message.task_name, task_id=message.task_id,
                                 retries=str(_retries(message)))

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        """Close the ``task`` span, record the run, restore the context."""
        active = _unstash(message, "execute")
        metrics.task_finished(message.task_name,
                              time.perf_counter() - active.started if active else result.execution_time,
                              failed=result.is_err, retry=_retries(message) > 0)
        if active is None:
            return
        active.span.end()
        if active.log_token is not None:
            unbind(active.log_token)
        if active.context_token is not None:
            otel_context.detach(active.context_token)  # type: ignore[arg-type]


def _headers(ctx: otel_context.Context | None) -> dict[str, str]:
    """The W3C headers of ``ctx`` (the current context when ``None``)."""
    carrier: dict[str, str] = {}
    inject(carrier, context=ctx)
    return carrier

"""The tracing setup of this process: building and removing it, the tracer, and carrying
trace context across process boundaries (task labels, headers)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from server.observability.tracing.config import ExporterTarget, build_exporter, exporter_target, make_sampler

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger("edustream.tracing")

TRACER_NAME = "edustream"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Tracing:
    """The live tracing setup of this process (see :func:`setup_tracing`)."""

    provider: TracerProvider
    service_name: str
    sample_rate: float
    target: ExporterTarget
    tracer: trace.Tracer
    # Peers whose incoming trace context is continued (``TRACING_TRUSTED_SOURCES``).
    trusted_sources: tuple[Network, ...] = ()

    def trusts(self, address: str | None) -> bool:
        """Whether a request from ``address`` may continue its caller's trace."""
        if not address or not self.trusted_sources:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_sources)


_state: Tracing | None = None


def setup_tracing(settings: Settings, service_name: str | None = None) -> Tracing | None:
    """Configure tracing for this process from settings; returns ``None`` when it is off.

    Replaces any earlier setup of this process (its patches are removed first). Installs the
    Redis and httpx instrumentation; the HTTP app and SQLAlchemy engines are instrumented by
    :func:`instrument_app` / :func:`instrument_engine` as they are built.
    """
    shutdown_tracing()
    if not settings.tracing_enabled:
        return None
    name = service_name or settings.tracing_service_name
    rate = settings.effective_sample_rate
    resource = Resource.create({
        "service.name": name,
        "service.namespace": "edustream",
        "service.version": settings.release,
        "deployment.environment.name": settings.environment,
    })
    provider = TracerProvider(resource=resource, sampler=make_sampler(rate))
    target = exporter_target(settings)
    exporter = build_exporter(target)
    # Console output is for watching locally: print each span as it ends.
    processor = SimpleSpanProcessor(exporter) if target.protocol == "console" else BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)

    global _state
    _state = Tracing(provider=provider, service_name=name, sample_rate=rate, target=target,
                     tracer=provider.get_tracer(TRACER_NAME),
                     trusted_sources=tuple(ipaddress.ip_network(source, strict=False)
                                           for source in settings.tracing_trusted_sources))
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    log.info("tracing on: service=%s exporter=%s %s sample_rate=%s", name, target.protocol, target.endpoint, rate)
    return _state


def shutdown_tracing(handle: Tracing | None = None) -> None:
    """Flush and stop tracing and remove every instrumentation patch.

    With ``handle``, only when it is still the active setup (an app shutting down must not
    end a newer app's tracing)."""
    global _state
    state = _state
    if state is None or (handle is not None and handle is not state):
        return
    _state = None
    for instrumentor in (HTTPXClientInstrumentor(), RedisInstrumentor(), SQLAlchemyInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    state.provider.shutdown()


def current() -> Tracing | None:
    """The active tracing setup, or ``None`` when tracing is off."""
    return _state


def get_tracer() -> trace.Tracer:
    """Our tracer: the active provider's, or a no-op one when tracing is off."""
    state = _state
    return state.tracer if state is not None else trace.NoOpTracer()


def inject_context(carrier: MutableMapping[str, Any] | None = None) -> dict[str, str]:
    """The current W3C trace context (``traceparent``, ``tracestate``) as a dict, e.g. for
    task labels: ``task.kicker().with_labels(**inject_context()).schedule_by_time(...)``.
    Empty when there is no current span. Also written into ``carrier`` when given."""
    headers: dict[str, str] = {}
    inject(headers)
    if carrier is not None:
        carrier.update(headers)
    return headers


def extract_context(labels: Mapping[str, Any]) -> otel_context.Context:
    """The trace context carried in ``labels`` (task labels, headers), as a parent context."""
    return extract({k: str(v) for k, v in labels.items() if isinstance(v, str | bytes)})


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the current span, or ``None`` outside any span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def record_error(exc: BaseException) -> None:
    """Mark the current span as failed with ``exc`` (no-op outside a recording span)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc)))

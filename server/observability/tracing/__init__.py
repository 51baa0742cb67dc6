"""Distributed tracing with OpenTelemetry, configured only by settings.

One tracer provider per process (API, worker, scheduler), built by :func:`setup_tracing`
from ``TRACING_*``, ``JAEGER_AGENT_*`` and ``OTLP_ENDPOINT``. With ``TRACING_ENABLED=false``
nothing is installed: no provider, no instrumentation, no spans.

The provider is deliberately *not* installed as OpenTelemetry's global provider (which can
be set only once per process): every instrumentation gets it explicitly, and code of ours
asks :func:`get_tracer`. That keeps ``setup_tracing`` repeatable (tests build several apps
in one process) and :func:`shutdown_tracing` complete (it removes every patch it made).

Hooks other packages use (each a one-liner where it is needed):

* :func:`instrument_app` (the API factory), :func:`instrument_engine` (``server.db``),
* :func:`traced_event` (Socket.IO handlers), ``server.observability.taskiq.TracingMiddleware``,
* :func:`inject_context` / :func:`extract_context` to carry W3C trace context in task labels.

Modules: ``config`` (exporters, sampling), ``state`` (setup, the tracer, context
propagation), ``instrument`` (HTTP app and engines), ``sockets`` (Socket.IO handlers).
"""

from __future__ import annotations

from server.observability.tracing.config import (
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    ExporterTarget,
    Process,
    build_exporter,
    exporter_target,
    make_sampler,
    service_name_for,
)
from server.observability.tracing.instrument import (
    TRACE_CONTEXT_HEADERS,
    UntrustedTraceContextFilter,
    instrument_app,
    instrument_engine,
)
from server.observability.tracing.sockets import traced_dispatch, traced_event
from server.observability.tracing.state import (
    TRACER_NAME,
    Tracing,
    current,
    current_ids,
    extract_context,
    get_tracer,
    inject_context,
    record_error,
    setup_tracing,
    shutdown_tracing,
)

__all__ = [
    "OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "TRACER_NAME", "TRACE_CONTEXT_HEADERS", "ExporterTarget", "Process",
    "Tracing", "UntrustedTraceContextFilter", "build_exporter", "current", "current_ids", "exporter_target",
    "extract_context", "get_tracer", "inject_context", "instrument_app", "instrument_engine", "make_sampler",
    "record_error", "service_name_for", "setup_tracing", "shutdown_tracing", "traced_dispatch", "traced_event",
]

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
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes
from socketio.exceptions import ConnectionRefusedError as _Refused

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

    from server.settings import Settings

log = logging.getLogger("edustream.tracing")

Process = Literal["api", "worker", "scheduler"]
P = ParamSpec("P")
R = TypeVar("R")

# Ports of the retired Jaeger agent (UDP Thrift compact/binary, and the old zipkin one).
_LEGACY_JAEGER_AGENT_PORTS = frozenset({5775, 6831, 6832})
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
TRACER_NAME = "edustream"


@dataclass(frozen=True)
class ExporterTarget:
    """Where spans go: ``protocol`` is ``grpc`` or ``http`` (OTLP) or ``console``."""

    protocol: Literal["grpc", "http", "console"]
    endpoint: str = ""


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


# --- configuration ------------------------------------------------------------------------


def service_name_for(settings: Settings, process: Process = "api") -> str:
    """The service name a process reports: ``TRACING_SERVICE_NAME`` for the API; the worker
    and scheduler swap its ``-api`` suffix (``edustream-worker``, ``edustream-scheduler``)."""
    base = settings.tracing_service_name
    if process == "api":
        return base
    return f"{base.removesuffix('-api')}-{process}"


def _otlp_target(url: str) -> ExporterTarget:
    """OTLP/HTTP when the URL names port 4318 or a path (``…/v1/traces``); gRPC otherwise."""
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path or parts.port == OTLP_HTTP_PORT:
        if not path.endswith("/v1/traces"):
            path = f"{path}/v1/traces"
        return ExporterTarget("http", f"{parts.scheme}://{parts.netloc}{path}")
    return ExporterTarget("grpc", f"{parts.scheme}://{parts.netloc}")


def exporter_target(settings: Settings) -> ExporterTarget:
    """Resolve ``TRACING_EXPORTER`` to a concrete destination.

    * ``console``: spans printed on stdout.
    * ``otlp``: ``OTLP_ENDPOINT`` (gRPC, or OTLP/HTTP for port 4318 or a URL with a path).
    * ``jaeger``: OTLP to ``JAEGER_AGENT_HOST`` (Jaeger ingests OTLP natively since 1.35;
      the Thrift agent is retired). ``JAEGER_AGENT_PORT`` at its legacy default (6831, or
      the other old agent ports 5775/6832) means Jaeger's OTLP gRPC port 4317; any other
      value is taken as the OTLP port on that host: 4318 speaks OTLP/HTTP, anything else gRPC
      (a remapped 4317).
    """
    if settings.tracing_exporter == "console":
        return ExporterTarget("console")
    if settings.tracing_exporter == "otlp":
        return _otlp_target(settings.otlp_endpoint)
    host, port = settings.jaeger_agent_host, settings.jaeger_agent_port
    if port in _LEGACY_JAEGER_AGENT_PORTS:
        port = OTLP_GRPC_PORT
    if port == OTLP_HTTP_PORT:
        return ExporterTarget("http", f"http://{host}:{port}/v1/traces")
    return ExporterTarget("grpc", f"http://{host}:{port}")


def _build_exporter(target: ExporterTarget) -> SpanExporter:
    if target.protocol == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if target.protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=target.endpoint, timeout=10)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=target.endpoint, insecure=not target.endpoint.startswith("https://"), timeout=10)


class _NoOrphanClientSpans(Sampler):
    """Root sampler: ``TraceIdRatioBased(rate)``, except that a *client* span with no parent
    (a worker's broker poll, a pool ping at start-up: database or Redis chatter outside any
    request or task) never starts a trace of its own. Inside a sampled trace they are kept."""

    def __init__(self, rate: float) -> None:
        self._ratio = TraceIdRatioBased(rate)

    def should_sample(self, parent_context: otel_context.Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None, trace_state: trace.TraceState | None = None,
                      ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NoOrphanClientSpans{{{self._ratio.get_description()}}}"


def make_sampler(rate: float) -> Sampler:
    """``ParentBased(root=TraceIdRatioBased(rate))``: a trace is kept or dropped as a whole,
    decided once at its root (the request or task that started it)."""
    return ParentBased(root=_NoOrphanClientSpans(min(max(rate, 0.0), 1.0)))


# --- lifecycle ----------------------------------------------------------------------------


def setup_tracing(settings: Settings, service_name: str | None = None) -> Tracing | None:
    """Configure tracing for this process from settings; returns ``None`` when it is off.

    Replaces any earlier setup of this process (its patches are removed first). Installs the
    Redis and httpx instrumentation; the HTTP app and SQLAlchemy engines are instrumented by
    :func:`instrument_app` / :func:`instrument_engine` as they are built.
    """
    shutdown_tracing()
    if not settings.tracing_enabled:
        return None
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

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
    exporter = _build_exporter(target)
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
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

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


# --- instrumentation hooks ----------------------------------------------------------------


def _route_template(scope: Mapping[str, Any]) -> str | None:
    from starlette.routing import Match

    app = scope.get("app")
    for route in getattr(app, "routes", ()):
        match, _ = route.matches(scope)
        if match != Match.NONE:
            return getattr(route, "path", None)
    return None


def _span_details(scope: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Server span name: ``METHOD /route/{template}`` (never the raw path: ids would explode
    the number of distinct names)."""
    route = _route_template(scope)
    method = str(scope.get("method", ""))
    if route is None:
        return method or "HTTP", {}
    return f"{method} {route}".strip(), {"http.route": route}


# W3C trace context and baggage: what a caller can use to join (and steer the sampling of) our traces.
TRACE_CONTEXT_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


class UntrustedTraceContextFilter:
    """ASGI middleware outside the OpenTelemetry one: drops incoming trace context headers unless
    the peer is one of ``TRACING_TRUSTED_SOURCES``. An untrusted caller's request then starts a
    new trace under our own sampling decision: it cannot force sampling (cost) or attach its
    spans to our traces."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            headers = scope.get("headers", [])
            if not self.tracing.trusts(client[0] if client else None) and any(
                    name in TRACE_CONTEXT_HEADERS for name, _ in headers):
                scope = {**scope, "headers": [(n, v) for n, v in headers if n not in TRACE_CONTEXT_HEADERS]}
        await self.app(scope, receive, send)


def instrument_app(app: Starlette) -> None:
    """Wrap a Starlette app in the OpenTelemetry ASGI middleware (outermost); no-op when off.

    Incoming ``traceparent`` headers are honoured only from ``TRACING_TRUSTED_SOURCES``; spans
    are named by route template; ``/metrics`` scrapes are not traced. Call before the app serves
    its first request."""
    state = _state
    if state is None:
        return
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app.add_middleware(OpenTelemetryMiddleware, excluded_urls="/metrics$", default_span_details=_span_details,
                       tracer_provider=state.provider, exclude_spans=["receive", "send"])
    # Added last, so it runs first.
    app.add_middleware(UntrustedTraceContextFilter, tracing=state)


def instrument_engine(engine: AsyncEngine) -> None:
    """Trace the SQL of ``engine`` (no-op when tracing is off).

    ``skip_dep_check``: the instrumentation declares ``sqlalchemy<2.1`` and without it
    silently does nothing on our SQLAlchemy 2.1."""
    state = _state
    if state is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(engine=engine.sync_engine, tracer_provider=state.provider, skip_dep_check=True)
        return
    # A second engine in the same process: the instrumentor is a singleton that refuses a
    # second instrument() call, so attach its engine tracer directly (uninstrument removes both).
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeter

    tracer = state.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    EngineTracer(tracer, engine.sync_engine, NoOpMeter("edustream").create_up_down_counter("db.client.connections"))


# --- context propagation ------------------------------------------------------------------


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


# --- Socket.IO ----------------------------------------------------------------------------


def _environ_context(state: Tracing, environ: Mapping[str, Any]) -> otel_context.Context | None:
    """The handshake's trace context, from a trusted peer only (as for HTTP requests)."""
    scope = environ.get("asgi.scope")
    client = scope.get("client") if isinstance(scope, Mapping) else None
    if not state.trusts(client[0] if client else None):
        return None
    carrier = {key[5:].lower(): value for key, value in environ.items()
               if key in ("HTTP_TRACEPARENT", "HTTP_TRACESTATE") and isinstance(value, str)}
    return extract(carrier) if carrier else None


async def _traced_call(state: Tracing, namespace: str, event: str, args: Sequence[Any],
                       call: Callable[[], Awaitable[R]]) -> R:
    """Run one Socket.IO event (``args`` = ``sid, ...``) inside a server span."""
    sid = args[0] if args else None
    parent = None
    if event == "connect" and len(args) > 1 and isinstance(args[1], Mapping):
        parent = _environ_context(state, args[1])
    attributes: dict[str, Any] = {"socketio.namespace": namespace, "socketio.event": event}
    if isinstance(sid, str):
        attributes["socketio.sid"] = sid
    with state.tracer.start_as_current_span(f"socketio {namespace} {event}", context=parent,
                                            kind=SpanKind.SERVER, attributes=attributes,
                                            record_exception=False, set_status_on_exception=False) as span:
        try:
            result = await call()
        except Exception as exc:
            if isinstance(exc, _Refused):
                # An expected refusal (bad credentials), not a server fault.
                span.set_attribute("socketio.refused", True)
            elif isinstance(getattr(exc, "status", None), int) and getattr(exc, "status", 500) < 500:
                span.set_attribute("socketio.error_code", str(getattr(exc, "code", type(exc).__name__)))
            else:
                record_error(exc)
            raise
        error = result.get("error") if isinstance(result, dict) else None
        if isinstance(error, dict) and "code" in error:
            # Error acks are the protocol's answers; only an internal error is our fault.
            span.set_attribute("socketio.error_code", str(error["code"]))
            if error["code"] == "internal_error":
                span.set_status(Status(StatusCode.ERROR, str(error.get("message", ""))))
        return result


def traced_event(name: str | None = None) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate one Socket.IO handler so each call is a span ``socketio <namespace> <event>``.

    Works on ``AsyncNamespace`` methods (``on_connect(self, sid, environ, auth)``,
    ``on_<event>(self, sid, data)``) and on plain ``@sio.on`` handlers (namespace ``/``
    unless the first argument is a namespace). The event name defaults to the function name
    without ``on_``. A connect handshake that carried a ``traceparent`` header continues that
    trace. A refused connection or a client error (``AppError`` below 500, error acks) is
    recorded as an attribute; anything else marks the span as failed.
    """

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        event = name or func.__name__.removeprefix("on_")
        signature = inspect.signature(func)

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            state = _state
            if state is None:
                return await func(*args, **kwargs)
            # python-socketio retries a legacy disconnect handler with fewer arguments on
            # TypeError: let a signature mismatch through untraced so the retry is the one span.
            signature.bind(*args, **kwargs)
            owner = args[0] if args and isinstance(getattr(args[0], "namespace", None), str) else None
            namespace = getattr(owner, "namespace", None) or "/"
            return await _traced_call(state, namespace, event, args[1:] if owner is not None else args,
                                      lambda: func(*args, **kwargs))

        return wrapper

    return decorate


def traced_dispatch(func: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Decorate an ``AsyncNamespace.trigger_event(self, event, *args)`` override: every event
    the namespace dispatches (connect and disconnect included) becomes a span, as with
    :func:`traced_event`."""

    @functools.wraps(func)
    async def wrapper(self: Any, event: str, *args: Any) -> R:
        state = _state
        if state is None:
            return await func(self, event, *args)
        namespace = getattr(self, "namespace", None) or "/"
        return await _traced_call(state, namespace, str(event), args, lambda: func(self, event, *args))

    return wrapper


def record_error(exc: BaseException) -> None:
    """Mark the current span as failed with ``exc`` (no-op outside a recording span)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc)))

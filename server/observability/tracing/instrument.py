"""Hooks that trace the HTTP app and the database engines (no-ops while tracing is off)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from server.observability.tracing.state import Tracing, current

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from starlette.applications import Starlette


def _route_template(scope: Mapping[str, Any]) -> str | None:
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
    state = current()
    if state is None:
        return
    app.add_middleware(OpenTelemetryMiddleware, excluded_urls="/metrics$", default_span_details=_span_details,
                       tracer_provider=state.provider, exclude_spans=["receive", "send"])
    # Added last, so it runs first.
    app.add_middleware(UntrustedTraceContextFilter, tracing=state)


def instrument_engine(engine: AsyncEngine) -> None:
    """Trace the SQL of ``engine`` (no-op when tracing is off).

    ``skip_dep_check``: the instrumentation declares ``sqlalchemy<2.1`` and without it
    silently does nothing on our SQLAlchemy 2.1."""
    state = current()
    if state is None:
        return
    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(engine=engine.sync_engine, tracer_provider=state.provider, skip_dep_check=True)
        return
    # A second engine in the same process: the instrumentor is a singleton that refuses a
    # second instrument() call, so attach its engine tracer directly (uninstrument removes both).
    tracer = state.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    EngineTracer(tracer, engine.sync_engine, NoOpMeter("edustream").create_up_down_counter("db.client.connections"))

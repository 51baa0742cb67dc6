"""The HTTP observability middleware: request id in logs, latency metrics, access log."""

from __future__ import annotations

import logging
import time

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.observability import metrics, sentry
from server.observability.logging import bind, unbind
from server.observability.tracing import current_ids

access_log = logging.getLogger("edustream.access")
# Probes and scrapes arrive every few seconds: keep them out of the INFO access log.
_QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


class ObservabilityMiddleware:
    """Bind the request id (set by ``RequestIdMiddleware``, which must run first) to every log
    line of the request and to its trace span; record the latency histogram by route
    template and status; write one access-log line per request."""

    def __init__(self, app: ASGIApp, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        token = bind(request_id=request_id)
        span = trace.get_current_span()
        if request_id and span.is_recording():
            span.set_attribute("edustream.request_id", request_id)
        ids = current_ids()
        sentry.tag_request(request_id=request_id, trace_id=ids[0] if ids else None)
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            # The router leaves the matched route in the scope; a 404 has none.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            metrics.observe_request(method, route, status, elapsed)
            if self.access_log_enabled:
                level = logging.DEBUG if scope.get("path") in _QUIET_PATHS else logging.INFO
                access_log.log(level, "%s %s %s %.1fms", method, scope.get("path", ""), status, elapsed * 1000,
                               extra={"method": method, "route": route, "status": status,
                                      "duration_ms": round(elapsed * 1000, 2)})
            unbind(token)

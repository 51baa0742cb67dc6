"""Observability for every EduStream process: traces, correlated logs, errors, metrics.

* API: ``create_app`` calls :func:`observe_app` (and lists ``ObservabilityMiddleware``
  right after ``RequestIdMiddleware``).
* Worker / scheduler: call ``setup_process(settings, "worker")`` (or ``"scheduler"``) once
  at start-up and add ``server.observability.taskiq.TracingMiddleware()`` to the broker.

Details and the settings involved: docs/observability.md.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.routing import Route

from server.observability.logging import configure_logging
from server.observability.metrics import metrics_endpoint, serve
from server.observability.sentry import setup_sentry
from server.observability.tracing import (
    Process,
    Tracing,
    instrument_app,
    service_name_for,
    setup_tracing,
    shutdown_tracing,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from server.settings import Settings


def setup_process(settings: Settings, process: Process) -> Tracing | None:
    """Logging, Sentry and tracing for one process (``api``, ``worker`` or
    ``scheduler``); returns the tracing handle (``None`` when tracing is off). The worker
    and scheduler also serve their metrics on ``WORKER_METRICS_PORT`` when it is set."""
    configure_logging(settings, process)
    setup_sentry(settings, process)
    if process != "api" and settings.worker_metrics_port > 0:
        try:
            serve(settings.worker_metrics_port, settings.worker_metrics_host, settings.metrics_token)
        except OSError as exc:
            # Several worker processes on one host: the first one serves (multiprocess
            # aggregation is not set up; give each process its own port if you need all).
            logging.getLogger("edustream.metrics").warning(
                "metrics port %s not served by this process: %s", settings.worker_metrics_port, exc)
    return setup_tracing(settings, service_name_for(settings, process))


def observe_app(app: Starlette, settings: Settings) -> None:
    """Everything the API app needs: process setup, the tracing middleware (outermost),
    ``GET /metrics`` and flushing spans at shutdown. Call once, right after building the app."""
    handle = setup_process(settings, "api")
    instrument_app(app)
    if settings.metrics_enabled:
        app.router.routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))

    async def flush_traces(app: Starlette) -> None:
        shutdown_tracing(handle)

    app.state.shutdown_hooks.append(flush_traces)


__all__ = ["configure_logging", "observe_app", "service_name_for", "setup_process", "setup_sentry",
           "setup_tracing", "shutdown_tracing"]

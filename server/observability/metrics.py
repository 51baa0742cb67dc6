"""Prometheus metrics: the names, the one-line hooks that feed them, and ``/metrics``.

Every process keeps its own numbers in :data:`REGISTRY`; the API serves them at
``/metrics`` and the worker/scheduler on ``WORKER_METRICS_PORT`` (:func:`serve`). Sum across
processes in queries (``sum(rate(edustream_holds_expired_total[5m]))``). Label values are
always bounded sets: route templates (never raw paths), event and task names.

Hooks: :func:`count_transition` and :func:`hold_conflicted` (the holds service; placed,
expired and converted count only once the change commits), :func:`connection_opened` /
:func:`connection_closed` (Socket.IO), :func:`event_published` (the outbox relay),
:func:`dead_lettered` (tasks); the HTTP middleware and the task middleware record requests
and task runs.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from http.server import ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    MetricsHandler,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

from models.booking import BookingStatus
from server.errors import error_response


class AfterCommit(Protocol):
    """Anything that can run work once its transaction commits (``server.db.Session``)."""

    def after_commit(self, callback: Callable[[], Awaitable[Any]], *, key: Hashable | None = None) -> None: ...

REGISTRY = CollectorRegistry(auto_describe=True)
NAMESPACE = "edustream"

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds", "HTTP request latency by route template, method and status.",
    ["method", "route", "status"], namespace=NAMESPACE, registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
HOLDS_PLACED = Counter("holds_placed", "Holds placed (committed).", namespace=NAMESPACE, registry=REGISTRY)
HOLDS_CONFLICTED = Counter("holds_conflicted", "Hold attempts refused because the slot was taken.",
                           namespace=NAMESPACE, registry=REGISTRY)
HOLDS_EXPIRED = Counter("holds_expired", "Holds that lapsed and were marked expired (committed).",
                        namespace=NAMESPACE, registry=REGISTRY)
HOLDS_CONVERTED = Counter("holds_converted", "Holds that became confirmed bookings (committed).",
                          namespace=NAMESPACE, registry=REGISTRY)
LIVE_CONNECTIONS = Gauge("live_connections", "Open Socket.IO connections on this process.",
                         namespace=NAMESPACE, registry=REGISTRY)
EVENTS_PUBLISHED = Counter("events_published", "Live events published to Socket.IO rooms, by event.",
                           ["event"], namespace=NAMESPACE, registry=REGISTRY)
EVENT_FANOUT_DELAY = Histogram(
    "event_fanout_delay_seconds", "Delay from commit (outbox row written) to the event being emitted.",
    ["event"], namespace=NAMESPACE, registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
TASK_RUNS = Counter("task_runs", "Background task executions, by task.", ["task"], namespace=NAMESPACE,
                    registry=REGISTRY)
TASK_FAILURES = Counter("task_failures", "Background task executions that raised, by task.", ["task"],
                        namespace=NAMESPACE, registry=REGISTRY)
TASK_RETRIES = Counter("task_retries", "Background task executions that were retries, by task.", ["task"],
                       namespace=NAMESPACE, registry=REGISTRY)
TASK_DURATION = Histogram("task_duration_seconds", "Background task execution time, by task.", ["task"],
                          namespace=NAMESPACE, registry=REGISTRY,
                          buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
REFUNDS_FAILED = Counter("refunds_failed", "Refunds given up (refund_failed): an admin must act.",
                         namespace=NAMESPACE, registry=REGISTRY)
DEAD_LETTERS = Counter("dead_letters", "Tasks given up after their last retry (dead-lettered), by task.",
                       ["task"], namespace=NAMESPACE, registry=REGISTRY)


# --- hooks --------------------------------------------------------------------------------


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Record one HTTP request (``route`` is the template, e.g. ``/api/v1/holds/{hold_id}``)."""
    HTTP_REQUEST_DURATION.labels(method, route, str(status)).observe(seconds)


def hold_conflicted() -> None:
    """A hold attempt refused because the slot is taken (call where ``SlotUnavailable`` is raised)."""
    HOLDS_CONFLICTED.inc()


def connection_opened() -> None:
    """A Socket.IO client connected (call once the connection is accepted)."""
    LIVE_CONNECTIONS.inc()


def connection_closed() -> None:
    """A connected Socket.IO client went away."""
    LIVE_CONNECTIONS.dec()


def event_published(event: str, delay_seconds: float | None = None, count: int = 1) -> None:
    """``count`` live events of one kind emitted; ``delay_seconds`` from commit to emit."""
    EVENTS_PUBLISHED.labels(event).inc(count)
    if delay_seconds is not None:
        EVENT_FANOUT_DELAY.labels(event).observe(max(delay_seconds, 0.0))


def events_relayed(rows: Sequence[Mapping[str, Any]], publish_seconds: float = 0.0) -> None:
    """A batch of outbox rows published: counts by ``row["event"]``; when rows carry ``age``
    (seconds from the change's transaction to the claim), observes ``age + publish_seconds``
    as the fan-out delay."""
    counts: dict[str, int] = {}
    for row in rows:
        event = row["event"]
        counts[event] = counts.get(event, 0) + 1
        age = row.get("age")
        if age is not None:
            EVENT_FANOUT_DELAY.labels(event).observe(max(float(age) + publish_seconds, 0.0))
    for event, count in counts.items():
        EVENTS_PUBLISHED.labels(event).inc(count)


def task_finished(task: str, seconds: float, *, failed: bool, retry: bool) -> None:
    """One task execution (the task middleware calls this)."""
    TASK_RUNS.labels(task).inc()
    TASK_DURATION.labels(task).observe(seconds)
    if failed:
        TASK_FAILURES.labels(task).inc()
    if retry:
        TASK_RETRIES.labels(task).inc()


def refund_failed(session: AfterCommit) -> None:
    """A refund was given up (``payment_status = refund_failed``), counted once ``session``
    commits; alert on any increase."""
    async def increment() -> None:
        REFUNDS_FAILED.inc()

    session.after_commit(increment)


def dead_lettered(task: str) -> None:
    """A task was given up and written to ``dead_letters``."""
    DEAD_LETTERS.labels(task).inc()


# --- booking transitions, counted after commit ----------------------------------------------


def _hold_counter(from_status: str | None, to_status: str | None) -> Counter | None:
    if to_status == BookingStatus.HELD and from_status is None:
        return HOLDS_PLACED
    if to_status == BookingStatus.EXPIRED and from_status == BookingStatus.HELD:
        return HOLDS_EXPIRED
    if to_status == BookingStatus.CONFIRMED and from_status in (BookingStatus.HELD, BookingStatus.EXPIRED):
        return HOLDS_CONVERTED
    return None


def count_transition(session: AfterCommit, from_status: str | None, to_status: str | None,
                     count: int = 1) -> None:
    """Count a booking status change once ``session``'s unit of work commits (a rollback counts
    nothing): ``None → held`` is a hold placed, ``held → expired`` expired, ``held/expired →
    confirmed`` converted; other changes are not hold metrics. Call it wherever a
    ``booking_events`` row is recorded."""
    counter = _hold_counter(from_status, to_status)
    if counter is None or count <= 0:
        return
    async def increment() -> None:
        counter.inc(count)

    session.after_commit(increment)


# --- reading this process's numbers ---------------------------------------------------------


def live_counts() -> dict[str, int]:
    """This process's hold conflicts, holds placed (both since it started) and open Socket.IO
    connections, for the admin overview (Prometheus sums them across processes)."""
    def value(name: str) -> int:
        return int(REGISTRY.get_sample_value(name) or 0)

    return {"holds_conflicted_total": value(f"{NAMESPACE}_holds_conflicted_total"),
            "holds_placed_total": value(f"{NAMESPACE}_holds_placed_total"),
            "live_connections": value(f"{NAMESPACE}_live_connections")}


# --- exposition ---------------------------------------------------------------------------


def render() -> tuple[bytes, str]:
    """The current metrics in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def token_accepted(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (always, when no token is set)."""
    if not token:
        return True
    scheme, _, supplied = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode())


_UNAUTHORIZED_MESSAGE = "Metrics need 'Authorization: Bearer <METRICS_TOKEN>'."


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``. With ``METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``."""
    if not token_accepted(request.headers.get("authorization"), request.app.state.settings.metrics_token):
        return error_response("not_authenticated", _UNAUTHORIZED_MESSAGE, 401,
                              headers={"WWW-Authenticate": "Bearer"})
    body, content_type = render()
    return Response(body, media_type=content_type)


class _GuardedMetricsHandler(MetricsHandler):
    """prometheus_client's handler behind the bearer token (``token`` is set per server)."""

    token = ""

    def do_GET(self) -> None:
        if not token_accepted(self.headers.get("Authorization"), self.token):
            body = error_response("not_authenticated", _UNAUTHORIZED_MESSAGE, 401).body
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("WWW-Authenticate", "Bearer")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


def serve(port: int, host: str = "127.0.0.1", token: str = "") -> ThreadingHTTPServer:
    """Serve ``/metrics`` for a process without an HTTP server of its own (worker, scheduler),
    on a daemon thread, behind ``token`` when it is set. Loopback by default: a metrics port
    open to the network would show queue sizes and task names to anyone who can reach it."""
    handler = type("MetricsHandler", (_GuardedMetricsHandler,), {"registry": REGISTRY, "token": token})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server

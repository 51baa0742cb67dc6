"""``/metrics``: every metric name, request latency by route template, hold counters fed by the
real booking paths, the hooks for the live layer and tasks, and the optional token."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from server.bookings import holds
from server.db import unit_of_work
from server.observability import metrics
from server.settings import PROJECT_ROOT, Settings
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at
from tests.observability.conftest import Running, StartApp

NAMES = [
    "edustream_http_request_duration_seconds",
    "edustream_holds_placed_total", "edustream_holds_conflicted_total",
    "edustream_holds_expired_total", "edustream_holds_converted_total",
    "edustream_live_connections",
    "edustream_events_published_total", "edustream_event_fanout_delay_seconds",
    "edustream_task_runs_total", "edustream_task_failures_total", "edustream_task_retries_total",
    "edustream_task_duration_seconds", "edustream_dead_letters_total",
]


async def scrape(running: Running) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await running.client.get("/metrics")
    assert r.status_code == 200, r.text
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_endpoint_lists_every_metric_in_prometheus_text_format(running: Running) -> None:
    r = await running.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    for name in NAMES:
        assert re.search(rf"^# TYPE {name.removesuffix('_total')}(_total)? ", r.text, re.MULTILINE), name


async def test_request_latency_is_recorded_by_route_template_method_and_status(running: Running) -> None:
    before = await scrape(running)
    for _ in range(3):
        r = await running.client.get(f"/api/v1/bookings/{uuid.uuid4()}")
        assert r.status_code == 401
    r = await running.client.get("/no/such/path/123")
    assert r.status_code == 404
    after = await scrape(running)

    labels = {"method": "GET", "route": "/api/v1/bookings/{booking_id}", "status": "401"}
    name = "edustream_http_request_duration_seconds_count"
    assert value(after, name, **labels) == value(before, name, **labels) + 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, name, **unmatched) == value(before, name, **unmatched) + 1
    routes = {dict(labels_).get("route", "") for sample, labels_ in after if sample == name}
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", route) for route in routes), routes


async def test_holds_placed_and_conflicted_are_counted(running: Running, make_tutor: TutorFactory,
                                                       make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    first, second = await make_students(2)
    before = await scrape(running)

    assert (await hold(running.client, first, tutor["id"], next_day_at(9))).status_code == 201
    assert (await hold(running.client, second, tutor["id"], next_day_at(9))).status_code == 409

    after = await scrape(running)
    assert value(after, "edustream_holds_placed_total") == value(before, "edustream_holds_placed_total") + 1
    assert value(after, "edustream_holds_conflicted_total") == value(before, "edustream_holds_conflicted_total") + 1


async def test_a_paid_hold_is_counted_as_converted(running: Running, make_tutor: TutorFactory,
                                                   make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [student] = await make_students(1)
    booking = (await hold(running.client, student, tutor["id"], next_day_at(12))).json()
    before = await scrape(running)

    r = await running.client.post(f"/api/v1/bookings/{booking['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200, r.text
    r = await running.client.post("/api/v1/payments/test/confirm", headers=student["headers"],
                                  json={"booking_id": booking["id"]})
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text

    after = await scrape(running)
    assert value(after, "edustream_holds_converted_total") == value(before, "edustream_holds_converted_total") + 1


async def test_a_lapsed_hold_marked_expired_is_counted(running: Running, make_tutor: TutorFactory,
                                                       make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [student] = await make_students(1)
    booking = (await hold(running.client, student, tutor["id"], next_day_at(13))).json()
    before = await scrape(running)

    later = datetime.now(UTC) + timedelta(hours=1)
    async with unit_of_work(running.app.state.sessionmaker) as session:
        assert await holds.expire_hold(session, running.app.state.settings, uuid.UUID(booking["id"]),
                                       later) is not None

    after = await scrape(running)
    assert value(after, "edustream_holds_expired_total") == value(before, "edustream_holds_expired_total") + 1


async def test_a_rolled_back_hold_counts_nothing(running: Running, make_tutor: TutorFactory,
                                                 make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    [student] = await make_students(1)
    before = metrics.HOLDS_PLACED._value.get()

    with pytest.raises(RuntimeError):
        async with unit_of_work(running.app.state.sessionmaker) as session:
            await session.connection()  # a transaction is open: the hold joins it instead of committing alone
            await holds.place_hold(session, running.app.state.settings, uuid.UUID(student["id"]),
                                   uuid.UUID(tutor["id"]), next_day_at(14), 60, datetime.now(UTC))
            raise RuntimeError("abort after the insert")

    assert metrics.HOLDS_PLACED._value.get() == before


async def test_live_and_task_hooks_feed_their_metrics(running: Running) -> None:
    before = await scrape(running)
    metrics.connection_opened()
    metrics.connection_opened()
    metrics.connection_closed()
    metrics.event_published("slots.changed", delay_seconds=0.004)
    metrics.event_published("booking.updated", count=2)
    metrics.dead_lettered("payments.refund")
    after = await scrape(running)

    assert value(after, "edustream_live_connections") == value(before, "edustream_live_connections") + 1
    published = "edustream_events_published_total"
    assert value(after, published, event="slots.changed") == value(before, published, event="slots.changed") + 1
    assert value(after, published, event="booking.updated") == value(before, published, event="booking.updated") + 2
    delay = "edustream_event_fanout_delay_seconds_count"
    assert value(after, delay, event="slots.changed") == value(before, delay, event="slots.changed") + 1
    dead = "edustream_dead_letters_total"
    assert value(after, dead, task="payments.refund") == value(before, dead, task="payments.refund") + 1
    metrics.connection_closed()


async def test_metrics_need_the_token_when_one_is_set(start_traced: StartApp) -> None:
    guarded = await start_traced(metrics_token="scrape-secret")

    assert (await guarded.client.get("/metrics")).status_code == 401
    assert (await guarded.client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    r = await guarded.client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert r.status_code == 200 and "edustream_holds_placed_total" in r.text


async def test_metrics_can_be_switched_off(start_traced: StartApp) -> None:
    off = await start_traced(metrics_enabled=False)
    assert (await off.client.get("/metrics")).status_code == 404


def test_production_refuses_to_serve_metrics_without_a_token() -> None:
    production = {"environment": "production", "secret_key": "s" * 40, "database_url": "postgresql://x/y",
                  "redis_url": "redis://x", "stripe_secret_key": "sk_live_x", "stripe_webhook_secret": "whsec_x"}
    with pytest.raises(ValidationError, match="METRICS_TOKEN"):
        Settings(**production)
    with pytest.raises(ValidationError, match="METRICS_TOKEN"):
        Settings(**production, metrics_token="short")
    with pytest.raises(ValidationError, match="METRICS_TOKEN"):
        Settings(**production, metrics_enabled=False, worker_metrics_port=9100)
    assert Settings(**production, metrics_token="m" * 32).metrics_token
    assert Settings(**production, metrics_enabled=False).metrics_enabled is False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # UDP: nothing is sent; picks the outward interface
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") else address


async def _get(url: str, token: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})


async def test_worker_metrics_listen_on_loopback_and_need_the_token() -> None:
    """The worker's metrics server, started the way ``edustream worker`` starts it."""
    port, token = _free_port(), "worker-scrape-secret"
    script = ("import sys; from server.observability import setup_process; from server.settings import Settings; "
              f"setup_process(Settings(worker_metrics_port={port}, metrics_token={token!r}), 'worker'); "
              "print('ready', flush=True); sys.stdin.read()")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, cwd=PROJECT_ROOT)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert line.strip() == b"ready"
        url = f"http://127.0.0.1:{port}/metrics"
        assert (await _get(url)).status_code == 401
        assert (await _get(url, "wrong")).status_code == 401
        r = await _get(url, token)
        assert r.status_code == 200 and "edustream_task_runs_total" in r.text
        elsewhere = _non_loopback_address()
        if elsewhere is not None:
            with pytest.raises(httpx.ConnectError):
                await _get(f"http://{elsewhere}:{port}/metrics", token)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), timeout=30)

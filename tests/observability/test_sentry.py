"""Sentry: errors reach a (local) Sentry ingest endpoint with environment, release, process and
trace id, and without personal data or credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sentry_sdk
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.observability.sentry import scrub_event, shutdown_sentry
from tests.observability.conftest import StartApp
from tests.observability.receivers import RecordingServer, recording_server

EMAIL = "alice.smith@example.com"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"


@pytest.fixture
def ingest() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server
    shutdown_sentry()


def _events(server: RecordingServer) -> list[dict[str, Any]]:
    events = []
    for request in server.requests:
        if not request.path.endswith("/envelope/"):
            continue
        lines = request.body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


async def test_unhandled_error_reaches_sentry_scrubbed_and_correlated(start_traced: StartApp,
                                                                      ingest: RecordingServer) -> None:
    running = await start_traced(sentry_dsn=f"http://publickey@127.0.0.1:{ingest.port}/42",
                                 sentry_environment="staging")

    async def explode(request: Request) -> Response:
        # Local variables are never sent (built here so that the source line Sentry sends as
        # context does not contain the value itself).
        password = "".join(["hun", "ter2"])  # noqa: F841
        raise RuntimeError(f"payment failed for {EMAIL} with Bearer {JWT}")

    running.app.router.routes.append(Route("/test-explode", explode))
    transport = httpx.ASGITransport(app=running.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.get(f"/test-explode?email={EMAIL}", headers={
            "Authorization": f"Bearer {JWT}", "Cookie": f"es_access={JWT}; es_csrf=abc", "X-CSRF-Token": "abc",
            "User-Agent": "pytest", "X-Request-ID": "req-sentry-1"})
    assert r.status_code == 500
    sentry_sdk.flush(timeout=5)
    ingest.wait_for(lambda reqs: bool(_events(ingest)))

    [event] = _events(ingest)
    raw = json.dumps(event)
    assert event["environment"] == "staging" and event["release"] == "edustream@0.1.0"
    assert event["tags"]["process"] == "api" and event["tags"]["request_id"] == "req-sentry-1"
    [server] = [s for s in running.spans() if s.name == "GET /test-explode"]
    assert event["tags"]["trace_id"] == f"{server.context.trace_id:032x}"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert EMAIL not in raw and "alice.smith" not in raw
    assert JWT not in raw and "hunter2" not in raw and "es_access" not in raw
    assert "cookies" not in event.get("request", {})
    headers = {k.lower() for k, _ in (event["request"]["headers"].items()
                                       if isinstance(event["request"]["headers"], dict)
                                       else event["request"]["headers"])}
    assert "authorization" not in headers and "cookie" not in headers and "x-csrf-token" not in headers
    assert "user-agent" in headers
    assert event["request"]["query_string"] == "email=[email]"
    assert not any("vars" in frame for value in event["exception"]["values"]
                   for frame in value["stacktrace"]["frames"]), "local variables are never sent"


def test_scrub_event_removes_personal_data_and_credentials() -> None:
    event = {
        "message": f"could not email {EMAIL}",
        "user": {"id": "u-1", "email": EMAIL, "ip_address": "203.0.113.9", "username": "alice"},
        "request": {"url": "http://api/x", "query_string": f"email={EMAIL}",
                    "headers": {"Authorization": f"Bearer {JWT}", "Cookie": "es_refresh=zzz",
                                "Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"},
                    "cookies": {"es_refresh": "zzz"}, "data": {"password": "x", "name": "Alice"},
                    "env": {"REMOTE_ADDR": "203.0.113.9"}},
        "exception": {"values": [{"type": "ValueError", "value": f"bad {EMAIL}", "stacktrace": {"frames": [
            {"vars": {"password": "'hunter2'", "access_token": f"'{JWT}'", "booking_id": "'b-1'",
                      "note": f"'{EMAIL}'"}}]}}]},
        "breadcrumbs": {"values": [{"message": f"sent mail to {EMAIL}", "data": {"to": EMAIL}}]},
        "extra": {"client_secret": "pi_secret_123", "count": 3},
    }

    out = scrub_event(event, {})

    raw = json.dumps(out)
    assert EMAIL not in raw and JWT not in raw and "hunter2" not in raw and "zzz" not in raw
    assert "203.0.113.9" not in raw and "pi_secret_123" not in raw and "Alice" not in raw
    assert out["user"] == {"id": "u-1"}
    assert out["request"]["headers"] == {"Content-Type": "application/json"}
    frame_vars = out["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert frame_vars["booking_id"] == "'b-1'" and frame_vars["password"] == "[Filtered]"
    assert out["extra"]["count"] == 3
    assert "[email]" in out["message"]


def test_sentry_stays_off_without_a_dsn(start_traced: StartApp) -> None:
    assert not sentry_sdk.get_client().is_active()

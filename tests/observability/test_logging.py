"""Structured logs: the trace id, span id and request id on the lines a request writes."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from server.observability.logging import bound, configure_logging
from tests.conftest import make_settings
from tests.observability.conftest import Running


def _json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_request_log_line_carries_trace_id_span_id_and_request_id(running: Running) -> None:
    stream = io.StringIO()
    configure_logging(make_settings(log_json=True), "api", stream=stream)

    r = await running.client.get("/api/v1/tutors", headers={"X-Request-ID": "req-abc-123"})

    assert r.headers["x-request-id"] == "req-abc-123"
    [server] = [s for s in running.spans() if s.name == "GET /api/v1/tutors"]
    [line] = [x for x in _json_lines(stream) if x["logger"] == "edustream.access"]
    assert line["trace_id"] == f"{server.context.trace_id:032x}"
    assert len(line["span_id"]) == 16
    assert line["request_id"] == "req-abc-123"
    assert line["service"] == "api" and line["level"] == "INFO"
    assert (line["route"], line["status"], line["method"]) == ("/api/v1/tutors", r.status_code, "GET")
    assert line["duration_ms"] >= 0


async def test_readable_format_shows_request_and_trace_ids(running: Running) -> None:
    stream = io.StringIO()
    configure_logging(make_settings(log_json=False), "api", stream=stream)

    r = await running.client.get(f"/api/v1/tutors/{'0' * 8}-0000-0000-0000-000000000000")

    [server] = [s for s in running.spans() if s.name.startswith("GET /api/v1/tutors/")]
    [line] = [x for x in stream.getvalue().splitlines() if "edustream.access" in x]
    assert f"req={r.headers['x-request-id']}" in line
    assert f"trace={server.context.trace_id:032x}" in line
    assert " api edustream.access " in line and "route=/api/v1/tutors/{tutor_id}" in line


def test_lines_outside_a_request_have_no_context_fields() -> None:
    stream = io.StringIO()
    configure_logging(make_settings(log_json=True), "scheduler", stream=stream)
    log = logging.getLogger("edustream.test")

    log.info("tick")
    with bound(task_id="t-1"):
        log.warning("inside", extra={"booking_id": "b-1"})

    plain, inside = _json_lines(stream)
    assert "trace_id" not in plain and "request_id" not in plain and plain["service"] == "scheduler"
    assert inside["task_id"] == "t-1" and inside["booking_id"] == "b-1" and inside["level"] == "WARNING"


def test_exceptions_are_one_json_line_with_the_traceback() -> None:
    stream = io.StringIO()
    configure_logging(make_settings(log_json=True), "worker", stream=stream)
    try:
        raise ValueError("bad input")
    except ValueError:
        logging.getLogger("edustream.test").exception("failed")

    [line] = _json_lines(stream)
    assert line["message"] == "failed" and "ValueError: bad input" in line["exc"]


def test_configuring_twice_keeps_one_handler() -> None:
    configure_logging(make_settings(), "api", stream=io.StringIO())
    configure_logging(make_settings(), "api", stream=io.StringIO())
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_OurHandler"]
    assert len(ours) == 1

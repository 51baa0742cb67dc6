"""One trace across processes: an HTTP request in the API, its SQL, the task it enqueued, run by
a real taskiq worker process, that task's SQL and its outbound call, all exported over OTLP to
a local collector and joined by the W3C context carried in the task's labels."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from server.observability import tracing
from server.settings import Settings
from tests.observability.conftest import StartApp
from tests.observability.receivers import Received, exported_spans, parse_otlp_http, recording_server
from tests.tasks.conftest import Jobs, jobs, make_user

__all__ = ["jobs"]  # the fixture, imported for use here

pytestmark = pytest.mark.slow


async def test_request_sql_task_and_outbound_call_form_one_trace_across_processes(
        start_traced: StartApp, jobs: Callable[..., Awaitable[Jobs]], db: asyncpg.Pool,
        settings: Settings) -> None:
    with recording_server(reply=b'{"messageId": "<m1@brevo>"}') as brevo, recording_server() as collector:
        otlp = f"{collector.url}/v1/traces"
        group = await jobs(TRACING_ENABLED="true", TRACING_EXPORTER="otlp", OTLP_ENDPOINT=otlp,
                           TRACING_SAMPLE_RATE="1.0", BREVO_API_KEY="test-key", BREVO_API_BASE=brevo.url)
        api = await start_traced(tracing_exporter="otlp", otlp_endpoint=otlp, task_queue_name=group.queue,
                                 tracing_trusted_sources=["127.0.0.1"])  # the test client continues its trace
        admin = await make_user(db, settings, role="admin")
        student = await make_user(db, settings)
        letter_id = await db.fetchval(
            "INSERT INTO dead_letters (task_name, args, last_error, attempts) VALUES ($1, $2, 'boom', 5) "
            "RETURNING id", "email.send", json.dumps({"args": [student["id"], "welcome", {}], "kwargs": {}}))

        trace_id = uuid.uuid4().hex  # the caller's trace, so that we know which one to wait for
        r = await api.client.post(f"/api/v1/admin/dead-letters/{letter_id}/retry", headers={
            **admin["headers"], "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"})
        assert r.status_code == 202, r.text

        # (The integrations sweep may also welcome the new account, on a trace of its own.)
        def ours(x: Received) -> bool:
            return x.path == "/v3/smtp/email" and x.headers.get("traceparent", "").split("-")[1:2] == [trace_id]

        brevo.wait_for(lambda reqs: any(ours(x) for x in reqs), within=45)
        await group.stop()  # SIGTERM: the worker flushes its spans on the way out
        tracing.shutdown_tracing()  # and the API its own
        spans = exported_spans(parse_otlp_http(collector.requests))

    trace = [s for s in spans if s["trace_id"] == trace_id]
    request = next(s for s in trace if s["name"] == "POST /api/v1/admin/dead-letters/{letter_id}/retry")
    by_id = {s["span_id"]: s for s in trace}
    enqueue = next(s for s in trace if s["name"] == "enqueue email.send")
    task = next(s for s in trace if s["name"] == "task email.send")
    assert (request["service"], enqueue["service"], task["service"]) == (
        "edustream-api", "edustream-api", "edustream-worker")
    assert task["parent_id"] == enqueue["span_id"]

    def under(span: dict[str, str], ancestor: dict[str, str]) -> bool:
        while span["parent_id"] in by_id:
            span = by_id[span["parent_id"]]
            if span is ancestor:
                return True
        return False

    api_sql = [s for s in trace if s["service"] == "edustream-api" and under(s, request)
               and s["name"].split(" ")[0] in ("SELECT", "UPDATE", "INSERT", "BEGIN", "COMMIT")]
    worker_sql = [s for s in trace if s["service"] == "edustream-worker" and under(s, task)
                  and s["name"].split(" ")[0] in ("SELECT", "UPDATE", "INSERT")]
    outbound = [s for s in trace if s["service"] == "edustream-worker" and s["name"] == "POST" and under(s, task)]
    assert api_sql, "the request's SQL is in the trace"
    assert worker_sql, "the task's SQL is in the trace"
    assert len(outbound) == 1
    [call] = [x for x in brevo.requests if ours(x)]
    assert call.headers["traceparent"].split("-")[2] == outbound[0]["span_id"]
    assert call.headers["api-key"] == "test-key"

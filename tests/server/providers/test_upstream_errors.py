"""A provider's own words (S3 endpoint addresses, Stripe messages, Brevo/Zoom/Google bodies)
never reach a client: the provider layer answers with our messages and logs the original.
Storage that is not configured is a switched-off feature (404 ``feature_disabled``)."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.providers import http as provider_http
from tests.conftest import make_settings, start_app
from tests.fakes.stripe_api import FakeStripe
from tests.fixtures.bookings import hold, next_day_at
from tests.helpers import register

SECRET_WORDS = "No such customer: cus_Q1w2; account acct_9Z at 10.20.30.40"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def started(app: Starlette) -> AsyncIterator[Any]:
    """Start apps with other settings (``app`` first: it migrates and empties the database)."""
    stops: list[Any] = []

    async def start(**overrides: Any) -> httpx.AsyncClient:
        application, ctx = await start_app(make_settings(**overrides))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver")
        stops.append((client, ctx))
        return client

    yield start
    for client, ctx in reversed(stops):
        await client.aclose()
        await ctx.__aexit__(None, None, None)


async def test_storage_endpoints_without_s3_settings_are_feature_disabled(client: httpx.AsyncClient) -> None:
    tutor = await register(client, role="tutor")
    for method, path, body in [
        ("POST", "/api/v1/tutors/me/avatar/upload", {"content_type": "image/png"}),
        ("PUT", "/api/v1/tutors/me/avatar", {"key": f"avatars/{tutor['user']['id']}/a.png"}),
        ("GET", f"/api/v1/tutors/{tutor['user']['id']}/avatar", None),
    ]:
        r = await client.request(method, path, headers=tutor["headers"], json=body)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "feature_disabled", (path, r.text)


async def test_a_failing_store_answers_our_message_and_logs_its_own(started: Any,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    port = _closed_port()
    client = await started(s3_endpoint_url=f"http://127.0.0.1:{port}", s3_access_key_id="key",
                           s3_secret_access_key="secret", s3_bucket="internal-bucket-name")
    tutor = await register(client, role="tutor")
    r = await client.put("/api/v1/tutors/me", headers=tutor["headers"], json={
        "headline": "Maths", "bio": "Patient.", "subjects": ["mathematics"], "hourly_rate_cents": 6000,
        "currency": "USD", "timezone": "UTC", "lesson_minutes": [60], "min_notice_minutes": 0,
        "buffer_minutes": 0, "max_advance_days": 60})
    assert r.status_code == 200, r.text
    form = await client.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                             json={"content_type": "image/png"})
    assert form.status_code in (200, 201), form.text  # signed locally: the store is not asked yet
    with caplog.at_level(logging.WARNING, logger="edustream.providers"):
        r = await client.put("/api/v1/tutors/me/avatar", headers=tutor["headers"], json={"key": form.json()["key"]})
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == "storage_unavailable" and error["details"] is None
    for leaked in (str(port), "127.0.0.1", "internal-bucket-name", "endpoint"):
        assert leaked not in r.text
    assert any(str(port) in record.getMessage() for record in caplog.records), "the original is logged"


async def test_stripe_errors_reach_the_client_as_our_message(started: Any, make_students: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    fake = await FakeStripe().start()
    try:
        client = await started(stripe_secret_key="sk_test_fake", stripe_publishable_key="pk_test_fake",
                               stripe_webhook_secret="whsec_x", stripe_api_base=fake.url)
        tutor = await register(client, role="tutor")
        r = await client.put("/api/v1/tutors/me", headers=tutor["headers"], json={
            "headline": "Maths", "bio": "Patient.", "subjects": ["mathematics"], "hourly_rate_cents": 6000,
            "currency": "USD", "timezone": "UTC", "lesson_minutes": [60], "min_notice_minutes": 0,
            "buffer_minutes": 0, "max_advance_days": 60})
        assert r.status_code == 200, r.text
        r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
            "rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)], "overrides": []})
        assert r.status_code == 200, r.text
        [student] = await make_students(1)
        held = await hold(client, student, tutor["user"]["id"], next_day_at(10))
        assert held.status_code == 201, held.text
        for status in (400, 500):
            fake.fail_next("/v1/payment_intents", status,
                           body={"error": {"type": "invalid_request_error", "message": SECRET_WORDS}})
            with caplog.at_level(logging.WARNING, logger="edustream.providers"):
                r = await client.post(f"/api/v1/bookings/{held.json()['id']}/checkout", headers=student["headers"])
            assert r.status_code == 502, r.text
            assert r.json()["error"]["code"] == "payment_provider_error"
            for leaked in ("cus_Q1w2", "acct_9Z", "10.20.30.40", "No such customer"):
                assert leaked not in r.text
        assert any("cus_Q1w2" in record.getMessage() for record in caplog.records), "the original is logged"
    finally:
        await fake.stop()


def _response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", "https://api.brevo.com/v3/smtp/email"))


@pytest.mark.parametrize("status", [400, 403, 429, 500, 503])
def test_provider_errors_keep_the_providers_words_out_of_their_text(status: int,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edustream.providers"), \
            pytest.raises(provider_http.ProviderError) as info:
        provider_http.check("brevo", _response(status, {"message": SECRET_WORDS}))
    assert "10.20.30.40" not in str(info.value) and "cus_Q1w2" not in str(info.value)
    assert f"HTTP {status}" in str(info.value)
    assert info.value.status == status and "10.20.30.40" in info.value.detail
    assert info.value.body == {"message": SECRET_WORDS}
    assert any("10.20.30.40" in record.getMessage() for record in caplog.records)


async def test_connection_errors_do_not_name_internal_hosts(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connect call failed ('10.20.30.40', 443)", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with caplog.at_level(logging.WARNING, logger="edustream.providers"), \
                pytest.raises(provider_http.ProviderUnavailable) as info:
            await provider_http.request("zoom", client, "POST", f"https://zoom.internal/{uuid.uuid4().hex}")
    assert "10.20.30.40" not in str(info.value) and "ConnectError" in str(info.value)
    assert "10.20.30.40" in info.value.detail
    assert any("10.20.30.40" in record.getMessage() for record in caplog.records)

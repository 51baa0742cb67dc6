"""Every failure leaves the API as ``{"error": {"code", "message", "details"}}``; bad input is never a 500."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from server.identity import issue_access_token
from server.settings import Settings
from tests.helpers import register

LOGIN = "/api/v1/auth/login"


def _error(r: httpx.Response) -> dict[str, Any]:
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


async def test_unknown_route_is_404_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert _error(r)["code"] == "not_found"


async def test_unknown_route_outside_the_api_is_404_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post("/wp-login.php", content=b"x")
    assert r.status_code == 404
    assert _error(r)["code"] == "not_found"


async def test_wrong_method_is_405_envelope_with_allow_header(client: httpx.AsyncClient) -> None:
    r = await client.delete(LOGIN)
    assert r.status_code == 405
    assert _error(r)["code"] == "method_not_allowed"
    assert "POST" in r.headers["allow"]


async def test_malformed_json_is_422_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN, content=b'{"email": "a@example.com",', headers={"content-type": "application/json"})
    assert r.status_code == 422
    error = _error(r)
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "body"


async def test_body_that_is_not_utf8_is_422_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN, content=b"\xff\xfe\x00garbage", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert _error(r)["code"] == "invalid_request"


async def test_missing_body_is_422_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN)
    assert r.status_code == 422
    error = _error(r)
    assert error["code"] == "invalid_request"
    assert error["details"] == [{"field": "body", "message": "missing"}]


async def test_json_that_is_not_an_object_is_422_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN, json=["email", "password"])
    assert r.status_code == 422
    assert _error(r)["code"] == "invalid_request"


async def test_missing_fields_are_422_with_one_detail_per_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/register", json={"email": "a@example.com"})
    assert r.status_code == 422
    error = _error(r)
    assert error["code"] == "invalid_request"
    details = {d["field"]: d for d in error["details"]}
    assert set(details) == {"body.password", "body.name", "body.role"}
    assert all(d["type"] == "missing" and d["message"] for d in details.values())


async def test_wrongly_typed_fields_are_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/register",
                          json={"email": "a@example.com", "password": 12345678, "name": "A", "role": "pilot"})
    assert r.status_code == 422
    assert {d["field"] for d in _error(r)["details"]} == {"body.password", "body.role"}


async def test_oversized_body_is_413_envelope(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    r = await client.post("/api/v1/auth/register", content=b'{"name": "' + b"x" * 1_100_000 + b'"}',
                          headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert _error(r)["code"] == "payload_too_large"
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_oversized_streamed_body_without_length_is_413_envelope(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    r = await client.post(LOGIN, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert _error(r)["code"] == "payload_too_large"


async def test_absurdly_deep_json_is_422_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN, content=b"[" * 200_000 + b"]" * 200_000, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert _error(r)["code"] == "invalid_request"


@pytest.mark.parametrize("body", [
    {"email": "a@example.com", "password": "12345678", "name": "nul\u0000name", "role": "student"},
    {"email": "a@example.com", "password": "1234\u00005678", "name": "Nul", "role": "student"},
])
async def test_nul_characters_in_strings_are_422_not_a_database_error(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                      body: dict[str, str]) -> None:
    r = await client.post("/api/v1/auth/register", json=body)
    assert r.status_code == 422
    details = _error(r)["details"]
    assert details[0]["type"] == "string_nul"
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_nul_character_in_login_email_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN, json={"email": "a\x00@example.com", "password": "12345678"})
    assert r.status_code == 422
    assert _error(r)["details"] == [{"field": "body.email", "message": "must not contain NUL characters",
                                     "type": "string_nul"}]


async def test_nul_character_in_any_query_parameter_is_422(client: httpx.AsyncClient, app: Starlette,
                                                          settings: Settings) -> None:
    """Every endpoint with a query model, every parameter it declares."""
    failures = []
    for ep in app.state.endpoints:
        if ep.query_model is None or ep.path_params:
            continue
        role = sorted(ep.auth.roles)[0] if ep.auth.roles else "student"
        headers = {"Authorization": f"Bearer {issue_access_token(settings, uuid.uuid4(), role)}"}
        for name in ep.query_model.model_fields:
            r = await client.request(ep.method, ep.path, params={name: "a\x00b"}, headers=headers)
            if r.status_code != 422 or r.json()["error"]["details"][0]["type"] != "string_nul":
                failures.append((ep.method, ep.path, name, r.status_code, r.text[:200]))
    assert failures == []


async def test_unauthenticated_is_401_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/me")
    assert r.status_code == 401
    assert _error(r)["code"] == "not_authenticated"


async def test_conflict_is_409_envelope(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.post("/api/v1/auth/register", json={"email": account["user"]["email"], "password": "12345678",
                                                          "name": "Twin", "role": "student"})
    assert r.status_code == 409
    assert _error(r)["code"] == "email_taken"


async def test_malformed_id_in_any_path_is_404_envelope(client: httpx.AsyncClient, app: Starlette,
                                                        settings: Settings) -> None:
    """Every endpoint with a UUID path parameter, for a caller its guard admits."""
    failures = []
    for ep in app.state.endpoints:
        if uuid.UUID not in ep.path_params.values():
            continue
        role = sorted(ep.auth.roles)[0] if ep.auth.roles else "student"
        headers = {"Authorization": f"Bearer {issue_access_token(settings, uuid.uuid4(), role)}"}
        url = re.sub(r"\{[^}]+\}", "not-a-uuid", ep.path)
        r = await client.request(ep.method, url, headers=headers, json={} if ep.method in ("POST", "PUT") else None)
        if r.status_code != 404 or r.json()["error"]["code"] != "not_found":
            failures.append((ep.method, ep.path, r.status_code, r.text[:200]))
    assert failures == []


async def test_every_documented_error_has_the_envelope_schema(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    auth_ops = {path: ops for path, ops in spec["paths"].items() if path.startswith("/api/v1/auth/")}
    assert {"/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"} <= set(auth_ops)
    register_responses = auth_ops["/api/v1/auth/register"]["post"]["responses"]
    assert {"201", "409", "422", "429"} <= set(register_responses)
    refresh_responses = auth_ops["/api/v1/auth/refresh"]["post"]["responses"]
    assert "refresh_token_reused" in refresh_responses["401"]["description"]
    assert "csrf_failed" in refresh_responses["403"]["description"]

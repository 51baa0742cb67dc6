"""CSRF at the HTTP edge: unsafe methods check Origin (Referer as a fallback) and JSON endpoints
refuse bodies that are not declared JSON (a cross-site form can send no other type unpreflighted)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.csrf import normalize_origin
from server.identity import CSRF_COOKIE, CSRF_HEADER
from tests.helpers import register

LOGIN = "/api/v1/auth/login"
WEBHOOK = "/api/v1/webhooks/stripe"
FRONTEND = "http://localhost:3000"


def _code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/json; charset=latin-1",
                                          "application/jsonx", ""])
async def test_body_not_declared_json_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = await client.post(LOGIN, content=b'{"email": "a@example.com", "password": "x"}', headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["error"] == {"code": "unsupported_media_type", "message": r.json()["error"]["message"],
                                 "details": {"content_type": content_type}}


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=UTF-8", "application/merge-patch+json"])
async def test_json_media_types_are_accepted(client: httpx.AsyncClient, content_type: str) -> None:
    r = await client.post(LOGIN, content=b'{"email": "nobody@example.com", "password": "wrong password"}',
                          headers={"content-type": content_type})
    assert r.status_code == 401 and _code(r) == "invalid_credentials", r.text


async def test_unsafe_request_without_a_body_needs_no_content_type(client: httpx.AsyncClient) -> None:
    student = await register(client)
    r = await client.post("/api/v1/auth/logout", headers=student["headers"])
    assert r.status_code != 415, r.text


async def test_foreign_origin_is_refused_even_when_signed_out(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN, json={"email": "a@example.com", "password": "x" * 10},
                          headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and _code(r) == "origin_not_allowed", r.text


@pytest.mark.parametrize("origin", ["null", "http://localhost:3000.evil.example", "https://localhost:3000",
                                    "http://localhost:3001", "not a url"])
async def test_lookalike_and_opaque_origins_are_refused(client: httpx.AsyncClient, origin: str) -> None:
    r = await client.post(LOGIN, json={"email": "a@example.com", "password": "x" * 10}, headers={"origin": origin})
    assert r.status_code == 403 and _code(r) == "origin_not_allowed", r.text


@pytest.mark.parametrize("origin", [FRONTEND, "http://127.0.0.1:3000", "HTTP://LOCALHOST:3000",
                                    "http://localhost:8000"])
async def test_allowed_origins_pass(client: httpx.AsyncClient, origin: str) -> None:
    r = await client.post(LOGIN, json={"email": "nobody@example.com", "password": "wrong password"},
                          headers={"origin": origin})
    assert r.status_code == 401 and _code(r) == "invalid_credentials", r.text


async def test_referer_is_checked_when_origin_is_absent(client: httpx.AsyncClient) -> None:
    body: dict[str, Any] = {"email": "nobody@example.com", "password": "wrong password"}
    r = await client.post(LOGIN, json=body, headers={"referer": "https://evil.example/page?x=1"})
    assert r.status_code == 403 and _code(r) == "origin_not_allowed", r.text
    r = await client.post(LOGIN, json=body, headers={"referer": f"{FRONTEND}/login?next=/"})
    assert r.status_code == 401, r.text


async def test_cookie_session_with_csrf_token_is_still_refused_from_a_foreign_origin(
        client: httpx.AsyncClient) -> None:
    student = await register(client)
    r = await client.post(LOGIN, json={"email": student["user"]["email"], "password": student["password"]})
    assert r.status_code == 200
    csrf = {CSRF_HEADER: client.cookies[CSRF_COOKIE]}
    r = await client.post("/api/v1/auth/logout", headers={**csrf, "origin": "https://evil.example"})
    assert r.status_code == 403 and _code(r) == "origin_not_allowed", r.text
    r = await client.post("/api/v1/auth/logout", headers={**csrf, "origin": FRONTEND})
    assert r.status_code == 204, r.text


async def test_bearer_clients_without_origin_keep_working(client: httpx.AsyncClient) -> None:
    student = await register(client)
    r = await client.put("/api/v1/me", json={"name": "Renamed"}, headers=student["headers"])
    assert r.status_code == 200 and r.json()["name"] == "Renamed", r.text


async def test_webhook_is_exempt_from_origin_and_media_type_checks(client: httpx.AsyncClient) -> None:
    r = await client.post(WEBHOOK, content=b"{}", headers={"origin": "https://evil.example",
                                                           "content-type": "text/plain"})
    assert r.status_code == 400 and _code(r) == "invalid_signature", r.text


@pytest.mark.parametrize(("raw", "expected"), [
    ("http://localhost:3000", "http://localhost:3000"),
    ("https://Example.COM:443/path?q", "https://example.com"),
    ("http://example.com:80", "http://example.com"),
    ("http://[::1]:8000", "http://[::1]:8000"),
    ("null", None), ("javascript:alert(1)", None), ("http://", None), ("http://x:99999", None),
])
def test_normalize_origin(raw: str, expected: str | None) -> None:
    assert normalize_origin(raw) == expected

"""Double-submit CSRF protection for cookie-authenticated unsafe requests."""

from __future__ import annotations

import httpx

from tests.helpers import login, register


async def _signed_in_with_cookies(client: httpx.AsyncClient) -> dict[str, object]:
    account = await register(client)
    return await login(client, account["user"]["email"])


async def test_cookie_authenticated_put_without_csrf_header_gets_403(client: httpx.AsyncClient) -> None:
    await _signed_in_with_cookies(client)
    r = await client.put("/api/v1/me", json={"name": "Mallory"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"
    assert (await client.get("/api/v1/me")).json()["name"] != "Mallory"


async def test_cookie_authenticated_put_with_mismatched_csrf_header_gets_403(client: httpx.AsyncClient) -> None:
    await _signed_in_with_cookies(client)
    r = await client.put("/api/v1/me", json={"name": "Mallory"}, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"


async def test_cookie_authenticated_put_with_csrf_header_works(client: httpx.AsyncClient) -> None:
    await _signed_in_with_cookies(client)
    r = await client.put("/api/v1/me", json={"name": "Alice"}, headers={"X-CSRF-Token": client.cookies["es_csrf"]})
    assert r.status_code == 200
    assert r.json()["name"] == "Alice"


async def test_cookie_authenticated_get_needs_no_csrf_header(client: httpx.AsyncClient) -> None:
    await _signed_in_with_cookies(client)
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_bearer_authenticated_put_needs_no_csrf_header(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.put("/api/v1/me", json={"name": "Bob"}, headers=account["headers"])
    assert r.status_code == 200

"""POST /api/v1/auth/logout."""

from __future__ import annotations

import asyncpg
import httpx

from tests.helpers import login, register

URL = "/api/v1/auth/logout"


async def test_logout_with_body_token_revokes_its_family(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    account = await register(client)
    other_device = await login(client, account["user"]["email"])
    client.cookies.clear()
    r = await client.post(URL, json={"refresh_token": account["refresh_token"]})
    assert r.status_code == 204
    assert r.content == b""
    refused = await client.post("/api/v1/auth/refresh", json={"refresh_token": account["refresh_token"]})
    assert refused.status_code == 401
    # Other sign-ins of the same account stay valid.
    kept = await client.post("/api/v1/auth/refresh", json={"refresh_token": other_device["refresh_token"]})
    assert kept.status_code == 200
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL") == 1


async def test_logout_with_cookie_and_csrf_header_clears_the_session(client: httpx.AsyncClient,
                                                                     db: asyncpg.Pool) -> None:
    account = await register(client)
    await login(client, account["user"]["email"])
    r = await client.post(URL, headers={"X-CSRF-Token": client.cookies["es_csrf"]})
    assert r.status_code == 204
    assert not client.cookies.get("es_access") and not client.cookies.get("es_refresh")
    assert (await client.get("/api/v1/me")).status_code == 401
    revoked = await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL")
    assert revoked == 1


async def test_logout_with_cookie_but_no_csrf_header_gets_403(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    account = await register(client)
    await login(client, account["user"]["email"])
    client.cookies.delete("es_access")
    r = await client.post(URL)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL") == 0


async def test_logout_when_signed_out_is_a_harmless_204(client: httpx.AsyncClient) -> None:
    assert (await client.post(URL)).status_code == 204
    assert (await client.post(URL, json={"refresh_token": "unknown"})).status_code == 204


async def test_logout_twice_is_a_harmless_204(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for _ in range(2):
        r = await client.post(URL, json={"refresh_token": account["refresh_token"]})
        assert r.status_code == 204

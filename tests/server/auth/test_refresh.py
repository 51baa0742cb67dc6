"""POST /api/v1/auth/refresh: rotation, reuse detection, cookie + CSRF."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from starlette.applications import Starlette

from tests.helpers import login, register

URL = "/api/v1/auth/refresh"


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """Refresh the way a non-browser client does: token in the body, no cookies kept."""
    client.cookies.clear()
    response = await client.post(URL, json={"refresh_token": token})
    client.cookies.clear()
    return response


async def test_refresh_with_body_token_returns_a_new_pair(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await _refresh(client, account["refresh_token"])
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["user"]["id"] == account["user"]["id"]
    assert data["refresh_token"] != account["refresh_token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {data['access_token']}"})
    assert me.status_code == 200


async def test_refresh_marks_old_token_used_and_keeps_the_family(client: httpx.AsyncClient,
                                                                  db: asyncpg.Pool) -> None:
    account = await register(client)
    r = await _refresh(client, account["refresh_token"])
    assert r.status_code == 200
    rows = await db.fetch("SELECT family_id, used_at, revoked_at FROM refresh_tokens WHERE user_id = $1 "
                          "ORDER BY created_at, used_at NULLS LAST", account["user"]["id"])
    assert len(rows) == 2
    assert rows[0]["family_id"] == rows[1]["family_id"]
    assert rows[0]["used_at"] is not None and rows[1]["used_at"] is None
    assert rows[0]["revoked_at"] is None and rows[1]["revoked_at"] is None


async def test_rotated_token_can_be_refreshed_again(client: httpx.AsyncClient) -> None:
    account = await register(client)
    token = account["refresh_token"]
    for _ in range(3):
        r = await _refresh(client, token)
        assert r.status_code == 200
        token = r.json()["refresh_token"]


async def test_reusing_a_used_refresh_token_gets_401_and_revokes_the_family(client: httpx.AsyncClient,
                                                                            db: asyncpg.Pool) -> None:
    account = await register(client)
    first = account["refresh_token"]
    second = (await _refresh(client, first)).json()["refresh_token"]

    replay = await _refresh(client, first)
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "refresh_token_reused"
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL") == 0

    # The newest token of the family, still unused, was revoked with it.
    r = await _refresh(client, second)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_refresh_token"


async def test_reuse_revokes_only_that_family(client: httpx.AsyncClient) -> None:
    account = await register(client)
    other_device = await login(client, account["user"]["email"])
    client.cookies.clear()
    await _refresh(client, account["refresh_token"])
    assert (await _refresh(client, account["refresh_token"])).status_code == 401
    r = await _refresh(client, other_device["refresh_token"])
    assert r.status_code == 200


async def test_concurrent_refreshes_with_one_token_let_exactly_one_through(client: httpx.AsyncClient,
                                                                           app: Starlette) -> None:
    account = await register(client)

    async def refresh_alone() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            return await c.post(URL, json={"refresh_token": account["refresh_token"]})

    results = await asyncio.gather(*(refresh_alone() for _ in range(6)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [401] * 5
    assert {r.json()["error"]["code"] for r in results if r.status_code == 401} <= {
        "refresh_token_reused", "invalid_refresh_token"}


async def test_unknown_refresh_token_gets_401(client: httpx.AsyncClient) -> None:
    r = await _refresh(client, "not-a-token-we-issued")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_refresh_token"


async def test_expired_refresh_token_gets_401(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    account = await register(client)
    await db.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    r = await _refresh(client, account["refresh_token"])
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_refresh_token"


async def test_refresh_without_any_token_gets_401(client: httpx.AsyncClient) -> None:
    r = await client.post(URL)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_refresh_token"


async def test_refresh_uses_the_current_role_and_name(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    account = await register(client)
    await db.execute("UPDATE users SET role = 'admin' WHERE id = $1", account["user"]["id"])
    r = await _refresh(client, account["refresh_token"])
    assert r.json()["user"]["role"] == "admin"


async def test_refresh_from_cookie_with_csrf_header_rotates_cookies(client: httpx.AsyncClient) -> None:
    account = await register(client)
    await login(client, account["user"]["email"])
    old_refresh = client.cookies["es_refresh"]
    csrf = client.cookies["es_csrf"]
    r = await client.post(URL, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert client.cookies["es_refresh"] == r.json()["refresh_token"] != old_refresh
    assert client.cookies["es_access"] == r.json()["access_token"]
    # The CSRF value survives a refresh, so requests already in flight keep working.
    assert client.cookies["es_csrf"] == csrf


async def test_refresh_from_cookie_without_csrf_header_gets_403(client: httpx.AsyncClient,
                                                                db: asyncpg.Pool) -> None:
    account = await register(client)
    await login(client, account["user"]["email"])
    client.cookies.delete("es_access")  # only the refresh cookie is ambient here
    r = await client.post(URL)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL") == 0


async def test_refresh_from_cookie_with_wrong_csrf_header_gets_403(client: httpx.AsyncClient) -> None:
    account = await register(client)
    await login(client, account["user"]["email"])
    client.cookies.delete("es_access")
    r = await client.post(URL, headers={"X-CSRF-Token": "guess"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"

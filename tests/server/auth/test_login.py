"""POST /api/v1/auth/login."""

from __future__ import annotations

import asyncpg
import httpx

from tests.helpers import DEFAULT_PASSWORD, register

URL = "/api/v1/auth/login"


async def test_login_returns_user_and_tokens(client: httpx.AsyncClient) -> None:
    account = await register(client, role="tutor")
    r = await client.post(URL, json={"email": account["user"]["email"], "password": DEFAULT_PASSWORD})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["user"] == account["user"]
    assert data["access_token"] and data["refresh_token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {data['access_token']}"})
    assert me.json()["role"] == "tutor"


async def test_login_ignores_email_letter_case_and_surrounding_spaces(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.post(URL, json={"email": f"  {account['user']['email'].upper()} ", "password": DEFAULT_PASSWORD})
    assert r.status_code == 200
    assert r.json()["user"]["id"] == account["user"]["id"]


async def test_login_with_wrong_password_gets_401_invalid_credentials(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.post(URL, json={"email": account["user"]["email"], "password": "wrong password"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"
    assert "set-cookie" not in r.headers


async def test_login_with_unknown_email_looks_like_a_wrong_password(client: httpx.AsyncClient) -> None:
    account = await register(client)
    wrong_password = await client.post(URL, json={"email": account["user"]["email"], "password": "nope-nope"})
    unknown_email = await client.post(URL, json={"email": "nobody@example.com", "password": "nope-nope"})
    assert unknown_email.status_code == wrong_password.status_code == 401
    assert unknown_email.json() == wrong_password.json()


async def test_login_does_not_accept_the_password_with_extra_whitespace(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.post(URL, json={"email": account["user"]["email"], "password": f" {DEFAULT_PASSWORD} "})
    assert r.status_code == 401


async def test_each_login_starts_a_new_refresh_family(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    account = await register(client)
    for _ in range(2):
        r = await client.post(URL, json={"email": account["user"]["email"], "password": DEFAULT_PASSWORD})
        assert r.status_code == 200
        client.cookies.clear()
    families = await db.fetchval("SELECT count(DISTINCT family_id) FROM refresh_tokens WHERE user_id = $1",
                                 account["user"]["id"])
    assert families == 3


async def test_login_without_password_gets_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json={"email": "someone@example.com"})
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"field": "body.password", "message": "Field required", "type": "missing"}]

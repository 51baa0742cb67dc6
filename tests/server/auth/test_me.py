"""GET, PATCH and PUT /api/v1/me, and POST /api/v1/me/password."""

from __future__ import annotations

import asyncpg
import httpx

from tests.helpers import DEFAULT_PASSWORD, register

URL = "/api/v1/me"


async def test_me_returns_the_signed_in_user(client: httpx.AsyncClient) -> None:
    account = await register(client, role="tutor", name="Grace Hopper")
    r = await client.get(URL, headers=account["headers"])
    assert r.status_code == 200
    assert r.json() == {"id": account["user"]["id"], "email": account["user"]["email"],
                        "name": "Grace Hopper", "role": "tutor", "timezone": "UTC", "email_verified": False}


async def test_me_without_credentials_gets_401(client: httpx.AsyncClient) -> None:
    r = await client.get(URL)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"


async def test_me_works_with_the_access_cookie_alone(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/register", json={"email": "cookie@example.com", "password": "12345678",
                                                          "name": "Cookie", "role": "student"})
    assert r.status_code == 201
    me = await client.get(URL)
    assert me.status_code == 200
    assert me.json()["email"] == "cookie@example.com"


async def test_me_of_a_deleted_account_gets_404(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    account = await register(client)
    await db.execute("DELETE FROM users WHERE id = $1", account["user"]["id"])
    r = await client.get(URL, headers=account["headers"])
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "account_not_found"


async def test_put_me_changes_name_and_timezone(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    account = await register(client)
    r = await client.put(URL, json={"name": " Ada ", "timezone": "Europe/Berlin"}, headers=account["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Ada" and r.json()["timezone"] == "Europe/Berlin"
    row = await db.fetchrow("SELECT name, timezone FROM users WHERE id = $1", account["user"]["id"])
    assert (row["name"], row["timezone"]) == ("Ada", "Europe/Berlin")


async def test_put_me_leaves_omitted_fields_alone(client: httpx.AsyncClient) -> None:
    account = await register(client, name="Original")
    r = await client.put(URL, json={"timezone": "Asia/Tokyo"}, headers=account["headers"])
    assert r.json()["name"] == "Original"
    r = await client.put(URL, json={}, headers=account["headers"])
    assert r.status_code == 200
    assert r.json()["timezone"] == "Asia/Tokyo"


async def test_put_me_with_unknown_timezone_gets_422(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    account = await register(client)
    r = await client.put(URL, json={"timezone": "Europe/Atlantis"}, headers=account["headers"])
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "body.timezone"
    assert await db.fetchval("SELECT timezone FROM users") == "UTC"


async def test_put_me_cannot_change_role_or_email(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.put(URL, json={"role": "admin", "email": "x@example.com"}, headers=account["headers"])
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"body.role", "body.email"}


async def test_patch_me_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    account = await register(client, name="Ada")
    r = await client.patch(URL, headers=account["headers"], json={"timezone": "Europe/London"})
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == "Europe/London" and r.json()["name"] == "Ada"
    r = await client.patch(URL, headers=account["headers"], json={"timezone": "Mars/Olympus"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


async def _refresh(client: httpx.AsyncClient, token: str) -> int:
    client.cookies.clear()  # by its body token alone (a cookie would need the CSRF header)
    return (await client.post("/api/v1/auth/refresh", json={"refresh_token": token})).status_code


async def test_changing_the_password_keeps_this_sign_in_and_ends_the_others(client: httpx.AsyncClient) -> None:
    account = await register(client)
    email = account["user"]["email"]
    other = (await client.post("/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})).json()
    client.cookies.clear()
    r = await client.post(f"{URL}/password", headers=account["headers"],
                          json={"current_password": DEFAULT_PASSWORD, "new_password": "a-new-passphrase"})
    assert r.status_code == 204, r.text
    assert await _refresh(client, account["refresh_token"]) == 200
    assert await _refresh(client, other["refresh_token"]) == 401
    old = await client.post("/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    assert old.status_code == 401
    new = await client.post("/api/v1/auth/login", json={"email": email, "password": "a-new-passphrase"})
    assert new.status_code == 200


async def test_changing_the_password_needs_the_current_one(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.post(f"{URL}/password", headers=account["headers"],
                          json={"current_password": "not-it-at-all", "new_password": "a-new-passphrase"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"
    assert await _refresh(client, account["refresh_token"]) == 200

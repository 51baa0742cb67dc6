"""POST /api/v1/auth/register."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.helpers import DEFAULT_PASSWORD, register, unique_email

URL = "/api/v1/auth/register"


def _body(**overrides: object) -> dict[str, object]:
    return {"email": unique_email(), "password": DEFAULT_PASSWORD, "name": "Ada Lovelace", "role": "student",
            **overrides}


async def test_register_returns_201_with_user_and_tokens(client: httpx.AsyncClient) -> None:
    body = _body(role="tutor", name="  Ada Lovelace  ")
    r = await client.post(URL, json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["user"]["email"] == body["email"]
    assert data["user"]["name"] == "Ada Lovelace"
    assert data["user"]["role"] == "tutor"
    assert data["user"]["timezone"] == "UTC"
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 900
    assert data["access_token"] and data["refresh_token"]


async def test_register_stores_an_argon2id_hash_not_the_password(client: httpx.AsyncClient,
                                                                 db: asyncpg.Pool) -> None:
    account = await register(client)
    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", account["user"]["id"])
    assert stored.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in stored


async def test_register_stores_only_a_hash_of_the_refresh_token(client: httpx.AsyncClient,
                                                                db: asyncpg.Pool) -> None:
    account = await register(client)
    rows = await db.fetch("SELECT token_hash FROM refresh_tokens WHERE user_id = $1", account["user"]["id"])
    assert len(rows) == 1
    assert rows[0]["token_hash"] != account["refresh_token"]
    assert len(rows[0]["token_hash"]) == 64


async def test_register_sets_session_cookies(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body())
    assert r.status_code == 201
    cookies = {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}
    assert set(cookies) == {"es_access", "es_refresh", "es_csrf"}


async def test_register_with_taken_email_in_other_case_gets_409(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email=email)
    r = await client.post(URL, json=_body(email=email.upper().replace("@EXAMPLE.COM", "@example.com")))
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "email_taken"


async def test_concurrent_registrations_of_one_email_create_exactly_one_account(
        client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    email = unique_email()
    results = await asyncio.gather(*(client.post(URL, json=_body(email=email)) for _ in range(8)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 7, [r.text for r in results if r.status_code not in (201, 409)]
    assert all(r.json()["error"]["code"] == "email_taken" for r in results if r.status_code == 409)
    assert await db.fetchval("SELECT count(*) FROM users WHERE lower(email) = lower($1)", email) == 1
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens") == 1


async def test_register_as_admin_is_refused(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    r = await client.post(URL, json=_body(role="admin"))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "body.role"
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_register_with_short_password_gets_422(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body(password="1234567"))
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["error"]["details"]] == ["body.password"]


async def test_register_with_password_of_exactly_8_characters_works(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body(password="12345678"))
    assert r.status_code == 201


async def test_register_with_password_over_256_characters_gets_422(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body(password="x" * 257))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "body.password"


async def test_register_with_invalid_email_gets_422(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body(email="not-an-email"))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "body.email"


async def test_register_with_blank_name_gets_422(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body(name="   "))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "body.name"


async def test_register_with_unknown_timezone_gets_422(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body(timezone="Mars/Olympus_Mons"))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "body.timezone"


async def test_register_with_timezone_keeps_it(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body(timezone="America/New_York"))
    assert r.status_code == 201
    assert r.json()["user"]["timezone"] == "America/New_York"


async def test_register_with_unknown_field_gets_422(client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=_body(is_admin=True))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "body.is_admin"

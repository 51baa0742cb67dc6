"""E-mail verification: the link e-mailed at registration, its single use and expiry, resending."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from server.identity import email_verification_token
from server.settings import Settings
from tests.helpers import register

VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/verify-email/resend"


async def link_token(db: asyncpg.Pool, settings: Settings, user_id: str) -> str:
    """The token of the newest link of that account (what its e-mail carries)."""
    verification_id = await db.fetchval(
        "SELECT id FROM email_verifications WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1", uuid.UUID(user_id))
    return email_verification_token(settings, verification_id)


async def test_a_new_account_is_unverified_and_only_a_hash_of_its_link_is_stored(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    user = await register(client)
    assert user["user"]["email_verified"] is False
    me = await client.get("/api/v1/me", headers=user["headers"])
    assert me.json()["email_verified"] is False
    token = await link_token(db, settings, user["user"]["id"])
    stored = await db.fetchrow("SELECT token_hash, email, expires_at - created_at AS ttl FROM email_verifications")
    assert stored["token_hash"] != token and len(stored["token_hash"]) == 64
    assert stored["email"] == user["user"]["email"] and abs(stored["ttl"].total_seconds() - 48 * 3600) < 60


async def test_the_link_verifies_the_account_once(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                   settings: Settings) -> None:
    user = await register(client)
    token = await link_token(db, settings, user["user"]["id"])
    r = await client.post(VERIFY, json={"token": token})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user["user"]["id"] and r.json()["email_verified"] is True
    assert (await client.get("/api/v1/me", headers=user["headers"])).json()["email_verified"] is True
    again = await client.post(VERIFY, json={"token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == "verification_token_used"


async def test_an_expired_link_does_not_verify(client: httpx.AsyncClient, db: asyncpg.Pool,
                                               settings: Settings) -> None:
    user = await register(client)
    token = await link_token(db, settings, user["user"]["id"])
    await db.execute("UPDATE email_verifications SET expires_at = now() - interval '1 second'")
    r = await client.post(VERIFY, json={"token": token})
    assert r.status_code == 400 and r.json()["error"]["code"] == "verification_token_expired"
    assert await db.fetchval("SELECT email_verified FROM users") is False


async def test_an_unknown_or_forged_token_is_refused(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    await register(client)
    forged = email_verification_token(Settings(secret_key="x" * 40), await db.fetchval(
        "SELECT id FROM email_verifications"))
    for token in ("nonsense", forged):
        r = await client.post(VERIFY, json={"token": token})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_verification_token"
    assert await db.fetchval("SELECT email_verified FROM users") is False


async def test_a_link_for_an_address_the_account_no_longer_has_does_not_verify(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    user = await register(client)
    token = await link_token(db, settings, user["user"]["id"])
    await db.execute("UPDATE users SET email = 'someone.else@example.com'")
    r = await client.post(VERIFY, json={"token": token})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_verification_token"


async def test_concurrent_uses_of_one_link_verify_once(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                       settings: Settings) -> None:
    user = await register(client)
    token = await link_token(db, settings, user["user"]["id"])
    results = await asyncio.gather(*(client.post(VERIFY, json={"token": token}) for _ in range(5)))
    assert sorted(r.status_code for r in results) == [200, 400, 400, 400, 400]
    assert await db.fetchval("SELECT count(*) FROM email_verifications WHERE used_at IS NOT NULL") == 1


async def test_resend_makes_a_new_link_but_not_twice_a_minute(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                              settings: Settings) -> None:
    user = await register(client)
    assert (await client.post(RESEND)).status_code == 401
    soon = await client.post(RESEND, headers=user["headers"])
    assert soon.status_code == 429 and soon.json()["error"]["code"] == "verification_resend_too_soon"
    assert 1 <= int(soon.headers["Retry-After"]) <= 60
    await db.execute("UPDATE email_verifications SET created_at = now() - interval '61 seconds'")
    r = await client.post(RESEND, headers=user["headers"])
    assert r.status_code == 204, r.text
    assert await db.fetchval("SELECT count(*) FROM email_verifications") == 2
    newest = await link_token(db, settings, user["user"]["id"])
    assert (await client.post(VERIFY, json={"token": newest})).status_code == 200
    done = await client.post(RESEND, headers=user["headers"])
    assert done.status_code == 409 and done.json()["error"]["code"] == "email_already_verified"

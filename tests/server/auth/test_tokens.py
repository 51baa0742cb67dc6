"""Access tokens: expired, forged and malformed ones are refused with 401."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt

from server.settings import Settings
from tests.helpers import register

URL = "/api/v1/me"


def _token(settings: Settings, user_id: str, *, secret: str | None = None, typ: str = "access",
           expires_in: int = 60, role: str = "student") -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": user_id, "role": role, "typ": typ, "iat": now, "exp": now + timedelta(seconds=expires_in)},
                      secret or settings.secret_key, algorithm="HS256")


async def test_expired_access_token_gets_401(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    token = _token(settings, account["user"]["id"], expires_in=-5)
    r = await client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_token"
    assert "expired" in r.json()["error"]["message"]


async def test_access_token_signed_with_another_key_gets_401(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    token = _token(settings, account["user"]["id"], secret="another-secret-of-sufficient-length-0123456789")
    r = await client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_token"


async def test_unsigned_access_token_gets_401(client: httpx.AsyncClient) -> None:
    account = await register(client)
    token = jwt.encode({"sub": account["user"]["id"], "role": "admin", "typ": "access",
                        "exp": datetime.now(UTC) + timedelta(minutes=5)}, key=None, algorithm="none")
    r = await client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_token_of_another_type_gets_401(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    r = await client.get(URL, headers={"Authorization": f"Bearer {_token(settings, account['user']['id'], typ='refresh')}"})
    assert r.status_code == 401


async def test_garbage_bearer_token_gets_401(client: httpx.AsyncClient) -> None:
    r = await client.get(URL, headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_token"


async def test_non_bearer_authorization_scheme_gets_401(client: httpx.AsyncClient) -> None:
    r = await client.get(URL, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.get(URL, headers={"Authorization": f"Bearer {account['refresh_token']}"})
    assert r.status_code == 401


async def test_expired_access_cookie_counts_as_signed_out(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    client.cookies.set("es_access", _token(settings, account["user"]["id"], expires_in=-5))
    r = await client.get(URL)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"


async def test_token_for_a_random_user_id_finds_no_account(client: httpx.AsyncClient, settings: Settings) -> None:
    r = await client.get(URL, headers={"Authorization": f"Bearer {_token(settings, str(uuid.uuid4()))}"})
    assert r.status_code == 404

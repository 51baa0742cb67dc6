"""Session cookies: names, flags and lifetimes."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx

from tests.conftest import make_settings, start_app
from tests.helpers import DEFAULT_PASSWORD, register, unique_email


def _cookies(response: httpx.Response) -> dict[str, dict[str, str | bool]]:
    out: dict[str, dict[str, str | bool]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            attrs: dict[str, str | bool] = {k: v for k, v in morsel.items() if v}
            attrs["value"] = morsel.value
            attrs["httponly"] = "httponly" in header.lower()
            attrs["secure"] = "secure" in header.lower()
            out[name] = attrs
    return out


async def test_login_sets_access_cookie_httponly_lax_for_the_whole_site(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.post("/api/v1/auth/login", json={"email": account["user"]["email"], "password": DEFAULT_PASSWORD})
    access = _cookies(r)["es_access"]
    assert access["value"] == r.json()["access_token"]
    assert access["httponly"] is True
    assert str(access["samesite"]).lower() == "lax"
    assert access["path"] == "/"
    assert access["max-age"] == "900"
    assert access["secure"] is False


async def test_refresh_cookie_is_httponly_and_sent_only_to_auth_routes(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/register", json={"email": unique_email(), "password": DEFAULT_PASSWORD,
                                                          "name": "Sam", "role": "student"})
    refresh = _cookies(r)["es_refresh"]
    assert refresh["value"] == r.json()["refresh_token"]
    assert refresh["httponly"] is True
    assert str(refresh["samesite"]).lower() == "lax"
    assert refresh["path"] == "/api/v1/auth"
    assert refresh["max-age"] == str(30 * 24 * 3600)


async def test_csrf_cookie_is_readable_by_scripts_and_random(client: httpx.AsyncClient) -> None:
    body = {"password": DEFAULT_PASSWORD, "name": "Sam", "role": "student"}
    first = _cookies(await client.post("/api/v1/auth/register", json={**body, "email": unique_email()}))
    client.cookies.clear()
    second = _cookies(await client.post("/api/v1/auth/register", json={**body, "email": unique_email()}))
    assert first["es_csrf"]["httponly"] is False
    assert str(first["es_csrf"]["samesite"]).lower() == "lax"
    assert first["es_csrf"]["path"] == "/"
    assert len(str(first["es_csrf"]["value"])) >= 32
    assert first["es_csrf"]["value"] != second["es_csrf"]["value"]


async def test_cookies_are_secure_when_cookie_secure_is_on(db: object, redis: object) -> None:
    app, ctx = await start_app(make_settings(cookie_secure=True))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as c:
            r = await c.post("/api/v1/auth/register", json={"email": unique_email(), "password": DEFAULT_PASSWORD,
                                                              "name": "Sam", "role": "tutor"})
        assert r.status_code == 201
        cookies = _cookies(r)
        assert set(cookies) == {"es_access", "es_refresh", "es_csrf"}
        assert all(c["secure"] is True for c in cookies.values())
    finally:
        await ctx.__aexit__(None, None, None)


async def test_logout_expires_all_three_cookies(client: httpx.AsyncClient) -> None:
    account = await register(client)
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": account["refresh_token"]})
    assert r.status_code == 204
    cookies = _cookies(r)
    assert set(cookies) == {"es_access", "es_refresh", "es_csrf"}
    assert all(c["max-age"] == "0" for c in cookies.values())
    assert cookies["es_refresh"]["path"] == "/api/v1/auth"

"""Signing in with Google (OpenID Connect with state, nonce and PKCE) against a local fake
provider: new accounts, linking by verified email, and the error pages."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import asyncpg
import httpx
from starlette.applications import Starlette

from server.identity import email_verification_token
from server.settings import Settings
from tests.conftest import start_app
from tests.fakes.google import Identity
from tests.fixtures.integrations import Fakes, integration_settings
from tests.helpers import register


async def start(ic: httpx.AsyncClient, fakes: Fakes, **params: str) -> str:
    """Our login redirect; returns Google's authorization URL."""
    r = await ic.get("/api/v1/auth/google/login", params=params)
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(f"{fakes.google.url}/o/oauth2/v2/auth?")
    return location


async def consent(fakes: Fakes, authorize_url: str, identity: Identity) -> str:
    """The person agrees at Google; returns our callback URL with code and state."""
    fakes.google.next_identity = identity
    async with httpx.AsyncClient() as browser:
        r = await browser.get(authorize_url)
    assert r.status_code == 302, r.text
    return r.headers["location"]


async def sign_in(ic: httpx.AsyncClient, fakes: Fakes, identity: Identity, **params: str) -> httpx.Response:
    callback = await consent(fakes, await start(ic, fakes, **params), identity)
    return await ic.get(callback)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}


async def test_new_google_user_gets_the_role_they_picked_and_the_session_cookies(
        ic: httpx.AsyncClient, fakes: Fakes, db: asyncpg.Pool) -> None:
    identity = Identity("g-new-1", "new.tutor@example.com", True, "Nia Tutor")
    r = await sign_in(ic, fakes, identity, role="tutor", next="/tutor")
    assert r.status_code == 302 and r.headers["location"] == "http://frontend.test/tutor"
    cookies = set_cookies(r)
    assert {"es_access", "es_refresh", "es_csrf"} <= set(cookies)
    assert "HttpOnly" in cookies["es_access"] and "Path=/api/v1/auth" in cookies["es_refresh"]
    me = await ic.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "tutor" and me.json()["email"] == "new.tutor@example.com"
    row = await db.fetchrow("SELECT google_sub, password_hash, email_verified, name FROM users WHERE email = $1",
                            "new.tutor@example.com")
    assert dict(row) == {"google_sub": "g-new-1", "password_hash": None, "email_verified": True, "name": "Nia Tutor"}


async def test_the_flow_uses_state_nonce_and_pkce(ic: httpx.AsyncClient, fakes: Fakes) -> None:
    await sign_in(ic, fakes, Identity("g-pkce", "pkce@example.com"))
    [auth] = fakes.google.authorizations
    assert auth["scope"] == "openid email profile" and auth["response_type"] == "code"
    assert auth["state"] and auth["nonce"] and auth["code_challenge_method"] == "S256" and auth["code_challenge"]
    assert auth["redirect_uri"] == "http://testserver/api/v1/auth/google/callback"
    [token_request] = fakes.google.calls("POST", "/token")
    form = token_request.form()
    assert form["grant_type"] == "authorization_code" and len(form["code_verifier"]) >= 43


async def test_a_new_account_defaults_to_student(ic: httpx.AsyncClient, fakes: Fakes) -> None:
    r = await sign_in(ic, fakes, Identity("g-student", "student.g@example.com"))
    assert r.status_code == 302 and r.headers["location"] == "http://frontend.test/"
    assert (await ic.get("/api/v1/me")).json()["role"] == "student"


async def test_existing_account_with_the_same_verified_email_is_linked(ic: httpx.AsyncClient, fakes: Fakes,
                                                                      db: asyncpg.Pool) -> None:
    existing = await register(ic, role="student", email="linked.person@example.com")
    await db.execute("UPDATE users SET email_verified = true")  # verified by its link (test_verify_email.py)
    r = await sign_in(ic, fakes, Identity("g-link", "Linked.Person@Example.com", True), role="tutor")
    assert r.status_code == 302
    me = (await ic.get("/api/v1/me")).json()
    assert me["id"] == existing["user"]["id"] and me["role"] == "student"  # the role link parameter is for new accounts
    row = await db.fetchrow("SELECT google_sub, email_verified FROM users WHERE id = $1",
                            uuid.UUID(existing["user"]["id"]))
    assert row["google_sub"] == "g-link" and row["email_verified"] is True
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_an_unverified_google_email_is_not_linked(ic: httpx.AsyncClient, fakes: Fakes, db: asyncpg.Pool) -> None:
    existing = await register(ic, role="tutor", email="victim@example.com")
    r = await sign_in(ic, fakes, Identity("g-attacker", "victim@example.com", email_verified=False))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "has not verified the email address" in r.text and "Traceback" not in r.text
    assert "es_access" not in set_cookies(r)
    assert await db.fetchval("SELECT google_sub FROM users WHERE id = $1", uuid.UUID(existing["user"]["id"])) is None
    assert (await ic.get("/api/v1/me")).status_code == 401


async def test_a_callback_with_a_bad_state_lands_on_an_error_page(ic: httpx.AsyncClient, fakes: Fakes,
                                                                 db: asyncpg.Pool) -> None:
    callback = await consent(fakes, await start(ic, fakes), Identity("g-state", "state@example.com"))
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    forged = f"{parts.scheme}://{parts.netloc}{parts.path}?" + urlencode({**query, "state": "forged-state"})
    r = await ic.get(forged)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "security check did not match" in r.text
    assert "es_access" not in set_cookies(r)
    assert fakes.google.calls("POST", "/token") == []  # the code was never redeemed
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_a_callback_replayed_after_success_is_refused(ic: httpx.AsyncClient, fakes: Fakes) -> None:
    callback = await consent(fakes, await start(ic, fakes), Identity("g-replay", "replay@example.com"))
    assert (await ic.get(callback)).status_code == 302
    again = await ic.get(callback)
    assert again.status_code == 400 and "security check did not match" in again.text


async def test_a_callback_from_another_browser_is_refused(ic: httpx.AsyncClient, iapp: Starlette, fakes: Fakes) -> None:
    callback = await consent(fakes, await start(ic, fakes), Identity("g-other", "other@example.com"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=iapp), base_url="http://testserver") as other:
        r = await other.get(callback)
    assert r.status_code == 400 and "security check did not match" in r.text


async def test_declining_at_google_lands_on_an_error_page(ic: httpx.AsyncClient, fakes: Fakes) -> None:
    authorize = await start(ic, fakes)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    r = await ic.get("/api/v1/auth/google/callback", params={"error": "access_denied", "state": state})
    assert r.status_code == 400 and "You cancelled signing in." in r.text


async def test_an_oauth_error_description_is_logged_not_shown(ic: httpx.AsyncClient, fakes: Fakes) -> None:
    authorize = await start(ic, fakes)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    r = await ic.get("/api/v1/auth/google/callback", params={
        "error": "server_error", "error_description": "backend 10.0.3.7:8443 exploded", "state": state})
    assert r.status_code == 400 and "Google could not sign you in" in r.text
    assert "10.0.3.7" not in r.text and "exploded" not in r.text


async def test_a_returning_google_user_is_found_by_account_not_email(ic: httpx.AsyncClient, fakes: Fakes) -> None:
    await sign_in(ic, fakes, Identity("g-stable", "first@example.com"))
    first = (await ic.get("/api/v1/me")).json()
    ic.cookies.clear()
    await sign_in(ic, fakes, Identity("g-stable", "renamed@example.com"))
    assert (await ic.get("/api/v1/me")).json()["id"] == first["id"]


async def test_google_login_without_configuration_is_an_html_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/auth/google/login")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "not configured" in r.text


async def test_google_unreachable_is_an_html_page(fakes: Fakes, db: asyncpg.Pool) -> None:
    settings = integration_settings(fakes, google_discovery_url="http://127.0.0.1:9/.well-known/openid-configuration")
    app, ctx = await start_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            r = await c.get("/api/v1/auth/google/login")
    finally:
        await ctx.__aexit__(None, None, None)
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    assert "could not reach Google" in r.text


async def test_an_account_linked_to_another_google_account_is_not_relinked(ic: httpx.AsyncClient, fakes: Fakes,
                                                                          db: asyncpg.Pool) -> None:
    await sign_in(ic, fakes, Identity("g-original", "shared@example.com"))
    ic.cookies.clear()
    r = await sign_in(ic, fakes, Identity("g-newcomer", "shared@example.com"))
    assert r.status_code == 409 and "already linked to a different Google account" in r.text
    assert await db.fetchval("SELECT google_sub FROM users WHERE email = 'shared@example.com'") == "g-original"


async def test_google_does_not_take_over_an_unverified_account_registered_with_the_same_address(
        ic: httpx.AsyncClient, fakes: Fakes, db: asyncpg.Pool) -> None:
    # Pre-account takeover: the attacker registers the victim's address with a password of their
    # own, and waits for the victim to sign in with Google.
    attacker = await register(ic, role="student", email="victim.pre@example.com", password="attacker-pass-1")
    r = await sign_in(ic, fakes, Identity("g-victim", "victim.pre@example.com", True, "Real Owner"))
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/html")
    assert "has not been verified" in r.text
    assert "es_access" not in set_cookies(r)
    row = await db.fetchrow("SELECT google_sub, email_verified FROM users WHERE id = $1",
                            uuid.UUID(attacker["user"]["id"]))
    assert dict(row) == {"google_sub": None, "email_verified": False}
    assert (await ic.get("/api/v1/me")).status_code == 401


async def test_the_owner_who_verified_the_address_can_then_link_google(ic: httpx.AsyncClient, fakes: Fakes,
                                                                       db: asyncpg.Pool, isettings: Settings) -> None:
    owner = await register(ic, role="tutor", email="owner.verified@example.com")
    verification_id = await db.fetchval("SELECT id FROM email_verifications WHERE user_id = $1",
                                        uuid.UUID(owner["user"]["id"]))
    r = await ic.post("/api/v1/auth/verify-email", json={"token": email_verification_token(isettings, verification_id)})
    assert r.status_code == 200, r.text
    r = await sign_in(ic, fakes, Identity("g-owner", "owner.verified@example.com", True))
    assert r.status_code == 302, r.text
    me = (await ic.get("/api/v1/me")).json()
    assert me["id"] == owner["user"]["id"] and me["email_verified"] is True


async def test_a_callback_without_parameters_is_a_typed_400(ic: httpx.AsyncClient) -> None:
    for query in ("", "?code=x", "?state=y", "?error=", "?code=&state="):
        r = await ic.get(f"/api/v1/auth/google/callback{query}")
        assert r.status_code == 400, (query, r.status_code)
        assert r.headers["content-type"].startswith("text/html") and "Traceback" not in r.text
        assert r.headers["x-error-code"] == "mismatching_state"


async def test_a_callback_on_a_server_without_google_is_a_typed_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/auth/google/callback")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-error-code"] == "google_not_configured"

"""A local server speaking the slices of Google's APIs we use, recording every request:

* OpenID Connect: discovery, the authorization endpoint (consent is simulated: it redirects
  straight back with a code for :attr:`FakeGoogle.next_identity`), the token endpoint
  (authorization-code grant with PKCE S256 checked, refresh-token grant, ``invalid_grant`` for
  revoked tokens), RS256-signed ID tokens with the nonce, JWKS, userinfo and revocation;
* Calendar v3: ``POST /calendar/v3/freeBusy`` (busy ranges set per account by the test),
  events insert / patch / delete on ``/calendar/v3/calendars/{id}/events``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.base import FakeServer

CLIENT_ID = "edustream-test.apps.googleusercontent.com"
CLIENT_SECRET = "google-test-secret"
KID = "fake-key-1"


@dataclass
class Identity:
    sub: str
    email: str
    email_verified: bool = True
    name: str = "Google User"


@dataclass
class Grant:
    identity: Identity
    scope: str
    nonce: str | None
    code_challenge: str | None
    redirect_uri: str
    offline: bool


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class FakeGoogle(FakeServer):
    next_identity: Identity = field(default_factory=lambda: Identity("g-1", "person@example.com"))
    busy: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # email -> [(start, end)]
    events: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (email, cal, id)
    authorizations: list[dict[str, str]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)  # refresh tokens
    access_ttl: int = 3600
    _codes: dict[str, Grant] = field(default_factory=dict)
    _refresh: dict[str, Identity] = field(default_factory=dict)
    _access: dict[str, tuple[Identity, float]] = field(default_factory=dict)
    _key: Any = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def reset(self) -> None:
        self.requests.clear()
        self._failures.clear()
        self.busy.clear()
        self.events.clear()
        self.authorizations.clear()
        self.revoked.clear()
        self.access_ttl = 3600

    # --- helpers for tests ---------------------------------------------------------------

    def issue_refresh_token(self, identity: Identity) -> str:
        token = "1//refresh-" + secrets.token_urlsafe(12)
        self._refresh[token] = identity
        return token

    def revoke_all(self, email: str) -> None:
        """The user removed our access in their Google account."""
        for token, identity in self._refresh.items():
            if identity.email == email:
                self.revoked.add(token)
        self._access = {k: v for k, v in self._access.items() if v[0].email != email}

    def expire_access_tokens(self) -> None:
        self._access.clear()

    def events_of(self, email: str) -> dict[str, dict[str, Any]]:
        return {eid: ev for (owner, _, eid), ev in self.events.items() if owner == email}

    # --- routes ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/o/oauth2/v2/auth", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/oauth2/v3/certs", self._certs)
        app.router.add_get("/v1/userinfo", self._userinfo)
        app.router.add_post("/revoke", self._revoke)
        app.router.add_post("/calendar/v3/freeBusy", self._freebusy)
        app.router.add_post("/calendar/v3/calendars/{cal}/events", self._insert)
        app.router.add_patch("/calendar/v3/calendars/{cal}/events/{eid}", self._patch)
        app.router.add_delete("/calendar/v3/calendars/{cal}/events/{eid}", self._delete)

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def calendar_base(self) -> str:
        return f"{self.url}/calendar/v3"

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.url, "authorization_endpoint": f"{self.url}/o/oauth2/v2/auth",
            "token_endpoint": f"{self.url}/token", "userinfo_endpoint": f"{self.url}/v1/userinfo",
            "revocation_endpoint": f"{self.url}/revoke", "jwks_uri": f"{self.url}/oauth2/v3/certs",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        })

    async def _authorize(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.authorizations.append(q)
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return web.Response(status=400, text="invalid_request")
        code = secrets.token_urlsafe(16)
        self._codes[code] = Grant(self.next_identity, q.get("scope", ""), q.get("nonce"), q.get("code_challenge"),
                                  q["redirect_uri"], q.get("access_type") == "offline")
        location = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        raise web.HTTPFound(location)

    def _client_ok(self, request: web.Request, form: dict[str, str]) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            cid, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        return cid == CLIENT_ID and secret == CLIENT_SECRET

    def _access_token(self, identity: Identity) -> str:
        token = "ya29." + secrets.token_urlsafe(16)
        self._access[token] = (identity, time.time() + self.access_ttl)
        return token

    def _id_token(self, identity: Identity, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.url, "aud": CLIENT_ID, "sub": identity.sub, "email": identity.email,
                                  "email_verified": identity.email_verified, "name": identity.name,
                                  "iat": now, "exp": now + 3600}
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": KID})

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        if not self._client_ok(request, form):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") == "authorization_code":
            grant = self._codes.pop(form.get("code", ""), None)
            if grant is None or grant.redirect_uri != form.get("redirect_uri"):
                return web.json_response({"error": "invalid_grant", "error_description": "Bad code"}, status=400)
            if grant.code_challenge:
                verifier = form.get("code_verifier", "")
                if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant.code_challenge:
                    return web.json_response({"error": "invalid_grant", "error_description": "PKCE failed"},
                                             status=400)
            body: dict[str, Any] = {"access_token": self._access_token(grant.identity), "token_type": "Bearer",
                                    "expires_in": self.access_ttl, "scope": grant.scope}
            if "openid" in grant.scope.split():
                body["id_token"] = self._id_token(grant.identity, grant.nonce)
            if grant.offline:
                body["refresh_token"] = self.issue_refresh_token(grant.identity)
            return web.json_response(body)
        if form.get("grant_type") == "refresh_token":
            token = form.get("refresh_token", "")
            identity = self._refresh.get(token)
            if identity is None or token in self.revoked:
                return web.json_response({"error": "invalid_grant", "error_description": "Token has been expired or "
                                          "revoked."}, status=400)
            return web.json_response({"access_token": self._access_token(identity), "token_type": "Bearer",
                                      "expires_in": self.access_ttl})
        return web.json_response({"error": "unsupported_grant_type"}, status=400)

    async def _certs(self, request: web.Request) -> web.Response:
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]})

    def _bearer(self, request: web.Request) -> Identity | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        entry = self._access.get(token)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    def _unauthorized(self) -> web.Response:
        return web.json_response({"error": {"code": 401, "message": "Invalid Credentials"}}, status=401)

    async def _userinfo(self, request: web.Request) -> web.Response:
        identity = self._bearer(request)
        if identity is None:
            return self._unauthorized()
        return web.json_response({"sub": identity.sub, "email": identity.email,
                                  "email_verified": identity.email_verified, "name": identity.name})

    async def _revoke(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.revoked.add(form.get("token", ""))
        return web.Response(status=200)

    async def _freebusy(self, request: web.Request) -> web.Response:
        identity = self._bearer(request)
        if identity is None:
            return self._unauthorized()
        body = await request.json()
        lo, hi = datetime.fromisoformat(body["timeMin"]), datetime.fromisoformat(body["timeMax"])
        calendars = {}
        for item in body.get("items", []):
            ranges = [{"start": s, "end": e} for s, e in self.busy.get(identity.email, [])
                      if datetime.fromisoformat(e) > lo and datetime.fromisoformat(s) < hi]
            calendars[item["id"]] = {"busy": ranges}
        return web.json_response({"kind": "calendar#freeBusy", "timeMin": body["timeMin"],
                                  "timeMax": body["timeMax"], "calendars": calendars})

    async def _insert(self, request: web.Request) -> web.Response:
        identity = self._bearer(request)
        if identity is None:
            return self._unauthorized()
        body = await request.json()
        eid = body.get("id") or secrets.token_hex(12)
        key = (identity.email, request.match_info["cal"], eid)
        if key in self.events:
            return web.json_response({"error": {"code": 409, "message": "The requested identifier already exists."}},
                                     status=409)
        self.events[key] = {**body, "id": eid, "status": "confirmed"}
        return web.json_response(self.events[key])

    async def _patch(self, request: web.Request) -> web.Response:
        identity = self._bearer(request)
        if identity is None:
            return self._unauthorized()
        key = (identity.email, request.match_info["cal"], request.match_info["eid"])
        if key not in self.events:
            return web.json_response({"error": {"code": 404, "message": "Not Found"}}, status=404)
        self.events[key].update(await request.json())
        return web.json_response(self.events[key])

    async def _delete(self, request: web.Request) -> web.Response:
        identity = self._bearer(request)
        if identity is None:
            return self._unauthorized()
        key = (identity.email, request.match_info["cal"], request.match_info["eid"])
        if self.events.pop(key, None) is None:
            return web.json_response({"error": {"code": 410, "message": "Resource has been deleted"}}, status=410)
        return web.Response(status=204)

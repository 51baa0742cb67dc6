"""Role enforcement on every endpoint that declares roles, including endpoints added later.

Walks ``app.state.endpoints`` (the same declarations that build the routes and the OpenAPI
document): without a token each must answer 401, and with a valid token of a role it does
not allow, 403. Authorization runs before path, body and query parsing, so dummy values do.
"""

from __future__ import annotations

import re
import uuid

import httpx
from starlette.applications import Starlette

from server.http import Endpoint
from server.identity import issue_access_token
from server.settings import Settings

ROLES = ("student", "tutor", "admin")


def _guarded(app: Starlette) -> list[Endpoint]:
    return [ep for ep in app.state.endpoints if ep.auth.required]


def _url(ep: Endpoint) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), ep.path)


async def test_every_role_guarded_endpoint_refuses_anonymous_callers_with_401(
        client: httpx.AsyncClient, app: Starlette) -> None:
    endpoints = _guarded(app)
    assert {("GET", "/api/v1/me"), ("PUT", "/api/v1/me")} <= {(ep.method, ep.path) for ep in endpoints}
    failures = []
    for ep in endpoints:
        r = await client.request(ep.method, _url(ep), json={} if ep.method in ("POST", "PUT") else None)
        if r.status_code != 401 or r.json()["error"]["code"] != "not_authenticated":
            failures.append((ep.method, ep.path, r.status_code, r.text[:200]))
    assert failures == []


async def test_every_role_guarded_endpoint_refuses_other_roles_with_403(
        client: httpx.AsyncClient, app: Starlette, settings: Settings) -> None:
    failures = []
    for ep in _guarded(app):
        for role in sorted(set(ROLES) - ep.auth.roles):
            token = issue_access_token(settings, uuid.uuid4(), role)
            r = await client.request(ep.method, _url(ep), headers={"Authorization": f"Bearer {token}"},
                                     json={} if ep.method in ("POST", "PUT") else None)
            if r.status_code != 403 or r.json()["error"]["code"] != "forbidden":
                failures.append((ep.method, ep.path, role, r.status_code, r.text[:200]))
    assert failures == []


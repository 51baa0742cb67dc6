"""A local server speaking Zoom's Server-to-Server OAuth token endpoint and the meetings API
(create, update, delete), recording every request."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer

ACCOUNT_ID = "zoom-account-1"
CLIENT_ID = "zoom-client-id"
CLIENT_SECRET = "zoom-client-secret"


@dataclass
class FakeZoom(FakeServer):
    meetings: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_issued: int = 0
    token_ttl: int = 3600
    _tokens: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        self.requests.clear()
        self._failures.clear()
        self.meetings.clear()
        self.tokens_issued = 0
        self._tokens.clear()

    def invalidate_tokens(self) -> None:
        """Zoom stopped honouring every token issued so far (e.g. the app's secret was rotated)."""
        self._tokens.clear()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/oauth/token", self._token)
        app.router.add_post("/v2/users/{user}/meetings", self._create)
        app.router.add_patch("/v2/meetings/{mid}", self._update)
        app.router.add_delete("/v2/meetings/{mid}", self._delete)

    @property
    def oauth_url(self) -> str:
        return f"{self.url}/oauth/token"

    @property
    def api_base(self) -> str:
        return f"{self.url}/v2"

    async def _token(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        credentials = base64.b64decode(header.removeprefix("Basic ")).decode() if header.startswith("Basic ") else ""
        if credentials != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return web.json_response({"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
                                     status=401)
        if request.query.get("grant_type") != "account_credentials" or request.query.get("account_id") != ACCOUNT_ID:
            return web.json_response({"reason": "Invalid request", "error": "invalid_request"}, status=400)
        token = "zoom-at-" + secrets.token_urlsafe(12)
        self._tokens[token] = time.time() + self.token_ttl
        self.tokens_issued += 1
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl,
                                  "scope": "meeting:write:admin", "api_url": self.url})

    def _authorized(self, request: web.Request) -> bool:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return self._tokens.get(token, 0) > time.time()

    def _unauthorized(self) -> web.Response:
        return web.json_response({"code": 124, "message": "Invalid access token."}, status=401)

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        if body.get("type") != 2 or "start_time" not in body or "duration" not in body:
            return web.json_response({"code": 300, "message": "Invalid meeting"}, status=400)
        mid = str(80000000000 + len(self.meetings) + secrets.randbelow(1000) * 1000)
        meeting = {"id": int(mid), "topic": body.get("topic"), "type": 2, "start_time": body["start_time"],
                   "duration": body["duration"], "timezone": body.get("timezone"),
                   "join_url": f"https://zoom.example/j/{mid}?pwd={secrets.token_hex(4)}", "host_id": "host-1",
                   "agenda": body.get("agenda", "")}
        self.meetings[mid] = meeting
        return web.json_response(meeting, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        mid = request.match_info["mid"]
        if mid not in self.meetings:
            return web.json_response({"code": 3001, "message": "Meeting does not exist"}, status=404)
        self.meetings[mid].update(await request.json())
        return web.Response(status=204)

    async def _delete(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        if self.meetings.pop(request.match_info["mid"], None) is None:
            return web.json_response({"code": 3001, "message": "Meeting does not exist"}, status=404)
        return web.Response(status=204)

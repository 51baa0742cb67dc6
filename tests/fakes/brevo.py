"""A local server speaking Brevo's transactional e-mail API (``POST /v3/smtp/email``),
recording every message it accepts."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer

API_KEY = "xkeysib-test-key"


@dataclass
class FakeBrevo(FakeServer):
    sent: list[dict[str, Any]] = field(default_factory=list)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/smtp/email", self._send)

    async def _send(self, request: web.Request) -> web.Response:
        if request.headers.get("api-key") != API_KEY:
            return web.json_response({"code": "unauthorized", "message": "Key not found"}, status=401)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"code": "bad_request", "message": "invalid JSON"}, status=400)
        missing = [k for k in ("sender", "to", "subject") if not body.get(k)]
        if missing or not (body.get("htmlContent") or body.get("textContent")):
            return web.json_response({"code": "missing_parameter", "message": f"missing {missing}"}, status=400)
        for attachment in body.get("attachment", []):
            base64.b64decode(attachment["content"], validate=True)
        message_id = f"<{uuid.uuid4()}@smtp-relay.mailin.fr>"
        self.sent.append({**body, "messageId": message_id})
        return web.json_response({"messageId": message_id}, status=201)

    def to(self, address: str) -> list[dict[str, Any]]:
        """Messages sent to ``address``."""
        return [m for m in self.sent if any(t["email"] == address for t in m["to"])]

    @staticmethod
    def attachment(message: dict[str, Any], name: str) -> bytes:
        [found] = [a for a in message.get("attachment", []) if a["name"] == name]
        return base64.b64decode(found["content"])

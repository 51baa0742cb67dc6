"""A local server speaking the slice of Stripe's HTTP API we use, recording every request.

The real ``stripe`` library talks to it (``STRIPE_API_BASE`` points here). It checks the
secret key, honours ``Idempotency-Key`` like Stripe does (same key → same object), and can be
told to fail the next N calls of a path (``fail_next``, from :class:`FakeServer`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, Recorded

SECRET_KEY = "sk_test_fake"


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    """``metadata[booking_id]=x`` → ``{"metadata": {"booking_id": "x"}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _error(status: int, message: str, code: str | None = None, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message, **({"code": code} if code else {})}},
                             status=status)


@dataclass
class FakeStripe(FakeServer):
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    _by_key: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fail_next(self, path_prefix: str, status: int, times: int = 1, *, method: str | None = None,
                  body: Any = None) -> None:
        """Like :meth:`FakeServer.fail_next`, with Stripe's error shape by default."""
        kind = "invalid_request_error" if 400 <= status < 500 else "api_error"
        super().fail_next(path_prefix, status, times, method=method,
                          body=body or {"error": {"type": kind, "message": f"injected {status}"}})

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def params(self, recorded: Recorded) -> dict[str, str]:
        return recorded.form() if recorded.body else recorded.query

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") != f"Bearer {SECRET_KEY}":
            return _error(401, "Invalid API key provided")
        key = request.headers.get("Idempotency-Key")
        if key and key in self._by_key:
            return web.json_response(self._by_key[key])
        body = await request.text()
        result = self._route(request.method, request.path, _nest(self.params(self.requests[-1])) if body else {})
        if isinstance(result, web.Response):
            return result
        if key:
            self._by_key[key] = result
        return web.json_response(result)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payment_intents"]:
            pid = "pi_" + secrets.token_hex(8)
            intent = {"id": pid, "object": "payment_intent", "amount": int(params["amount"]),
                      "currency": params["currency"], "metadata": params.get("metadata", {}),
                      "client_secret": f"{pid}_secret_{secrets.token_hex(6)}", "status": "requires_payment_method"}
            self.intents[pid] = intent
            return intent
        if len(parts) >= 3 and parts[:2] == ["v1", "payment_intents"] and parts[2] in self.intents:
            intent = self.intents[parts[2]]
            if method == "GET" and len(parts) == 3:
                return intent
            if method == "POST" and parts[3:] == ["cancel"]:
                if intent["status"] == "succeeded":
                    return _error(400, "already succeeded", "payment_intent_unexpected_state")
                intent["status"] = "canceled"
                return intent
        if method == "POST" and parts == ["v1", "refunds"]:
            rid = "re_" + secrets.token_hex(8)
            refund = {"id": rid, "object": "refund", "amount": int(params["amount"]),
                      "payment_intent": params["payment_intent"], "status": "succeeded",
                      "metadata": params.get("metadata", {})}
            self.refunds[rid] = refund
            return refund
        return _error(404, f"no route {path}")

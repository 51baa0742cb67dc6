"""A local server speaking the slice of Stripe's HTTP API we use, recording every request.

The real ``stripe`` library talks to it (``STRIPE_API_BASE`` points here). It honours
``Idempotency-Key`` like Stripe does (same key → same object), and can be told to fail the
next N calls of a path with a given status.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    idempotency_key: str | None


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


@dataclass
class FakeStripe:
    requests: list[Recorded] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    _by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    _failures: dict[str, list[int]] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None

    def fail_next(self, path_prefix: str, status: int, times: int = 1) -> None:
        self._failures.setdefault(path_prefix, []).extend([status] * times)

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        params = dict(parse_qsl(body)) if body else dict(request.query)
        key = request.headers.get("Idempotency-Key")
        self.requests.append(Recorded(request.method, request.path, params, key))
        if request.headers.get("Authorization", "") != "Bearer sk_test_fake":
            return web.json_response({"error": {"type": "invalid_request_error", "message": "bad key"}}, status=401)
        for prefix, queue in self._failures.items():
            if request.path.startswith(prefix) and queue:
                status = queue.pop(0)
                return web.json_response({"error": {"type": "api_error", "message": f"injected {status}"}},
                                         status=status)
        if key and key in self._by_key:
            return web.json_response(self._by_key[key])
        result = self._route(request.method, request.path, _nest(params))
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
                    return web.json_response({"error": {"type": "invalid_request_error",
                                                        "code": "payment_intent_unexpected_state",
                                                        "message": "already succeeded"}}, status=400)
                intent["status"] = "canceled"
                return intent
        if method == "POST" and parts == ["v1", "refunds"]:
            rid = "re_" + secrets.token_hex(8)
            refund = {"id": rid, "object": "refund", "amount": int(params["amount"]),
                      "payment_intent": params["payment_intent"], "status": "succeeded",
                      "metadata": params.get("metadata", {})}
            self.refunds[rid] = refund
            return refund
        return web.json_response({"error": {"type": "invalid_request_error", "message": f"no route {path}"}},
                                 status=404)

    async def start(self) -> FakeStripe:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

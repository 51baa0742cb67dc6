"""What the provider fakes share: an aiohttp server on 127.0.0.1:0 that records every request
and can be told to fail the next calls of a path with a given status."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))


@dataclass
class Failure:
    method: str | None
    status: int
    body: Any


@dataclass
class FakeServer:
    """Subclasses add routes in :meth:`routes`; ``requests`` keeps every request received."""

    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    def fail_next(self, path_prefix: str, status: int, times: int = 1, *, method: str | None = None,
                  body: Any = None) -> None:
        """Answer the next ``times`` requests whose path starts with ``path_prefix`` with ``status``."""
        self._failures.setdefault(path_prefix, []).extend(
            [Failure(method, status, body if body is not None else {"error": f"injected {status}"})] * times)

    def calls(self, method: str, path_prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.headers), dict(request.query), body))
        for prefix, queue in self._failures.items():
            if request.path.startswith(prefix) and queue and queue[0].method in (None, request.method):
                failure = queue.pop(0)
                return web.json_response(failure.body, status=failure.status)
        response: web.StreamResponse = await handler(request)
        return response

    async def start(self) -> Any:
        app = web.Application(middlewares=[self._record])
        self.routes(app)
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

"""The REST side of the load tester: one aiohttp client spread over the deployment's API URLs.

Only the public interface is used (``/api/v1`` per the API contract). Every request is
timed and counted in a :class:`~loadtest.stats.Recorder` under an operation name;
an expired access token is renewed by signing in again, once, transparently.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from loadtest.stats import Recorder

KEEPALIVE_SECONDS = 4.0  # below uvicorn's default timeout_keep_alive (5 s)
API = "/api/v1"


@dataclass
class Account:
    """A user the load tester acts as (tutor or student)."""

    email: str
    password: str
    role: str
    id: str = ""
    token: str = ""
    # Student bookkeeping: ids of the holds this student currently keeps, oldest first.
    holds: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer (``status`` 0 when none came: refused, reset, timed out)."""

    status: int
    body: Any
    sent_at: float  # time.time() when the request left
    received_at: float  # time.time() when the answer was read
    url: str = ""
    retry_after: float | None = None  # the Retry-After header of a 429/503, in seconds

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        """The error envelope's ``code`` (or a transport failure's name)."""
        if isinstance(self.body, dict):
            error = self.body.get("error")
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                return str(error["code"])
        return None

    @property
    def details(self) -> Any:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("details")
        return None


class ApiClient:
    """REST calls, round-robin over ``urls``, recorded in ``recorder`` (swap it per phase)."""

    def __init__(self, urls: list[str], *, concurrency: int, timeout: float = 30.0, resilient: bool = False,
                 outage_seconds: float = 90.0) -> None:
        if not urls:
            raise ValueError("at least one API URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self._next_url = itertools.cycle(self.urls)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = max(10, concurrency * 2)
        self._session: aiohttp.ClientSession | None = None
        self.recorder = Recorder()
        self.resilient = resilient
        self.outage_seconds = outage_seconds

    async def __aenter__(self) -> ApiClient:
        # Idle connections are dropped before the server's keep-alive ends (uvicorn closes them
        # after 5 s; aiohttp would keep them 15): a pooled connection left idle while thousands of
        # watchers connected was reused just as the server closed it, and the hold on it failed
        # with a reset the server never saw (bench.e2e's fan-out run, 2026-12-05).
        connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=0, ttl_dns_cache=300,
                                         keepalive_timeout=KEEPALIVE_SECONDS)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                              json_serialize=lambda v: json.dumps(v, separators=(",", ":")))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def next_url(self) -> str:
        return next(self._next_url)

    async def request(self, op: str, method: str, path: str, *, account: Account | None = None,
                      json_body: Any = None, params: dict[str, Any] | None = None,
                      base: str | None = None, headers: dict[str, str] | None = None,
                      record: bool = True) -> Reply:
        """Send one request (``path`` below ``/api/v1`` unless it starts with ``/`` + a non-api root)."""
        if self.resilient and method == "POST":
            headers = {"Idempotency-Key": uuid.uuid4().hex, **(headers or {})}
        reply = await self._send(method, path, account, json_body, params, base, headers)
        if self.resilient:
            reply = await self._ride_out(reply, method, path, account, json_body, params, base, headers)
        if reply.status == 401 and reply.code == "invalid_token" and account is not None and account.password:
            if await self.sign_in(account):
                reply = await self._send(method, path, account, json_body, params, base, headers)
        if record:
            detail = None if reply.status and reply.status < 500 else json.dumps(reply.body)[:300]
            self.recorder.record(op, reply.status, reply.code, reply.received_at - reply.sent_at, detail)
        return reply

    async def _send(self, method: str, path: str, account: Account | None, json_body: Any,
                    params: dict[str, Any] | None, base: str | None, headers: dict[str, str] | None) -> Reply:
        assert self._session is not None, "use ApiClient as an async context manager"
        url = (base or self.next_url()) + (path if path.startswith(("/healthz", "/readyz")) else API + path)
        all_headers = dict(account.headers) if account is not None else {}
        if headers:
            all_headers.update(headers)
        sent = time.time()
        try:
            async with self._session.request(method, url, json=json_body, params=params,
                                             headers=all_headers) as resp:
                raw = await resp.read()
                received = time.time()
                body: Any = None
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = {"error": {"code": "not_json", "message": raw[:200].decode(errors="replace")}}
                retry = resp.headers.get("Retry-After")
                return Reply(resp.status, body, sent, received, url,
                             float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            name = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            return Reply(0, {"error": {"code": f"transport:{name}", "message": str(exc)[:200]}}, sent,
                         time.time(), url)

    async def _ride_out(self, reply: Reply, method: str, path: str, account: Account | None, json_body: Any,
                        params: dict[str, Any] | None, base: str | None, headers: dict[str, str] | None) -> Reply:
        """Send again (same Idempotency-Key, the next URL unless one was given) until answered."""
        deadline = time.monotonic() + self.outage_seconds
        delay = 0.1
        while reply.status in (0, 502, 503, 504) and time.monotonic() < deadline:
            self.recorder.outage_retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            reply = await self._send(method, path, account, json_body, params, base, headers)
        return reply

    async def sign_in(self, account: Account) -> bool:
        """Renew ``account.token`` with its password (``POST /auth/login``)."""
        reply = await self._send("POST", "/auth/login", None, {"email": account.email, "password": account.password},
                                 None, None, None)
        self.recorder.record("login", reply.status, reply.code, reply.received_at - reply.sent_at)
        if reply.ok and isinstance(reply.body, dict):
            user = reply.body.get("user", {})
            account.token = str(reply.body.get("access_token", ""))
            account.id = str(user.get("id", account.id))
            account.role = str(user.get("role", account.role))
            return bool(account.token)
        return False

    async def with_retry_after(self, op: str, method: str, path: str, *, attempts: int = 5,
                               **kwargs: Any) -> Reply:
        """Like :meth:`request`, waiting out 429s (``Retry-After``, at most 10 s each) and transport blips."""
        reply = await self.request(op, method, path, **kwargs)
        for _ in range(attempts - 1):
            if reply.status not in (0, 429, 503):
                break
            await asyncio.sleep(min(10.0, reply.retry_after or 1.0))
            reply = await self.request(op, method, path, **kwargs)
        return reply

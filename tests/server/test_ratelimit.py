"""Rate limiting middleware against real Redis, each test with its own app and limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.identity import issue_access_token
from server.redis_client import hash_tag, make_redis, slot_groups
from tests.conftest import make_settings, start_app
from tests.helpers import DEFAULT_PASSWORD, bearer, unique_email

LIMITED = "/api/v1/openapi.json"  # cheap, public, always 200
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def limited_app(db: asyncpg.Pool, redis: Redis) -> AsyncIterator[Callable[..., Awaitable[Starlette]]]:
    """Start an app with the given rate-limit settings (stopped after the test)."""
    started: list[Any] = []

    async def start(**overrides: Any) -> Starlette:
        values: dict[str, Any] = {"rate_limit_per_ip": 5, "rate_limit_per_user": 5, "rate_limit_auth_per_ip": 3,
                                  "rate_limit_window_seconds": 60}
        app, ctx = await start_app(make_settings(**{**values, **overrides}))
        started.append(ctx)
        return app

    yield start
    for ctx in started:
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    """httpx clients over an app, optionally from another client address."""
    clients: list[httpx.AsyncClient] = []

    async def make(app: Starlette, ip: str = "127.0.0.1") -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://testserver")
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def _statuses(client: httpx.AsyncClient, n: int, url: str = LIMITED, **kw: Any) -> list[int]:
    return [(await client.get(url, **kw)).status_code for _ in range(n)]


async def test_anonymous_requests_over_the_ip_limit_get_429_envelope(limited_app: Any, client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=5))
    assert await _statuses(c, 5) == [200] * 5
    r = await c.get(LIMITED)
    assert r.status_code == 429
    error = r.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["limit"] == 5
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["RateLimit-Limit"] == "5"
    assert r.headers["RateLimit-Remaining"] == "0"
    assert r.headers["RateLimit-Reset"] == r.headers["Retry-After"]


async def test_allowed_responses_carry_ratelimit_headers(limited_app: Any, client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=5, rate_limit_window_seconds=30))
    remaining = []
    for _ in range(3):
        r = await c.get(LIMITED)
        assert r.headers["RateLimit-Limit"] == "5"
        assert 1 <= int(r.headers["RateLimit-Reset"]) <= 30
        assert "Retry-After" not in r.headers
        remaining.append(r.headers["RateLimit-Remaining"])
    assert remaining == ["4", "3", "2"]


async def test_error_responses_on_limited_paths_carry_ratelimit_headers(limited_app: Any,
                                                                       client_for: ClientFactory) -> None:
    c = await client_for(await limited_app())
    r = await c.get("/api/v1/no-such-route")
    assert r.status_code == 404
    assert r.headers["RateLimit-Remaining"] == "4"


async def test_each_ip_has_its_own_budget(limited_app: Any, client_for: ClientFactory) -> None:
    app = await limited_app(rate_limit_per_ip=2)
    first, second = await client_for(app, "10.0.0.1"), await client_for(app, "10.0.0.2")
    assert await _statuses(first, 3) == [200, 200, 429]
    assert await _statuses(second, 3) == [200, 200, 429]


async def test_ipv6_clients_share_a_budget_per_64_prefix(limited_app: Any, client_for: ClientFactory) -> None:
    app = await limited_app(rate_limit_per_ip=2)
    one, same_prefix = await client_for(app, "2001:db8::1"), await client_for(app, "2001:db8::abcd")
    other_prefix = await client_for(app, "2001:db8:0:1::1")
    assert await _statuses(one, 2) == [200, 200]
    assert await _statuses(same_prefix, 1) == [429]
    assert await _statuses(other_prefix, 1) == [200]


async def test_signed_in_users_are_limited_per_user_not_per_ip(limited_app: Any, client_for: ClientFactory) -> None:
    app = await limited_app(rate_limit_per_ip=2, rate_limit_per_user=4)
    c = await client_for(app)
    settings = app.state.settings
    alice = bearer(issue_access_token(settings, uuid.uuid4(), "student"))
    bob = bearer(issue_access_token(settings, uuid.uuid4(), "tutor"))
    assert await _statuses(c, 5, headers=alice) == [200] * 4 + [429]
    r = await c.get(LIMITED, headers=alice)
    assert r.headers["RateLimit-Limit"] == "4"
    # Another user from the same address has a budget of their own...
    assert await _statuses(c, 4, headers=bob) == [200] * 4
    # ...and so do anonymous callers from that address.
    assert await _statuses(c, 3) == [200, 200, 429]


async def test_access_cookie_identifies_the_user_too(limited_app: Any, client_for: ClientFactory) -> None:
    app = await limited_app(rate_limit_per_ip=1, rate_limit_per_user=3)
    c = await client_for(app)
    c.cookies.set("es_access", issue_access_token(app.state.settings, uuid.uuid4(), "student"))
    assert await _statuses(c, 4) == [200, 200, 200, 429]


async def test_invalid_token_counts_against_the_ip(limited_app: Any, client_for: ClientFactory) -> None:
    app = await limited_app(rate_limit_per_ip=2, rate_limit_per_user=100)
    c = await client_for(app)
    forged = bearer("not.a.valid.token")
    assert await _statuses(c, 3, url="/healthz-not", headers=forged) == [404, 404, 429]


async def test_login_and_register_have_a_stricter_per_ip_limit(limited_app: Any, client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=100, rate_limit_auth_per_ip=3))
    attempts = [await c.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "wrong-password"})
                for _ in range(3)]
    assert [r.status_code for r in attempts] == [401, 401, 401]
    assert attempts[-1].headers["RateLimit-Limit"] == "3"
    r = await c.post("/api/v1/auth/register", json={"email": unique_email(), "password": DEFAULT_PASSWORD,
                                                    "name": "Late", "role": "student"})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    # Other endpoints are still open to this address.
    assert (await c.get(LIMITED)).status_code == 200


async def test_auth_limit_applies_to_signed_in_callers_too(limited_app: Any, client_for: ClientFactory) -> None:
    app = await limited_app(rate_limit_auth_per_ip=1, rate_limit_per_user=100)
    c = await client_for(app)
    headers = bearer(issue_access_token(app.state.settings, uuid.uuid4(), "student"))
    body = {"email": "x@example.com", "password": "wrong-password"}
    assert (await c.post("/api/v1/auth/login", json=body, headers=headers)).status_code == 401
    assert (await c.post("/api/v1/auth/login", json=body, headers=headers)).status_code == 429


async def test_auth_limit_is_per_ip(limited_app: Any, client_for: ClientFactory) -> None:
    app = await limited_app(rate_limit_auth_per_ip=1)
    body = {"email": "x@example.com", "password": "wrong-password"}
    first, second = await client_for(app, "10.0.0.1"), await client_for(app, "10.0.0.2")
    assert (await first.post("/api/v1/auth/login", json=body)).status_code == 401
    assert (await first.post("/api/v1/auth/login", json=body)).status_code == 429
    assert (await second.post("/api/v1/auth/login", json=body)).status_code == 401


async def test_refused_requests_do_not_use_up_other_budgets(limited_app: Any, client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=4, rate_limit_auth_per_ip=1))
    body = {"email": "x@example.com", "password": "wrong-password"}
    assert [(await c.post("/api/v1/auth/login", json=body)).status_code for _ in range(3)] == [401, 429, 429]
    # Only the one login that went through counted against the general per-IP budget of 4.
    assert await _statuses(c, 4) == [200, 200, 200, 429]


async def test_a_signed_in_login_refused_by_its_address_does_not_use_up_the_users_budget(
        limited_app: Any, client_for: ClientFactory) -> None:
    """The user's bucket and the address's sign-in bucket: on a Redis Cluster they live in
    different slots (asserted), so the limiter checks them in two scripts and takes back the
    count of a request the other slot refused."""
    app = await limited_app(rate_limit_per_user=4, rate_limit_auth_per_ip=1)
    user = uuid.uuid4()
    assert len(slot_groups([f"rl:user:{hash_tag(str(user))}", f"rl:auth:{hash_tag('127.0.0.1')}"])) == 2
    c = await client_for(app)
    headers = bearer(issue_access_token(app.state.settings, user, "student"))
    body = {"email": "x@example.com", "password": "wrong-password"}
    logins = [(await c.post("/api/v1/auth/login", json=body, headers=headers)).status_code for _ in range(3)]
    assert logins == [401, 429, 429]
    # Only the login that went through counted against the user's budget of 4.
    assert await _statuses(c, 4, headers=headers) == [200, 200, 200, 429]


async def test_concurrent_requests_never_exceed_the_limit(limited_app: Any, client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=10))
    results = await asyncio.gather(*(c.get(LIMITED) for _ in range(20)))
    statuses = [r.status_code for r in results]
    assert statuses.count(200) == 10
    assert statuses.count(429) == 10


async def test_an_addresss_hold_bucket_holds_its_limit_under_concurrency_from_many_users(
        limited_app: Any, client_for: ClientFactory) -> None:
    """Holds from one IP by many signed-in students at once: on a Redis Cluster the per-user
    buckets and the per-IP hold bucket live in different slots (asserted); the per-IP bucket
    still lets exactly its limit through, and the refused requests' user counts are taken back."""
    app = await limited_app(hold_limit_per_ip=4, rate_limit_per_user=1)
    users = [uuid.uuid4() for _ in range(12)]
    assert len(slot_groups([*(f"rl:user:{hash_tag(str(u))}" for u in users), f"rl:holds:{hash_tag('10.2.0.1')}"])) > 1
    c = await client_for(app, "10.2.0.1")
    tokens = [bearer(issue_access_token(app.state.settings, u, "student")) for u in users]
    results = await asyncio.gather(*(c.post("/api/v1/holds", json={}, headers=headers) for headers in tokens))
    statuses = [r.status_code for r in results]
    assert statuses.count(429) == 8, statuses
    refused = [i for i, r in enumerate(results) if r.status_code == 429]
    assert results[refused[0]].json()["error"]["code"] == "rate_limited"
    assert int(results[refused[0]].headers["Retry-After"]) >= 1
    # A refused student's own budget (1 request) was not used up: the next request is theirs.
    assert (await c.get(LIMITED, headers=tokens[refused[0]])).status_code == 200


async def test_concurrent_requests_across_two_app_instances_share_the_limit(limited_app: Any,
                                                                           client_for: ClientFactory) -> None:
    one = await client_for(await limited_app(rate_limit_per_ip=10))
    two = await client_for(await limited_app(rate_limit_per_ip=10))
    results = await asyncio.gather(*(c.get(LIMITED) for _ in range(10) for c in (one, two)))
    assert [r.status_code for r in results].count(200) == 10


async def test_budget_comes_back_after_the_window(limited_app: Any, client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=2, rate_limit_window_seconds=1))
    assert await _statuses(c, 3) == [200, 200, 429]
    await asyncio.sleep(1.1)
    assert await _statuses(c, 1) == [200]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_probes_are_never_limited(limited_app: Any, client_for: ClientFactory, path: str) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=1))
    for _ in range(4):
        r = await c.get(path)
        assert r.status_code == 200
        assert "RateLimit-Limit" not in r.headers


async def test_forwarded_for_is_ignored_unless_proxies_are_trusted(limited_app: Any,
                                                                   client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=1, trust_proxy_headers=False))
    assert (await c.get(LIMITED, headers={"X-Forwarded-For": "1.1.1.1"})).status_code == 200
    assert (await c.get(LIMITED, headers={"X-Forwarded-For": "2.2.2.2"})).status_code == 429


async def test_forwarded_for_from_a_trusted_proxy_picks_the_client(limited_app: Any,
                                                                   client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=1, trust_proxy_headers=True))
    assert (await c.get(LIMITED, headers={"X-Forwarded-For": "1.1.1.1"})).status_code == 200
    assert (await c.get(LIMITED, headers={"X-Forwarded-For": "2.2.2.2"})).status_code == 200
    # Whatever the client put to the left of the address our proxy appended is ignored.
    spoofed = await c.get(LIMITED, headers={"X-Forwarded-For": "9.9.9.9, 1.1.1.1"})
    assert spoofed.status_code == 429


async def test_disabled_rate_limiting_adds_no_headers(limited_app: Any, client_for: ClientFactory) -> None:
    c = await client_for(await limited_app(rate_limit_per_ip=1, rate_limit_enabled=False))
    results = [await c.get(LIMITED) for _ in range(3)]
    assert [r.status_code for r in results] == [200, 200, 200]
    assert "RateLimit-Limit" not in results[0].headers


def _redis_at(app: Starlette, port: int) -> Redis:
    """A client of the app's kind (single Redis, or a cluster client: EDUSTREAM_TEST_REDIS=cluster)
    for a server on ``port``."""
    settings = app.state.settings
    address = f"127.0.0.1:{port}"
    return make_redis(settings.model_copy(update={
        "redis_url": f"redis://{address}/0", "redis_cluster_nodes": address if settings.redis_cluster_nodes else ""}))


async def test_redis_down_fails_open(limited_app: Any, client_for: ClientFactory) -> None:
    app = await limited_app(rate_limit_per_ip=1)
    healthy = app.state.redis
    app.state.redis = _redis_at(app, 1)  # nothing listens on port 1
    try:
        c = await client_for(app)
        results = [await c.get(LIMITED) for _ in range(3)]
        assert [r.status_code for r in results] == [200, 200, 200]
        assert "RateLimit-Limit" not in results[0].headers
    finally:
        await app.state.redis.aclose()
        app.state.redis = healthy


async def test_redis_that_hangs_fails_open_within_the_timeout(limited_app: Any, client_for: ClientFactory) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, never answer

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = await limited_app(rate_limit_redis_timeout_seconds=0.2)
    healthy = app.state.redis
    app.state.redis = _redis_at(app, port)
    try:
        c = await client_for(app)
        started = time.monotonic()
        r = await c.get(LIMITED)
        assert r.status_code == 200
        assert time.monotonic() - started < 2
    finally:
        await app.state.redis.aclose()
        app.state.redis = healthy
        server.close()

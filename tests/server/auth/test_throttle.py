"""Per-address limits: the sign-in lock with backoff, and the budget of 409 email_taken answers."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import make_settings, start_app
from tests.helpers import DEFAULT_PASSWORD, register

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
Clients = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def clients(db: asyncpg.Pool, redis: Redis) -> AsyncIterator[Clients]:
    """``await clients(ip="…", **settings)``: a client from ``ip`` on an app with those settings."""
    started: list[Any] = []
    opened: list[httpx.AsyncClient] = []
    apps: dict[tuple[tuple[str, Any], ...], Any] = {}

    async def make(ip: str = "127.0.0.1", **overrides: Any) -> httpx.AsyncClient:
        key = tuple(sorted(overrides.items()))
        if key not in apps:
            app, ctx = await start_app(make_settings(**overrides))
            started.append(ctx)
            apps[key] = app
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[key], client=(ip, 40000)),
                              base_url="http://testserver")
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()
    for ctx in started:
        await ctx.__aexit__(None, None, None)


def lock_key(email: str) -> str:
    # Hash-tagged with the address: the failures counter and the lock share a Redis Cluster slot.
    return "auth:login-lock:{" + hashlib.sha256(email.lower().encode()).hexdigest() + "}"


async def attempt(c: httpx.AsyncClient, email: str, password: str = "wrong password!") -> httpx.Response:
    return await c.post(LOGIN, json={"email": email, "password": password})


async def test_an_address_is_locked_after_repeated_failures_even_with_the_right_password(
        client: httpx.AsyncClient) -> None:
    user = await register(client)
    email = user["user"]["email"]
    for _ in range(5):
        assert (await attempt(client, email)).status_code == 401
    r = await attempt(client, email, DEFAULT_PASSWORD)
    assert r.status_code == 429 and r.json()["error"]["code"] == "login_locked"
    assert 1 <= int(r.headers["Retry-After"]) <= 30


async def test_each_failure_after_a_lock_doubles_it_up_to_the_maximum(client: httpx.AsyncClient,
                                                                      redis: Redis) -> None:
    email = "nobody-at-all@example.com"  # unknown addresses are locked alike
    for _ in range(5):
        assert (await attempt(client, email)).status_code == 401
    # Generous lower bounds: the TTL runs down while a busy machine gets to the next line.
    assert 20 <= await redis.ttl(lock_key(email)) <= 30
    expected = [60, 120, 240, 480, 900, 900]
    for seconds in expected:
        await redis.delete(lock_key(email))  # the lock lapses
        assert (await attempt(client, email)).status_code == 401
        assert seconds - 10 <= await redis.ttl(lock_key(email)) <= seconds
        locked = await attempt(client, email)
        assert locked.status_code == 429 and seconds - 10 <= int(locked.headers["Retry-After"]) <= seconds


async def test_a_successful_sign_in_resets_the_count(client: httpx.AsyncClient) -> None:
    user = await register(client)
    email = user["user"]["email"]
    for _ in range(4):
        assert (await attempt(client, email)).status_code == 401
    assert (await attempt(client, email, DEFAULT_PASSWORD)).status_code == 200
    client.cookies.clear()
    for _ in range(4):
        assert (await attempt(client, email)).status_code == 401
    assert (await attempt(client, email, DEFAULT_PASSWORD)).status_code == 200


async def test_concurrent_guesses_get_no_more_than_the_allowed_failures(clients: Clients) -> None:
    # From many addresses at once, as a botnet would: the per-IP limits do not help here.
    email = "target-of-guessing@example.com"
    guessers = [await clients(ip=f"10.0.0.{i}") for i in range(1, 21)]
    results = await asyncio.gather(*(attempt(c, email) for c in guessers))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [401] * 5 + [429] * 15


async def test_email_taken_answers_are_limited_per_ip(clients: Clients) -> None:
    c = await clients(register_taken_per_ip=2, register_taken_per_email=100)
    taken = (await register(c))["user"]["email"]
    body = {"email": taken, "password": DEFAULT_PASSWORD, "name": "Probe", "role": "student"}
    assert [(await c.post(REGISTER, json=body)).status_code for _ in range(2)] == [409, 409]
    refused = await c.post(REGISTER, json=body)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "registration_limited"
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    # Every registration from that IP is refused now, so a 429 does not tell taken from free.
    fresh = await c.post(REGISTER, json={**body, "email": "never-used-before@example.com"})
    assert fresh.status_code == 429
    other = await clients(ip="192.0.2.7", register_taken_per_ip=2, register_taken_per_email=100)
    assert (await other.post(REGISTER, json=body)).status_code == 409


async def test_email_taken_answers_are_limited_per_address(clients: Clients) -> None:
    first = await clients(register_taken_per_ip=100, register_taken_per_email=2)
    taken = (await register(first))["user"]["email"]
    body = {"email": taken, "password": DEFAULT_PASSWORD, "name": "Probe", "role": "student"}
    statuses = [(await (await clients(ip=f"198.51.100.{i}", register_taken_per_ip=100,
                                      register_taken_per_email=2)).post(REGISTER, json=body)).status_code
                for i in range(1, 4)]
    assert statuses == [409, 409, 429]


async def test_successful_registrations_use_no_budget(clients: Clients) -> None:
    c = await clients(register_taken_per_ip=1, register_taken_per_email=100)
    for _ in range(3):
        await register(c)


async def test_concurrent_probes_cannot_overshoot_the_budget(clients: Clients) -> None:
    c = await clients(register_taken_per_ip=2, register_taken_per_email=100)
    taken = (await register(c))["user"]["email"]
    body = {"email": taken, "password": DEFAULT_PASSWORD, "name": "Probe", "role": "student"}
    results = await asyncio.gather(*(c.post(REGISTER, json=body) for _ in range(8)))
    assert sorted(r.status_code for r in results) == [409, 409] + [429] * 6


async def test_the_limits_can_be_turned_off(clients: Clients) -> None:
    c = await clients(register_taken_per_ip=1, rate_limit_enabled=False, login_max_failures=0)
    taken = (await register(c))["user"]["email"]
    body = {"email": taken, "password": DEFAULT_PASSWORD, "name": "Again", "role": "student"}
    assert [(await c.post(REGISTER, json=body)).status_code for _ in range(3)] == [409] * 3
    assert [(await attempt(c, taken)).status_code for _ in range(7)] == [401] * 7

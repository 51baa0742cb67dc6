"""Slowing down password guessing and address probing, per account address, in Redis.

The rate limiter (server/ratelimit.py) counts requests per client; these limits follow the
*address* whatever the client, so a botnet guessing one account's password gets no further
than one client would:

* **Sign-in lock.** Every attempt for an address counts as a failure until it succeeds, so
  concurrent guesses cannot overtake the count. The ``LOGIN_MAX_FAILURES``-th attempt in a row
  locks the address for ``LOGIN_LOCK_BASE_SECONDS``, and each attempt after a lock lapses
  locks it again for twice as long, up to ``LOGIN_LOCK_MAX_SECONDS``; a locked address is
  answered 429 ``login_locked`` without looking at the password. A successful sign-in clears
  it; so does ``LOGIN_FAILURE_WINDOW_SECONDS`` without an attempt. Unknown addresses are
  counted alike, so the lock says nothing about which accounts exist. ``LOGIN_MAX_FAILURES=0``
  turns it off.
* **Registration.** A ``409 email_taken`` tells the caller an address has an account. Each
  client IP and each address may get ``REGISTER_TAKEN_PER_IP`` / ``REGISTER_TAKEN_PER_EMAIL``
  of them per ``REGISTER_TAKEN_WINDOW_SECONDS``; past that, *every* registration from that IP
  (or for that address) is 429 ``registration_limited``, so a 429 reveals nothing either.
  A 409 is counted in the same atomic step that checks the budgets, so concurrent probes
  cannot overshoot; registrations of free addresses use no budget. Off with
  ``RATE_LIMIT_ENABLED=false`` (load tests re-registering their accounts).

Addresses appear in keys only as SHA-256 hashes. When Redis fails or is slow the attempt goes
ahead (fail open, like the rate limiter) and a warning is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from server.errors import RateLimited
from server.redis_client import REDIS_FAILURES, hash_tag, slot_groups
from server.settings import Settings

log = logging.getLogger("edustream.auth.throttle")

KEY_PREFIX = "auth:"

# KEYS: failures, lock. ARGV: max failures, base lock ms, max lock ms, window ms.
# Returns the lock's remaining ms (refused) or 0 (go ahead; counted as a failure).
_BEGIN_LOGIN = """
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return ttl end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local max = tonumber(ARGV[1])
if n >= max then
  local lock = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ (n - max))
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(lock))
end
return 0
"""

# KEYS: per-IP and per-address counters of 409s. ARGV: their limits, window ms, mode:
# "check" (refuse when either is full), "take" (check, then count in both), "count" (count
# without checking: a race with another registration was lost, the 409 is given anyway).
# Returns the longest remaining ms of a full counter (refused), or 0.
_TAKEN = """
local n = #KEYS
local mode = ARGV[n + 2]
if mode ~= 'count' then
  local refused = 0
  for i = 1, n do
    if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then
      refused = math.max(refused, redis.call('PTTL', KEYS[i]), 1)
    end
  end
  if refused > 0 or mode == 'check' then return refused end
end
for i = 1, n do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[n + 1]) end
end
return 0
"""


class LoginLocked(RateLimited):
    code = "login_locked"
    message = "Too many failed sign-ins for this address; try again later."


class RegistrationLimited(RateLimited):
    code = "registration_limited"
    message = "Too many registrations for addresses that already have an account; try again later."


def _address(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _retry_after(ms: int) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(ms / 1000)))}


async def _run(redis: Redis, settings: Settings, script: str, keys: list[str], args: list[int | str]) -> int:
    """Run ``script``; 0 (go ahead) when Redis fails or is slow.

    ``args`` holds one value per key, then the shared ones. In a Redis Cluster keys of
    different slots (an IP's and an address's counters) go in separate runs, concurrently;
    the answer is the longest refusal, and each counter still keeps its own limit."""
    per_key, shared = args[:len(keys)], args[len(keys):]
    groups = slot_groups(keys) if isinstance(redis, RedisCluster) else [list(range(len(keys)))]
    try:
        results = await asyncio.wait_for(asyncio.gather(*(
            redis.eval(script, len(group), *(keys[i] for i in group),  # type: ignore[misc]
                       *(per_key[i] for i in group if i < len(per_key)), *shared)
            for group in groups)), settings.rate_limit_redis_timeout_seconds)
        return max(int(result) for result in results)
    except REDIS_FAILURES as exc:
        log.warning("sign-in throttling skipped, Redis failed: %s", exc)
        return 0


def _login_keys(email: str) -> list[str]:
    address = hash_tag(_address(email))  # one slot for both: one script uses them together
    return [f"{KEY_PREFIX}login-failures:{address}", f"{KEY_PREFIX}login-lock:{address}"]


async def begin_login(redis: Redis, settings: Settings, email: str) -> None:
    """Count a sign-in attempt for ``email``; :class:`LoginLocked` while the address is locked."""
    if settings.login_max_failures <= 0:
        return
    locked_ms = await _run(redis, settings, _BEGIN_LOGIN, _login_keys(email), [
        settings.login_max_failures, settings.login_lock_base_seconds * 1000,
        settings.login_lock_max_seconds * 1000, settings.login_failure_window_seconds * 1000])
    if locked_ms > 0:
        raise LoginLocked(headers=_retry_after(locked_ms), details={"retry_after": math.ceil(locked_ms / 1000)})


async def login_succeeded(redis: Redis, settings: Settings, email: str) -> None:
    """Forget the address's failures and lock."""
    try:
        await asyncio.wait_for(redis.delete(*_login_keys(email)), settings.rate_limit_redis_timeout_seconds)
    except REDIS_FAILURES as exc:
        log.warning("could not clear the sign-in failures: %s", exc)


async def _email_taken(redis: Redis, settings: Settings, client_ip: str, email: str, mode: str) -> None:
    if not settings.rate_limit_enabled:
        return
    keys = [f"{KEY_PREFIX}register-taken:ip:{client_ip}", f"{KEY_PREFIX}register-taken:email:{_address(email)}"]
    refused_ms = await _run(redis, settings, _TAKEN, keys, [
        settings.register_taken_per_ip, settings.register_taken_per_email,
        settings.register_taken_window_seconds * 1000, mode])
    if refused_ms > 0:
        raise RegistrationLimited(headers=_retry_after(refused_ms),
                                  details={"retry_after": math.ceil(refused_ms / 1000)})


async def check_registration(redis: Redis, settings: Settings, client_ip: str, email: str) -> None:
    """:class:`RegistrationLimited` when ``client_ip`` or ``email`` has spent its 409s."""
    await _email_taken(redis, settings, client_ip, email, "check")


async def take_email_taken(redis: Redis, settings: Settings, client_ip: str, email: str) -> None:
    """Count a 409 about to be given; :class:`RegistrationLimited` instead when either budget is
    spent (checked and counted in one step, so concurrent probes cannot overshoot)."""
    await _email_taken(redis, settings, client_ip, email, "take")


async def count_email_taken(redis: Redis, settings: Settings, client_ip: str, email: str) -> None:
    """Count a 409 that is given anyway (the address was taken by a concurrent registration)."""
    await _email_taken(redis, settings, client_ip, email, "count")

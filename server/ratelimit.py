"""Redis-backed rate limiting as plain ASGI middleware.

Algorithm: a **fixed window per client**, started by that client's first request
(``INCR`` + ``PEXPIRE``). It is exact within a window, costs one Redis round trip per
request, and a client can at most double its rate across a window boundary, which is
acceptable for abuse protection. One Lua script checks every bucket that applies to the
request and counts the request in all of them only if none is full, so concurrent
requests can never overshoot a limit and a refused request does not use up budget.

Buckets (limits and window are settings):

* anonymous requests: per client IP (``RATE_LIMIT_PER_IP``);
* requests with a valid access token (Bearer or ``es_access`` cookie, checked without
  the database): per user (``RATE_LIMIT_PER_USER``) instead of per IP, so many users
  behind one NAT do not share a budget;
* ``/api/v1/auth/login`` and ``/api/v1/auth/register`` additionally per IP
  (``RATE_LIMIT_AUTH_PER_IP``), whoever is signed in, to slow password guessing (limits per
  *address* — the sign-in lock, the budget of ``email_taken`` answers — are in
  server/auth/throttle.py);
* ``POST /api/v1/holds`` additionally per IP (``HOLD_LIMIT_PER_IP`` per ``HOLD_TTL_SECONDS``),
  whoever is signed in: since a hold lasts at most that long, an address can never have more
  live holds than that, however many accounts it registers (slot hoarding);
* ``POST /api/v1/messages`` additionally per user (``MESSAGE_LIMIT_PER_MINUTE`` per minute).

The client IP is the socket peer; with ``TRUST_PROXY_HEADERS`` it is taken from
``X-Forwarded-For``, counting ``TRUSTED_PROXY_COUNT`` entries from the right. IPv6
clients are grouped by /64 (one host usually owns the whole prefix).

Every limited response carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds) for the tightest bucket; a refusal is 429 ``rate_limited``
with ``Retry-After``. Probes, metrics and Socket.IO traffic are not limited here (``realtime/limits.py``
budgets Socket.IO per IP with this limiter). When Redis
fails or is slow the request goes through and a warning is logged (fail open).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import error_response
from server.identity import ACCESS_COOKIE, InvalidToken, decode_access_token
from server.redis_client import REDIS_FAILURES, hash_tag, slot_groups
from server.settings import Settings

log = logging.getLogger("edustream.ratelimit")

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
EXEMPT_PREFIXES = ("/socket.io/",)
AUTH_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/auth/register"})
HOLDS_PATH = "/api/v1/holds"
MESSAGES_PATH = "/api/v1/messages"
KEY_PREFIX = "rl:"
_WARN_EVERY_SECONDS = 30.0

# KEYS: one per bucket. ARGV[2i - 1]: the limit of KEYS[i]; ARGV[2i]: its window in ms.
# Returns {allowed (0/1), count_1, ttl_ms_1, count_2, ttl_ms_2, ...}.
_LUA = """
local counts, ttls, windows = {}, {}, {}
local allowed = 1
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i])
  windows[i] = window
  local ttl = redis.call('PTTL', KEYS[i])
  local count = 0
  if ttl == -1 then
    redis.call('DEL', KEYS[i])  -- a counter without expiry would block forever
    ttl = window
  elseif ttl == -2 then
    ttl = window
  else
    count = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  counts[i], ttls[i] = count, ttl
  if count >= tonumber(ARGV[2 * i - 1]) then allowed = 0 end
end
if allowed == 1 then
  for i = 1, #KEYS do
    counts[i] = redis.call('INCR', KEYS[i])
    if counts[i] == 1 then
      redis.call('PEXPIRE', KEYS[i], windows[i])
      ttls[i] = windows[i]
    end
  end
end
local out = {allowed}
for i = 1, #KEYS do
  out[#out + 1] = counts[i]
  out[#out + 1] = ttls[i]
end
return out
"""


# Takes back one count from each of KEYS (a request another slot refused, see
# RateLimiter._hit_per_slot); a counter that expired meanwhile is left alone.
_UNDO_LUA = """
for i = 1, #KEYS do
  if redis.call('PTTL', KEYS[i]) > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then
    redis.call('DECR', KEYS[i])
  end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    window_seconds: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
               "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            out["Retry-After"] = str(self.reset_seconds)
        return out


def is_limited_path(path: str) -> bool:
    """Everything except probes, metrics and the Socket.IO endpoint."""
    return path not in EXEMPT_PATHS and not path.startswith(EXEMPT_PREFIXES)


def client_ip(scope: Scope, settings: Settings) -> str:
    """The caller's address as a bucket name (IPv6 reduced to its /64)."""
    peer = scope.get("client")
    raw = peer[0] if peer else ""
    if settings.trust_proxy_headers:
        forwarded = Headers(scope=scope).getlist("x-forwarded-for")
        hops = [h.strip() for value in forwarded for h in value.split(",") if h.strip()]
        if len(hops) >= settings.trusted_proxy_count >= 1:
            raw = hops[-settings.trusted_proxy_count]
    try:
        addr = ipaddress.ip_address(raw)
    except ValueError:
        return "unknown" if not peer else str(peer[0])[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def user_id_from_token(scope: Scope, settings: Settings) -> str | None:
    """The user id of a valid access token (Bearer header, else cookie); no database access."""
    headers = Headers(scope=scope)
    token = ""
    authorization = headers.get("authorization", "")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
    elif "cookie" in headers:
        token = cookie_parser(headers["cookie"]).get(ACCESS_COOKIE, "")
    if not token:
        return None
    try:
        return str(decode_access_token(settings, token).id)
    except InvalidToken:
        return None


def buckets_for(scope: Scope, settings: Settings) -> list[Bucket]:
    """The buckets a request counts against."""
    ip = client_ip(scope, settings)
    user_id = user_id_from_token(scope, settings)
    window = settings.rate_limit_window_seconds
    # An address's buckets share a hash tag: in a Redis Cluster they live in one slot, so one
    # script checks them together (an anonymous login: the per-IP and the sign-in bucket).
    tagged = hash_tag(ip)
    # A user's buckets likewise (sending a message: the per-user and the per-minute message bucket).
    user_tag = hash_tag(user_id) if user_id else ""
    buckets = [Bucket(f"{KEY_PREFIX}user:{user_tag}", settings.rate_limit_per_user, window) if user_id
               else Bucket(f"{KEY_PREFIX}ip:{tagged}", settings.rate_limit_per_ip, window)]
    path = scope["path"].rstrip("/")
    if path in AUTH_PATHS:
        buckets.append(Bucket(f"{KEY_PREFIX}auth:{tagged}", settings.rate_limit_auth_per_ip, window))
    if path == HOLDS_PATH and scope["method"] == "POST" and settings.hold_limit_per_ip > 0:
        buckets.append(Bucket(f"{KEY_PREFIX}holds:{tagged}", settings.hold_limit_per_ip, settings.hold_ttl_seconds))
    if path == MESSAGES_PATH and scope["method"] == "POST" and user_id and settings.message_limit_per_minute > 0:
        buckets.append(Bucket(f"{KEY_PREFIX}messages:{user_tag}", settings.message_limit_per_minute, 60))
    return buckets


class RateLimiter:
    """Runs the Lua script against a Redis client and turns its answer into a :class:`Decision`."""

    def __init__(self) -> None:
        self._script: Any = None
        self._undo: Any = None

    async def hit(self, redis: Redis, buckets: list[Bucket]) -> Decision:
        if self._script is None:
            self._script = redis.register_script(_LUA)
            self._undo = redis.register_script(_UNDO_LUA)
        if isinstance(redis, RedisCluster) and len(buckets) > 1:
            reply = await self._hit_per_slot(redis, buckets)
        else:
            args = [n for b in buckets for n in (b.limit, b.window_seconds * 1000)]
            reply = await self._script(keys=[b.key for b in buckets], args=args, client=redis)
        allowed = bool(int(reply[0]))
        decisions = [
            Decision(allowed=allowed, limit=bucket.limit, window_seconds=bucket.window_seconds,
                     remaining=max(bucket.limit - int(reply[1 + 2 * i]), 0),
                     reset_seconds=max(math.ceil(int(reply[2 + 2 * i]) / 1000), 1))
            for i, bucket in enumerate(buckets)
        ]
        if allowed:
            # Report the bucket closest to refusing.
            return min(decisions, key=lambda d: (d.remaining, -d.reset_seconds))
        # Refused: the client must wait until every full bucket has reset.
        return max((d for d in decisions if d.remaining == 0), key=lambda d: d.reset_seconds)


    async def _hit_per_slot(self, redis: Redis, buckets: list[Bucket]) -> list[int]:
        """In a Redis Cluster a request's buckets (a signed-in user's, and its address's sign-in
        or hold bucket) may live in different slots: the script runs once per slot,
        concurrently. Each bucket still never passes its limit (each run is atomic). When one
        slot refuses the request, the slots that counted it take the count back, so a refused
        request uses up no budget here either (tests/server/test_ratelimit.py, run on a cluster)."""
        groups = slot_groups([b.key for b in buckets])
        replies = await asyncio.gather(*(
            self._script(keys=[buckets[i].key for i in group],
                         args=[n for i in group for n in (buckets[i].limit, buckets[i].window_seconds * 1000)],
                         client=redis) for group in groups))
        if any(int(reply[0]) == 0 for reply in replies):
            counted = [(group, reply) for group, reply in zip(groups, replies, strict=True) if int(reply[0]) == 1]
            await asyncio.gather(*(self._undo(keys=[buckets[i].key for i in group], client=redis)
                                   for group, _ in counted))
            for group, reply in counted:  # report the counts as they are again
                for position in range(len(group)):
                    reply[1 + 2 * position] = max(int(reply[1 + 2 * position]) - 1, 0)
        merged: list[int] = [min(int(reply[0]) for reply in replies)] + [0] * (2 * len(buckets))
        for group, reply in zip(groups, replies, strict=True):
            for position, index in enumerate(group):
                merged[1 + 2 * index], merged[2 + 2 * index] = int(reply[1 + 2 * position]), int(reply[2 + 2 * position])
        return merged


class RateLimitMiddleware:
    """Refuse requests over their limits with 429; settings and Redis come from the app state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.limiter = RateLimiter()
        self._last_warning = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_limited_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: Settings = state.settings
        if not settings.rate_limit_enabled:
            await self.app(scope, receive, send)
            return
        decision = await self._decide(scope, settings, state.redis)
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = decision.headers()
        if not decision.allowed:
            response = error_response(
                "rate_limited", f"Too many requests; try again in {decision.reset_seconds} s.", 429,
                details={"limit": decision.limit, "window_seconds": decision.window_seconds,
                         "retry_after": decision.reset_seconds}, headers=headers)
            await response(scope, receive, send)
            return
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw_headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _decide(self, scope: Scope, settings: Settings, redis: Redis) -> Decision | None:
        try:
            return await asyncio.wait_for(
                self.limiter.hit(redis, buckets_for(scope, settings)),
                timeout=settings.rate_limit_redis_timeout_seconds)
        except REDIS_FAILURES as exc:
            now = time.monotonic()
            if now - self._last_warning >= _WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning("rate limiting skipped (failing open): Redis unavailable: %r", exc)
            return None

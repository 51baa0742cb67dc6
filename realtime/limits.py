"""Limits of the ``/live`` namespace.

Per connection (in memory): event rate, payload size, watch count. Per client IP, shared by
every API process through Redis with the REST rate limiter's fixed windows
(:mod:`server.ratelimit`): connections opened and events sent per ``RATE_LIMIT_WINDOW_SECONDS``,
so opening more connections does not buy a client more budget. Like REST, the per-IP
budgets apply while ``RATE_LIMIT_ENABLED`` and fail open when Redis is slow or down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from server.errors import AppError
from server.identity import Principal
from server.ratelimit import KEY_PREFIX, Bucket, RateLimiter, client_ip
from server.redis_client import REDIS_FAILURES
from server.settings import Settings

log = logging.getLogger("edustream.live.limits")
_WARN_EVERY_SECONDS = 30.0


class LiveRateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "Too many events on this connection; slow down."


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    message = "The event payload is too large."


class TooManyWatches(AppError):
    status = 409
    code = "too_many_watches"
    message = "This connection already watches the maximum number of tutors; unwatch one first."


@dataclass
class TokenBucket:
    """``rate`` events per second with bursts up to ``rate`` (monotonic clock)."""

    rate: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0 when an event may pass (and consume a token), else the seconds until one may."""
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.rate
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class ConnectionState:
    """What one Socket.IO connection may do and is doing (kept in its Socket.IO session)."""

    principal: Principal | None
    bucket: TokenBucket
    watching: set[str] = field(default_factory=set)
    ip: str = ""
    expires_at: float | None = None  # the access token's expiry (epoch seconds); None when anonymous
    expiry: asyncio.TimerHandle | None = None  # ends the connection at ``expires_at`` unless it re-authenticates


def payload_size(args: tuple[Any, ...]) -> int:
    """The size of an event's arguments as JSON (what the client sent, re-encoded compactly)."""
    try:
        return len(json.dumps(args, separators=(",", ":"), default=str).encode())
    except (TypeError, ValueError):
        return 0


def check_event(state: ConnectionState, args: tuple[Any, ...], *, max_bytes: int) -> None:
    """Raise the error ack's cause when the event is over the rate or size limit."""
    wait = state.bucket.take()
    if wait > 0:
        raise LiveRateLimited(details={"retry_after_seconds": round(wait, 3),
                                       "limit_per_second": state.bucket.rate})
    size = payload_size(args)
    if size > max_bytes:
        raise PayloadTooLarge(details={"bytes": size, "limit_bytes": max_bytes})


def reserve_watch(state: ConnectionState, room: str, *, max_watches: int) -> bool:
    """Count ``room`` as watched; True when it is new. Synchronous, so concurrent handlers cannot race."""
    if room in state.watching:
        return False
    if len(state.watching) >= max_watches:
        raise TooManyWatches(details={"limit": max_watches})
    state.watching.add(room)
    return True


#: The environ key under which a connection keeps its client IP once its handshake is released.
CLIENT_IP = "edustream.client_ip"


class IpBudgets:
    """Per-IP connection and event budgets in Redis (one per process, shared by its connections)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limiter = RateLimiter()
        self._last_warning = 0.0

    @staticmethod
    def ip_of(settings: Settings, environ: Mapping[str, Any]) -> str:
        """The client IP as REST sees it (``X-Forwarded-For`` rules included)."""
        if isinstance(known := environ.get(CLIENT_IP), str):
            return known  # computed at the first connect, before the handshake was released
        scope = environ.get("asgi.scope")
        if isinstance(scope, MutableMapping):
            return client_ip(scope, settings)
        return str(environ.get("REMOTE_ADDR", ""))

    async def connect(self, redis: Redis | None, ip: str) -> None:
        """Count a connection attempt; ``LiveRateLimited`` when the IP is over its budget."""
        await self._hit(redis, Bucket(f"{KEY_PREFIX}live-conn:{ip}", self.settings.live_connections_per_ip,
                                             self.settings.rate_limit_window_seconds),
                        "Too many live connections from this address; try again later.")

    async def event(self, redis: Redis | None, ip: str) -> None:
        """Count an event; ``LiveRateLimited`` when the IP's connections together are over budget."""
        await self._hit(redis, Bucket(f"{KEY_PREFIX}live-events:{ip}", self.settings.live_events_per_ip,
                                             self.settings.rate_limit_window_seconds),
                        "Too many live events from this address; slow down.")

    async def _hit(self, redis: Redis | None, bucket: Bucket, message: str) -> None:
        settings = self.settings
        if not settings.rate_limit_enabled or redis is None:
            return
        try:
            decision = await asyncio.wait_for(
                self.limiter.hit(redis, [bucket]),
                timeout=settings.rate_limit_redis_timeout_seconds)
        except REDIS_FAILURES as exc:
            now = time.monotonic()
            if now - self._last_warning >= _WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning("live rate limiting skipped (failing open): Redis unavailable: %r", exc)
            return
        if not decision.allowed:
            raise LiveRateLimited(message, details={"retry_after_seconds": decision.reset_seconds,
                                                    "limit": decision.limit, "scope": "ip",
                                                    "window_seconds": settings.rate_limit_window_seconds})

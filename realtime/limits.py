"""Per-connection limits of the ``/live`` namespace: event rate, payload size, watch count."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from server.auth.tokens import Principal
from server.errors import AppError


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

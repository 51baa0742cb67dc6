"""Which tutors have a live ``/live`` connection, across every API process (Redis).

Two sorted sets per deployment, under one hash tag so each script's keys share a Redis
Cluster slot:

* ``…:conns:<tutor_id>``: the tutor's connections (Socket.IO sids) scored by the time until
  which each counts as present (milliseconds, Redis's own clock);
* ``…:online``: tutor ids scored by the latest of those times.

The API process holding a connection adds it when the tutor signs in on it, refreshes it every
``INSTANT_PRESENCE_HEARTBEAT_SECONDS`` to ``now + INSTANT_PRESENCE_TTL_SECONDS`` and removes it
on disconnect. A process that dies (SIGKILL, a lost host) or freezes stops refreshing, so its
connections stop counting within the TTL without anyone cleaning up: expiry is a query condition
(a score in the past), as it is for holds. Times come from Redis (``TIME``), so the API
processes' clocks need not agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from server.redis_client import hash_tag
from server.settings import Settings

_NOW_MS = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

# KEYS: online, then one conns key per entry; ARGV: ttl_ms, then the sids, then the tutor ids.
_TOUCH = _NOW_MS + """
local ttl = tonumber(ARGV[1])
local n = #KEYS - 1
for i = 1, n do
  redis.call('ZADD', KEYS[i + 1], now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ttl)
  redis.call('ZADD', KEYS[1], 'GT', now + ttl, ARGV[n + i + 1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return n
"""

# KEYS: online, the tutor's conns; ARGV: sid, tutor id. The tutor stays online until the latest
# expiry of their remaining connections (other processes' included), or leaves the set.
_LEAVE = _NOW_MS + """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if #top == 0 then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[1], top[2], ARGV[2])
return 1
"""

# KEYS: online; ARGV: tutor id.
_IS_ONLINE = _NOW_MS + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now then return 1 end
return 0
"""

# KEYS: online. The tutors present now.
_ONLINE = _NOW_MS + "return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')"


def _prefix(settings: Settings) -> str:
    # The live channel already tells deployments (and test runs) sharing one Redis apart.
    return f"{hash_tag(settings.live_channel + ':presence')}"


def _online_key(settings: Settings) -> str:
    return f"{_prefix(settings)}:online"


def _conns_key(settings: Settings, tutor_id: uuid.UUID | str) -> str:
    return f"{_prefix(settings)}:conns:{tutor_id}"


async def touch(redis: Redis, settings: Settings, connections: Sequence[tuple[uuid.UUID | str, str]]) -> None:
    """Mark ``(tutor_id, sid)`` connections present for another ``INSTANT_PRESENCE_TTL_SECONDS``."""
    if not connections:
        return
    ttl_ms = max(1, int(settings.instant_presence_ttl_seconds * 1000))
    keys = [_online_key(settings), *(_conns_key(settings, t) for t, _ in connections)]
    args: list[str | int] = [ttl_ms, *(sid for _, sid in connections), *(str(t) for t, _ in connections)]
    await redis.eval(_TOUCH, len(keys), *keys, *args)


async def leave(redis: Redis, settings: Settings, tutor_id: uuid.UUID | str, sid: str) -> None:
    """The connection closed: the tutor stays online only through their other connections."""
    await redis.eval(_LEAVE, 2, _online_key(settings), _conns_key(settings, tutor_id), sid, str(tutor_id))


async def online_tutors(redis: Redis, settings: Settings) -> set[uuid.UUID]:
    """The tutors with at least one present connection, now."""
    members = await redis.eval(_ONLINE, 1, _online_key(settings))
    out = set()
    for member in members:
        try:
            out.add(uuid.UUID(member.decode() if isinstance(member, bytes) else str(member)))
        except ValueError:
            continue
    return out


async def is_online(redis: Redis, settings: Settings, tutor_id: uuid.UUID) -> bool:
    """Whether the tutor has at least one present connection, now."""
    return bool(await redis.eval(_IS_ONLINE, 1, _online_key(settings), str(tutor_id)))


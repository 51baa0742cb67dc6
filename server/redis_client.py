"""One way to open Redis: a single server (``REDIS_URL``) or a Redis Cluster (``REDIS_CLUSTER_NODES``).

Everything that talks to Redis (the API's client, the worker's, rate limits, the live
fan-out, the task queue) gets its client here, so switching to a cluster is one setting.
``redis.asyncio.RedisCluster`` speaks the same commands as ``Redis`` for what EduStream uses;
what a cluster adds is the rule that the keys of one command or script live in one hash slot.
:func:`hash_tag` is how keys that must live together say so (``{…}``: only the tagged part
is hashed), and :func:`slot_groups` splits keys that cannot (a request's rate-limit buckets
are per user and per IP) into one group per slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisClusterException, RedisError

from server.settings import Settings

# What a failing Redis raises: the client's errors, a cluster client's own (a RedisCluster
# that reaches no node raises RedisClusterException, which is not a RedisError), the socket's.
# What fails open (rate limits, sign-in throttling) or retries (live shards) catches these.
REDIS_FAILURES: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError, TimeoutError)


def cluster_nodes(settings: Settings) -> list[ClusterNode]:
    """``REDIS_CLUSTER_NODES`` as startup nodes (empty for a single Redis)."""
    nodes = []
    for item in settings.redis_cluster_nodes.split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            nodes.append(ClusterNode(host, int(port)))
    return nodes


def is_cluster(settings: Settings) -> bool:
    return bool(cluster_nodes(settings))


def make_redis(settings: Settings, **options: Any) -> Redis:
    """A client for the configured Redis. A ``RedisCluster`` is returned as ``Redis``: the
    commands EduStream uses have the same signatures (tests/server/test_redis_cluster.py)."""
    nodes = cluster_nodes(settings)
    if nodes:
        return cast(Redis, RedisCluster(startup_nodes=nodes, **options))
    return Redis.from_url(settings.redis_url, **options)


async def open_redis(settings: Settings, **options: Any) -> Redis:
    """:func:`make_redis`, with a cluster's slot map loaded before the first command: a fresh
    cluster client hit by many concurrent first commands races its own initialisation."""
    client = make_redis(settings, **options)
    if isinstance(client, RedisCluster):
        await client.initialize()
    return client


def hash_tag(value: str) -> str:
    """``{value}``: keys sharing a tag share a slot, so one script may use them together."""
    return "{" + value + "}"


def slot_groups(keys: Sequence[str]) -> list[list[int]]:
    """The indexes of ``keys`` grouped by hash slot, in first-seen order."""
    groups: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key_slot(key.encode()), []).append(index)
    return list(groups.values())

"""Background jobs, from the domain's side: the task queue and kicking a task by name.

The queue is one Redis stream with a consumer group (at-least-once delivery), consumed by
``edustream worker`` (``tasks/``). The domain never imports ``tasks/``: it names the task
(``domain.verb``) and its arguments, and the worker's broker applies the labels the task
declares (time limit, retry policy) when the message arrives
(:class:`tasks.broker.DeclaredLabelsFormatter`). Services call :func:`enqueue`, which kicks
the task only once the unit of work has committed: a rollback enqueues nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, ResponseError
from taskiq import AckableMessage, BrokerMessage
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from server.db import Session
from server.observability.taskiq import TracingMiddleware
from server.redis_client import hash_tag, is_cluster, make_redis
from server.settings import Settings

log = logging.getLogger("edustream.jobs")

# Kicks a task by name at once (``kick("calendar.pull_busy", user_id)``); jobs that run other
# jobs are handed one by their edge, which knows the queue.
Kick = Callable[..., Awaitable[Any]]

# The third-party tasks (declared with tasks.outbound.outbound_task), whose dead letters an admin
# may re-queue. Named here because an API process does not import tasks/; a test keeps the list
# equal to the declarations, and a declaration outside it (a test probe) is added when declared.
OUTBOUND_TASK_NAMES = frozenset({"email.send", "calendar.sync_booking", "calendar.pull_busy",
                                 "video.create_meeting", "payments.refund", "payments.cancel_intent",
                                 "payouts.transfer", "payouts.reconcile_payout"})
_declared_outbound: set[str] = set()


def declare_outbound_task(name: str) -> None:
    """Record an outbound task declared in this process (see :data:`OUTBOUND_TASK_NAMES`)."""
    _declared_outbound.add(name)


def is_outbound_task(name: str) -> bool:
    """Whether a dead letter of task ``name`` can be re-queued."""
    return name in OUTBOUND_TASK_NAMES or name in _declared_outbound

CONSUMER_GROUP = "edustream"
# taskiq-redis guards its reclaim step with a Redis lock; bound it so a killed worker
# cannot leave it held.
RECLAIM_LOCK_SECONDS = 5.0


class QueueBroker(RedisStreamBroker):
    """The task queue configured from :class:`Settings` (kicking and consuming alike)."""

    def __init__(self, settings: Settings, **connection_kwargs: Any) -> None:
        if settings.task_idle_timeout_seconds <= settings.task_timeout_seconds:
            log.warning("TASK_IDLE_TIMEOUT_SECONDS (%s) should exceed TASK_TIMEOUT_SECONDS (%s): a slow task "
                        "would be handed to a second worker while it still runs",
                        settings.task_idle_timeout_seconds, settings.task_timeout_seconds)
        super().__init__(
            # An unset REDIS_URL is refused at startup (see startup()), not at import.
            url=settings.redis_url or "redis://127.0.0.1:6379/0",
            queue_name=settings.task_queue_name,
            consumer_group_name=CONSUMER_GROUP,
            # "0": a group created after tasks were kicked still delivers them.
            consumer_id="0",
            idle_timeout=int(settings.task_idle_timeout_seconds * 1000),
            unacknowledged_lock_timeout=RECLAIM_LOCK_SECONDS,
            maxlen=settings.task_stream_maxlen,
            **connection_kwargs,
        )
        self.settings = settings
        # In a Redis Cluster the stream (one key, so one slot) is reached through a cluster
        # client: taskiq-redis's own cluster broker has no reclaim of a dead worker's tasks.
        self.cluster: Redis | None = make_redis(settings, **_cluster_options(connection_kwargs)) \
            if is_cluster(settings) else None

    async def startup(self) -> None:
        """Refuse to run without a configured Redis, then declare the consumer group."""
        if not self.settings.redis_url:
            raise RuntimeError("REDIS_URL is not set: start the worker with `edustream worker` "
                               "(it starts the embedded services) or set REDIS_URL")
        await super().startup()

    async def _declare_consumer_group(self) -> None:
        if self.cluster is None:
            await super()._declare_consumer_group()
            return
        try:
            await self.cluster.xgroup_create(self.queue_name, self.consumer_group_name, id=self.consumer_id,
                                             mkstream=self.mkstream)
        except ResponseError as err:  # BUSYGROUP: declared already
            log.debug("%s", err)

    async def kick(self, message: BrokerMessage) -> None:
        if self.cluster is None:
            await super().kick(message)
            return
        await self.cluster.xadd(message.labels.get("queue_name") or self.queue_name, {b"data": message.message},
                                maxlen=self.maxlen, approximate=self.approximate)

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        if self.cluster is None:
            return super()._ack_generator(id, queue_name)
        cluster = self.cluster

        async def _ack() -> None:
            await cluster.xack(queue_name, self.consumer_group_name, id)

        return _ack

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """The stream's new messages, then (as taskiq-redis does) those a dead worker left
        pending past ``TASK_IDLE_TIMEOUT_SECONDS``, reclaimed under a lock in the stream's slot."""
        if self.cluster is None:
            async for message in super().listen():
                yield message
            return
        cluster = self.cluster
        while True:
            fetched: Any = await cluster.xreadgroup(self.consumer_group_name, self.consumer_name,
                                                    {self.queue_name: ">"}, block=self.block, noack=False,
                                                    count=self.count)
            for stream, messages in fetched or []:
                for msg_id, msg in messages:
                    yield AckableMessage(data=msg[b"data"], ack=self._ack_generator(msg_id, stream))
            lock = cluster.lock(f"{hash_tag(self.queue_name)}:autoclaim:{self.consumer_group_name}",
                                timeout=self.unacknowledged_lock_timeout)
            async with lock:
                pending: Any = await cluster.xautoclaim(self.queue_name, self.consumer_group_name, self.consumer_name,
                                                   min_idle_time=self.idle_timeout,
                                                   count=self.unacknowledged_batch_size)
            for msg_id, msg in pending[1]:
                yield AckableMessage(data=msg[b"data"], ack=self._ack_generator(msg_id, self.queue_name))

    async def close(self) -> None:
        """Close the connections without running shutdown events (kick-only clients)."""
        if self.cluster is not None:
            await self.cluster.aclose()
        pool: BlockingConnectionPool = self.connection_pool
        await pool.disconnect()

    async def shutdown(self) -> None:
        await super().shutdown()
        if self.cluster is not None:
            await self.cluster.aclose()


def _cluster_options(connection_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The connection options a cluster client takes too (timeouts), not the pool's."""
    return {k: v for k, v in connection_kwargs.items() if k in ("socket_timeout", "socket_connect_timeout")}


class TaskClient:
    """Kicks tasks by name from a process that does not run them (the API, scripts, tests).

    ``async with TaskClient(settings) as tasks: await tasks.kick("email.send", ...)``.
    """

    def __init__(self, settings: Settings) -> None:
        # Socket timeouts only here: a kick is one short command, while the worker's own broker
        # blocks on XREADGROUP for longer than any sensible socket timeout.
        self._broker = QueueBroker(settings, socket_timeout=settings.redis_socket_timeout_seconds,
                                   socket_connect_timeout=settings.redis_socket_timeout_seconds)
        # The kick joins the caller's trace (e.g. the admin request that re-queues a task).
        self._broker.add_middlewares(TracingMiddleware())

    async def __aenter__(self) -> TaskClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._broker.close()

    async def kick(self, task: str, *args: Any, **kwargs: Any) -> str:
        """Enqueue ``task(*args, **kwargs)``; returns the task id."""
        return await self.kick_with(task, args, kwargs)

    async def kick_with(self, task: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                        labels: Mapping[str, Any] | None = None) -> str:
        """Like :meth:`kick`, with explicit argument containers and extra labels (the
        task's declared labels are applied by the worker)."""
        kicker: AsyncKicker[Any, Any] = AsyncKicker(task, self._broker, dict(labels or {}))
        sent = await kicker.kiq(*args, **kwargs)
        return sent.task_id


def enqueue(session: Session, settings: Settings, task: str, *args: Any) -> None:
    """Kick ``task(*args)`` once ``session``'s unit of work has committed.

    A failed kick is logged, not raised: the change is committed already, and every job
    that matters has a sweep that finds work left undone (docs/jobs.md). It runs inside the
    HTTP response, so it gives up after ``ENQUEUE_TIMEOUT_SECONDS``."""

    async def kick() -> None:
        try:
            async with asyncio.timeout(settings.enqueue_timeout_seconds):
                async with TaskClient(settings) as client:
                    await client.kick(task, *args)
        except Exception:
            log.exception("could not enqueue %s%r", task, args)

    session.after_commit(kick)

"""The task broker: one Redis stream with a consumer group (at-least-once delivery).

``python -m taskiq worker tasks.broker:broker tasks.all --ack-type when_executed`` runs the
worker (``edustream worker``). A message is acknowledged only after its task ran, so a
worker that dies mid-task leaves it pending; another worker reclaims it once it has been
idle for ``TASK_IDLE_TIMEOUT_SECONDS`` (taskiq-redis does that after a read that returned
something, and the scheduler's one-second sweeps keep the stream moving). Every task is
therefore written to be safe to run twice. No result backend: nobody waits for a result.

Other processes (the API, scripts) kick tasks through a :class:`TaskClient` built from
their own settings, so they never depend on this module's environment-built instance.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool
from taskiq import AsyncTaskiqDecoratedTask
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from server.observability.taskiq import TracingMiddleware
from server.settings import Settings, get_settings
from tasks import runtime

log = logging.getLogger("edustream.tasks")

CONSUMER_GROUP = "edustream"
# taskiq-redis guards its reclaim step with a Redis lock; bound it so a killed worker
# cannot leave it held.
RECLAIM_LOCK_SECONDS = 5.0


# The one-second sweeps would otherwise log three "Sending"/"Executing" lines a second, and
# the list schedule source a line at every re-read.
QUIET_TASKS = frozenset({"bookings.expire_due", "bookings.alert_due", "outbound.release_due_retries",
                         "integrations.dispatch_due"})
QUIET_MESSAGES = frozenset({"Getting previous time schedules"})


class _QuietRoutine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        return record.msg not in QUIET_MESSAGES and not any(a in QUIET_TASKS for a in args if isinstance(a, str))


for _name in ("taskiq.receiver.receiver", "taskiq.cli.scheduler.run", "taskiq.redis_schedule_source"):
    logging.getLogger(_name).addFilter(_QuietRoutine())


class EduStreamBroker(RedisStreamBroker):
    """A :class:`RedisStreamBroker` configured from :class:`Settings`."""

    def __init__(self, settings: Settings) -> None:
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
        )
        self.settings = settings

    async def startup(self) -> None:
        """Refuse to run without a configured Redis, then declare the consumer group."""
        if not self.settings.redis_url:
            raise RuntimeError("REDIS_URL is not set: start the worker with `edustream worker` "
                               "(it starts the embedded services) or set REDIS_URL")
        await super().startup()

    async def close(self) -> None:
        """Close the connection pool without running shutdown events (kick-only clients)."""
        pool: BlockingConnectionPool = self.connection_pool
        await pool.disconnect()


class TaskClient:
    """Kicks tasks by name from a process that does not run them (the API, scripts, tests).

    ``async with TaskClient(settings) as tasks: await tasks.kick("email.send", ...)``. The
    labels (time limit, retry policy) come from the task's declaration in ``tasks.all``.
    """

    def __init__(self, settings: Settings) -> None:
        self._broker = EduStreamBroker(settings)
        # The kick joins the caller's trace (e.g. the admin request that re-queues a task).
        self._broker.add_middlewares(TracingMiddleware())

    async def __aenter__(self) -> TaskClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._broker.close()

    async def kick(self, task: str | AsyncTaskiqDecoratedTask[Any, Any], *args: Any, **kwargs: Any) -> str:
        """Enqueue ``task(*args, **kwargs)``; returns the task id."""
        return await self.kick_with(task, args, kwargs)

    async def kick_with(self, task: str | AsyncTaskiqDecoratedTask[Any, Any], args: Sequence[Any],
                        kwargs: Mapping[str, Any], labels: Mapping[str, Any] | None = None) -> str:
        """Like :meth:`kick`, with explicit argument containers and extra labels."""
        import tasks.all  # noqa: F401  (task declarations carry the labels)

        declared = broker.find_task(task) if isinstance(task, str) else task
        if declared is None:
            raise LookupError(f"no task named {task!r} (is its module imported in tasks.all?)")
        task_labels = {k: v for k, v in declared.labels.items() if k != "schedule"}
        task_labels.update(labels or {})
        kicker: AsyncKicker[Any, Any] = AsyncKicker(declared.task_name, self._broker, task_labels)
        sent = await kicker.kiq(*args, **kwargs)
        return sent.task_id


broker = EduStreamBroker(get_settings())
# Spans, trace context in labels, task metrics and Sentry reports (docs/observability.md).
broker.add_middlewares(TracingMiddleware())
runtime.install(broker, lambda: broker.settings)

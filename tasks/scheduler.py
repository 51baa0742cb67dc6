"""The scheduler process: ``python -m taskiq scheduler tasks.scheduler:scheduler`` (``edustream scheduler``).

Run exactly one. It only kicks tasks; the worker runs them. Its sources:

* :class:`LabelScheduleSource`: the schedules declared next to each task
  (``schedule=[...]`` labels): the one-second sweeps (``bookings.expire_due``,
  ``bookings.alert_due``, ``outbound.release_due_retries``), ``messages.email_unread`` (every
  ``MESSAGE_EMAIL_SWEEP_SECONDS``) and the cron jobs
  (``bookings.complete_finished``, ``housekeeping.purge``). Interval schedules are checked
  every second, independently of ``--update-interval``.
* :data:`schedule_source`, a :class:`ListRedisScheduleSource` for ad-hoc one-off or cron
  schedules added at run time (``await task.schedule_by_time(schedule_source, when, ...)``).
  It is re-read only every ``--update-interval`` seconds and buckets times by minute, so
  nothing that must be on time depends on it.

SIGTERM stops it cleanly (taskiq's own CLI only handles Ctrl-C).
"""

from __future__ import annotations

import asyncio
import signal

from taskiq import TaskiqScheduler
from taskiq.abc.schedule_source import ScheduleSource
from taskiq.schedule_sources import LabelScheduleSource
from taskiq_redis import ListRedisScheduleSource, RedisClusterScheduleSource

import tasks.all  # noqa: F401  (registers every task and its schedule labels)
from server.observability import setup_process, shutdown_tracing
from server.observability.tracing import Tracing
from server.redis_client import is_cluster
from tasks.broker import broker


class EduStreamScheduler(TaskiqScheduler):
    """A :class:`TaskiqScheduler` that also shuts down cleanly on SIGTERM, with our logging and tracing."""

    _tracing: Tracing | None = None

    async def startup(self) -> None:
        self._tracing = setup_process(broker.settings, "scheduler")
        main = asyncio.current_task()
        if main is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        await super().startup()

    async def shutdown(self) -> None:
        await super().shutdown()
        shutdown_tracing(self._tracing)


# In a Redis Cluster taskiq-redis's cluster source (one key per schedule) replaces the list source.
schedule_source: ScheduleSource = (
    RedisClusterScheduleSource(broker.settings.redis_url, prefix=f"{broker.settings.task_queue_name}:schedule")
    if is_cluster(broker.settings) else
    ListRedisScheduleSource(broker.settings.redis_url or "redis://127.0.0.1:6379/0",
                            prefix=f"{broker.settings.task_queue_name}:schedule"))

scheduler = EduStreamScheduler(broker, sources=[LabelScheduleSource(broker), schedule_source])

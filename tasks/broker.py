"""The task broker: one Redis stream with a consumer group (at-least-once delivery).

``python -m taskiq worker tasks.broker:broker tasks.all --ack-type when_executed`` runs the
worker (``edustream worker``). A message is acknowledged only after its task ran, so a
worker that dies mid-task leaves it pending; another worker reclaims it once it has been
idle for ``TASK_IDLE_TIMEOUT_SECONDS`` (taskiq-redis does that after a read that returned
something, and the scheduler's one-second sweeps keep the stream moving). Every task is
therefore written to be safe to run twice. No result backend: nobody waits for a result.

Other processes (the API, scripts) kick tasks by name through :class:`server.jobs.TaskClient`
built from their own settings, so they never depend on this module's environment-built
instance; the labels a task declares here are applied when its message is received.
"""

from __future__ import annotations

import logging

from taskiq.formatters.proxy_formatter import ProxyFormatter
from taskiq.message import TaskiqMessage

from server.jobs import QueueBroker
from server.observability.taskiq import TracingMiddleware
from server.settings import Settings, get_settings
from tasks import runtime

log = logging.getLogger("edustream.tasks")

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


class DeclaredLabelsFormatter(ProxyFormatter):
    """Applies a task's declared labels (time limit, retry policy) to every message it
    receives: kickers name the task only (:mod:`server.jobs`), so the declaration here is
    the one source of those labels. Labels sent with the message win (e.g. a retry count)."""

    def loads(self, message: bytes) -> TaskiqMessage:
        parsed = super().loads(message)
        declared = self.broker.find_task(parsed.task_name)
        if declared is not None:
            parsed.labels = {**{k: v for k, v in declared.labels.items() if k != "schedule"}, **parsed.labels}
        return parsed


class EduStreamBroker(QueueBroker):
    """The worker's broker: the queue, with the declared labels applied on receipt."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.formatter = DeclaredLabelsFormatter(self)


broker = EduStreamBroker(get_settings())
# Spans, trace context in labels, task metrics and Sentry reports (docs/observability.md).
broker.add_middlewares(TracingMiddleware())
runtime.install(broker, lambda: broker.settings)

"""Third-party calls: one task per outbound action, with retries, backoff, a time limit and
a dead-letter record.

Declare an outbound task with :func:`outbound_task` (name ``domain.verb``, arguments are
ids and JSON values). When it raises:

* :class:`PermanentError` (e.g. the provider answered 400): recorded in ``dead_letters``
  at once, no retry;
* anything else, including the ``TASK_TIMEOUT_SECONDS`` time limit: retried after an
  exponential backoff with jitter (``TASK_RETRY_BASE_SECONDS`` × 2^(attempt-1), capped at
  ``TASK_RETRY_MAX_SECONDS``, minus up to 25 %), at most ``TASK_MAX_RETRIES`` times, then
  recorded in ``dead_letters`` (task, arguments, last error, attempts). An admin can list
  and retry dead letters (``/api/v1/admin/dead-letters``).

A retry waits in a Redis sorted set (``<queue>:delayed``, scored by due time) and the
``outbound.release_due_retries`` sweep moves due ones into the stream every second, so a
retry is on time to within a second whatever the scheduler's ``--update-interval``.

At-least-once: a task may run again after a crash, so providers must be called with an
idempotency key derived from the arguments (e.g. ``refund:<booking_id>``), or made to
converge (the calendar and video tasks make the outside world follow the booking).

The e-mail, calendar-event and video-meeting tasks are declared here; payments in
tasks/payments.py, the busy-time pull and the integration sweeps in tasks/integrations.py.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis
from taskiq import AsyncTaskiqDecoratedTask, TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.labels import prepare_label

from models.outbox import DeadLetter
from server.calendar import mirror
from server.db import Sessionmaker, unit_of_work
from server.emails import service as emails
from server.jobs import Kick, declare_outbound_task
from server.observability import metrics
from server.providers.http import ProviderRejected
from server.providers.locks import booking_lock
from server.redis_client import hash_tag
from server.settings import Settings
from server.video import service as video
from tasks import runtime
from tasks.broker import broker

log = logging.getLogger("edustream.tasks.outbound")

P = ParamSpec("P")
R = TypeVar("R")

OUTBOUND_LABEL = "outbound"
RETRIES_LABEL = "_retries"
JITTER = 0.25  # a retry waits between 75 % and 100 % of its backoff
RELEASE_BATCH = 500

# Every outbound task by name: the admin retry re-kicks from here.
OUTBOUND_TASKS: dict[str, AsyncTaskiqDecoratedTask[Any, Any]] = {}


class PermanentError(Exception):
    """A failure that retrying cannot fix (a provider's 4xx, a booking that no longer
    exists): the task goes to the dead letters at once."""


def backoff_seconds(settings: Settings, attempt: int, rand: Callable[[], float] = random.random) -> float:
    """The wait before retry number ``attempt`` (1-based): exponential, capped, with jitter."""
    full = min(settings.task_retry_max_seconds, settings.task_retry_base_seconds * 2 ** (attempt - 1))
    return full * (1 - JITTER * rand())


def delayed_key(settings: Settings) -> str:
    """The sorted set of retries waiting for their backoff. Hash-tagged with the queue's name so
    that, in a Redis Cluster, it shares a slot with the stream the release script writes to."""
    return f"{hash_tag(settings.task_queue_name)}:delayed"


def outbound_task(name: str, *, max_retries: int | None = None,
                  timeout_seconds: float | None = None) -> Callable[[Callable[P, R]], AsyncTaskiqDecoratedTask[P, R]]:
    """Declare a third-party task ``name`` with the retry, time-limit and dead-letter policy."""
    def register(func: Callable[P, R]) -> AsyncTaskiqDecoratedTask[P, R]:
        labels: dict[str, Any] = {OUTBOUND_LABEL: True,
                                  "timeout": timeout_seconds or broker.settings.task_timeout_seconds}
        if max_retries is not None:
            labels["max_retries"] = max_retries
        task: AsyncTaskiqDecoratedTask[P, R] = broker.task(task_name=name, **labels)(func)
        OUTBOUND_TASKS[name] = task
        declare_outbound_task(name)
        return task

    return register


class OutboundRetryMiddleware(TaskiqMiddleware):
    """Retries failed outbound tasks later, or records them as dead letters."""

    async def on_error(self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException) -> None:
        if not message.labels.get(OUTBOUND_LABEL):
            return
        rt = runtime.get()
        settings = rt.settings
        attempt = int(message.labels.get(RETRIES_LABEL, 0)) + 1
        max_retries = int(message.labels.get("max_retries", settings.task_max_retries))
        error = _describe(exception)
        if isinstance(exception, PermanentError) or attempt > max_retries:
            await record_dead_letter(message, error, attempt)
            return
        delay = backoff_seconds(settings, attempt)
        await rt.redis.zadd(delayed_key(settings), {_retry_message(message, attempt): time.time() + delay})
        log.warning("task %s failed (attempt %d of %d): %s; retrying in %.1f s",
                    message.task_name, attempt, max_retries + 1, error, delay)


def _describe(exception: BaseException) -> str:
    if isinstance(exception, TimeoutError) and not str(exception):
        return "TimeoutError: the task exceeded its time limit"
    lines = traceback.format_exception_only(exception)
    return "".join(lines).strip()[:4000]


def _retry_message(message: TaskiqMessage, attempt: int) -> bytes:
    """The same call (same task id) labelled as retry number ``attempt``, ready for the stream."""
    labels = {**message.labels, RETRIES_LABEL: attempt}
    prepared = {key: prepare_label(value) for key, value in labels.items()}
    retry = TaskiqMessage(task_id=message.task_id, task_name=message.task_name,
                          labels={k: v for k, (v, _) in prepared.items()},
                          labels_types={k: t for k, (_, t) in prepared.items()},
                          args=message.args, kwargs=message.kwargs)
    return broker.formatter.dumps(retry).message


async def record_dead_letter(message: TaskiqMessage, error: str, attempts: int) -> None:
    """Store the failed call so that an admin can see and retry it."""
    rt = runtime.get()
    async with unit_of_work(rt.sessionmaker) as session:
        session.add(DeadLetter(task_name=message.task_name,
                               args={"args": list(message.args), "kwargs": dict(message.kwargs)},
                               last_error=error, attempts=attempts))
    metrics.dead_lettered(message.task_name)
    log.error("task %s moved to dead letters after %d attempt(s): %s", message.task_name, attempts, error)


# Moves due retries into the stream atomically, so two sweeps never release one twice.
_RELEASE_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, data in ipairs(due) do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'data', data)
  redis.call('ZREM', KEYS[1], data)
end
return #due
"""


@broker.task(task_name="outbound.release_due_retries",
             schedule=[{"interval": max(1, round(broker.settings.sweep_interval_seconds)),
                        "schedule_id": "outbound.release_due_retries"}])
async def release_due_retries() -> int:
    """Move retries whose backoff has passed into the task stream (runs every second)."""
    rt = runtime.get()
    settings = rt.settings
    released = await rt.redis.eval(_RELEASE_SCRIPT, 2, delayed_key(settings),  # type: ignore[misc]
                                   settings.task_queue_name, time.time(), RELEASE_BATCH, settings.task_stream_maxlen)
    return int(released)


broker.add_middlewares(OutboundRetryMiddleware())


# --- E-mail, calendar events and video meetings -------------------------------------------
# Each task is a function of its dependencies (what the in-process tests call) and a task
# that passes the worker's. The services read in one unit of work, call the provider with no
# database connection held, and record in another.


@contextmanager
def permanent_on_rejection() -> Iterator[None]:
    """A provider's 4xx cannot be fixed by retrying: dead-letter the task at once."""
    try:
        yield
    except ProviderRejected as exc:
        # A dead letter is an operator's record (admins only, like the logs): it keeps the provider's words.
        raise PermanentError(f"{exc}: {exc.detail}" if exc.detail else str(exc)) from exc


async def kick(task_name: str, *args: Any) -> None:
    """Enqueue ``task_name(*args)`` from inside the worker."""
    task = broker.find_task(task_name)
    if task is None:
        raise LookupError(f"no task named {task_name!r}")
    await task.kiq(*args)


def _lock(settings: Settings, redis: Redis, name: str) -> AbstractAsyncContextManager[None]:
    # Held for the whole run (the provider calls and both units of work) so runs of one
    # booking cannot interleave; the TTL outlives the task's time limit.
    return booking_lock(redis, name, ttl_seconds=settings.task_timeout_seconds + 5,
                        wait_seconds=settings.task_timeout_seconds / 2)


async def deliver_email(sessionmaker: Sessionmaker, settings: Settings, to: str, template: str,
                        context: dict[str, Any]) -> str:
    """Compose ``template`` for ``to`` from fresh data and send it; Brevo's message id, or
    ``skipped`` / ``not_configured``."""
    async with unit_of_work(sessionmaker) as session:
        message = await emails.prepare(session, settings, to, template, context)
    if isinstance(message, str):
        return message
    with permanent_on_rejection():
        return await emails.send(settings, to, message)


async def sync_calendar_events(sessionmaker: Sessionmaker, settings: Settings, redis: Redis,
                               booking_id: uuid.UUID, kick: Kick | None = None) -> str:
    """Make both parties' calendars follow the booking; e.g. ``tutor:created student:not_connected``."""
    if not settings.google_configured:
        return "not_configured"
    async with _lock(settings, redis, f"calendar:{booking_id}"):
        async with unit_of_work(sessionmaker) as session:
            sync = await mirror.start_booking_sync(session, settings, booking_id, datetime.now(UTC))
        await mirror.push_events(settings, sync)
        async with unit_of_work(sessionmaker) as session:
            outcome = await mirror.finish_booking_sync(session, settings, sync, kick)
    if sync.error is not None:
        with permanent_on_rejection():
            raise sync.error
    return outcome


async def sync_video_meeting(sessionmaker: Sessionmaker, settings: Settings, redis: Redis,
                             booking_id: uuid.UUID, kick: Kick | None = None) -> str:
    """Make the booking's Zoom meeting follow the booking; returns what was done."""
    if not settings.zoom_configured:
        return "not_configured"
    async with _lock(settings, redis, f"zoom:{booking_id}"):
        async with unit_of_work(sessionmaker) as session:
            sync = await video.start_meeting_sync(session, booking_id)
        with permanent_on_rejection():
            await video.push_meeting(settings, redis, sync)
        async with unit_of_work(sessionmaker) as session:
            return await video.finish_meeting_sync(session, settings, sync, datetime.now(UTC), kick)


@outbound_task("calendar.sync_booking")
async def sync_booking(booking_id: str) -> str:
    """Bring both parties' calendars in line with the booking's current state."""
    rt = runtime.get()
    return await sync_calendar_events(rt.sessionmaker, rt.settings, rt.redis, uuid.UUID(booking_id), kick)


@outbound_task("video.create_meeting")
async def create_meeting(booking_id: str) -> str:
    """Create, move or delete the lesson's video meeting and keep its join_url (an existing
    meeting is kept)."""
    rt = runtime.get()
    return await sync_video_meeting(rt.sessionmaker, rt.settings, rt.redis, uuid.UUID(booking_id), kick)


@outbound_task("email.send")
async def send(to: str, template: str, context: dict[str, Any]) -> str:
    """Send the e-mail ``template`` to ``to``, a user id or an address."""
    rt = runtime.get()
    return await deliver_email(rt.sessionmaker, rt.settings, to, template, context)

"""Tasks that exist only for the job tests: a worker started by the tests imports this module
beside ``tasks.all``. Each records what happened in Redis (under a key the test chose), so a
test can see attempts, timings and which process ran them."""

from __future__ import annotations

import asyncio
import json
import os
import time

from tasks import runtime
from tasks.broker import broker
from tasks.outbound import PermanentError, outbound_task


async def _note(key: str, **fields: object) -> int:
    """Append ``{"at", "pid", **fields}`` to the list ``key``; returns the list's new length."""
    entry = json.dumps({"at": time.time(), "pid": os.getpid(), **fields})
    return int(await runtime.get().redis.rpush(key, entry))  # type: ignore[misc]


@outbound_task("probe.flaky")
async def flaky(key: str, failures: int) -> None:
    """Fails its first ``failures`` attempts, then succeeds."""
    attempt = await _note(key, event="attempt")
    if attempt <= failures:
        raise RuntimeError(f"provider unavailable (attempt {attempt})")
    await _note(f"{key}:done", event="done")


@outbound_task("probe.always_fails", max_retries=2)
async def always_fails(key: str, reason: str) -> None:
    await _note(key, event="attempt")
    raise RuntimeError(reason)


@outbound_task("probe.rejected")
async def rejected(key: str) -> None:
    await _note(key, event="attempt")
    raise PermanentError("provider said 400: invalid recipient")


@outbound_task("probe.too_slow", max_retries=0, timeout_seconds=0.5)
async def too_slow(key: str) -> None:
    await _note(key, event="attempt")
    await asyncio.sleep(5)


@broker.task(task_name="probe.slow")
async def slow(key: str, seconds: float) -> None:
    """Takes ``seconds``; records when it started and finished, and in which process."""
    await _note(key, event="started")
    await asyncio.sleep(seconds)
    await _note(key, event="finished")

"""Schemathesis over every operation of the served ``/api/v1/openapi.json``, against the real app
(REST and Socket.IO under uvicorn in this process, real PostgreSQL and Redis), anonymously, as a
student and as a tutor (accounts made through the API): no generated request may get a 5xx.

Short, seeded and time-bounded: the three identities run one after the other for
``FUZZ_SECONDS`` each (one at a time, to leave the machine's cores to the tests running beside
this one); the whole test stays under a minute. ``python -m bench.fuzz`` is the long run. Deselect with
``-m "not fuzz"``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from redis.asyncio import Redis

from bench.fuzz import fuzz, summary
from realtime.server import create_asgi
from tests.conftest import make_settings

pytestmark = [pytest.mark.fuzz, pytest.mark.xdist_group("fuzz")]

FUZZ_SECONDS = float(os.environ.get("EDUSTREAM_FUZZ_SECONDS", "10"))
SEED = 20261204


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(db: asyncpg.Pool, redis: Redis) -> AsyncIterator[str]:
    """The app under uvicorn on a free port (schemathesis runs in a subprocess and needs a URL)."""
    settings = make_settings(live_redis_channel=f"edustream-fuzz-{uuid.uuid4().hex[:8]}", log_access=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_asgi(settings), host="127.0.0.1", port=port, lifespan="on",
                                           log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        assert not serving.done() and time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


async def test_no_generated_request_gets_a_server_error(served: str, tmp_path: Path) -> None:
    started = time.monotonic()
    runs = await fuzz(served, seconds=FUZZ_SECONDS, seed=SEED, report_dir=tmp_path, max_examples=10,
                      parallel=False)
    report = summary(runs)
    failed = [run for run in runs if not run.ok]
    details = "\n\n".join(f"--- {run.role} ---\n{run.output[-6000:]}" for run in failed)
    assert not failed, f"{report}\n\n{details}"
    assert all(run.report["operations"]["tested"] == run.report["operations"]["total"] for run in runs), report
    # Each run stops itself at --max-time (30 s of fuzzing by default, about 40 s in all); this
    # only catches one that did not.
    elapsed = time.monotonic() - started
    assert elapsed < 3 * (FUZZ_SECONDS + 20), f"the fuzz runs took {elapsed:.0f} s"

"""Load-test fixtures: two real API processes (uvicorn) on the worker's test database.

They reuse the live layer's :class:`~tests.realtime.conftest.LiveServer`, with a 3-second
hold TTL (so ``churn`` sees holds lapse), rate limiting off and room for a watcher per
tutor. The load tester reaches them only through their URLs, as it would any deployment.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from server.settings import PROJECT_ROOT, Settings
from tests.realtime.conftest import LiveServer, running_servers

HOLD_TTL_SECONDS = 3
LOADTEST_ENV = {"HOLD_TTL_SECONDS": str(HOLD_TTL_SECONDS), "LIVE_MAX_WATCHES": "20",
                "LIVE_EVENTS_PER_SECOND": "100", "LIVE_MAX_PAYLOAD_BYTES": "4096", "MAX_ACTIVE_HOLDS": "3"}


# Package scope, not session: API processes left running would lead the outbox relay for
# this worker's database while other packages' tests expect their own processes to.
@pytest.fixture(scope="package")
async def loadtest_servers(database_url: str, settings: Settings, db: asyncpg.Pool, redis: Redis,
                           tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[LiveServer]]:
    async with running_servers(settings, tmp_path_factory.mktemp("loadtest-logs"), ["LA", "LB"],
                               LOADTEST_ENV) as servers:
        yield servers


@pytest.fixture
async def servers(loadtest_servers: list[LiveServer], db: asyncpg.Pool) -> list[LiveServer]:
    """Both API processes up, on freshly emptied tables."""
    for server in loadtest_servers:
        await server.ensure_running()
    return loadtest_servers


@dataclass
class Finished:
    """A finished ``edustream loadtest`` process."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    def check(self, name: str) -> dict[str, Any]:
        return next(c for c in self.report["checks"] if c["name"] == name)

    def outcomes(self, op: str) -> dict[str, int]:
        return dict(self.report["requests"].get(op, {}).get("outcomes", {}))


async def edustream_loadtest(servers: list[LiveServer] | list[str], tmp_path: Path, *args: str,
                             within: float = 90) -> Finished:
    """Run the real ``edustream loadtest`` command against ``servers`` (every URL)."""
    out = tmp_path / "report.json"
    urls = [s if isinstance(s, str) else s.url for s in servers]
    argv = [str(Path(sys.executable).parent / "edustream"), "loadtest",
            *[a for url in urls for a in ("--url", url)], "--json", str(out), "--quiet", *args]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(within):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    report = json.loads(out.read_text()) if out.exists() else {}
    return Finished(int(proc.returncode or 0), stdout.decode(), stderr.decode(), report)

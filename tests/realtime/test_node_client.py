"""The browser client: ``socket.io-client`` 4.8 from npm connects, watches and receives ``slots.changed``."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.realtime.conftest import make_tutor, place_hold, slot_start

pytestmark = pytest.mark.xdist_group("live")

NODE_DIR = Path(__file__).parent / "node_client"


@pytest.fixture(scope="session")
def node_client_dir() -> Path:
    """``tests/realtime/node_client`` with its ``node_modules`` installed (npm, once)."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the socket.io-client check needs Node.js (>= 18)")
    if not (NODE_DIR / "node_modules" / "socket.io-client").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: cannot install socket.io-client"
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                       check=True, timeout=300)
    return NODE_DIR


async def _line(stream: asyncio.StreamReader) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), 20)
    assert raw, "the node client exited early"
    data: dict[str, Any] = json.loads(raw)
    assert "error" not in data, data
    return data


async def test_socket_io_client_from_npm_watches_and_receives_slots_changed(live, api, make_students,
                                                                            node_client_dir: Path) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    proc = await asyncio.create_subprocess_exec(
        "node", "watch.mjs", live[0].url, tutor["id"], "1", cwd=node_client_dir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        ack = (await _line(proc.stdout))["ack"]
        assert ack["tutor_id"] == tutor["id"] and ack["slots"]
        start = slot_start()
        await place_hold(live[1].url, student, tutor["id"], start)
        event = await _line(proc.stdout)
        assert event["event"] == "slots.changed"
        assert event["data"]["version"] == ack["version"] + 1
        assert {"start": start.isoformat().replace("+00:00", "Z"), "status": "held"}.items() <= \
            next(c for c in event["data"]["changes"] if c["status"] == "held").items()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

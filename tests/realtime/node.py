"""The npm ``socket.io-client`` (the browser's client) in tests: ``tests/realtime/node_client``
installed once, and :class:`NodeListener`, a signed-in client (``listen.mjs``) whose received
events a test reads as they come."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node_client"


def installed_node_client() -> Path:
    """``tests/realtime/node_client`` with its ``node_modules`` installed (npm, once); skips
    without Node.js."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the socket.io-client check needs Node.js (>= 18)")
    if not (NODE_DIR / "node_modules" / "socket.io-client").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: cannot install socket.io-client"
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                       check=True, timeout=300)
    return NODE_DIR


async def read_line(stream: asyncio.StreamReader, within: float = 30) -> dict[str, Any]:
    """One JSON line a node client printed (failing on its ``{"error": ...}`` lines)."""
    raw = await asyncio.wait_for(stream.readline(), within)
    assert raw, "the node client exited early"
    data: dict[str, Any] = json.loads(raw)
    assert "error" not in data, data
    return data


class NodeListener:
    """``listen.mjs``: the npm ``socket.io-client`` signed in as one user, printing every event
    it receives; it exits after ``count`` events named in ``events``."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, cwd: Path, url: str, token: str, events: list[str], count: int) -> NodeListener:
        proc = await asyncio.create_subprocess_exec(
            "node", "listen.mjs", url, token, ",".join(events), str(count), cwd=cwd,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        listener = cls(proc)
        assert proc.stdout is not None
        assert (await read_line(proc.stdout)) == {"connected": True}
        return listener

    def of(self, event: str) -> list[Any]:
        """The payloads of ``event`` received so far, in order."""
        return [e["data"] for e in self.events if e["event"] == event]

    async def _read(self) -> bool:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not raw:
            return False
        line = json.loads(raw)
        assert "error" not in line, line
        self.events.append(line)
        return True

    async def until(self, event: str) -> dict[str, Any]:
        """The first ``event`` received (reading on until it comes)."""
        while not any(e["event"] == event for e in self.events):
            assert await self._read(), f"the node client exited before {event}"
        return next(e for e in self.events if e["event"] == event)

    async def until_done(self) -> list[dict[str, Any]]:
        """Every event line until the client exits (after the wanted count)."""
        while await self._read():
            pass
        assert await asyncio.wait_for(self.proc.wait(), 10) == 0
        return self.events

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

"""Watchers in child processes (``--watcher-processes P``), so receiving is not one core's job.

The parent starts ``python -m loadtest.watchproc`` P times and talks JSON lines
over the pipes: it sends the child its share of the watchers, then the holds it wins
(for the fan-out delays, batched every 50 ms), then ``verify`` and ``stop``; the child
answers with progress, a periodic status (live watchers, events) and its final
:class:`~loadtest.watchers.GroupResult` with its fan-out histograms, which the
parent merges. Each child runs the very :class:`~loadtest.watchers.WatcherGroup`
the parent would run in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loadtest.config import LoadConfig
from loadtest.fanout import FanoutTracker
from loadtest.setup import SlotWindow
from loadtest.stats import Histogram
from loadtest.watchers import GroupResult, WatcherGroup

_LINE_LIMIT = 64 * 1024 * 1024


def tracker_state(tracker: FanoutTracker) -> dict[str, Any]:
    tracker.settle(everything=True)
    return {"delays": tracker.delays.to_dict(), "request_delays": tracker.request_delays.to_dict(),
            "server_delays": tracker.server_delays.to_dict(),
            "unmatched": tracker.unmatched}


def merge_tracker(tracker: FanoutTracker, state: dict[str, Any]) -> None:
    tracker.delays.merge(Histogram.from_dict(state["delays"]))
    tracker.request_delays.merge(Histogram.from_dict(state["request_delays"]))
    tracker.server_delays.merge(Histogram.from_dict(state["server_delays"]))
    tracker.unmatched += int(state.get("unmatched", 0))


def result_state(result: GroupResult) -> dict[str, Any]:
    return {**result.to_dict(), "mismatches": result.mismatches, "connect_errors": dict(result.connect_errors)}


def merge_result(into: GroupResult, state: dict[str, Any]) -> None:
    for name in ("watchers", "connected", "failed", "compared", "mismatched", "unsettled"):
        setattr(into, name, getattr(into, name) + int(state.get(name, 0)))
    into.connect_errors.update(Counter(state.get("connect_errors", {})))
    into.totals.update(Counter(state.get("totals", {})))
    into.mismatches.extend(state.get("mismatches", [])[: max(0, 10 - len(into.mismatches))])
    into.connect_seconds = max(into.connect_seconds, float(state.get("connect_seconds", 0.0)))


class _Child:
    def __init__(self, proc: asyncio.subprocess.Process, count: int) -> None:
        self.proc = proc
        self.count = count
        self.done = 0
        self.live = 0
        self.events = 0
        self.ready = asyncio.Event()
        self.result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task[None] | None = None

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message, separators=(",", ":")) + "\n").encode())

    async def read(self, on_progress: Callable[[], None]) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            kind = message.get("type")
            if kind == "progress":
                self.done = int(message["done"])
                on_progress()
            elif kind == "ready":
                self.ready.set()
            elif kind == "status":
                self.live, self.events = int(message["live"]), int(message["events"])
            elif kind == "result" and not self.result.done():
                self.result.set_result(message)
        self.ready.set()
        if not self.result.done():
            self.result.set_exception(RuntimeError(f"watcher process {self.proc.pid} exited "
                                                   f"with {await self.proc.wait()}"))


class RemoteWatchers:
    """The parent's side: same interface as :class:`WatcherGroup`."""

    def __init__(self, cfg: LoadConfig, assignments: list[tuple[str, str]]) -> None:
        self.cfg = cfg
        n = max(1, cfg.watcher_processes)
        self.shares = [assignments[i::n] for i in range(n)]
        self.children: list[_Child] = []
        self._holds: list[list[Any]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def start(self, progress: Callable[[int, int], None]) -> None:
        total = sum(len(s) for s in self.shares)

        def report() -> None:
            progress(sum(c.done for c in self.children), total)

        for share in self.shares:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtest.watchproc", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, limit=_LINE_LIMIT)
            child = _Child(proc, len(share))
            child.reader = asyncio.get_running_loop().create_task(child.read(report))
            child.send({"type": "start", "assignments": share, "client": self.cfg.watcher_client,
                        "connect_concurrency": max(1, self.cfg.connect_concurrency // len(self.shares))})
            self.children.append(child)
        await asyncio.gather(*(c.ready.wait() for c in self.children))
        self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    def hold_won(self, tutor: str, key: int, sent_at: float, received_at: float) -> None:
        self._holds.append([tutor, key, sent_at, received_at])

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            self._flush()

    def _flush(self) -> None:
        if self._holds:
            batch, self._holds = self._holds, []
            for child in self.children:
                if child.proc.returncode is None:
                    child.send({"type": "holds", "holds": batch})

    def live_count(self) -> int:
        return sum(c.live for c in self.children)

    def events(self) -> int:
        return sum(c.events for c in self.children)

    async def verify(self, api_urls: list[str], window: SlotWindow, *, within: float) -> GroupResult:
        self._flush()
        for child in self.children:
            child.send({"type": "verify", "urls": api_urls, "within": within, "window": {
                "start": window.start.isoformat(), "end": window.end.isoformat(), "minutes": window.minutes}})
        merged = GroupResult()
        tracker = FanoutTracker()
        for child in self.children:
            try:
                state = await child.result
            except RuntimeError as exc:
                merged.watchers += child.count
                merged.failed += child.count
                merged.connect_errors[str(exc)] += 1
                continue
            merge_result(merged, state["result"])
            merge_tracker(tracker, state["tracker"])
        merged.fanout = tracker.summary()
        return merged

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        for child in self.children:
            if child.proc.returncode is None:
                with contextlib.suppress(ConnectionError):
                    child.send({"type": "stop"})
        for child in self.children:
            try:
                async with asyncio.timeout(30):
                    await child.proc.wait()
            except TimeoutError:
                child.proc.kill()
                await child.proc.wait()
            if child.reader is not None:
                child.reader.cancel()


# -- the child -----------------------------------------------------------------------------


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


async def _child() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    group: WatcherGroup | None = None
    status: asyncio.Task[None] | None = None

    async def report_status() -> None:
        while True:
            await asyncio.sleep(1.0)
            if group is not None:
                _emit({"type": "status", "live": group.live_count(), "events": group.events()})

    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            message = json.loads(line)
            kind = message.get("type")
            if kind == "start":
                group = WatcherGroup([tuple(a) for a in message["assignments"]],  # type: ignore[misc]
                                     client=message["client"], connect_concurrency=message["connect_concurrency"])
                await group.start(lambda done, total: _emit({"type": "progress", "done": done})
                                  if done % 50 == 0 or done == total else None)
                _emit({"type": "ready"})
                status = loop.create_task(report_status())
            elif kind == "holds" and group is not None:
                for tutor, key, sent, received in message["holds"]:
                    group.hold_won(tutor, int(key), float(sent), float(received))
            elif kind == "verify" and group is not None:
                w = message["window"]
                window = SlotWindow(datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]),
                                    int(w["minutes"]))
                result = await group.verify(message["urls"], window, within=float(message["within"]))
                _emit({"type": "result", "result": result_state(result), "tracker": tracker_state(group.tracker)})
            elif kind == "stop":
                break
    finally:
        if status is not None:
            status.cancel()
        if group is not None:
            await group.stop()


if __name__ == "__main__":
    asyncio.run(_child())

"""Watchers: live connections that keep a tutor's slots exactly as a client would.

Each watcher watches one tutor: it applies the ``watch`` snapshot, then every
``slots.changed`` whose version is the next one (older ones are ignored). A gap re-watches
with ``since`` (the ack carries the missed changes, or a snapshot), ``resync: true``
re-watches for a fresh snapshot, and so does a reconnect. Events that arrive while a
``watch`` is in flight are buffered and applied after its ack. At the end its view is
compared with ``GET /tutors/{id}/slots`` at the same version. Each "slot became held"
receipt goes to the :class:`~loadtest.fanout.FanoutTracker` (fan-out delays).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from loadtest.api import KEEPALIVE_SECONDS
from loadtest.fanout import FanoutTracker, server_stamp
from loadtest.live import LiveError, LiveTransport, make_transport
from loadtest.setup import SlotWindow, slot_key

log = logging.getLogger("edustream.loadtest.watchers")

SlotState = tuple[str, int | None]  # (status, held_until as epoch seconds)


@dataclass
class WatcherStats:
    events: int = 0
    applied: int = 0
    stale: int = 0
    gaps: int = 0
    resyncs: int = 0
    rewatches: int = 0
    snapshots: int = 0
    watch_errors: int = 0
    failed: bool = False
    last_error: str = ""


class Watcher:
    """One connection watching one tutor, keeping the tutor's slots as a client would."""

    def __init__(self, url: str, tutor_id: str, tracker: FanoutTracker | None) -> None:
        self.url = url
        self.tutor_id = tutor_id
        self.tracker = tracker
        self.version: int | None = None
        self.slots: dict[int, SlotState] = {}
        self.stats = WatcherStats()
        self.transport: LiveTransport | None = None
        self._syncing = False
        self._buffer: list[tuple[dict[str, Any], float]] = []
        self._resync_task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    # -- connection ----------------------------------------------------------------------

    async def start(self, kind: str, http: aiohttp.ClientSession) -> None:
        self.transport = make_transport(kind, self.url, self._on_event, self._on_reconnect, http)
        await self.transport.connect()
        await self._watch(None)

    async def stop(self) -> None:
        if self._resync_task is not None:
            self._resync_task.cancel()
        if self.transport is not None:
            await self.transport.close()

    async def _on_reconnect(self) -> None:
        await self._watch(self.version)

    # -- watching ------------------------------------------------------------------------

    async def _watch(self, since: int | None) -> None:
        """(Re-)watch, apply the ack, then whatever arrived meanwhile; retried a few times."""
        assert self.transport is not None
        self._syncing = True
        try:
            for attempt in range(5):
                body: dict[str, Any] = {"tutor_id": self.tutor_id}
                if since is not None:
                    body["since"] = since
                try:
                    ack = await self.transport.call("watch", body)
                except LiveError as exc:
                    ack = {"error": {"code": "live_error", "message": str(exc)}}
                if isinstance(ack, dict) and "version" in ack:
                    self._apply_ack(ack)
                    break
                self.stats.watch_errors += 1
                self.stats.last_error = str(ack)[:300]
                await asyncio.sleep(0.2 * (attempt + 1))
            else:
                self.stats.failed = True
                return
        finally:
            self._syncing = False
        buffered, self._buffer = sorted(self._buffer, key=lambda item: item[0].get("version", 0)), []
        for data, received in buffered:
            if self._syncing:  # a gap among them started another re-watch: keep the rest for it
                self._buffer.append((data, received))
            else:
                self._apply_event(data, received)

    def _apply_ack(self, ack: dict[str, Any]) -> None:
        now = time.time()
        if "slots" in ack:
            self.stats.snapshots += 1
            self.slots = {}
            for slot in ack["slots"]:
                held = slot.get("held_until")
                self.slots[slot_key(slot["start"])] = (slot["status"], slot_key(held) if held else None)
        else:  # missed changes (re-watch with since): the client learns of them only now
            for change in ack.get("changes", []):
                self._apply_change(change, now, None, track=True)
        self.version = int(ack["version"])
        self.changed.set()

    def _on_event(self, event: str, data: Any, received: float) -> None:
        if event != "slots.changed" or not isinstance(data, dict) or data.get("tutor_id") != self.tutor_id:
            return
        self.stats.events += 1
        if self._syncing:
            self._buffer.append((data, received))
            return
        self._apply_event(data, received)

    def _apply_event(self, data: dict[str, Any], received: float) -> None:
        version = data.get("version")
        if not isinstance(version, int) or self.version is None:
            return
        if version <= self.version:
            self.stats.stale += 1
            return
        if data.get("resync"):
            self.stats.resyncs += 1
            self._rewatch(None)
            return
        if version != self.version + 1:
            self.stats.gaps += 1
            self._buffer.append((data, received))
            self._rewatch(self.version)
            return
        stamp = server_stamp(data)
        for change in data.get("changes", []):
            self._apply_change(change, received, stamp, track=True)
        self.version = version
        self.stats.applied += 1
        self.changed.set()

    def _apply_change(self, change: dict[str, Any], received: float, stamp: float | None, *, track: bool) -> None:
        key = slot_key(change["start"])
        status = change.get("status")
        before = self.slots.get(key)
        if status == "booked":
            self.slots.pop(key, None)
            return
        held = change.get("held_until")
        self.slots[key] = (str(status), slot_key(held) if held else None)
        if track and status == "held" and (before is None or before[0] != "held") and self.tracker is not None:
            self.tracker.received(self.tutor_id, key, received, stamp)

    def _rewatch(self, since: int | None) -> None:
        if self._syncing:
            return
        self.stats.rewatches += 1
        self._syncing = True  # buffer from now on; _watch resets it
        self._resync_task = asyncio.get_running_loop().create_task(self._watch(since))

    # -- the end -------------------------------------------------------------------------

    def view(self, window: SlotWindow, now: float) -> dict[int, SlotState]:
        """The slots in ``window`` as the API would list them now (lapsed holds read as open)."""
        return {key: _normalize(state, now) for key, state in self.slots.items() if window.contains(key)}

    @property
    def settled(self) -> bool:
        return not self._syncing and not self._buffer


def _normalize(state: SlotState, now: float) -> SlotState:
    status, held_until = state
    if status == "held" and held_until is not None and held_until <= now:
        return ("open", None)
    return state


def listing_view(body: dict[str, Any], window: SlotWindow, now: float) -> dict[int, SlotState]:
    """A ``GET /tutors/{id}/slots`` answer in the watchers' form."""
    out: dict[int, SlotState] = {}
    for slot in body.get("slots", []):
        key = slot_key(slot["start"])
        if window.contains(key):
            held = slot.get("held_until")
            out[key] = _normalize((slot["status"], slot_key(held) if held else None), now)
    return out


def diff_views(mine: dict[int, SlotState], truth: dict[int, SlotState], limit: int = 5) -> list[dict[str, Any]]:
    """Up to ``limit`` slots whose state differs: ``{start, watcher, api}``."""
    out = []
    for key in sorted(set(mine) | set(truth)):
        if mine.get(key) != truth.get(key):
            out.append({"start": datetime.fromtimestamp(key, UTC).isoformat().replace("+00:00", "Z"),
                        "watcher": mine.get(key), "api": truth.get(key)})
            if len(out) >= limit:
                break
    return out


@dataclass
class GroupResult:
    """What a watcher group reports at the end (JSON-able, merged across processes)."""

    watchers: int = 0
    connected: int = 0
    failed: int = 0
    connect_errors: Counter[str] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)
    compared: int = 0
    mismatched: int = 0
    unsettled: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    connect_seconds: float = 0.0
    fanout: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"watchers": self.watchers, "connected": self.connected, "failed": self.failed,
                "connect_errors": dict(self.connect_errors), "totals": dict(self.totals), "compared": self.compared,
                "mismatched": self.mismatched, "unsettled": self.unsettled, "mismatches": self.mismatches[:10],
                "connect_seconds": round(self.connect_seconds, 2)}


class WatcherGroup:
    """Watchers of this process: connect them, keep them, and check their views at the end."""

    def __init__(self, assignments: list[tuple[str, str]], *, client: str, connect_concurrency: int = 50,
                 tracker: FanoutTracker | None = None) -> None:
        self.assignments = assignments
        self.client = client
        self.connect_concurrency = connect_concurrency
        self.tracker = tracker if tracker is not None else FanoutTracker()
        self.watchers: list[Watcher] = []
        self.result = GroupResult(watchers=len(assignments))
        self._http: aiohttp.ClientSession | None = None
        self._settler: asyncio.Task[None] | None = None

    async def start(self, progress: Callable[[int, int], None] = lambda done, total: None) -> None:
        """Connect every watcher (``connect_concurrency`` at a time) and take its snapshot."""
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_SECONDS))
        gate = asyncio.Semaphore(self.connect_concurrency)
        started = time.monotonic()
        done = [0]

        async def one(url: str, tutor_id: str) -> None:
            watcher = Watcher(url, tutor_id, self.tracker)
            async with gate:
                try:
                    assert self._http is not None
                    await watcher.start(self.client, self._http)
                    self.result.connected += 1
                except (LiveError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.result.connect_errors[str(exc)[:120]] += 1
                    watcher.stats.failed = True
                    await watcher.stop()
            self.watchers.append(watcher)
            done[0] += 1
            progress(done[0], len(self.assignments))

        await asyncio.gather(*(one(url, tutor) for url, tutor in self.assignments))
        self.result.connect_seconds = time.monotonic() - started
        self._settler = asyncio.get_running_loop().create_task(self._settle_loop())

    async def _settle_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.tracker.settle()

    def hold_won(self, tutor: str, key: int, sent_at: float, received_at: float) -> None:
        self.tracker.hold_won(tutor, key, sent_at, received_at)

    def live_count(self) -> int:
        return sum(1 for w in self.watchers if not w.stats.failed)

    def events(self) -> int:
        return sum(w.stats.events for w in self.watchers)

    async def verify(self, api_urls: list[str], window: SlotWindow, *, within: float = 30.0) -> GroupResult:
        """Compare every live watcher's view with ``GET /tutors/{id}/slots`` at the same version.

        Per tutor: fetch the listing, wait until the tutor's watchers reached its version,
        compare those at exactly that version; refetch while some went past it (changes
        still land, e.g. expiries) for at most ``within`` seconds.
        """
        assert self._http is not None
        by_tutor: dict[str, list[Watcher]] = defaultdict(list)
        for watcher in self.watchers:
            if not watcher.stats.failed:
                by_tutor[watcher.tutor_id].append(watcher)
        deadline = time.monotonic() + within
        gate = asyncio.Semaphore(8)
        url_index = [0]

        async def listing(tutor_id: str) -> dict[str, Any] | None:
            base = api_urls[url_index[0] % len(api_urls)].rstrip("/")
            url_index[0] += 1
            assert self._http is not None
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError, ValueError):
                async with self._http.get(f"{base}/api/v1/tutors/{tutor_id}/slots", params=window.query(),
                                          timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    if resp.status == 200:
                        body: dict[str, Any] = await resp.json()
                        return body
            return None

        async def check(tutor_id: str, watchers: list[Watcher]) -> None:
            todo = list(watchers)
            async with gate:
                while todo and time.monotonic() < deadline:
                    body = await listing(tutor_id)
                    if body is None:
                        await asyncio.sleep(0.5)
                        continue
                    version = int(body["version"])
                    # Polling: many watchers, each with its own state, are waited for together.
                    while time.monotonic() < deadline and any(  # noqa: ASYNC110
                            (w.version or 0) < version or not w.settled for w in todo):
                        await asyncio.sleep(0.05)
                    now = time.time()
                    truth = listing_view(body, window, now)
                    later = []
                    for w in todo:
                        if w.version != version or not w.settled:
                            later.append(w)
                            continue
                        self.result.compared += 1
                        differences = diff_views(w.view(window, now), truth)
                        if differences:
                            self.result.mismatched += 1
                            if len(self.result.mismatches) < 10:
                                self.result.mismatches.append({"tutor_id": tutor_id, "url": w.url,
                                                               "version": version, "slots": differences})
                    if later and all((w.version or 0) < version for w in later):
                        break  # they never caught up: counted as unsettled below
                    todo = later
            self.result.unsettled += len(todo)

        await asyncio.gather(*(check(t, ws) for t, ws in by_tutor.items()))
        return self.finish()

    def finish(self) -> GroupResult:
        result = self.result
        result.failed = sum(1 for w in self.watchers if w.stats.failed)
        totals: Counter[str] = Counter()
        for w in self.watchers:
            for name in ("events", "applied", "stale", "gaps", "resyncs", "rewatches", "snapshots", "watch_errors"):
                totals[name] += getattr(w.stats, name)
            if w.transport is not None:
                totals["disconnects"] += w.transport.disconnects
                totals["reconnects"] += w.transport.reconnects
        result.totals = totals
        result.fanout = self.tracker.summary()
        return result

    async def stop(self) -> None:
        if self._settler is not None:
            self._settler.cancel()
        gate = asyncio.Semaphore(200)

        async def one(w: Watcher) -> None:
            async with gate:
                await w.stop()

        await asyncio.gather(*(one(w) for w in self.watchers), return_exceptions=True)
        if self._http is not None:
            await self._http.close()

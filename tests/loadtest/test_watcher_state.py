"""A watcher's own bookkeeping, event by event: order, gaps repaired with ``since``, resyncs,
and which receipts count as fan-out samples. The server side is played by a scripted
transport here; ``test_watchers.py`` does the same against real API processes."""

from __future__ import annotations

import asyncio
from typing import Any

from loadtest.fanout import FanoutTracker
from loadtest.live import LiveTransport
from loadtest.setup import slot_key
from loadtest.watchers import Watcher

TUTOR = "7b0f6c1e-0000-4000-8000-000000000001"
T0 = "2030-01-07T10:00:00Z"
T1 = "2030-01-07T10:30:00Z"


class ScriptedTransport(LiveTransport):
    """Answers ``watch`` from a list of acks and records what was asked."""

    def __init__(self, acks: list[dict[str, Any]]) -> None:
        super().__init__("http://scripted", lambda *a: None, self._noop)
        self.acks = acks
        self.calls: list[dict[str, Any]] = []

    async def _noop(self) -> None:
        return None

    async def call(self, event: str, data: Any, within: float = 20.0) -> Any:
        self.calls.append(data)
        return self.acks.pop(0)

    async def close(self) -> None:
        return None


def slot(start: str, status: str = "open") -> dict[str, Any]:
    return {"start": start, "end": start.replace(":00:00Z", ":30:00Z"), "status": status}


def event(version: int, *changes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"tutor_id": TUTOR, "version": version, "changes": list(changes), **extra}


async def watcher_with(acks: list[dict[str, Any]], tracker: FanoutTracker | None = None) -> tuple[Watcher,
                                                                                                    ScriptedTransport]:
    watcher = Watcher("http://scripted", TUTOR, tracker)
    transport = ScriptedTransport(acks)
    watcher.transport = transport
    await watcher._watch(None)
    return watcher, transport


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_consecutive_versions_apply_and_old_ones_are_ignored() -> None:
    watcher, _ = await watcher_with([{"tutor_id": TUTOR, "version": 4, "slots": [slot(T0), slot(T1)]}])

    watcher._on_event("slots.changed", event(5, slot(T0, "held")), 1.0)
    watcher._on_event("slots.changed", event(5, slot(T0, "open")), 1.1)  # a duplicate: ignored
    watcher._on_event("slots.changed", event(6, slot(T1, "booked")), 1.2)

    assert watcher.version == 6
    assert [state for _, state in sorted(watcher.slots.items())] == [("held", None)]
    assert watcher.stats.stale == 1 and watcher.stats.gaps == 0


async def test_a_gap_rewatches_with_since_and_applies_what_came_meanwhile() -> None:
    watcher, transport = await watcher_with([
        {"tutor_id": TUTOR, "version": 4, "slots": [slot(T0), slot(T1)]},
        {"tutor_id": TUTOR, "version": 6, "since": 4, "changes": [slot(T0, "held")]},
    ])

    watcher._on_event("slots.changed", event(7, slot(T1, "held")), 1.0)  # 5 and 6 were missed
    await settle()

    assert transport.calls[-1] == {"tutor_id": TUTOR, "since": 4}
    assert watcher.version == 7
    assert watcher.slots[max(watcher.slots)] == ("held", None)
    assert watcher.stats.gaps == 1 and watcher.settled


async def test_resync_takes_a_fresh_snapshot() -> None:
    watcher, transport = await watcher_with([
        {"tutor_id": TUTOR, "version": 1, "slots": [slot(T0)]},
        {"tutor_id": TUTOR, "version": 2, "slots": [slot(T1)]},
    ])

    watcher._on_event("slots.changed", event(2, resync=True), 1.0)
    await settle()

    assert transport.calls[-1] == {"tutor_id": TUTOR}
    assert watcher.version == 2 and len(watcher.slots) == 1 and watcher.stats.snapshots == 2


async def test_only_a_slot_becoming_held_is_a_fan_out_sample() -> None:
    tracker = FanoutTracker(grace=0)
    watcher, _ = await watcher_with([{"tutor_id": TUTOR, "version": 1, "slots": [slot(T0)]}], tracker)
    tracker.hold_won(TUTOR, slot_key(T0), 100.0, 100.02)

    watcher._on_event("slots.changed", event(2, slot(T0, "held")), 100.05)
    watcher._on_event("slots.changed", event(3, {**slot(T0, "held"), "held_until": T1}), 100.06)  # still held

    summary = tracker.summary()
    assert summary["samples"] == 1 and summary["source"] == "hold_response"
    assert abs(summary["latency_ms"]["p50"] - 30.0) < 1.0


async def test_a_server_timestamp_is_preferred_when_events_carry_one() -> None:
    tracker = FanoutTracker(grace=0)
    watcher, _ = await watcher_with([{"tutor_id": TUTOR, "version": 1, "slots": [slot(T0)]}], tracker)

    watcher._on_event("slots.changed", event(2, slot(T0, "held"), committed_at=200.0), 200.012)

    summary = tracker.summary()
    assert summary["source"] == "server_timestamp"
    assert abs(summary["latency_ms"]["p50"] - 12.0) < 0.5

"""Fan-out delays: how long after a hold its watchers saw the slot ``held``.

The :class:`FanoutTracker` turns watchers' receipts into fan-out delays: the time from the
hold's HTTP response (the commit happened just before it) to the moment each watcher applied
the change that shows the slot ``held``; or, when the event carries a server timestamp
(``committed_at`` or ``published_at``, :func:`server_stamp`), from that timestamp.
"""

from __future__ import annotations

import bisect
import contextlib
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from loadtest.stats import Histogram

_SERVER_STAMPS = ("committed_at", "published_at")


def server_stamp(data: dict[str, Any]) -> float | None:
    """When the server says the event's change happened (epoch seconds), if it says so."""
    return next((s for s in (_epoch(data.get(k)) for k in _SERVER_STAMPS) if s is not None), None)


def _epoch(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value).timestamp()
    return None


class FanoutTracker:
    """Matches watchers' "slot became held" receipts to the holds that caused them.

    Holds are reported with :meth:`hold_won` (request sent / response received, wall
    clock); receipts with :meth:`received`. A receipt belongs to the latest won hold of
    that slot sent before it arrived. Matching waits ``grace`` seconds, so a hold reported
    a little after its receipts (another process, a slow response) still matches.
    """

    def __init__(self, grace: float = 1.0, keep_seconds: float = 120.0) -> None:
        self.grace = grace
        self.keep = keep_seconds
        self.delays = Histogram()  # from the hold's response: a lower bound of commit → receipt
        self.request_delays = Histogram()  # from the hold's request: an upper bound
        self.server_delays = Histogram()
        self.unmatched = 0
        self._wins: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
        self._pending: list[tuple[float, str, int]] = []

    def hold_won(self, tutor: str, key: int, sent_at: float, received_at: float) -> None:
        wins = self._wins[(tutor, key)]
        wins.append((sent_at, received_at))
        if len(wins) > 1:
            wins.sort()
            cutoff = received_at - self.keep
            while len(wins) > 1 and wins[0][1] < cutoff:
                wins.pop(0)

    def received(self, tutor: str, key: int, at: float, server_stamp: float | None) -> None:
        if server_stamp is not None:
            self.server_delays.add(at - server_stamp)
        self._pending.append((at, tutor, key))

    def settle(self, now: float | None = None, *, everything: bool = False) -> None:
        """Match receipts older than ``grace`` (or all of them)."""
        horizon = (now if now is not None else time.time()) - self.grace
        keep: list[tuple[float, str, int]] = []
        for at, tutor, key in self._pending:
            if not everything and at > horizon:
                keep.append((at, tutor, key))
                continue
            wins = self._wins.get((tutor, key))
            index = bisect.bisect_right(wins, (at, float("inf"))) - 1 if wins else -1
            if wins and index >= 0:
                self.delays.add(at - wins[index][1])
                self.request_delays.add(at - wins[index][0])
            else:
                self.unmatched += 1
        self._pending = keep

    def summary(self) -> dict[str, Any]:
        self.settle(everything=True)
        source = "server_timestamp" if self.server_delays.count else "hold_response"
        chosen = self.server_delays if self.server_delays.count else self.delays
        return {"source": source, "samples": chosen.count, "latency_ms": chosen.summary_ms(),
                "arrived_before_response": self.delays.negative, "unmatched_receipts": self.unmatched,
                "after_hold_response_ms": self.delays.summary_ms(),
                "after_hold_request_ms": self.request_delays.summary_ms()}

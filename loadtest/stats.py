"""Counting what happened: latency histograms, per-operation outcomes, errors by code.

Latencies go into a log-bucketed histogram (1 % relative precision, microsecond floor) so
millions of samples cost a few kilobytes and histograms from several processes merge by
adding counts. Percentiles are read from the bucket bounds (upper edge, never optimistic).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_GROWTH = 1.01
_LOG_GROWTH = math.log(_GROWTH)
_FLOOR_S = 1e-6


class Histogram:
    """Non-negative durations in seconds, bucketed logarithmically."""

    __slots__ = ("buckets", "count", "max", "min", "negative", "total")

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.min = math.inf
        self.negative = 0

    def add(self, seconds: float) -> None:
        """Record one duration; negative ones (clock noise) count as zero and are tallied."""
        if seconds < 0:
            self.negative += 1
            seconds = 0.0
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        self.min = min(self.min, seconds)
        self.buckets[self._index(seconds)] += 1

    @staticmethod
    def _index(seconds: float) -> int:
        if seconds <= _FLOOR_S:
            return 0
        return 1 + int(math.log(seconds / _FLOOR_S) / _LOG_GROWTH)

    @staticmethod
    def _upper(index: int) -> float:
        return _FLOOR_S * _GROWTH ** index

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s samples to this histogram."""
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)
        self.negative += other.negative

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0..1) in seconds: the upper edge of its bucket, capped at the max."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(self._upper(index), self.max)
        return self.max

    def summary_ms(self) -> dict[str, float | int]:
        """``{count, p50, p95, p99, max, mean}`` in milliseconds."""
        def ms(v: float) -> float:
            return round(v * 1000, 2)

        return {"count": self.count, "p50": ms(self.percentile(0.5)), "p95": ms(self.percentile(0.95)),
                "p99": ms(self.percentile(0.99)), "max": ms(self.max),
                "mean": ms(self.total / self.count) if self.count else 0.0}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (for child processes and the report)."""
        return {"buckets": {str(k): v for k, v in self.buckets.items()}, "count": self.count, "total": self.total,
                "max": self.max, "min": None if self.min == math.inf else self.min, "negative": self.negative}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        hist = cls()
        hist.buckets = Counter({int(k): int(v) for k, v in data.get("buckets", {}).items()})
        hist.count = int(data.get("count", 0))
        hist.total = float(data.get("total", 0.0))
        hist.max = float(data.get("max", 0.0))
        hist.min = math.inf if data.get("min") is None else float(data["min"])
        hist.negative = int(data.get("negative", 0))
        return hist


@dataclass
class OpStats:
    """One kind of request (``hold``, ``release``, ``slots``...): outcomes and latency."""

    latency: Histogram = field(default_factory=Histogram)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.outcomes.values())


def outcome_label(status: int, code: str | None) -> str:
    """``"201"`` for success, ``"409 slot_unavailable"`` for an error, ``"0 transport:..."`` for no answer."""
    if 200 <= status < 300 or not code:
        return str(status)
    return f"{status} {code}"


class Recorder:
    """Every request of a phase (setup, run, verify, cleanup), by operation."""

    def __init__(self) -> None:
        self.ops: dict[str, OpStats] = {}
        self.errors: Counter[str] = Counter()
        self.server_errors = 0
        self.transport_errors = 0
        self.outage_retries = 0  # requests sent again after no answer or a 502/503/504 (resilient mode)
        self.samples: list[dict[str, Any]] = []  # first few 5xx/transport failures, for the report

    def record(self, op: str, status: int, code: str | None, seconds: float, detail: str | None = None) -> None:
        """Count one finished request (``status`` 0 = no HTTP answer)."""
        stats = self.ops.get(op)
        if stats is None:
            stats = self.ops[op] = OpStats()
        stats.latency.add(seconds)
        stats.outcomes[outcome_label(status, code)] += 1
        if status >= 400 or status == 0:
            self.errors[f"{status} {code or 'unknown'}"] += 1
        if status >= 500 or status == 0:
            if status >= 500:
                self.server_errors += 1
            else:
                self.transport_errors += 1
            if len(self.samples) < 20:
                self.samples.append({"op": op, "status": status, "code": code, "detail": (detail or "")[:300]})

    @property
    def total(self) -> int:
        return sum(s.count for s in self.ops.values())

    def to_dict(self, seconds: float) -> dict[str, Any]:
        """Per operation: count, rate over ``seconds``, outcomes and latency (ms)."""
        out: dict[str, Any] = {}
        for name in sorted(self.ops):
            stats = self.ops[name]
            out[name] = {"count": stats.count, "per_second": round(stats.count / seconds, 1) if seconds else 0.0,
                         "outcomes": dict(sorted(stats.outcomes.items())),
                         "latency_ms": stats.latency.summary_ms()}
        return out

"""Latencies measured by the browser tests, kept for the report (``test-output/browser-latency.jsonl``)."""

from __future__ import annotations

import json
import os
import time

from server.settings import PROJECT_ROOT

LATENCY_LOG = PROJECT_ROOT / "test-output" / "browser-latency.jsonl"


def record(test: str, **millis: float) -> None:
    """Append one line ``{"test", "at", <name>: ms...}`` and print it (shown with ``-s``/``-rA``)."""
    line = {"test": test, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load": round(os.getloadavg()[0], 2), **{k: round(v, 1) for k, v in millis.items()}}
    LATENCY_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LATENCY_LOG, "a") as out:
        out.write(json.dumps(line) + "\n")
    print(f"[latency] {json.dumps(line)}")

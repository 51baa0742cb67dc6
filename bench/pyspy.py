"""Profiles with py-spy and where their samples went: by package, by function, by named cost."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# A sample goes to the bucket of the first frame, from the leaf up, whose file matches. Time in
# C code called from the event loop itself (uvloop callbacks, asyncpg's protocol reading
# results) has no Python frame of its own and lands in "event loop".
BUCKETS: list[tuple[str, str]] = [
    ("asyncpg/", "asyncpg (driver, protocol)"),
    ("sqlalchemy/", "SQLAlchemy (engine, ORM, pool)"),
    ("pydantic", "pydantic (validation, serialisation)"),
    ("jwt/", "JWT"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("prometheus_client/", "metrics (prometheus_client)"),
    ("opentelemetry/", "tracing"),
    ("redis/", "redis client"),
    ("socketio/", "python-socketio / engineio"),
    ("engineio/", "python-socketio / engineio"),
    ("starlette/", "starlette"),
    ("uvicorn/", "uvicorn (HTTP, ASGI)"),
    ("realtime/", "EduStream realtime (relay, live)"),
    ("server/", "EduStream server code"),
    ("models/", "EduStream server code"),
    ("asyncio/", "event loop (uvloop, C callbacks)"),
]

# Named costs on the hold path: the share of samples with a matching frame anywhere in the stack.
COSTS: list[tuple[str, str]] = [
    ("the hold route and below (bookings/routes.py)", "bookings/routes.py"),
    ("the hold's one statement, sent and awaited (repository.place_hold_statement)", "place_hold_statement ("),
    ("policy cache and slot check (holds._checked_policy)", "_checked_policy ("),
    ("change-set candidates (changes.touching)", "touching ("),
    ("the response model (BookingOut.of)", "BookingOut.of ("),
    ("authentication (http.authenticate, JWT)", "authenticate ("),
    ("JSON body (http._json_body)", "_json_body ("),
    ("unit of work (db.unit_of_work)", "unit_of_work ("),
    ("SQLAlchemy (any frame)", "sqlalchemy/"),
    ("asyncpg (any frame)", "asyncpg/"),
    ("pydantic", "pydantic"),
    ("json", "json/"),
    ("logging (the access log line)", "logging/"),
    ("metrics (prometheus_client)", "prometheus_client/"),
    ("outbox relay (realtime/relay.py)", "realtime/relay.py"),
    ("live fan-out: publishing and the pub/sub listener (realtime/manager.py)", "realtime/manager.py"),
    ("Redis client (any frame)", "redis/"),
]

_PROCESS_PREFIX = re.compile(r'^(process \d+:"[^"]*";?)+')
_LINE_NUMBER = re.compile(r":\d+\)$")


def py_spy() -> str | None:
    """The py-spy next to this Python (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start recording ``pid`` and its subprocesses (uvicorn workers) as collapsed stacks into
    ``out``. Only samples of threads holding the GIL count (``--gil``): an idle event loop waits
    in ``epoll`` without it. A thread the OS has preempted still holds the GIL, so on a machine
    whose cores are shared with PostgreSQL and the load generator the shares are of time spent
    holding the GIL, not strictly of CPU: each send to PostgreSQL, which wakes a backend on the
    same cores, weighs more than its CPU cost."""
    tool = py_spy()
    if tool is None:
        raise FileNotFoundError("py-spy not found: pip install py-spy")
    return subprocess.Popen([tool, "record", "--pid", str(pid), "--subprocesses", "--gil", "--nonblocking",
                             "--rate", "100", "--format", "raw", "-d", str(round(seconds)), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _file(frame: str) -> str:
    match = re.search(r"\(([^()]*):\d+\)$", frame)
    return match.group(1) if match else frame


def summarise(raw: str, top: int = 15) -> dict[str, Any]:
    """Shares of samples by bucket, by leaf function (self time), by named cost and by function
    (inclusive) from py-spy's ``--format raw`` (``process…;frame;…;leaf count`` per line)."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    costs: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = [f for f in _PROCESS_PREFIX.sub("", stack).split(";") if f]
        count = int(count_text)
        total += count
        if not frames:
            buckets["event loop (uvloop, C callbacks)"] += count
            continue
        self_time[_LINE_NUMBER.sub(")", frames[-1])] += count
        for name in {_LINE_NUMBER.sub(")", f) for f in frames}:
            inclusive[name] += count
        for label, needle in COSTS:
            if any(needle in f for f in frames):
                costs[label] += count
        for frame in reversed(frames):
            bucket = next((b for needle, b in BUCKETS if needle in _file(frame)), None)
            if bucket:
                buckets[bucket] += count
                break
        else:
            buckets["other"] += count

    def shares(counter: Counter[str], n: int | None = None) -> list[dict[str, Any]]:
        return [{"name": k, "share": round(v / total, 4)} for k, v in counter.most_common(n)] if total else []

    return {"samples": total, "buckets": shares(buckets), "self": shares(self_time, top),
            "costs": [{"name": label, "share": round(costs[label] / total, 4) if total else 0.0}
                      for label, _ in COSTS],
            "inclusive": shares(inclusive, top * 3)}

"""What one idle live connection keeps, measured inside one API process.

    .venv/bin/python -m bench.connection_census                       # 3,000 connections after a 600 warm-up
    .venv/bin/python -m bench.connection_census --warmup 0 --tutors 1 # a first storm, every connection on one tutor
    .venv/bin/python -m bench.connection_census --trace               # plus tracemalloc, by line (slow)

``bench.connections`` measures the issue's number (two ``edustream api`` processes, a first
storm, RSS only) and varies by ± 3 KB from run to run. This runs the same ASGI app
(``edustream.asgi:app_factory``) under ``uvicorn.Server`` with ``LIVE_UVICORN_OPTIONS`` on
uvloop in this process, opens and closes a warm-up storm (every watched tutor's listing
computed, the allocator warmed), then opens ``--connections`` more with the same Node client
(``bench/fanout/idle_clients.mjs``, one ``watch`` each) and prints per connection: the RSS
delta (± 0.5 KB), the objects by type (``gc.get_objects()`` before and after), the suspended
coroutines and generators by name with their sizes, and with ``--trace`` the allocations by
line. How the numbers were used: docs/benchmarks.md, "Memory per idle live connection".
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from sqlalchemy.engine import make_url

from bench.connections import SECRET
from bench.e2e import _free_port, _recreate, seed
from bench.fanout.run import HERE as FANOUT_DIR
from bench.fanout.run import ensure_node_modules
from server.db import libpq_url
from server.migrate import upgrade


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])


def census() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def suspended() -> collections.Counter[str]:
    """Bytes of the coroutines and generators alive now, by name."""
    sizes: collections.Counter[str] = collections.Counter()
    for o in gc.get_objects():
        if type(o).__name__ in ("coroutine", "async_generator", "generator"):
            sizes[getattr(o, "__qualname__", "?")] += sys.getsizeof(o)
    return sizes


class Storm:
    """``count`` idle connections from the Node client, open until :meth:`close`."""

    def __init__(self, url: str, count: int, tutors: list[str]) -> None:
        self.spec = {"urls": [url], "per_url": count, "tutors": tutors, "timeout_ms": 120_000}
        self.proc: asyncio.subprocess.Process | None = None

    async def open(self) -> dict[str, Any]:
        self.proc = await asyncio.create_subprocess_exec(
            "node", str(FANOUT_DIR / "idle_clients.mjs"), json.dumps(self.spec), cwd=FANOUT_DIR,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        opened: dict[str, Any] = json.loads(await self.proc.stdout.readline())
        return opened

    async def close(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"close\n")
        await self.proc.stdin.drain()
        await self.proc.stdout.readline()
        await self.proc.wait()


async def settle() -> None:
    """Let the storm's last acks and closes finish: the RSS stops moving (1 s apart, within 0.5 %)."""
    last = rss_kb()
    for _ in range(30):
        await asyncio.sleep(1.0)
        now = rss_kb()
        if abs(now - last) <= last / 200:
            return
        last = now


async def run(args: argparse.Namespace, tutors: list[str]) -> None:
    from edustream.asgi import app_factory
    from edustream.cli import LIVE_UVICORN_OPTIONS

    options = {**LIVE_UVICORN_OPTIONS, **({"ws": args.ws} if args.ws else {})}
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app_factory, factory=True, host="127.0.0.1", port=port,
                                           log_level="warning", **options))
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(60):
        while not server.started:  # noqa: ASYNC110 (uvicorn.Server offers no start event)
            await asyncio.sleep(0.1)
    url = f"http://127.0.0.1:{port}"
    start = rss_kb()
    if args.warmup:
        warm = Storm(url, args.warmup, tutors)
        await warm.open()
        await warm.close()
        await settle()
    before_rss, before, before_coros = rss_kb(), census(), suspended()
    if args.trace:
        tracemalloc.start(1)
        before_trace = tracemalloc.take_snapshot()
    storm = Storm(url, args.connections, tutors)
    opened = await storm.open()
    await settle()
    after_rss, after, after_coros = rss_kb(), census(), suspended()
    n = opened["open"] or 1
    print(f"ws={options['ws']}: {opened['open']:,} open, {opened['watched']:,} watching, {opened['failed']} failed "
          f"{opened['errors'] or ''}")
    print(f"RSS at start {start / 1024:,.0f} MiB, before the storm {before_rss / 1024:,.0f}, "
          f"connected {after_rss / 1024:,.0f}: {(after_rss - before_rss) / n:.1f} KB per connection")
    print("objects per connection:")
    for name, count in sorted(((k, (after[k] - before[k]) / n) for k in after), key=lambda kv: -kv[1]):
        if count >= 0.5:
            print(f"  {count:6.2f}  {name}")
    print("suspended coroutines and generators, bytes per connection:")
    for name, size in (after_coros - before_coros).most_common():
        if size / n >= 20:
            print(f"  {size / n:6.0f}  {name}")
    if args.trace:
        stats = tracemalloc.take_snapshot().compare_to(before_trace, "lineno")
        print(f"tracemalloc: {sum(s.size_diff for s in stats) / n:,.0f} bytes per connection; by line:")
        for stat in stats[:40]:
            frame = stat.traceback[0]
            print(f"  {stat.size_diff / n:7.0f} B {stat.count_diff / n:6.2f} obj  {frame.filename}:{frame.lineno}")
    await storm.close()
    server.should_exit = True
    await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=3_000, help="connections measured")
    parser.add_argument("--warmup", type=int, default=600, help="connections opened and closed first (0: none)")
    parser.add_argument("--tutors", type=int, default=500, help="tutors the connections watch (round-robin)")
    parser.add_argument("--ws", help="uvicorn's WebSocket implementation instead of LIVE_UVICORN_OPTIONS's")
    parser.add_argument("--trace", action="store_true", help="also tracemalloc by line (several times slower)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL",
                                                                  "postgresql://postgres@127.0.0.1:5432/edustream"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"))
    args = parser.parse_args()
    ensure_node_modules()
    base = make_url(libpq_url(args.database_url))
    db_url = base.set(database=f"{base.database}_census").render_as_string(hide_password=False)
    print(f"scratch database {base.database}_census: migrate, seed {args.tutors} tutors", file=sys.stderr)
    asyncio.run(_recreate(db_url))
    upgrade(db_url)
    tutor_ids, _ = asyncio.run(seed(db_url, args.tutors, 1))
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("LIVE_", "PYTEST_", "TASK_"))}
    os.environ.clear()
    os.environ.update({**keep, "DATABASE_URL": db_url, "REDIS_URL": args.redis_url, "ENVIRONMENT": "test",
                       "SECRET_KEY": SECRET, "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING",
                       "LIVE_REDIS_CHANNEL": "edustream-census", "METRICS_ENABLED": "false"})
    uvloop.run(run(args, [str(t) for t in tutor_ids]))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()

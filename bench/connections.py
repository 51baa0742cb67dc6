"""Memory per idle live connection, opened by the npm ``socket.io-client`` as browsers do.

    .venv/bin/python -m bench.connections                       # 10,000 connections, every server
    .venv/bin/python -m bench.connections --connections 2000 --servers edustream --json out.json

For each server, in the same run and with the same client:

* ``edustream`` — two API processes (``edustream api --no-migrate``, as production runs them)
  on a scratch database (``<db>_conn``) with seeded tutors;
* ``py-bare`` — two processes of a stock python-socketio ``AsyncServer`` behind uvicorn with
  its defaults (``bench/fanout/bare_server.py``): the libraries' own cost, nothing of ours;
* ``py-bare-nodeflate`` — the same with permessage-deflate refused, as ``edustream api`` does;
* ``node`` — the Node socket.io 4 reference (``bench/fanout/node_server.mjs``), one process.

The client (``bench/fanout/idle_clients.mjs``) opens ``--connections`` sockets split evenly over
the server's processes, all of a process's share at once, each with its own Manager,
``transports: ["websocket", "polling"]`` like ``frontend/lib/live.ts``, and watches one tutor
(ack awaited). The servers' resident memory (VmRSS, summed over the processes) is read before
the storm, once every connection is open and the RSS has settled, and after they closed;
``KB per connection`` = (connected − before) / connections. Target (issue 19): ≤ 15 KB on
two API processes at 10,000 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench.e2e import Proc, _free_port, _recreate, _rss_kb, seed
from bench.fanout.run import HERE as FANOUT_DIR
from bench.fanout.run import ensure_node_modules
from server.db import libpq_url
from server.migrate import upgrade
from server.settings import PROJECT_ROOT

SERVERS = ("edustream", "py-bare", "py-bare-nodeflate", "node")
SECRET = "connections-benchmark-secret-key-0123456789"
TARGET_KB = 15.0


def log(message: str) -> None:
    print(f"[connections] {message}", file=sys.stderr, flush=True)


@dataclass
class Servers:
    """The processes of one server under test, their URLs and their summed resident memory."""

    name: str
    procs: list[Proc] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def rss_kb(self) -> int:
        return sum(_rss_kb(p.pid) for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def start(name: str, processes: int, env: dict[str, str], log_dir: Path) -> Servers:
    servers = Servers(name)
    count = 1 if name == "node" else processes
    for i in range(count):
        port = _free_port()
        if name == "edustream":
            argv = [str(Path(sys.executable).parent / "edustream"), "api", "--port", str(port), "--no-migrate"]
        elif name.startswith("py-bare"):
            argv = [sys.executable, "-m", "bench.fanout.bare_server", "--port", str(port),
                    *(["--no-deflate"] if name == "py-bare-nodeflate" else [])]
        else:
            argv = ["node", str(FANOUT_DIR / "node_server.mjs")]
        proc = Proc(f"{name}-{i}", argv, {**env, "PORT": str(port), "CHANNEL": "edustream-connections"}, log_dir)
        proc.start()
        servers.procs.append(proc)
        servers.urls.append(f"http://127.0.0.1:{port}")
    probe = "/healthz" if name == "node" else "/socket.io/?EIO=4&transport=polling"  # Node serves WebSocket only
    deadline = time.monotonic() + 90
    for url in servers.urls:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}{probe}", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                servers.stop()
                raise SystemExit(f"{name} at {url} did not become ready; see {log_dir}")
            time.sleep(0.3)
    return servers


def settled_rss(servers: Servers, *, seconds: float = 30.0) -> int:
    """The RSS once it stops moving (two readings 1 s apart within 1 %), at most ``seconds``."""
    last = servers.rss_kb()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = servers.rss_kb()
        if abs(now - last) <= last / 100:
            return now
        last = now
    return last


def measure(servers: Servers, connections: int, tutors: list[str], timeout_s: float) -> dict[str, Any]:
    before = settled_rss(servers, seconds=5)
    per_url = connections // len(servers.urls)
    spec = {"urls": servers.urls, "per_url": per_url, "tutors": tutors, "timeout_ms": int(timeout_s * 1000)}
    log(f"{servers.name}: opening {per_url * len(servers.urls):,} connections ({per_url:,} at once per process)")
    client = subprocess.Popen(["node", str(FANOUT_DIR / "idle_clients.mjs"), json.dumps(spec)], cwd=FANOUT_DIR,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None and client.stdin is not None
        line = client.stdout.readline()
        if not line:
            raise SystemExit(f"the client exited ({client.wait()}) before reporting")
        opened = json.loads(line)
        connected_rss = settled_rss(servers)
        log(f"{servers.name}: {opened['open']:,} open, {opened['watched']:,} watching, {opened['failed']} failed "
            f"in {opened['seconds']:.1f} s; RSS {before / 1024:,.0f} → {connected_rss / 1024:,.0f} MiB")
        client.stdin.write("close\n")
        client.stdin.flush()
        client.stdout.readline()
        client.wait(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
    after = settled_rss(servers, seconds=15)
    open_ = opened["open"]
    return {"server": servers.name, "processes": len(servers.procs), "connections": open_,
            "watched": opened["watched"], "failed": opened["failed"], "errors": opened["errors"],
            "storm_seconds": round(opened["seconds"], 2), "rss_before_kb": before, "rss_connected_kb": connected_rss,
            "rss_after_close_kb": after,
            "kb_per_connection": round((connected_rss - before) / open_, 1) if open_ else None}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| server | processes | connections (watching) | RSS before → connected → closed MiB | KB per connection |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['server']} | {r['processes']} | {r['connections']:,} ({r['watched']:,}) | "
                     f"{r['rss_before_kb'] / 1024:,.0f} → {r['rss_connected_kb'] / 1024:,.0f} → "
                     f"{r['rss_after_close_kb'] / 1024:,.0f} | **{r['kb_per_connection']}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000, help="connections per server (split over its processes)")
    parser.add_argument("--processes", type=int, default=2, help="processes of the Python servers (Node runs one)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, of {', '.join(SERVERS)}")
    parser.add_argument("--tutors", type=int, default=500, help="tutors the connections watch (round-robin)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a connection may take to open")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL",
                                                                  "postgresql://postgres@127.0.0.1:5432/edustream"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"))
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = parser.parse_args()
    names = [s for s in args.servers.split(",") if s]
    if unknown := set(names) - set(SERVERS):
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    ensure_node_modules()
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"edustream-connections-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    started, load_before = datetime.now(UTC), os.getloadavg()[0]

    base = make_url(libpq_url(args.database_url))
    db_url = base.set(database=f"{base.database}_conn").render_as_string(hide_password=False)
    tutors: list[str] = []
    if "edustream" in names:
        log(f"scratch database {base.database}_conn: migrate, seed {args.tutors} tutors")
        asyncio.run(_recreate(db_url))
        upgrade(db_url)
        tutor_ids, _ = asyncio.run(seed(db_url, args.tutors, 1))
        tutors = [str(t) for t in tutor_ids]
    else:
        tutors = [f"00000000-0000-4000-8000-{i:012d}" for i in range(args.tutors)]
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("LIVE_", "PYTEST_", "TASK_"))}
    env = {**keep, "DATABASE_URL": db_url, "REDIS_URL": args.redis_url, "ENVIRONMENT": "test", "SECRET_KEY": SECRET,
           "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "LIVE_REDIS_CHANNEL": "edustream-connections",
           "METRICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}
    rows = []
    for name in names:
        servers = start(name, args.processes, env, log_dir)
        try:
            rows.append(measure(servers, args.connections, tutors, args.timeout))
        finally:
            servers.stop()
    result = {"command": "python -m bench.connections " + " ".join(sys.argv[1:]), "started_at": started.isoformat(),
              "machine": f"{os.cpu_count()} cores ({platform.machine()}), load average {load_before:.1f} at start, "
                         f"Python {platform.python_version()}, "
                         f"Node {subprocess.check_output(['node', '--version'], text=True).strip()}",
              "target_kb": TARGET_KB, "rows": rows, "log_dir": str(log_dir)}
    print(table(rows))
    for r in rows:
        if r["server"] == "edustream" and r["kb_per_connection"] is not None:
            met = r["kb_per_connection"] <= TARGET_KB and r["connections"] >= args.connections * 0.99
            print(f"EduStream: {r['kb_per_connection']} KB per idle connection at {r['connections']:,} on "
                  f"{r['processes']} processes (target ≤ {TARGET_KB:g}): {'met' if met else 'not met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    main()

"""Fan-out benchmark: EduStream's Socket.IO server against a Node socket.io 4 reference, same run.

    .venv/bin/python -m bench.fanout.run                      # every server, every scenario
    .venv/bin/python -m bench.fanout.run --servers node,py --scenarios room1000 --step-seconds 2
    .venv/bin/python -m bench.fanout.run --write-docs         # also rewrite "Live fan-out" in docs/benchmarks.md

Servers (each its own processes, loopback only, one Redis from ``REDIS_URL``):
* ``node``     — socket.io 4.8 + @socket.io/redis-adapter 8 (``node_server.mjs``);
* ``py-stock`` — our ``/live`` on python-socketio's stock ``AsyncRedisManager``;
* ``py``       — our ``/live`` on :class:`realtime.manager.LiveRedisManager` (what ships).

Scenarios:
* ``room1000`` / ``room5000`` — 1,000 / 5,000 watchers of one tutor on one process;
* ``rooms500x10`` — 500 tutors × 10 watchers on two processes (5 + 5 per tutor), every
  broadcast emitted by process A, so half of the deliveries cross processes through Redis.

All servers run side by side and every offered rate is measured on each in turn, so they
share the machine's conditions (it is shared with other work: a failed step is retried
once). The offered broadcast rate steps up until a step fails (fewer than 99.5 % of the
deliveries arrive, the server emits at under 90 % of the offered pace, or p99 latency
> 100 ms), then bisects twice. Latency runs from the moment a broadcast was *due* to its
arrival, so an emitter that falls behind pays for it. Reported: the highest
delivered messages/s that passed, with its p50/p99; for the two-process scenario also the
cross-process p50/p99 at that step and at a fixed reference load. The load client
(``client.mjs``) speaks the Socket.IO wire protocol over raw WebSockets in one Node process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Live fan-out"
P99_BUDGET_MS = 100.0
MIN_DELIVERED = 0.995
KEPT_PACE = 0.9  # a server that cannot emit at the offered pace fails the step
# A realistic slots.changed: one held slot and its neighbours (about 300 bytes on the wire).
CHANGES = [
    {"start": "2027-03-15T13:00:00Z", "end": "2027-03-15T14:00:00Z", "status": "held",
     "held_until": "2027-03-15T12:10:00Z"},
    {"start": "2027-03-15T12:00:00Z", "end": "2027-03-15T13:00:00Z", "status": "open"},
]
SCENARIOS: dict[str, dict[str, Any]] = {
    "room1000": {"rooms": 1, "per_room": 1000, "processes": 1,
                 "deliveries": [5_000, 10_000, 20_000, 30_000, 40_000, 60_000, 80_000, 100_000, 150_000]},
    "room5000": {"rooms": 1, "per_room": 5000, "processes": 1,
                 "deliveries": [5_000, 10_000, 20_000, 30_000, 40_000, 60_000, 80_000, 100_000, 150_000]},
    "rooms500x10": {"rooms": 500, "per_room": 10, "processes": 2, "reference": 5_000,
                    "deliveries": [5_000, 10_000, 20_000, 30_000, 40_000, 60_000, 80_000, 100_000]},
}
SERVERS = ("node", "py-stock", "py")
NOTES = """\
How to read it:
* `node` is the reference: socket.io 4.8 with @socket.io/redis-adapter 8.3. `py-stock` is our `/live` on
  python-socketio 5.18's stock `AsyncRedisManager` and Engine.IO writer (`LIVE_FAST_FANOUT=false`); `py` is
  what ships (`realtime/manager.py`, `realtime/internals/`). All run side by side in one run, each step
  measured on each in turn; the load client is the same Node process type for all (raw WebSockets speaking
  the Socket.IO protocol, `bench/fanout/client.mjs`).
* "delivered msg/s (p99 ≤ 100 ms)" is the highest offered rate at which every message arrived, at the offered
  pace, with p99 latency (from the moment a broadcast was due to its arrival) at most 100 ms.
* Where the time went in `py-stock` (cProfile of the server, `FANOUT_PROFILE=/tmp/prof` before the command):
  per recipient an asyncio task, then the Engine.IO queue, a writer-task wake-up, `poll`, an ASGI `send`
  message and the WebSocket framing in uvicorn; and the Redis listener awaits every recipient's task before it
  reads the next message, so one big room holds up cross-process delivery for all. In `py` a recipient costs a
  few attribute checks and one `transport.write` of a frame built once per broadcast; the profile is then
  dominated by the `send()` system call itself (about 10 µs here), which the Node server pays per recipient too.
* `room5000` is the most sensitive to other work on the machine: each broadcast is a burst of 5,000 frames that
  the single load-client process must read (tens of ms of its CPU on this 2-core machine). When the machine is
  busy neither server passes the first step; the row then shows p50/p99 at 5,000 msg/s (one broadcast per
  second), i.e. how long the whole room takes to hear of a change.
* The machine is shared with other work: repeated runs differ by ±20 %; a failed step is retried once.
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Step:
    deliveries_per_s: float  # offered
    delivered_per_s: float
    delivered_ratio: float
    p50: float | None
    p99: float | None
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Everything arrived, at the offered pace, with p99 within budget."""
        return (self.delivered_ratio >= MIN_DELIVERED and self.delivered_per_s >= KEPT_PACE * self.deliveries_per_s
                and self.p99 is not None and self.p99 <= P99_BUDGET_MS)


@dataclass
class Outcome:
    server: str
    scenario: str
    best: Step | None
    steps: list[Step]
    reference: Step | None = None


class Client:
    """The Node load client, driven over stdin/stdout."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "node", str(HERE / "client.mjs"), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=2**20)

    async def call(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 300)
        out: dict[str, Any] = json.loads(line)
        if "error" in out:
            raise RuntimeError(out["error"])
        return out

    async def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.call(cmd="close"), 10)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()


class ServerProcess:
    def __init__(self, kind: str, redis_url: str, channel: str, ws: str) -> None:
        self.kind, self.redis_url, self.channel, self.ws = kind, redis_url, channel, ws
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self.kind == "node":
            cmd = ["node", str(HERE / "node_server.mjs")]
            env = {**os.environ, "PORT": str(self.port), "REDIS_URL": self.redis_url, "CHANNEL": self.channel}
        else:
            cmd = [sys.executable, "-m", "bench.fanout.py_server", "--port", str(self.port), "--redis-url",
                   self.redis_url, "--channel", self.channel, "--ws", self.ws]
            if self.kind == "py-stock":
                cmd.append("--stock")
            env = dict(os.environ)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: ASYNC220 - returns at once
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz", timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.kind} server did not start")

    async def broadcast(self, rooms: list[str], rate: float, seconds: float) -> int:
        async with httpx.AsyncClient(timeout=seconds + 120) as http:
            r = await http.post(f"{self.url}/bench/broadcast",
                                json={"rooms": rooms, "rate": rate, "seconds": seconds, "changes": CHANGES})
        r.raise_for_status()
        return int(r.json()["sent"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGINT: uvicorn shuts down and re-raises it as KeyboardInterrupt, so a profile is written.
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def measure(client: Client, emitter: ServerProcess, rooms: list[str], watchers: int, deliveries: float,
                  seconds: float) -> Step:
    """Offer ``deliveries``/s for ``seconds``; count what arrives (waiting at most 3 s for the tail)."""
    per_broadcast = watchers / len(rooms)
    rate = deliveries / per_broadcast  # broadcasts per second
    await client.call(cmd="reset")
    started = time.perf_counter()
    sent = await emitter.broadcast(rooms, rate, seconds)
    emitted = time.perf_counter() - started
    expected = sent * per_broadcast
    report: dict[str, Any] = {}
    for _ in range(30):
        report = await client.call(cmd="report")
        if report["received"] >= expected:
            break
        await asyncio.sleep(0.1)
    tags = report["tags"]
    received = report["received"]
    if report.get("closes"):
        print(f"    connections closed: {report['closes']} (open: {report['open']})", flush=True)
    return Step(deliveries_per_s=deliveries, delivered_per_s=received / max(seconds, emitted),
                delivered_ratio=received / expected if expected else 0.0,
                p50=max((t["p50"] or 0) for t in tags.values()) if tags else None,
                p99=max((t["p99"] or 0) for t in tags.values()) if tags else None, tags=tags)


@dataclass
class Contender:
    """One server kind in a scenario: its processes, its own load client, its results."""

    kind: str
    servers: list[ServerProcess]
    client: Client = field(default_factory=Client)
    steps: list[Step] = field(default_factory=list)
    reference: Step | None = None
    last_ok: float | None = None
    first_bad: float | None = None

    async def step(self, rooms: list[str], watchers: int, offered: float, seconds: float, label: str) -> Step:
        step = await measure(self.client, self.servers[0], rooms, watchers, offered, seconds)
        if not step.ok:  # this machine is shared: ride over one load spike from other jobs
            await asyncio.sleep(1)
            step = await measure(self.client, self.servers[0], rooms, watchers, offered, seconds)
        print(f"  {self.kind:8} {label:12} {fmt_step(step)}", flush=True)
        return step


async def run_scenario(kinds: list[str], name: str, redis_url: str, ws: str, step_seconds: float) -> list[Outcome]:
    """All server kinds side by side: every offered rate is measured on each in turn."""
    spec = SCENARIOS[name]
    contenders = [Contender(kind, [ServerProcess(kind, redis_url, f"bench-fanout-{os.getpid()}-{kind}-{name}", ws)
                                   for _ in range(spec["processes"])]) for kind in kinds]
    rooms = [f"tutor:{uuid.uuid4()}" for _ in range(spec["rooms"])]
    watchers = spec["rooms"] * spec["per_room"]
    try:
        for c in contenders:
            await asyncio.gather(*(s.start() for s in c.servers))
            await c.client.start()
            split = spec["per_room"] // len(c.servers)
            for i, server in enumerate(c.servers):
                per_room = split if i < len(c.servers) - 1 else spec["per_room"] - split * (len(c.servers) - 1)
                await c.client.call(cmd="connect", url=server.url, rooms=rooms, per_room=per_room,
                                    tag="local" if i == 0 else "remote")
            await measure(c.client, c.servers[0], rooms, watchers, min(spec["deliveries"]), 1.0)  # warm-up
        if "reference" in spec:
            for c in contenders:
                c.reference = await c.step(rooms, watchers, spec["reference"], step_seconds, f"{name} ref")
        for offered in spec["deliveries"]:
            running = [c for c in contenders if c.first_bad is None]
            if not running:
                break
            for c in running:
                step = await c.step(rooms, watchers, offered, step_seconds, name)
                c.steps.append(step)
                if step.ok:
                    c.last_ok = offered
                else:
                    c.first_bad = offered
        for c in contenders:  # bisect between the last pass and the first failure, twice
            if c.last_ok is None or c.first_bad is None:
                continue
            lo, hi = c.last_ok, c.first_bad
            for _ in range(2):
                mid = (lo + hi) / 2
                step = await c.step(rooms, watchers, mid, step_seconds, name)
                c.steps.append(step)
                lo, hi = (mid, hi) if step.ok else (lo, mid)
        outcomes = []
        for c in contenders:
            passing = [s for s in c.steps if s.ok]
            best = max(passing, key=lambda s: s.delivered_per_s) if passing else None
            outcomes.append(Outcome(c.kind, name, best, c.steps, c.reference))
        return outcomes
    finally:
        for c in contenders:
            await c.client.stop()
            for server in c.servers:
                server.stop()


def fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def fmt_step(step: Step) -> str:
    tags = " ".join(f"{k}: p50 {fmt_ms(v['p50'])} p99 {fmt_ms(v['p99'])}" for k, v in step.tags.items())
    return (f"offered {step.deliveries_per_s:>9,.0f}/s delivered {step.delivered_per_s:>9,.0f}/s "
            f"({step.delivered_ratio:6.1%}) {tags} {'ok' if step.ok else 'FAIL'}")


def table(outcomes: list[Outcome]) -> str:
    lines = ["| scenario | server | delivered msg/s (p99 ≤ 100 ms) | p50 ms | p99 ms | "
             "cross-process p50 / p99 ms at that load | cross-process p50 / p99 ms at 5,000 msg/s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        best = o.best
        cross_best = cross_ref = "–"
        if best is not None and "remote" in best.tags:
            cross_best = f"{fmt_ms(best.tags['remote']['p50'])} / {fmt_ms(best.tags['remote']['p99'])}"
        if o.reference is not None and "remote" in o.reference.tags:
            r = o.reference.tags["remote"]
            cross_ref = f"{fmt_ms(r['p50'])} / {fmt_ms(r['p99'])}"
        if best is None:
            first = o.steps[0]
            cross_first = "–"
            if "remote" in first.tags:
                cross_first = f"{fmt_ms(first.tags['remote']['p50'])} / {fmt_ms(first.tags['remote']['p99'])}"
            lines.append(f"| {o.scenario} | {o.server} | < {first.deliveries_per_s:,.0f} (at {first.deliveries_per_s:,.0f}:"
                         f" {first.delivered_per_s:,.0f} delivered) | {fmt_ms(first.p50)} | {fmt_ms(first.p99)} | "
                         f"{cross_first} | {cross_ref} |")
        else:
            lines.append(f"| {o.scenario} | {o.server} | {best.delivered_per_s:,.0f} | {fmt_ms(best.p50)} | "
                         f"{fmt_ms(best.p99)} | {cross_best} | {cross_ref} |")
    return "\n".join(lines)


def write_docs(body: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip() + "\n\n" + body + "\n"
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + ("\n" + text[end + 1:] if end != -1 else "\n")
    DOCS.write_text(text)


def ensure_node_modules() -> None:
    if shutil.which("node") is None:
        raise SystemExit("node is not on PATH: the reference server and the load client need Node.js")
    if not (HERE / "node_modules" / "socket.io").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True)


async def main_async(args: argparse.Namespace) -> list[Outcome]:
    outcomes = []
    for name in args.scenarios:
        print(f"== {name}: {', '.join(args.servers)}", flush=True)
        outcomes.extend(await run_scenario(args.servers, name, args.redis_url, args.ws, args.step_seconds))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description="Live fan-out benchmark (see module docstring).")
    parser.add_argument("--servers", default=",".join(SERVERS), type=lambda s: s.split(","))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), type=lambda s: s.split(","))
    parser.add_argument("--step-seconds", type=float, default=2.0)
    parser.add_argument("--deliveries", type=lambda s: [float(x) for x in s.split(",")],
                        help="offered deliveries/s to step through instead of the scenario's ramp")
    parser.add_argument("--ws", default="auto", help="uvicorn WebSocket implementation for the Python servers")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--write-docs", action="store_true", help='rewrite "Live fan-out" in docs/benchmarks.md')
    args = parser.parse_args()
    ensure_node_modules()
    if args.deliveries:
        for spec in SCENARIOS.values():
            spec["deliveries"] = args.deliveries
    started = time.time()
    load = os.getloadavg()
    outcomes = asyncio.run(main_async(args))
    result = table(outcomes)
    print()
    print(result)
    if args.write_docs:
        command = "python -m bench.fanout.run " + " ".join(sys.argv[1:])
        meta = (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} on {os.cpu_count()} cores "
                f"({platform.processor() or platform.machine()}, load average {load[0]:.1f} at start; the machine is "
                f"shared), Python {platform.python_version()}, Node {subprocess.check_output(['node', '--version'], text=True).strip()}, "
                f"{args.step_seconds:g} s per step, uvicorn ws={args.ws}.")
        write_docs(f"{SECTION}\n\n`{command}`\n\n{meta}\n\n{result}\n\n{NOTES}")


if __name__ == "__main__":
    main()

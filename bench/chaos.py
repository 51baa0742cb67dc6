"""Chaos runs: faults injected under a running load test, which then proves nothing was lost.

    .venv/bin/python -m bench.chaos                          # every fault, prints the table
    .venv/bin/python -m bench.chaos --faults api-kill,redis-restart --write-docs

Each run starts its own PostgreSQL (a private cluster under ``/tmp``, so restarting it
disturbs nothing else on the machine), its own Redis (append-only file on, as production
runs it), two API processes, the worker and the scheduler (``bench/e2e.py``'s deployment),
then drives ``edustream loadtest``'s ``churn`` scenario (holds released, left to lapse and
paid for, each slot re-raced) with watchers on both API processes. Its client retries an
unanswered request on the other process with the same ``Idempotency-Key`` (what a real
client does), so every outcome is known. While it runs, one fault:

==================  ===============================================================
``api-kill``        SIGKILL one API process; restart it 3 s later
``api-stop``        SIGSTOP one API process past the relay's lease, then SIGCONT
``worker-kill``     SIGKILL the worker and the scheduler; restart them 3 s later
``redis-restart``   stop Redis (SIGTERM) and start it again on the same port
``postgres-restart`` ``pg_ctl restart -m fast`` of the deployment's PostgreSQL
==================  ===============================================================

A probe measures **time to recover**: from the fault until a hold placed through each API
process reaches a watcher on each API process again. Every run ends with the load tester's
verification (no overlapping live bookings, one winner per race, every booking as its
client was told, lapsed holds read expired, every watcher's final view equal to
``GET /slots``, the outbox's versions consecutive and all published, no request left
without an answer); ``--write-docs`` writes the table to docs/benchmarks.md, "Chaos runs".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import socketio

from bench.e2e import SECRET, Deployment, _free_port, make_fleet, reset_bookings, seed
from loadtest.config import LoadConfig
from loadtest.context import RunContext
from loadtest.runner import Progress, run
from loadtest.scenarios import SCENARIO_FUNCS
from server.identity import issue_access_token
from server.migrate import upgrade
from server.settings import PROJECT_ROOT, Settings

FAULTS = ("api-kill", "api-stop", "worker-kill", "redis-restart", "postgres-restart")
DOCS = PROJECT_ROOT / "docs" / "benchmarks.md"
SECTION = "## Chaos runs"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
HOLD_TTL = 8
RELAY_POLL = 0.2


def log(message: str) -> None:
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


# --- private PostgreSQL and Redis -----------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own, run as the ``postgres`` user (it refuses root)."""

    directory: Path
    port: int = field(default_factory=_free_port)

    def _as_postgres(self, *argv: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *argv], capture_output=True, text=True, check=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/edustream_chaos"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.directory / "data"), "-A", "trust", "-U", "postgres")
        self._ctl("start")
        self._as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "edustream_chaos")

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-l",
                          str(self.directory / "postgres.log"), "-o", options, "-w", action, *extra)

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop", "-m", "immediate")


@dataclass
class PrivateRedis:
    directory: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                             check=False).stdout.strip() != b"PONG":
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


# --- the probe: time to recover ---------------------------------------------------------------


def _instant(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


class Probe:
    """Holds on a tutor of its own through each API process, each seen by a watcher on each."""

    def __init__(self, urls: list[str], tutor_id: str, student_token: str, slot_starts: list[datetime]) -> None:
        self.urls = urls
        self.tutor_id = tutor_id
        self.headers = {"Authorization": f"Bearer {student_token}"}
        self.starts = slot_starts
        self.clients: list[socketio.AsyncClient] = []
        self._seen_by: dict[int, set[int]] = {}
        self._held: dict[int, str] = {}
        self._next = 0

    async def connect(self) -> None:
        for index, url in enumerate(self.urls):
            client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1)

            async def changed(data: Any, index: int = index) -> None:
                for change in data.get("changes", []):
                    if change.get("status") == "held":
                        self._seen_by.setdefault(_instant(change["start"]), set()).add(index)

            async def connected(client: socketio.AsyncClient = client) -> None:
                with contextlib.suppress(Exception):
                    await client.call("watch", {"tutor_id": self.tutor_id}, namespace="/live", timeout=5)

            client.on("slots.changed", changed, namespace="/live")
            client.on("connect", connected, namespace="/live")
            await client.connect(url, namespaces=["/live"], transports=["websocket"], wait_timeout=10)
            self.clients.append(client)

    async def round_trip(self, within: float = 3.0) -> bool:
        """One hold through each API process; True when every watcher saw each of them."""
        placed: list[int] = []
        async with httpx.AsyncClient(timeout=within) as http:
            for url in self.urls:
                start = self.starts[self._next % len(self.starts)]
                self._next += 1
                key = int(start.timestamp())
                if key in self._held:
                    with contextlib.suppress(httpx.HTTPError):
                        await http.delete(f"{url}/api/v1/holds/{self._held.pop(key)}", headers=self.headers)
                self._seen_by.pop(key, None)
                try:
                    r = await http.post(f"{url}/api/v1/holds", headers=self.headers,
                                        json={"tutor_id": self.tutor_id, "start": start.isoformat(), "minutes": 30})
                except httpx.HTTPError:
                    return False
                if r.status_code != 201:
                    return False
                self._held[key] = r.json()["id"]
                placed.append(key)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if all(len(self._seen_by.get(k, ())) == len(self.urls) for k in placed):
                return True
            await asyncio.sleep(0.02)
        return False

    async def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.disconnect()


# --- one run ------------------------------------------------------------------------------


@dataclass
class Outcome:
    fault: str
    recovery_seconds: float | None
    passed: bool
    checks: list[dict[str, Any]]
    holds: int
    outage_retries: int
    notes: list[str] = field(default_factory=list)


async def inject(fault: str, dep: Deployment, pg: PrivatePostgres, redis: PrivateRedis) -> str:
    """Apply ``fault``; returns what was done (the restart, if any, happens here too)."""
    victim = dep.api[1][0]
    if fault == "api-kill":
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        await asyncio.sleep(3)
        victim.start()
        return "SIGKILL api-b, restarted 3 s later"
    if fault == "api-stop":
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(12)
        victim.proc.send_signal(signal.SIGCONT)
        return "SIGSTOP api-b for 12 s (past the relay lease), then SIGCONT"
    if fault == "worker-kill":
        for proc in dep.others:
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGKILL)
            proc.proc.wait()
        await asyncio.sleep(3)
        for proc in dep.others:
            proc.start()
        return "SIGKILL worker and scheduler, restarted 3 s later"
    if fault == "redis-restart":
        await asyncio.to_thread(redis.restart)
        return "Redis stopped and started again"
    if fault == "postgres-restart":
        await asyncio.to_thread(pg.restart)
        return "pg_ctl restart -m fast"
    raise ValueError(fault)


async def chaos_run(fault: str, dep: Deployment, pg: PrivatePostgres, redis: PrivateRedis, settings: Settings,
                    ids: tuple[list[uuid.UUID], list[uuid.UUID]], args: argparse.Namespace) -> Outcome:
    await reset_bookings(dep.db_url)
    probe_tutor, probe_student = ids[0][-1], ids[1][-1]
    base = (datetime.now(UTC) + timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    probe = Probe(dep.urls, str(probe_tutor), issue_access_token(settings, probe_student, "student"),
                  [base + timedelta(minutes=30 * i) for i in range(40)])
    await probe.connect()
    box: dict[str, Any] = {}

    async def scenario(ctx: RunContext) -> None:
        async def fault_then_recover() -> None:
            await asyncio.sleep(args.fault_after)
            log(f"{fault}: injecting")
            started = time.monotonic()
            injecting = asyncio.get_running_loop().create_task(inject(fault, dep, pg, redis))
            await asyncio.sleep(0.2)  # the fault itself is applied first thing
            # Recovered: the fault's own steps (restarts) are over and a round trip works again.
            while time.monotonic() - started < 120:
                ok = await probe.round_trip()
                if ok and injecting.done():
                    box["recovery"] = time.monotonic() - started
                    log(f"{fault}: recovered after {box['recovery']:.1f} s")
                    break
                await asyncio.sleep(0.1)
            box["what"] = await injecting

        await asyncio.gather(SCENARIO_FUNCS["churn"](ctx), fault_then_recover())

    tutors = ids[0][:args.tutors]
    cfg = LoadConfig(urls=dep.urls, scenario="churn", watchers=args.watchers, keep=True, database_url=dep.db_url,
                     duration=args.seconds, concurrency=args.concurrency, verify_timeout=90, progress_seconds=5,
                     connect_concurrency=50, resilient=True)
    try:
        report = await run(cfg, progress=Progress(), fleet=make_fleet(settings, tutors, ids[1][:-1]), scenario=scenario)
    finally:
        await probe.close()
    (dep.log_dir / "loadtest.json").write_text(json.dumps(report, indent=2, default=str))
    checks = [{"name": c["name"], "passed": c["passed"], "detail": c["detail"]} for c in report.get("checks", [])]
    return Outcome(fault, box.get("recovery"), bool(report.get("passed")), checks,
                   int((report.get("throughput") or {}).get("holds_won", 0)), int(report.get("outage_retries", 0)),
                   [box.get("what", "fault not injected"), *([report["error"]] if report.get("error") else [])])


def render(outcomes: list[Outcome], command: str, machine: str) -> str:
    lines = [SECTION, "", f"`{command}` — {machine}.", "",
             "| fault | what was done | time to recover | holds won | requests sent again | verification |",
             "|---|---|---:|---:|---:|---|"]
    for o in outcomes:
        failed = [c["name"] for c in o.checks if not c["passed"]]
        verdict = "**all checks passed**" if o.passed else f"**failed**: {', '.join(failed) or 'see the log'}"
        recovery = f"{o.recovery_seconds:.1f} s" if o.recovery_seconds is not None else "did not recover"
        lines.append(f"| `{o.fault}` | {o.notes[0]} | {recovery} | {o.holds:,} | {o.outage_retries:,} | {verdict} |")
    lines += ["", "Time to recover: from the fault until its restarts are done and a hold placed through each "
              "API process reaches a watcher on each API process again (a probe every 0.1 s). The checks are the load tester's "
              "(`edustream loadtest --help`), run after the load with the fault over."]
    return "\n".join(lines) + "\n"


def write_docs(body: str) -> None:
    text = DOCS.read_text()
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip() + "\n\n" + body
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + (text[end:] if end != -1 else "")
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    parser.add_argument("--seconds", type=float, default=30.0, help="load per run")
    parser.add_argument("--fault-after", type=float, default=8.0, help="seconds into the load")
    parser.add_argument("--tutors", type=int, default=20)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write-docs", action="store_true", help=f'rewrite "{SECTION[3:]}" in docs/benchmarks.md')
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    work = Path(tempfile.mkdtemp(prefix="edustream-chaos-"))
    work.chmod(0o755)  # the private PostgreSQL runs as the postgres user
    pg, redis = PrivatePostgres(work / "pg"), PrivateRedis(work / "redis")
    log(f"private PostgreSQL and Redis under {work}")
    pg.start()
    redis.start()
    outcomes: list[Outcome] = []
    try:
        upgrade(pg.url)
        ids = asyncio.run(seed(pg.url, args.tutors + 1, args.students + 1))
        settings = Settings(environment="test", database_url=pg.url, redis_url=redis.url, secret_key=SECRET,
                            access_token_ttl_seconds=14400)
        for fault in faults:
            dep = Deployment(pg.url, redis.url, work / f"logs-{fault}",
                             extra_env={"HOLD_TTL_SECONDS": str(HOLD_TTL), "LIVE_RELAY_POLL_SECONDS": str(RELAY_POLL),
                                        "DB_POOL_SIZE": "10"})
            dep.log_dir.mkdir(parents=True, exist_ok=True)
            log(f"{fault}: starting the deployment (logs in {dep.log_dir})")
            dep.start()
            try:
                outcomes.append(asyncio.run(chaos_run(fault, dep, pg, redis, settings, ids, args)))
            finally:
                dep.stop()
            o = outcomes[-1]
            log(f"{fault}: {'passed' if o.passed else 'FAILED'}; recovery {o.recovery_seconds}")
    finally:
        redis.stop()
        pg.stop()
    machine = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"
    body = render(outcomes, "python -m bench.chaos " + " ".join(sys.argv[1:]), machine)
    print(body)
    (work / "chaos.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=2, default=str))
    if args.write_docs:
        write_docs(body)
    raise SystemExit(0 if outcomes and all(o.passed and o.recovery_seconds is not None for o in outcomes) else 1)


if __name__ == "__main__":
    main()

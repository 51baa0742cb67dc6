"""One load-test run: check the URLs, set up, connect watchers, load, verify, clean up, report."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from loadtest.api import ApiClient
from loadtest.config import LoadConfig
from loadtest.context import RunContext
from loadtest.report import machine, summary_table, write_json
from loadtest.scenarios import SCENARIO_FUNCS
from loadtest.setup import Fleet, SetupError, SlotWindow, load_all_open_slots, provision
from loadtest.stats import Recorder
from loadtest.verify import Check, run_checks
from loadtest.watchers import GroupResult, WatcherGroup

EXIT_OK, EXIT_VIOLATION, EXIT_SETUP = 0, 1, 2


class Watchers(Protocol):
    async def start(self, progress: Callable[[int, int], None]) -> None: ...
    def hold_won(self, tutor: str, key: int, sent_at: float, received_at: float) -> None: ...
    def live_count(self) -> int: ...
    def events(self) -> int: ...
    async def verify(self, api_urls: list[str], window: SlotWindow, *, within: float) -> GroupResult: ...
    async def stop(self) -> None: ...


class Progress:
    """Live progress on stderr: one updating line on a terminal, periodic lines otherwise."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._dirty = False

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + text)
            self._dirty = True
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def say(self, text: str) -> None:
        """A message that stays (ends any updating line first)."""
        if not self.enabled:
            return
        if self._dirty:
            sys.stderr.write("\n")
            self._dirty = False
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def watcher_assignments(fleet: Fleet, urls: list[str], watchers: int, hot_watchers: int) -> list[tuple[str, str]]:
    """(url, tutor_id) per watcher: spread round-robin over URLs and tutors; the hot tutor
    (the first) gets ``hot_watchers`` more, and then the others share the rest."""
    tutors = fleet.tutors
    if not tutors:
        return []
    spread = tutors[1:] if hot_watchers > 0 and len(tutors) > 1 else tutors
    out = [(urls[i % len(urls)], spread[i % len(spread)].id) for i in range(watchers)]
    out += [(urls[(watchers + j) % len(urls)], tutors[0].id) for j in range(hot_watchers)]
    return out


def make_watchers(cfg: LoadConfig, assignments: list[tuple[str, str]]) -> Watchers:
    if cfg.watcher_processes > 0:
        from loadtest.watchproc import RemoteWatchers

        return RemoteWatchers(cfg, assignments)
    return WatcherGroup(assignments, client=cfg.watcher_client, connect_concurrency=cfg.connect_concurrency)


async def _check_urls(api: ApiClient) -> list[str]:
    problems = []
    for url in api.urls:
        reply = await api.request("readyz", "GET", "/readyz", base=url, record=False)
        if reply.status != 200:
            problems.append(f"{url}/readyz answered {reply.status or reply.code}")
    return problems


async def _db_now(database_url: str) -> datetime:
    import asyncpg

    from server.db import libpq_url

    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        value: datetime = await conn.fetchval("SELECT now()")
        return value
    finally:
        await conn.close()


async def _cleanup(ctx: RunContext) -> None:
    """Release the holds the run still keeps and cancel the bookings it confirmed."""
    gate = asyncio.Semaphore(max(4, ctx.cfg.setup_concurrency * 2))

    async def one(record: Any) -> None:
        async with gate:
            if record.state == "held" and record.expires_at > time.time():
                await ctx.release(record)
            elif record.state == "confirmed":
                reply = await ctx.api.request("cancel", "POST", f"/bookings/{record.id}/cancel",
                                              account=record.student, json_body={"reason": "load test cleanup"})
                if reply.ok:
                    record.state = "cancelled"

    await asyncio.gather(*(one(r) for r in list(ctx.ledger.holds.values())))


async def _report_progress(ctx: RunContext, watchers: Watchers, progress: Progress, every: float) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(every)
        rec = ctx.api.recorder
        elapsed = time.monotonic() - started
        hold = rec.ops.get("hold")
        p99 = f"{hold.latency.percentile(0.99) * 1000:.0f}" if hold else "-"
        errors = sum(v for k, v in rec.errors.items() if not k.startswith("409"))
        progress.line(f"[{elapsed:6.1f}s] {ctx.cfg.scenario}: {rec.total} requests ({rec.total / elapsed:,.0f}/s), "
                      f"{len(ctx.ledger.holds)} holds won, hold p99 {p99} ms, 409s "
                      f"{sum(v for k, v in rec.errors.items() if k.startswith('409'))}, other errors {errors}, "
                      f"5xx {rec.server_errors}; watchers {watchers.live_count()} live, {watchers.events()} events")


async def run(cfg: LoadConfig, *, progress: Progress | None = None,
              scenario: Callable[[RunContext], Awaitable[None]] | None = None,
              fleet: Fleet | None = None) -> dict[str, Any]:
    """Run the configured scenario end to end; returns the report (``exit_code`` inside).

    ``scenario`` replaces the configured one (the tests use one that breaks an invariant
    behind the load tester's back, to see the verification catch it). ``fleet`` skips
    the setup: accounts made elsewhere, with their tokens (``bench/e2e.py`` seeds hundreds
    of tutors in its scratch database rather than paying an argon2id hash for each)."""
    progress = progress or Progress()
    started_at = datetime.now(UTC)
    report: dict[str, Any] = {"scenario": cfg.scenario, "config": cfg.public(), "machine": machine(),
                              "started_at": started_at.isoformat()}
    async with ApiClient(cfg.urls, concurrency=max(cfg.concurrency, cfg.setup_concurrency),
                         timeout=cfg.request_timeout, resilient=cfg.resilient,
                         outage_seconds=cfg.outage_seconds) as api:
        problems = await _check_urls(api)
        if problems:
            return {**report, "passed": False, "exit_code": EXIT_SETUP, "error": "; ".join(problems)}
        setup_started = time.monotonic()
        try:
            if fleet is None:
                fleet = await provision(api, tutors=cfg.tutors, students=cfg.students, tag=cfg.tag, reuse=cfg.reuse,
                                        password=cfg.password, domain=cfg.email_domain, minutes=cfg.lesson_minutes,
                                        concurrency=cfg.setup_concurrency, progress=progress.say)
            else:
                await load_all_open_slots(api, fleet, cfg.setup_concurrency)
        except SetupError as exc:
            return {**report, "passed": False, "exit_code": EXIT_SETUP, "error": str(exc)}
        setup_recorder = api.recorder
        report["setup"] = {"tutors": len(fleet.tutors), "students": len(fleet.students), "tag": fleet.tag,
                           "seconds": round(time.monotonic() - setup_started, 1),
                           "requests": setup_recorder.to_dict(time.monotonic() - setup_started),
                           "window": {"from": fleet.window.start.isoformat(), "to": fleet.window.end.isoformat(),
                                      "minutes": fleet.window.minutes}}

        assignments = watcher_assignments(fleet, api.urls, cfg.watchers, cfg.hot_watchers)
        watchers = make_watchers(cfg, assignments)
        progress.say(f"connecting {len(assignments)} watchers ({cfg.watcher_client}) over {len(api.urls)} URL(s)")
        try:
            await watchers.start(lambda done, total: progress.line(f"watchers: {done}/{total} connected")
                                 if done % 100 == 0 or done == total else None)
            run_recorder = api.recorder = Recorder()
            ctx = RunContext(api, fleet, cfg, watchers.hold_won)
            db_started = await _db_now(cfg.database_url) if cfg.database_url else None
            progress.say(f"running {cfg.scenario}")
            run_started = time.time()
            ctx.started = time.monotonic()
            ctx.deadline = ctx.started + cfg.duration
            ticker = asyncio.get_running_loop().create_task(_report_progress(ctx, watchers, progress,
                                                                             cfg.progress_seconds))
            try:
                await (scenario or SCENARIO_FUNCS[cfg.scenario])(ctx)
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            run_seconds = time.time() - run_started
            progress.say(f"load done after {run_seconds:.1f} s; verifying")
            verify_recorder = api.recorder = Recorder()
            watcher_result = await watchers.verify(api.urls, fleet.window, within=cfg.verify_timeout)
            checks: list[Check] = await run_checks(ctx, api, [run_recorder], watcher_result, run_started, db_started)
        finally:
            await watchers.stop()
        if not cfg.keep:
            api.recorder = Recorder()
            progress.say("cleaning up (releasing holds, cancelling confirmed bookings; --keep skips this)")
            await _cleanup(ctx)

    passed = all(c.passed for c in checks)
    holds_won = len(ctx.ledger.holds)
    report.update({
        "run_seconds": round(run_seconds, 2),
        "requests": run_recorder.to_dict(run_seconds),
        "throughput": {"requests_per_second": round(run_recorder.total / run_seconds, 1) if run_seconds else 0.0,
                       "holds_per_second": round(holds_won / run_seconds, 1) if run_seconds else 0.0,
                       "holds_won": holds_won},
        "fanout": watcher_result.fanout,
        "watchers": watcher_result.to_dict(),
        "errors_by_code": dict(sorted(run_recorder.errors.items(), key=lambda kv: -kv[1])),
        "outage_retries": run_recorder.outage_retries,
        "verify_requests": verify_recorder.to_dict(1.0),
        "counters": {**ctx.snapshot(), "hold_ttl_seconds": ctx.ledger.hold_ttl, "hold_limit": ctx.ledger.hold_limit,
                     "races": len(ctx.ledger.races)},
        "checks": [c.to_dict() for c in checks],
        "passed": passed,
        "exit_code": EXIT_OK if passed else EXIT_VIOLATION,
    })
    return report


def execute(cfg: LoadConfig, *, quiet: bool = False) -> int:
    """Run, print the summary table, write ``--json``; the process exit code."""
    progress = Progress(enabled=not quiet)
    report = asyncio.run(run(cfg, progress=progress))
    progress.say("")
    if "error" in report:
        print(f"edustream loadtest: {report['error']}", file=sys.stderr)
    else:
        print(summary_table(report), flush=True)
    if cfg.json_path:
        write_json(report, cfg.json_path)
    return int(report["exit_code"])

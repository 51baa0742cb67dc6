"""Fuzz every operation of the served OpenAPI document with schemathesis, anonymously, as a
student and as a tutor, and fail on any 5xx.

    python -m bench.fuzz --base-url http://127.0.0.1:8000 --seconds 600

The server must be running (``edustream dev``, or ``edustream api`` against a scratch database:
the run registers accounts and creates whatever the generated requests create). Turn its rate
limits off (``RATE_LIMIT_ENABLED=false``) or most requests only meet 429. The three identities
run at the same time, each for ``--seconds``; each run's JSON report and console output are
kept in ``--report-dir``. Exit status: 0 when no request got a 5xx, 1 otherwise.

``tests/fuzz/test_openapi_fuzz.py`` runs the same thing for a few seconds against the test app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROLES = ("anonymous", "student", "tutor")
OPENAPI_PATH = "/api/v1/openapi.json"
PASSWORD = "fuzzing horse battery staple"
# Generated requests must not reach (or be turned away by) the Origin check as a browser would.
CHECKS = "not_a_server_error"
PHASES = "examples,coverage,fuzzing"
# Schemathesis signs up through POST /auth/register by itself when it spots a sign-up flow: that
# would make the anonymous run a signed-in one; the identities are ours to choose. Half of the
# generated tutor ids are the real, bookable tutor's, so that slot, hold and profile requests get
# past 404 into the code behind them; likewise the student's hold for booking and hold ids.
CONFIG = """\
[auth]
auto-signup = false

[dictionaries.tutors]
values = ["{tutor_id}"]

[dictionaries.bookings]
values = ["{booking_id}"]

[parameters]
"path.tutor_id" = {{ dictionary = "tutors", probability = 0.5 }}
"body.tutor_id" = {{ dictionary = "tutors", probability = 0.5 }}
"path.booking_id" = {{ dictionary = "bookings", probability = 0.5 }}
"path.hold_id" = {{ dictionary = "bookings", probability = 0.5 }}
"""


@dataclass
class FuzzRun:
    """One schemathesis run: who it called as, its exit status, its report and console output."""

    role: str
    returncode: int
    output: str
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def server_errors(self) -> list[str]:
        """Operations that answered 5xx (``ST101 Server error``)."""
        return sorted({op for failure in self.report.get("failures", []) if failure.get("code") == "ST101"
                       for op in failure.get("operations", [])})

    @property
    def ok(self) -> bool:
        """No 5xx, and schemathesis itself ran (a crash or a schema error is not a pass)."""
        return self.returncode in (0, 1) and bool(self.report) and not self.server_errors \
            and not self.report.get("errors")


async def _register(http: httpx.AsyncClient, role: str) -> tuple[str, dict[str, str]]:
    email = f"fuzz-{role}-{uuid.uuid4().hex[:10]}@example.com"
    r = await http.post("/api/v1/auth/register",
                        json={"email": email, "password": PASSWORD, "name": f"Fuzz {role}", "role": role})
    r.raise_for_status()
    http.cookies.clear()  # later calls authenticate with the bearer token only
    return r.json()["user"]["id"], {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass
class Accounts:
    """Headers per identity, the tutor's id and the student's hold on that tutor."""

    headers: dict[str, dict[str, str]]
    tutor_id: str
    booking_id: str


async def accounts(base_url: str) -> Accounts:
    """No headers, a fresh student, a fresh tutor with a profile and open hours (so that the
    tutor's and the students' endpoints get past "create your profile first")."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        _, student = await _register(http, "student")
        tutor_id, tutor = await _register(http, "tutor")
        r = await http.put("/api/v1/tutors/me", headers=tutor, json={
            "headline": "Fuzzed maths tutor", "bio": "Answers anything.", "subjects": ["mathematics"],
            "hourly_rate_cents": 5000, "currency": "USD", "timezone": "UTC", "lesson_minutes": [30, 60],
            "min_notice_minutes": 0, "buffer_minutes": 0, "max_advance_days": 60})
        r.raise_for_status()
        r = await http.put("/api/v1/tutors/me/availability", headers=tutor, json={
            "rules": [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(7)], "overrides": []})
        r.raise_for_status()
        start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
        r = await http.post("/api/v1/holds", headers=student,
                            json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": 60})
        r.raise_for_status()
    return Accounts({"anonymous": {}, "student": student, "tutor": tutor}, tutor_id, r.json()["id"])


def schemathesis_argv(base_url: str, *, seconds: float, seed: int, headers: dict[str, str], report: Path,
                      config: Path, max_examples: int = 25) -> list[str]:
    """The ``schemathesis run`` command line for one identity. Health checks are off: on a busy
    machine "too slow" would fail a run that found nothing wrong."""
    argv = [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config), "run",
            base_url.rstrip("/") + OPENAPI_PATH, "--checks", CHECKS, "--phases", PHASES, "--seed", str(seed),
            "--max-time", str(max(1, round(seconds))), "--max-examples", str(max_examples), "--workers", "1",
            "--request-timeout", "30", "--suppress-health-check", "all",
            "--report", "json", "--report-json-path", str(report)]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    return argv


async def _run(argv: list[str], limit_seconds: float, cwd: Path) -> tuple[int, str]:
    """Run one schemathesis process in ``cwd`` (where it keeps its ``.schemathesis`` cache); its
    exit status (-1: killed at the limit) and output."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, cwd=cwd)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=limit_seconds)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return -1, out.decode(errors="replace") + f"\n[bench.fuzz] killed after {limit_seconds:.0f} s"
    return proc.returncode or 0, out.decode(errors="replace")


def _prepare(report_dir: Path, made: Accounts, roles: tuple[str, ...]) -> tuple[Path, Path]:
    """The report directory (absolute: it is also the runs' working directory) with the run's
    schemathesis configuration and no stale reports; and that configuration."""
    report_dir = report_dir.absolute()
    report_dir.mkdir(parents=True, exist_ok=True)
    for role in roles:
        (report_dir / f"{role}.json").unlink(missing_ok=True)
    config = report_dir / "schemathesis.toml"
    config.write_text(CONFIG.format(tutor_id=made.tutor_id, booking_id=made.booking_id))
    return report_dir, config


def _finish(report_dir: Path, role: str, returncode: int, output: str) -> FuzzRun:
    (report_dir / f"{role}.txt").write_text(output)
    report = report_dir / f"{role}.json"
    return FuzzRun(role, returncode, output, json.loads(report.read_text()) if report.exists() else {})


async def fuzz(base_url: str, *, seconds: float, seed: int, report_dir: Path, roles: tuple[str, ...] = ROLES,
               max_examples: int = 25, parallel: bool = True) -> list[FuzzRun]:
    """Register the identities and fuzz as each of them for ``seconds``: all at once, or one
    after the other (``parallel=False``: a third of the load, for a machine shared with tests)."""
    made = await accounts(base_url)
    report_dir, config = _prepare(report_dir, made, roles)
    argvs = [schemathesis_argv(base_url, seconds=seconds, seed=seed, headers=made.headers[role],
                               report=report_dir / f"{role}.json", config=config, max_examples=max_examples)
             for role in roles]
    # Each run stops itself at --max-time; the margin covers start-up and the last requests.
    if parallel:
        results = list(await asyncio.gather(*(_run(argv, seconds + 60, report_dir) for argv in argvs)))
    else:
        results = [await _run(argv, seconds + 60, report_dir) for argv in argvs]
    return [_finish(report_dir, role, code, output) for role, (code, output) in zip(roles, results, strict=True)]


def summary(runs: list[FuzzRun]) -> str:
    lines = []
    for run in runs:
        cases = run.report.get("test_cases", {}).get("generated", 0)
        verdict = "ok" if run.ok else "FAILED"
        lines.append(f"{run.role:<10} {verdict:<7} {cases:>6} cases  exit {run.returncode}"
                     + (f"  5xx: {', '.join(run.server_errors)}" if run.server_errors else "")
                     + (f"  errors: {run.report['errors']}" if run.report.get("errors") else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the running API (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=600, help="fuzzing time per identity (default %(default)s)")
    parser.add_argument("--seed", type=int, default=20261204, help="schemathesis seed (default %(default)s)")
    parser.add_argument("--max-examples", type=int, default=100,
                        help="examples per operation and phase before moving on (default %(default)s)")
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated identities (default %(default)s)")
    parser.add_argument("--report-dir", type=Path, default=Path("bench/results/fuzz"),
                        help="where reports and console output go (default %(default)s)")
    args = parser.parse_args(argv)
    roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    if unknown := set(roles) - set(ROLES):
        parser.error(f"unknown roles: {', '.join(sorted(unknown))}")
    runs = asyncio.run(fuzz(args.base_url, seconds=args.seconds, seed=args.seed, report_dir=args.report_dir,
                            roles=roles, max_examples=args.max_examples))
    print(summary(runs))
    print(f"reports and output: {args.report_dir}/")
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

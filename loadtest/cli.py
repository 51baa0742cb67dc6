"""``edustream loadtest``: options, parsing, and the entry point ``edustream/cli.py`` delegates to."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from loadtest.config import DEFAULT_CHURN, DEFAULT_MIX, SCENARIOS, WATCHER_CLIENTS, LoadConfig

DESCRIPTION = """\
Drive concurrent holds against a running EduStream deployment through its public API and
/live Socket.IO, measure, then verify: zero overlapping live bookings, exactly one winner
per contested slot, every watcher's final view equal to GET /tutors/{id}/slots, versions
without unrepaired gaps, no 5xx. Any violation exits 1 (setup problems exit 2).

Scenarios:
  contention  N students race for M slots (every student tries every slot by default)
  throughput  uncontended holds at --rate holds/s (0 = as fast as --concurrency allows)
  churn       holds released, left to lapse (short HOLD_TTL_SECONDS only) and paid for,
              each slot re-raced by two students, while watchers watch
  mixed       browsing, slot listings, holds, releases, checkouts and booking lists (--mix)
  waitlist    hot held slots with --waiters students in line behind each: holders let go,
              each slot is handed down the line (some leave first); verifies FIFO offers,
              one live hold per slot and one student per offer
  idle        only the watchers' connections, for --duration seconds

The deployment must not rate-limit the load tester (RATE_LIMIT_ENABLED=false, or limits
well above the load), nor apply the slot-hoarding limits (HOLD_LIMIT_PER_TUTOR=0,
HOLD_REHOLD_COOLDOWN_SECONDS=0), and, for checkouts, use the test payment provider.
"""

EPILOG = """\
examples:
  edustream loadtest --url http://127.0.0.1:8000 --scenario contention --students 100 --slots 20
  edustream loadtest --url http://127.0.0.1:8001 --url http://127.0.0.1:8002 --scenario throughput \\
      --rate 200 --duration 30 --tutors 50 --students 300 --watchers 1000 --json out.json
"""


def _weights(names: dict[str, int]) -> Callable[[str], dict[str, int]]:
    def parse(text: str) -> dict[str, int]:
        out = dict.fromkeys(names, 0)
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, weight = part.partition("=")
            if name not in names or not weight.isdigit():
                raise argparse.ArgumentTypeError(f"{part!r}: use name=weight with names {', '.join(names)}")
            out[name] = int(weight)
        if not any(out.values()):
            raise argparse.ArgumentTypeError("at least one weight must be above 0")
        return out

    return parse


def _positive(kind: type[int] | type[float], minimum: float = 0) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``loadtest`` options (shared by ``edustream loadtest`` and ``python -m loadtest``)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    target = parser.add_argument_group("target")
    target.add_argument("--url", action="append", required=True, metavar="URL",
                        help="an API process (http://host:port); repeat for more: requests and watchers are "
                             "spread over them round-robin")
    target.add_argument("--database-url", default="", metavar="URL",
                        help="optional: PostgreSQL of the deployment, for checks straight from the tables "
                             "(overlaps, outbox versions); without it everything is checked through the API")
    run = parser.add_argument_group("scenario")
    run.add_argument("--scenario", choices=SCENARIOS, default="contention", help="what to run (default %(default)s)")
    run.add_argument("--students", type=_positive(int, 1), default=100, help="students (default %(default)s)")
    run.add_argument("--tutors", type=_positive(int, 1), default=10, help="tutors (default %(default)s)")
    run.add_argument("--slots", type=_positive(int, 1), default=20,
                     help="contention: slots raced for, spread over the tutors (default %(default)s)")
    run.add_argument("--contenders", type=_positive(int), default=0,
                     help="contention: students racing for each slot (default: all of them)")
    run.add_argument("--concurrency", type=_positive(int, 1), default=32,
                     help="requests in flight at most (churn: lanes) (default %(default)s)")
    run.add_argument("--rate", type=_positive(float), default=0.0,
                     help="operations started per second, open loop (default 0: closed loop at --concurrency)")
    run.add_argument("--duration", type=_positive(float), default=20.0,
                     help="seconds of load for throughput, churn, mixed and idle (default %(default)s)")
    run.add_argument("--holds-per-student", type=_positive(int, 1), default=3,
                     help="live holds a student keeps before releasing its oldest; at most the server's "
                          "MAX_ACTIVE_HOLDS (default %(default)s)")
    run.add_argument("--hot-share", type=_positive(float), default=0.0,
                     help="share of holds (0..1) aimed at the hot tutor, the first one (default %(default)s)")
    run.add_argument("--waiters", type=_positive(int, 1), default=3,
                     help="waitlist: students in line behind each held slot (default %(default)s)")
    run.add_argument("--leave-share", type=_positive(float), default=0.2,
                     help="waitlist: share (0..1) of them who leave the line before it moves (default %(default)s)")
    run.add_argument("--max-lapse-wait", type=_positive(float), default=15.0,
                     help="churn: let holds lapse only when the hold TTL is at most this many seconds "
                          "(default %(default)s)")
    run.add_argument("--mix", type=_weights(DEFAULT_MIX), default=dict(DEFAULT_MIX),
                     help="mixed: weights, default " + ",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items()))
    run.add_argument("--churn-mix", type=_weights(DEFAULT_CHURN), default=dict(DEFAULT_CHURN),
                     help="churn: what a holder does next, default "
                          + ",".join(f"{k}={v}" for k, v in DEFAULT_CHURN.items())
                          + " (lapse only when the hold TTL allows, see --max-lapse-wait)")
    run.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    live = parser.add_argument_group("watchers")
    live.add_argument("--watchers", type=_positive(int), default=50,
                      help="Socket.IO /live connections, each watching one tutor (default %(default)s)")
    live.add_argument("--hot-watchers", type=_positive(int), default=0,
                      help="extra watchers of the hot tutor (default %(default)s)")
    live.add_argument("--watcher-client", choices=WATCHER_CLIENTS, default="socketio",
                      help="socketio: python-socketio's AsyncClient; raw: the same protocol, hand-parsed, "
                           "for thousands of watchers (default %(default)s)")
    live.add_argument("--watcher-processes", type=_positive(int), default=0,
                      help="run the watchers in this many child processes (default 0: in this process)")
    live.add_argument("--connect-concurrency", type=_positive(int, 1), default=50,
                      help="watchers connecting at once (default %(default)s)")
    acct = parser.add_argument_group("accounts")
    acct.add_argument("--reuse", action="store_true",
                      help="sign in to the accounts of an earlier run with the same --tag instead of creating "
                           "new ones (fast: no registrations)")
    acct.add_argument("--tag", default="loadtest", help="e-mail prefix of the accounts (default %(default)s)")
    acct.add_argument("--password", default=os.environ.get("LOADTEST_PASSWORD", "loadtest-password-1"),
                      help="their password (default: $LOADTEST_PASSWORD or a fixed one)")
    acct.add_argument("--email-domain", default="example.com", help="their e-mail domain (default %(default)s)")
    acct.add_argument("--lesson-minutes", type=_positive(int, 15), default=30,
                      help="the tutors' one lesson length (default %(default)s)")
    acct.add_argument("--setup-concurrency", type=_positive(int, 1), default=8,
                      help="registrations in flight during setup (default %(default)s)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", dest="json_path", default="", metavar="PATH", help="write the full report here")
    out.add_argument("--keep", action="store_true", help="leave the run's holds and bookings in place")
    out.add_argument("--quiet", action="store_true", help="no progress on stderr")
    out.add_argument("--progress-seconds", type=_positive(float, 0.1), default=2.0,
                     help="seconds between progress updates (default %(default)s)")
    out.add_argument("--request-timeout", type=_positive(float, 0.1), default=30.0,
                     help="seconds before a request counts as unanswered (default %(default)s)")
    out.add_argument("--verify-timeout", type=_positive(float, 1), default=30.0,
                     help="seconds the watchers get to catch up at the end (default %(default)s)")


def config_from(args: argparse.Namespace) -> LoadConfig:
    return LoadConfig(
        urls=list(args.url), scenario=args.scenario, students=args.students, tutors=args.tutors, slots=args.slots,
        contenders=args.contenders, concurrency=args.concurrency, rate=args.rate, duration=args.duration,
        watchers=args.watchers, hot_watchers=args.hot_watchers, hot_share=min(1.0, args.hot_share),
        watcher_client=args.watcher_client, watcher_processes=args.watcher_processes,
        connect_concurrency=args.connect_concurrency, holds_per_student=args.holds_per_student,
        max_lapse_wait=args.max_lapse_wait, waiters=args.waiters, leave_share=args.leave_share, mix=args.mix, churn_mix=args.churn_mix, lesson_minutes=args.lesson_minutes, reuse=args.reuse,
        tag=args.tag, password=args.password, email_domain=args.email_domain,
        setup_concurrency=args.setup_concurrency, database_url=args.database_url, json_path=args.json_path,
        keep=args.keep, seed=args.seed, request_timeout=args.request_timeout, verify_timeout=args.verify_timeout,
        progress_seconds=args.progress_seconds)


def run_from_args(args: argparse.Namespace) -> int:
    """Run with parsed options; the exit code (0 pass, 1 violation, 2 setup problem)."""
    from loadtest.runner import execute

    return execute(config_from(args), quiet=args.quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edustream loadtest")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

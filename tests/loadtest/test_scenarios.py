"""Smoke runs of every scenario of ``edustream loadtest`` against two real API processes.

Small sizes: they assert the invariants the command verifies and its exit code, not speed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.loadtest.conftest import Finished, edustream_loadtest
from tests.realtime.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("loadtest")

SMALL = ("--tutors", "2", "--students", "6", "--watchers", "6", "--setup-concurrency", "6")


def assert_passed(run: Finished) -> None:
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.report["passed"] is True
    failed = [c for c in run.report["checks"] if not c["passed"]]
    assert not failed, failed
    assert "result: PASS (exit 0)" in run.stdout


async def test_contention_gives_every_raced_slot_exactly_one_winner(servers: list[LiveServer], tmp_path: Path) -> None:
    run = await edustream_loadtest(servers, tmp_path, "--scenario", "contention", *SMALL, "--slots", "4",
                                   "--concurrency", "12")

    assert_passed(run)
    outcomes = run.outcomes("hold")
    assert outcomes.pop("201") == 4  # one winner per slot
    assert sum(outcomes.values()) == 20  # 6 students x 4 slots in all
    # The losers were told the slot is taken (or, having won 3, that they hold enough).
    assert set(outcomes) <= {"409 slot_unavailable", "409 hold_limit_reached"}
    assert run.report["counters"]["races"] == 4
    assert run.report["watchers"]["compared"] == 6


async def test_throughput_holds_and_releases_while_watchers_keep_up(servers: list[LiveServer],
                                                                      tmp_path: Path) -> None:
    run = await edustream_loadtest(servers, tmp_path, "--scenario", "throughput", *SMALL, "--duration", "2",
                                   "--concurrency", "4", "--watcher-client", "raw")

    assert_passed(run)
    assert run.outcomes("hold").get("201", 0) > 6  # past every student's 3-hold limit: releases happened
    assert run.outcomes("release").get("204", 0) > 0
    assert set(run.outcomes("hold")) == {"201"}  # uncontended
    assert run.report["fanout"]["samples"] > 0


async def test_churn_releases_lets_holds_lapse_and_confirms(servers: list[LiveServer], tmp_path: Path) -> None:
    run = await edustream_loadtest(servers, tmp_path, "--scenario", "churn", *SMALL, "--duration", "7",
                                   "--concurrency", "3", "--churn-mix", "release=1,lapse=2,confirm=1")

    assert_passed(run)
    counters = run.report["counters"]
    assert counters["hold_ttl_seconds"] < 4
    assert counters.get("churn_lapse", 0) > 0
    assert "lapsed holds taken over" in run.check("lapsed_holds_read_expired")["detail"]
    assert run.outcomes("confirm") and run.outcomes("release")
    assert run.report["counters"]["races"] > 3


async def test_mixed_blends_browsing_holds_releases_and_checkouts(servers: list[LiveServer],
                                                                   tmp_path: Path) -> None:
    run = await edustream_loadtest(servers, tmp_path, "--scenario", "mixed", *SMALL, "--duration", "3",
                                   "--concurrency", "4", "--mix", "browse=1,profile=1,slots=2,hold=3,release=1,"
                                   "checkout=1,bookings=1")

    assert_passed(run)
    assert {"browse", "profile", "slots", "hold"} <= set(run.report["requests"])


async def test_idle_watchers_in_child_processes_stay_in_step(servers: list[LiveServer], tmp_path: Path) -> None:
    run = await edustream_loadtest(servers, tmp_path, "--scenario", "idle", "--tutors", "2", "--students", "1",
                                   "--watchers", "20", "--watcher-processes", "2", "--watcher-client", "raw",
                                   "--duration", "1")

    assert_passed(run)
    assert run.report["watchers"]["connected"] == 20
    assert run.report["watchers"]["compared"] == 20


async def test_unreachable_deployment_exits_2(tmp_path: Path) -> None:
    run = await edustream_loadtest(["http://127.0.0.1:9"], tmp_path, "--scenario", "contention")  # discard port

    assert run.returncode == 2
    assert "readyz" in run.stderr


async def test_waitlist_hands_hot_slots_down_their_lines_and_verifies_the_invariants(
        servers: list[LiveServer], tmp_path: Path) -> None:
    run = await edustream_loadtest(servers, tmp_path, "--scenario", "waitlist", *SMALL, "--students", "12",
                                   "--duration", "4", "--concurrency", "3", "--waiters", "3", "--hot-share", "0.7")

    assert_passed(run)
    checks = {c["name"]: c for c in run.report["checks"]}
    assert checks["waitlist_invariants"]["passed"] is True
    assert run.report["counters"]["waitlist_offers"] > 0
    assert run.outcomes("waitlist_join").get("201", 0) >= 3
    assert run.report["watchers"]["compared"] == 6

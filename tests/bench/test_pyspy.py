"""The py-spy summary of bench/holds.py --profile."""

from __future__ import annotations

from bench.pyspy import summarise

PROCESS = ('process 10:"python edustream api";process 11:"python -c from multiprocessing.spawn import spawn_main; '
           'spawn_main(tracker_fd=7) --multiprocessing-fork"')
RAW = "\n".join([
    f"{PROCESS};run (uvicorn/server.py:86);place_hold (server/bookings/holds.py:114);"
    "place_hold_statement (server/bookings/repository.py:264);fetch_one_statement (server/db.py:137);"
    "__do_execute (asyncpg/prepared_stmt.py:257) 6",
    f"{PROCESS};run (uvicorn/server.py:86);emit (logging/__init__.py:1100) 3",
    f"{PROCESS};Runner.run (asyncio/runners.py:118) 1",
])


def test_summary_shares_samples_by_leaf_bucket_and_named_cost() -> None:
    summary = summarise(RAW)
    assert summary["samples"] == 10
    buckets = {b["name"]: b["share"] for b in summary["buckets"]}
    assert buckets["asyncpg (driver, protocol)"] == 0.6
    assert buckets["logging"] == 0.3
    assert buckets["event loop (uvloop, C callbacks)"] == 0.1
    assert summary["self"][0] == {"name": "__do_execute (asyncpg/prepared_stmt.py)", "share": 0.6}
    costs = {c["name"]: c["share"] for c in summary["costs"]}
    assert costs["the hold's one statement, sent and awaited (repository.place_hold_statement)"] == 0.6
    assert costs["asyncpg (any frame)"] == 0.6
    assert costs["SQLAlchemy (any frame)"] == 0
    assert costs["logging (the access log line)"] == 0.3

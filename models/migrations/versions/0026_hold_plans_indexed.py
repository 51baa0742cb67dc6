"""``place_hold()`` without sequential scans and without re-parsing ``iso_utc()`` (issue 19).

Found by measuring the statement's CPU inside its PostgreSQL backend (``python -m
bench.statement_cpu``, which reads it from /proc, and ``perf`` on that backend; docs/benchmarks.md,
"Round four"). Before this revision, 3,000 holds on one connection cost 0.67 ms of backend CPU
each (the bare INSERT 0.12 ms), and 1.43 ms when the connection had planned them while
``bookings`` was empty and analyzed as such: sequential scans of a growing table.

- **Generic plans made on a small table.** ``place_hold()`` plans each statement once per
  connection (``force_generic_plan``, revision 0011). A connection that first calls it while
  the statistics say ``bookings`` is small (autovacuum analyzed it on a new deployment, a
  fresh benchmark database, a test) gets sequential scans for the conflict, lapsed and
  change-set lookups, and keeps them until the next ``ANALYZE`` invalidates the plan, however
  large the table grows meanwhile. Every statement here is a
  lookup by tutor or by student that an index answers, so both functions now plan with
  ``enable_seqscan = off``: the planner still chooses among the indexes, never a full scan.
- **``iso_utc()`` parsed on every call.** It was ``LANGUAGE sql``; PostgreSQL inlines such a
  function only when its body is as immutable as it claims, and ``to_char()`` is only stable,
  so every query that called it parsed and planned its body again. It is PL/pgSQL now (same
  text out, its expression cached per connection).

Measured the same way after it: 0.59 ms, and 0.55 ms planned on the empty table. What the
functions do and answer is unchanged.

Revision ID: 0026_hold_plans_indexed
Revises: 0025_waitlist
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from alembic import op

revision = "0026_hold_plans_indexed"
down_revision = "0025_waitlist"
branch_labels = None
depends_on = None

ISO_UTC = """
CREATE OR REPLACE FUNCTION iso_utc(t timestamptz) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN extract(microseconds FROM t)::bigint % 1000000 <> 0
                   THEN '.' || to_char(t AT TIME ZONE 'UTC', 'US') ELSE '' END || 'Z';
END $$
"""

_GENERIC = "SET plan_cache_mode = force_generic_plan AS"
_INDEXED = "SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS"


def _revision(filename: str) -> dict[str, Any]:
    # Revision files are not a package: run an earlier one by path for its function texts.
    return runpy.run_path(str(Path(__file__).with_name(filename)))


def _functions() -> tuple[str, str]:
    """0011's ``hold_hoarding_refusal()`` and ``place_hold()`` texts (still the current ones)."""
    r0011 = _revision("0011_hold_plans_once.py")
    hoarding, place_hold = str(r0011["HOARDING"]), str(r0011["PLACE_HOLD"])
    assert _GENERIC in hoarding and _GENERIC in place_hold
    return hoarding, place_hold


def upgrade() -> None:
    op.execute(ISO_UTC)
    for function in _functions():
        op.execute(function.replace(_GENERIC, _INDEXED))


def downgrade() -> None:
    for function in _functions():
        op.execute(function)
    op.execute(str(_revision("0004_hold_in_one_round_trip.py")["ISO_UTC"]).replace("CREATE FUNCTION",
                                                                                  "CREATE OR REPLACE FUNCTION"))

"""``place_hold()``'s change set follows the slot rule of server/availability/slots.py again:
a default-length slot kept out only by the tutor's break (buffer) around a live hold is
unavailable (``booked``, gone from the listing), not ``held`` as if someone held it; a slot
is ``held`` only when its lesson overlaps a live hold's lesson (the guarded range less the
buffer, ``p_slot_reach - p_slot_length``).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _revision_0006() -> object:
    # Revision files are not a package: load 0006 by path for the function it created.
    path = Path(__file__).with_name("0006_hold_hoarding_limits.py")
    spec = importlib.util.spec_from_file_location("_edustream_revision_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_RULE = """
          SELECT bool_or(x.status = 'confirmed') AS booked,
                 max(x.expires_at) FILTER (WHERE x.status = 'held') AS held_until
          FROM (SELECT b.status::text AS status, b.expires_at FROM bookings b
                WHERE b.tutor_id = p_tutor AND b.guarded && tstzrange(c, c + p_slot_reach, '[)')
                  AND (b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > p_now))
                UNION ALL
                SELECT 'confirmed', NULL FROM calendar_busy cb"""

NEW_RULE = """
          SELECT bool_or(x.status = 'confirmed') AS booked,
                 max(x.expires_at) FILTER (WHERE x.status = 'held' AND x.lessons_meet) AS held_until,
                 bool_or(x.status = 'held' AND NOT x.lessons_meet) AS break_only
          FROM (SELECT b.status::text AS status, b.expires_at,
                       tstzrange(lower(b.guarded),
                                 greatest(lower(b.guarded), upper(b.guarded) - (p_slot_reach - p_slot_length)), '[)')
                           && tstzrange(c, c + p_slot_length, '[)') AS lessons_meet
                FROM bookings b
                WHERE b.tutor_id = p_tutor AND b.guarded && tstzrange(c, c + p_slot_reach, '[)')
                  AND (b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > p_now))
                UNION ALL
                SELECT 'confirmed', NULL, true FROM calendar_busy cb"""

OLD_CASE = "|| CASE WHEN s.booked THEN jsonb_build_object('status', 'booked')"
NEW_CASE = ("|| CASE WHEN s.booked OR (s.held_until IS NULL AND s.break_only)\n"
            "                                      THEN jsonb_build_object('status', 'booked')")


def _place_hold(new: bool) -> str:
    text: str = _revision_0006().PLACE_HOLD  # type: ignore[attr-defined]
    assert OLD_RULE in text and OLD_CASE in text
    text = text.replace("CREATE FUNCTION place_hold(", "CREATE OR REPLACE FUNCTION place_hold(", 1)
    if new:
        text = text.replace(OLD_RULE, NEW_RULE).replace(OLD_CASE, NEW_CASE)
    return text


def upgrade() -> None:
    op.execute(_place_hold(new=True))


def downgrade() -> None:
    op.execute(_place_hold(new=False))

"""Slot hoarding limits inside the hold: ``hold_hoarding_refusal()`` answers whether a tutor
already has ``HOLD_LIMIT_PER_TUTOR`` live holds, or this student let go of this very slot less
than ``HOLD_REHOLD_COOLDOWN_SECONDS`` ago; ``place_hold()`` (the one-statement hold) and the
general path's checks (server/bookings/repository.py) both call it, so the rule is written
once. ``place_hold()`` gains the two limits as parameters.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# NULL when the hold may go ahead, else the refusal: 'tutor_hold_limit' or 'cooldown'. Runs
# under the tutor's advisory lock (both callers take it first), so the count is exact.
HOARDING = """
CREATE FUNCTION hold_hoarding_refusal(p_student uuid, p_tutor uuid, p_start timestamptz, p_now timestamptz,
                                      p_max_tutor_holds integer, p_rehold_cooldown interval)
RETURNS text LANGUAGE sql STABLE AS $$
SELECT CASE
    WHEN p_max_tutor_holds > 0 AND (SELECT count(*) FROM bookings b WHERE b.tutor_id = p_tutor
                                    AND b.status = 'held' AND b.expires_at > p_now) >= p_max_tutor_holds
        THEN 'tutor_hold_limit'
    WHEN p_rehold_cooldown > interval '0' AND EXISTS (
            SELECT 1 FROM bookings b WHERE b.student_id = p_student AND b.tutor_id = p_tutor
            AND b.start_at = p_start AND b.status IN ('released', 'expired')
            AND b.updated_at > p_now - p_rehold_cooldown)
        THEN 'cooldown'
END $$
"""

OLD_SIGNATURE = ("place_hold(uuid, uuid, uuid, timestamptz, timestamptz, tstzrange, timestamptz, integer, text, "
                 "timestamptz, integer, bigint, timestamptz[], interval, interval, jsonb")

PLACE_HOLD = """
CREATE FUNCTION place_hold(
    p_id uuid, p_student uuid, p_tutor uuid, p_start timestamptz, p_end timestamptz, p_guarded tstzrange,
    p_expires timestamptz, p_price integer, p_currency text, p_now timestamptz, p_max_holds integer,
    p_policy_version bigint, p_candidates timestamptz[], p_slot_length interval, p_slot_reach interval,
    p_booking jsonb, p_max_tutor_holds integer, p_rehold_cooldown interval,
    OUT outcome text, OUT holds integer, OUT version bigint, OUT student_name text, OUT tutor_name text)
LANGUAGE plpgsql AS $$
DECLARE
    v_policy_version bigint;
    v_lapsed boolean;
    v_conflict boolean;
    v_changes jsonb;
    v_booking jsonb;
    v_refusal text;
BEGIN
    -- Student then tutor, always in this order (as every other path): no deadlock. A separate
    -- statement, so that the checks below see whatever committed while we waited.
    PERFORM pg_advisory_xact_lock(booking_lock_key(p_student) # (1::bigint << 62)),
            pg_advisory_xact_lock(booking_lock_key(p_tutor));
    SELECT (SELECT p.policy_version FROM tutor_profiles p WHERE p.user_id = p_tutor AND p.is_active),
           (SELECT count(*) FROM bookings b
             WHERE b.student_id = p_student AND b.status = 'held' AND b.expires_at > p_now),
           EXISTS (SELECT 1 FROM bookings b WHERE b.tutor_id = p_tutor AND b.guarded && p_guarded
                   AND b.status = 'held' AND b.expires_at <= p_now),
           EXISTS (SELECT 1 FROM bookings b WHERE b.tutor_id = p_tutor AND b.guarded && p_guarded
                   AND (b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > p_now)))
           OR EXISTS (SELECT 1 FROM calendar_busy c WHERE c.user_id = p_tutor AND c.during && p_guarded),
           (SELECT u.name FROM users u WHERE u.id = p_student),
           (SELECT u.name FROM users u WHERE u.id = p_tutor)
      INTO v_policy_version, holds, v_lapsed, v_conflict, student_name, tutor_name;
    IF v_policy_version IS NULL THEN outcome := 'no_tutor'; RETURN; END IF;
    IF v_policy_version <> p_policy_version THEN outcome := 'stale_policy'; RETURN; END IF;
    IF holds >= p_max_holds THEN outcome := 'hold_limit'; RETURN; END IF;
    v_refusal := hold_hoarding_refusal(p_student, p_tutor, p_start, p_now, p_max_tutor_holds, p_rehold_cooldown);
    IF v_refusal IS NOT NULL THEN outcome := v_refusal; RETURN; END IF;
    -- Lapsed holds in the way are moved aside by the general path (rare: it records their
    -- expiry and tells their parties).
    IF v_lapsed THEN outcome := 'lapsed_in_the_way'; RETURN; END IF;
    IF v_conflict THEN outcome := 'conflict'; RETURN; END IF;

    -- The exclusion constraint stays the final guarantee: a violation raises 23P01.
    INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, price_cents,
                          currency, created_at, updated_at)
    VALUES (p_id, p_tutor, p_student, 'held', p_start, p_end, p_guarded, p_expires, p_price, p_currency,
            p_now, p_now);
    INSERT INTO booking_events (booking_id, actor_id, kind, from_status, to_status, data)
    VALUES (p_id, p_student, 'held', NULL, 'held', '{}'::jsonb);

    -- slots.changed: every default-length candidate touching the hold, with its status now
    -- (the same rule as server/availability/slots.py: a confirmed booking or busy calendar
    -- time removes it, live holds make it held until the latest of their expiries).
    SELECT coalesce(jsonb_agg(jsonb_build_object('start', iso_utc(c), 'end', iso_utc(c + p_slot_length))
                              || CASE WHEN s.booked THEN jsonb_build_object('status', 'booked')
                                      WHEN s.held_until IS NOT NULL
                                      THEN jsonb_build_object('status', 'held', 'held_until', iso_utc(s.held_until))
                                      ELSE jsonb_build_object('status', 'open') END
                              ORDER BY c), '[]'::jsonb)
      INTO v_changes
      FROM unnest(p_candidates) AS c
      CROSS JOIN LATERAL (
          SELECT bool_or(x.status = 'confirmed') AS booked,
                 max(x.expires_at) FILTER (WHERE x.status = 'held') AS held_until
          FROM (SELECT b.status::text AS status, b.expires_at FROM bookings b
                WHERE b.tutor_id = p_tutor AND b.guarded && tstzrange(c, c + p_slot_reach, '[)')
                  AND (b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > p_now))
                UNION ALL
                SELECT 'confirmed', NULL FROM calendar_busy cb
                WHERE cb.user_id = p_tutor AND cb.during && tstzrange(c, c + p_slot_reach, '[)')) x
      ) s;

    INSERT INTO tutor_versions (tutor_id, version) VALUES (p_tutor, 1)
    ON CONFLICT (tutor_id) DO UPDATE SET version = tutor_versions.version + 1
    RETURNING tutor_versions.version INTO version;
    v_booking := jsonb_build_object('booking', p_booking || jsonb_build_object('student_name', student_name,
                                                                               'tutor_name', tutor_name));
    INSERT INTO outbox (tutor_id, version, event, room, payload) VALUES
        (p_tutor, version, 'slots.changed', 'tutor:' || p_tutor,
         jsonb_build_object('tutor_id', p_tutor, 'version', version, 'changes', v_changes)),
        (NULL, NULL, 'booking.updated', 'user:' || p_student, v_booking),
        (NULL, NULL, 'booking.updated', 'user:' || p_tutor, v_booking),
        (NULL, NULL, 'booking.new', 'user:' || p_tutor, v_booking);
    outcome := 'held';
END $$
"""


def _revision_0004() -> object:
    # Revision files are not a package: load 0004 by path to restore its place_hold() on downgrade.
    path = Path(__file__).with_name("0004_hold_in_one_round_trip.py")
    spec = importlib.util.spec_from_file_location("_edustream_revision_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.create_index("ix_bookings_tutor_held", "bookings", ["tutor_id", "expires_at"],
                    postgresql_where=sa.text("status = 'held'"))
    op.execute(HOARDING)
    op.execute(f"DROP FUNCTION {OLD_SIGNATURE})")
    op.execute(PLACE_HOLD)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {OLD_SIGNATURE}, integer, interval)")
    op.execute(_revision_0004().PLACE_HOLD)  # type: ignore[attr-defined]
    op.execute("DROP FUNCTION hold_hoarding_refusal(uuid, uuid, timestamptz, timestamptz, integer, interval)")
    op.drop_index("ix_bookings_tutor_held", table_name="bookings")

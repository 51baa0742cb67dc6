"""``place_hold()`` at the cost of its writes, not of its planning (issue 19).

Measured inside PostgreSQL (2,000 holds in one transaction, bench notes in docs/benchmarks.md):
revision 0010's function cost 1.13 ms a hold, a bare ``INSERT INTO bookings`` 0.18 ms. Most of
the difference was planning, not work: PL/pgSQL re-plans a statement with parameters for every
call while its custom plans look cheaper than the generic one, and the change set's lateral
query and the checks did so on every hold; ``hold_hoarding_refusal()``, a LANGUAGE sql
function that cannot be inlined there, was planned on every call too. Now:

- both functions run with ``plan_cache_mode = force_generic_plan`` (each statement is planned
  once per connection; every one of them is an index lookup on the tutor or the student);
- ``hold_hoarding_refusal()`` is PL/pgSQL (its plans are cached) and is not called at all
  when both hoarding limits are off;
- a slot already taken is refused before the locks are taken (a hot-slot race no longer
  queues every loser behind the tutor's lock);
- a change-set candidate whose reach lies inside the new hold's guarded range is derived
  (held until the hold expires: the exclusion constraint keeps every other booking out of
  that range) instead of looked up; only candidates reaching past it are queried.

0.6 ms a hold in the same measurement. What the function writes is unchanged; the one
difference a caller can see is that a taken slot is refused before the student's hold limit
or a stale cached policy is noticed (either way the answer is a refusal).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

HOARDING = """
CREATE OR REPLACE FUNCTION hold_hoarding_refusal(p_student uuid, p_tutor uuid, p_start timestamptz, p_now timestamptz,
                                                 p_max_tutor_holds integer, p_rehold_cooldown interval)
RETURNS text LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    -- (tutor_id, expires_at) > (...) pins the generic plan to ix_bookings_tutor_held, as in place_hold().
    IF p_max_tutor_holds > 0 AND (SELECT count(*) FROM bookings b WHERE b.tutor_id = p_tutor AND b.status = 'held'
                                  AND (b.tutor_id, b.expires_at) > (p_tutor, p_now)) >= p_max_tutor_holds THEN
        RETURN 'tutor_hold_limit';
    END IF;
    IF p_rehold_cooldown > interval '0' AND EXISTS (
            SELECT 1 FROM bookings b WHERE b.student_id = p_student AND b.tutor_id = p_tutor
            AND b.start_at = p_start AND b.status IN ('released', 'expired')
            AND b.updated_at > p_now - p_rehold_cooldown) THEN
        RETURN 'cooldown';
    END IF;
    RETURN NULL;
END $$
"""

PLACE_HOLD = """
CREATE OR REPLACE FUNCTION place_hold(
    p_id uuid, p_student uuid, p_tutor uuid, p_start timestamptz, p_end timestamptz, p_guarded tstzrange,
    p_expires timestamptz, p_price integer, p_currency text, p_now timestamptz, p_max_holds integer,
    p_policy_version bigint, p_candidates timestamptz[], p_slot_length interval, p_slot_reach interval,
    p_booking jsonb, p_max_tutor_holds integer, p_rehold_cooldown interval,
    OUT outcome text, OUT holds integer, OUT version bigint, OUT student_name text, OUT tutor_name text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_policy_version bigint;
    v_lapsed boolean;
    v_conflict boolean;
    v_changes jsonb;
    v_booking jsonb;
    v_refusal text;
BEGIN
    -- A slot already taken is refused before queueing for the locks: in a race for one slot
    -- every loser answers from its own snapshot at once instead of waiting for the tutor's
    -- lock behind every other contender. (Refusing from a snapshot is sound: the slot was
    -- taken at that instant. Finding it free proves nothing; the locked checks decide.)
    IF EXISTS (SELECT 1 FROM bookings b WHERE b.tutor_id = p_tutor AND b.guarded && p_guarded
               AND (b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > p_now))) THEN
        outcome := 'conflict';
        RETURN;
    END IF;
    -- Student then tutor, always in this order (as every other path): no deadlock. A separate
    -- statement, so that the checks below see whatever committed while we waited.
    PERFORM pg_advisory_xact_lock(booking_lock_key(p_student) # (1::bigint << 62)),
            pg_advisory_xact_lock(booking_lock_key(p_tutor));
    SELECT (SELECT p.policy_version FROM tutor_profiles p WHERE p.user_id = p_tutor AND p.is_active),
           -- The row comparison pins the plan to ix_bookings_student_held (student_id, expires_at):
           -- planned generically, the plain form read the student's every held row, lapsed ones
           -- included, through ix_bookings_student_status (half the statement's throughput).
           (SELECT count(*) FROM bookings b
             WHERE b.student_id = p_student AND b.status = 'held'
               AND (b.student_id, b.expires_at) > (p_student, p_now)),
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
    IF p_max_tutor_holds > 0 OR p_rehold_cooldown > interval '0' THEN
        v_refusal := hold_hoarding_refusal(p_student, p_tutor, p_start, p_now, p_max_tutor_holds, p_rehold_cooldown);
        IF v_refusal IS NOT NULL THEN outcome := v_refusal; RETURN; END IF;
    END IF;
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
                              || CASE WHEN s.booked OR (s.held_until IS NULL AND s.break_only)
                                      THEN jsonb_build_object('status', 'booked')
                                      WHEN s.held_until IS NOT NULL
                                      THEN jsonb_build_object('status', 'held', 'held_until', iso_utc(s.held_until))
                                      ELSE jsonb_build_object('status', 'open') END
                              ORDER BY c), '[]'::jsonb)
      INTO v_changes
      FROM unnest(p_candidates) AS c
      CROSS JOIN LATERAL (
          -- A candidate whose reach lies inside the new hold's guarded range meets only the new
          -- hold (the exclusion constraint keeps every other booking out of that range): it is
          -- held until p_expires, derived without a scan (the one-time filter skips it).
          SELECT false AS booked, p_expires AS held_until, false AS break_only
          WHERE tstzrange(c, c + p_slot_reach, '[)') <@ p_guarded
          UNION ALL
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
                  AND NOT tstzrange(c, c + p_slot_reach, '[)') <@ p_guarded
                UNION ALL
                SELECT 'confirmed', NULL, true FROM calendar_busy cb
                WHERE cb.user_id = p_tutor AND cb.during && tstzrange(c, c + p_slot_reach, '[)')
                  AND NOT tstzrange(c, c + p_slot_reach, '[)') <@ p_guarded) x
          HAVING NOT tstzrange(c, c + p_slot_reach, '[)') <@ p_guarded
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


def _revision(filename: str) -> object:
    # Revision files are not a package: load an earlier one by path to restore its functions.
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"_edustream_revision_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(HOARDING)
    op.execute(PLACE_HOLD)


def downgrade() -> None:
    hoarding: str = _revision("0006_hold_hoarding_limits.py").HOARDING  # type: ignore[attr-defined]
    op.execute("DROP FUNCTION hold_hoarding_refusal(uuid, uuid, timestamptz, timestamptz, integer, interval)")
    op.execute(hoarding)
    op.execute(_revision("0010_buffer_not_held.py")._place_hold(new=True))  # type: ignore[attr-defined]

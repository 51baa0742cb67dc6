"""The hold in one round trip: ``place_hold()`` runs the hold's locks, checks, insert, history
row, version bump and outbox rows inside PostgreSQL; ``tutor_profiles.policy_version`` lets
API processes cache a tutor's slot policy; a partial index for the per-student hold limit.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The same key derivation as server/bookings/repository.py's lock keys: the first 8 bytes of
# the uuid as a signed 64-bit integer; students' keys have bit 62 flipped.
LOCK_KEY = """
CREATE FUNCTION booking_lock_key(u uuid) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ('x' || substr(replace(u::text, '-', ''), 1, 16))::bit(64)::bigint $$
"""

# ISO 8601 exactly as the Python side writes it in events: seconds, microseconds only when
# non-zero, 'Z' for UTC.
ISO_UTC = """
CREATE FUNCTION iso_utc(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
          || CASE WHEN extract(microseconds FROM t)::bigint % 1000000 <> 0
                  THEN '.' || to_char(t AT TIME ZONE 'UTC', 'US') ELSE '' END || 'Z' $$
"""

POLICY_VERSION = ["""
CREATE FUNCTION tutor_profiles_bump_policy_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.policy_version := OLD.policy_version + 1;
    RETURN NEW;
END $$
""", """
CREATE TRIGGER trg_tutor_profiles_policy_version BEFORE UPDATE ON tutor_profiles
    FOR EACH ROW EXECUTE FUNCTION tutor_profiles_bump_policy_version()
""", """
CREATE FUNCTION availability_bump_policy_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tutor_profiles SET policy_version = policy_version + 1
    WHERE user_id IN (SELECT tutor_id FROM changed);
    RETURN NULL;
END $$
"""]

TABLE_TRIGGERS = [
    (table, event, f"CREATE TRIGGER trg_{table}_policy_version_{event.lower()} AFTER {event} ON {table} "
                   f"REFERENCING {'OLD' if event == 'DELETE' else 'NEW'} TABLE AS changed "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION availability_bump_policy_version()")
    for table in ("availability_rules", "availability_overrides") for event in ("INSERT", "UPDATE", "DELETE")
]

# The live rule ("confirmed, or held and not yet expired") appears here as it does in
# models/booking.py's live_at(); tests/server/bookings/test_place_hold_function.py holds the two
# to the same answers.
PLACE_HOLD = """
CREATE FUNCTION place_hold(
    p_id uuid, p_student uuid, p_tutor uuid, p_start timestamptz, p_end timestamptz, p_guarded tstzrange,
    p_expires timestamptz, p_price integer, p_currency text, p_now timestamptz, p_max_holds integer,
    p_policy_version bigint, p_candidates timestamptz[], p_slot_length interval, p_slot_reach interval,
    p_booking jsonb,
    OUT outcome text, OUT holds integer, OUT version bigint, OUT student_name text, OUT tutor_name text)
LANGUAGE plpgsql AS $$
DECLARE
    v_policy_version bigint;
    v_lapsed boolean;
    v_conflict boolean;
    v_changes jsonb;
    v_booking jsonb;
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


def upgrade() -> None:
    op.add_column("tutor_profiles", sa.Column("policy_version", sa.BigInteger(), nullable=False,
                                              server_default="0"))
    op.create_index("ix_bookings_student_held", "bookings", ["student_id", "expires_at"],
                    postgresql_where=sa.text("status = 'held'"))
    op.execute(LOCK_KEY)
    op.execute(ISO_UTC)
    for statement in POLICY_VERSION:
        op.execute(statement)
    for _table, _event, trigger in TABLE_TRIGGERS:
        op.execute(trigger)
    op.execute(PLACE_HOLD)


def downgrade() -> None:
    op.execute("DROP FUNCTION place_hold(uuid, uuid, uuid, timestamptz, timestamptz, tstzrange, timestamptz, "
               "integer, text, timestamptz, integer, bigint, timestamptz[], interval, interval, jsonb)")
    for table, event, _statement in TABLE_TRIGGERS:
        op.execute(f"DROP TRIGGER trg_{table}_policy_version_{event.lower()} ON {table}")
    op.execute("DROP FUNCTION availability_bump_policy_version()")
    op.execute("DROP TRIGGER trg_tutor_profiles_policy_version ON tutor_profiles")
    op.execute("DROP FUNCTION tutor_profiles_bump_policy_version()")
    op.execute("DROP FUNCTION iso_utc(timestamptz)")
    op.execute("DROP FUNCTION booking_lock_key(uuid)")
    op.drop_index("ix_bookings_student_held", table_name="bookings")
    op.drop_column("tutor_profiles", "policy_version")

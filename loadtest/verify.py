"""After the run: prove the invariants, through the API (or straight from PostgreSQL).

Checks (any failure makes ``edustream loadtest`` exit non-zero):

* ``no_server_errors``: no 5xx and no request without an answer during the run;
* ``no_overlapping_live_bookings``: no two live bookings (confirmed, or held and not
  lapsed) of one tutor overlap — from the tutors' ``GET /bookings``, or with
  ``--database-url`` from the ``bookings`` table (guarded ranges, buffers included);
* ``one_winner_per_race``: every group of simultaneous attempts on a slot had exactly one
  winner (a later winner only after the earlier hold lapsed), and no slot was refused
  as taken while nobody won it;
* ``bookings_match_clients``: every booking the run created is one a client was told it
  won, in the status the client's later actions imply (released, confirmed, expired...);
* ``lapsed_holds_read_expired``: a hold that lapsed and was taken over reads ``expired``;
* ``watchers_match_api``: every watcher's final view (snapshot + applied changes) equals
  ``GET /tutors/{id}/slots`` at the same version, none left behind or disconnected for good;
* ``outbox_versions_consecutive`` (with ``--database-url``): the run's ``slots.changed``
  versions are consecutive per tutor and all published;
* ``waitlist_invariants`` (scenario ``waitlist``): per line, from each waiter's
  ``GET /waitlist``: offers went in line order (FIFO by the positions the joins were
  given), passing over only students who had left (the run makes nobody ineligible, so a
  skip is a violation); every offer went to exactly one student, each hold to one entry, and
  the clients saw every offer; at most one of the run's holds on the slot is still live;
* ``load_tester_healthy``: the load tester itself raised nothing.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from loadtest.api import ApiClient
from loadtest.context import RunContext
from loadtest.setup import parse_time
from loadtest.stats import Recorder
from loadtest.watchers import GroupResult

CLOCK_SLACK = 5.0  # seconds: bookings created this long before the run started still count as the run's


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail, **({"data": self.data}
                                                                                     if self.data else {})}


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    tutor_id: str
    status: str  # as the API reads it: a lapsed hold is "expired"
    start: float
    end: float  # guarded end (lesson + buffer) from the database; lesson end from the API
    created_at: float


async def bookings_via_api(api: ApiClient, ctx: RunContext) -> list[Booking]:
    """Every booking of the run's tutors, as each tutor lists them (``GET /bookings``, all pages)."""
    out: list[Booking] = []
    for tutor in ctx.fleet.tutors:
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            reply = await api.request("verify_bookings", "GET", "/bookings", account=tutor.account, params=params)
            if not reply.ok:
                raise RuntimeError(f"GET /bookings as tutor {tutor.id} failed: {reply.status} {reply.body}")
            for item in reply.body["items"]:
                out.append(Booking(str(item["id"]), str(item["tutor_id"]), str(item["status"]),
                                   parse_time(item["start"]).timestamp(), parse_time(item["end"]).timestamp(),
                                   parse_time(item["created_at"]).timestamp()))
            cursor = reply.body.get("next_cursor")
            if not cursor:
                break
    return out


async def bookings_via_database(database_url: str, tutor_ids: list[str]) -> list[Booking]:
    from server.db import libpq_url

    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        rows = await conn.fetch(
            "SELECT id::text, tutor_id::text, CASE WHEN status = 'held' AND expires_at <= now() THEN 'expired' "
            "ELSE status END AS status, lower(guarded) AS start, upper(guarded) AS end, created_at "
            "FROM bookings WHERE tutor_id = ANY($1::uuid[])", tutor_ids)
    finally:
        await conn.close()
    return [Booking(r["id"], r["tutor_id"], r["status"], r["start"].timestamp(), r["end"].timestamp(),
                    r["created_at"].timestamp()) for r in rows]


def check_server_errors(recorders: list[Recorder]) -> Check:
    server = sum(r.server_errors for r in recorders)
    transport = sum(r.transport_errors for r in recorders)
    samples = [s for r in recorders for s in r.samples][:5]
    return Check("no_server_errors", server == 0 and transport == 0,
                 f"{server} responses 5xx, {transport} requests without an answer",
                 {"samples": samples} if samples else {})


def check_overlaps(bookings: list[Booking]) -> Check:
    live = sorted((b for b in bookings if b.status in ("held", "confirmed")), key=lambda b: (b.tutor_id, b.start))
    overlaps = []
    reach: dict[str, Booking] = {}
    for b in live:
        prev = reach.get(b.tutor_id)
        if prev is not None and b.start < prev.end:
            overlaps.append({"tutor_id": b.tutor_id, "a": prev.id, "b": b.id})
        if prev is None or b.end > prev.end:
            reach[b.tutor_id] = b
    return Check("no_overlapping_live_bookings", not overlaps,
                 f"{len(live)} live bookings on {len({b.tutor_id for b in live})} tutors, {len(overlaps)} overlapping",
                 {"overlaps": overlaps[:10]} if overlaps else {})


def check_races(ctx: RunContext) -> Check:
    problems: list[dict[str, Any]] = []
    contested = 0
    for race in ctx.ledger.races:
        attempts = sum(race.outcomes.values())
        contested += attempts > 1
        # In the server's order (its commit times): a reply may arrive long after the commit.
        winners = sorted(race.winners, key=lambda r: r.created_at or r.received_at)
        for before, after in itertools.pairwise(winners):
            if (after.created_at or after.received_at) < before.expires_at:
                problems.append({"tutor_id": race.tutor_id, "start": _iso(race.key), "problem": "two live winners",
                                 "holds": [before.id, after.id]})
        if not winners and race.outcomes.get("slot_unavailable"):
            problems.append({"tutor_id": race.tutor_id, "start": _iso(race.key),
                             "problem": "refused as taken but nobody won", "outcomes": dict(race.outcomes)})
    return Check("one_winner_per_race", not problems,
                 f"{len(ctx.ledger.races)} races ({contested} contested), {len(problems)} without exactly one winner",
                 {"problems": problems[:10]} if problems else {})


_EXPECTED = {"held": {"held", "expired"}, "released": {"released"}, "confirmed": {"confirmed"},
             "lapsed": {"expired"}, "ended": {"released", "expired"}, "cancelled": {"cancelled"}}


def check_bookings_match(ctx: RunContext, bookings: list[Booking], run_started: float) -> Check:
    ours = {b.id: b for b in bookings if b.created_at >= run_started - CLOCK_SLACK}
    known = ctx.ledger.holds
    unknown = [b.id for b in ours.values() if b.id not in known]
    missing = [h for h in known if h not in ours]
    wrong = []
    for hold_id, record in known.items():
        booking = ours.get(hold_id)
        if booking is not None and booking.status not in _EXPECTED.get(record.state, {record.state}):
            wrong.append({"id": hold_id, "client_thinks": record.state, "server_says": booking.status})
    passed = not unknown and not missing and not wrong
    return Check("bookings_match_clients", passed,
                 f"{len(ours)} bookings created by the run, {len(known)} holds won by clients: {len(unknown)} unknown "
                 f"to clients, {len(missing)} missing, {len(wrong)} in an unexpected status",
                 {"unknown": unknown[:10], "missing": missing[:10], "wrong": wrong[:10]} if not passed else {})


def check_lapses(ctx: RunContext) -> Check:
    checks = ctx.ledger.lapse_checks
    bad = {k: v for k, v in checks.items() if k != "expired"}
    total = sum(checks.values())
    return Check("lapsed_holds_read_expired", not bad,
                 f"{total} lapsed holds taken over" + (f"; read back as {bad}" if bad else "") if total
                 else "no hold lapsed during the run", {"statuses": dict(checks)} if bad else {})


def check_watchers(result: GroupResult) -> Check:
    totals = result.totals
    ok = result.failed == 0 and result.mismatched == 0 and result.unsettled == 0 and result.watchers > 0
    detail = (f"{result.compared} of {result.watchers} watchers compared, {result.mismatched} differ from the API, "
              f"{result.unsettled} never caught up, {result.failed} failed; {totals.get('gaps', 0)} version gaps "
              f"repaired with since, {totals.get('resyncs', 0)} resyncs, {totals.get('reconnects', 0)} reconnects")
    if result.watchers == 0:
        return Check("watchers_match_api", True, "no watchers (--watchers 0)")
    data: dict[str, Any] = {}
    if result.mismatches:
        data["mismatches"] = result.mismatches[:5]
    if result.connect_errors:
        data["connect_errors"] = dict(result.connect_errors)
    return Check("watchers_match_api", ok, detail, data)


async def check_outbox(database_url: str, tutor_ids: list[str], since: datetime) -> Check:
    from server.db import libpq_url

    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        deadline = time.monotonic() + 10
        while True:
            rows = await conn.fetch(
                "SELECT tutor_id::text AS tutor_id, version, published_at IS NOT NULL AS published FROM outbox "
                "WHERE event = 'slots.changed' AND tutor_id = ANY($1::uuid[]) AND created_at >= $2 "
                "ORDER BY tutor_id, version", tutor_ids, since)
            if all(r["published"] for r in rows) or time.monotonic() > deadline:
                break
            await conn.execute("SELECT pg_sleep(0.2)")
    finally:
        await conn.close()
    versions: dict[str, list[int]] = defaultdict(list)
    unpublished = 0
    for row in rows:
        versions[row["tutor_id"]].append(int(row["version"]))
        unpublished += not row["published"]
    gaps = [{"tutor_id": t, "versions": f"{v[0]}..{v[-1]} ({len(v)} rows)"} for t, v in versions.items()
            if v != list(range(v[0], v[0] + len(v)))]
    return Check("outbox_versions_consecutive", not gaps and not unpublished,
                 f"{len(rows)} slots.changed rows on {len(versions)} tutors: {len(gaps)} tutors with gaps or "
                 f"duplicates, {unpublished} unpublished", {"gaps": gaps[:10]} if gaps else {})


async def check_waitlist(ctx: RunContext, api: ApiClient) -> Check:
    problems: list[dict[str, Any]] = []
    offers = 0
    now = time.time()
    for line in ctx.ledger.lines:
        where = {"tutor_id": line.tutor_id, "start": _iso(line.key)}
        final: dict[str, dict[str, Any]] = {}
        for student in {id(s): s for s in line.entries.values()}.values():
            reply = await api.request("verify_waitlist", "GET", "/waitlist", account=student)
            if not reply.ok:
                raise RuntimeError(f"GET /waitlist failed: {reply.status} {reply.body}")
            final.update({str(e["id"]): e for e in reply.body["items"] if str(e["id"]) in line.entries})
        holds = [str(e["booking_id"]) for e in final.values() if e.get("booking_id")]
        offers += len(holds)
        if len(holds) != len(set(holds)):
            problems.append({**where, "problem": "one hold offered to two entries", "holds": holds})
        seen = dict(line.offers)
        for entry_id, entry in final.items():
            if entry.get("booking_id") and seen.get(entry_id) != str(entry["booking_id"]):
                problems.append({**where, "problem": "an offer the clients never saw", "entry": entry_id})
            if entry["status"] == "lapsed" and entry.get("reason") != "offer_lapsed":
                problems.append({**where, "problem": "skipped although eligible", "entry": entry_id,
                                 "reason": entry.get("reason")})
        order = [line.positions[e] for e, _ in line.offers]
        if order != sorted(order):
            problems.append({**where, "problem": "offers out of line order", "positions": order})
        for entry_id, _ in line.offers:
            ahead = [e for e, p in line.positions.items() if p < line.positions[entry_id]
                     and e not in line.left and e not in seen]
            if ahead:
                problems.append({**where, "problem": "offered past someone waiting ahead", "entry": entry_id,
                                 "ahead": ahead})
        live = [r.id for r in ctx.ledger.holds.values()
                if r.tutor_id == line.tutor_id and r.key == line.key and r.state == "held" and r.expires_at > now]
        if len(live) > 1:
            problems.append({**where, "problem": "more than one live hold", "holds": live})
    return Check("waitlist_invariants", not problems,
                 f"{len(ctx.ledger.lines)} lines, {offers} offers: {len(problems)} violations",
                 {"problems": problems[:10]} if problems else {})


def check_client(ctx: RunContext) -> Check:
    n = ctx.counters.get("client_exceptions", 0)
    return Check("load_tester_healthy", n == 0, f"{n} unexpected exceptions in the load tester")


def _iso(key: int) -> str:
    return datetime.fromtimestamp(key, UTC).isoformat().replace("+00:00", "Z")


async def run_checks(ctx: RunContext, api: ApiClient, recorders: list[Recorder], watchers: GroupResult,
                     run_started: float, db_started: datetime | None) -> list[Check]:
    """All checks, in the order the report lists them."""
    checks = [check_server_errors(recorders)]
    tutor_ids = [t.id for t in ctx.fleet.tutors]
    try:
        if ctx.cfg.database_url:
            bookings = await bookings_via_database(ctx.cfg.database_url, tutor_ids)
        else:
            bookings = await bookings_via_api(api, ctx)
    except (RuntimeError, OSError, asyncpg.PostgresError) as exc:  # reported as a failed check
        checks.append(Check("bookings_readable", False, f"could not read the bookings: {exc}"))
        bookings = []
    else:
        checks.append(check_overlaps(bookings))
        checks.append(check_bookings_match(ctx, bookings, run_started))
    checks.append(check_races(ctx))
    checks.append(check_lapses(ctx))
    checks.append(check_watchers(watchers))
    if ctx.cfg.database_url and db_started is not None:
        try:
            checks.append(await check_outbox(ctx.cfg.database_url, tutor_ids, db_started))
        except (OSError, asyncpg.PostgresError) as exc:
            checks.append(Check("outbox_versions_consecutive", False, f"could not read the outbox: {exc}"))
    if ctx.ledger.lines:
        try:
            checks.append(await check_waitlist(ctx, api))
        except RuntimeError as exc:
            checks.append(Check("waitlist_invariants", False, f"could not read the waitlists: {exc}"))
    checks.append(check_client(ctx))
    return checks


"""What scenarios share: the API client, the accounts, the ledger of holds, the races.

Every hold the run wins is written to the :class:`Ledger` with what the run did to it
afterwards (released, confirmed, left to lapse), so the verification can compare the
deployment's bookings with what the clients were told. Every group of attempts that
competed for one slot at one moment is a :class:`Race`, which must have exactly one
winner.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loadtest.api import Account, ApiClient, Reply
from loadtest.config import LoadConfig
from loadtest.setup import Fleet, Tutor, iso, parse_time

HoldListener = Callable[[str, int, float, float], None]


@dataclass
class HoldRecord:
    """A hold the run won, and what the run did with it since."""

    id: str
    tutor_id: str
    student: Account
    key: int
    sent_at: float
    received_at: float
    expires_at: float
    state: str = "held"  # held | released | lapsed | ended (released or lapsed) | confirmed | cancelled
    created_at: float = 0.0  # the server's commit time (a reply can arrive long after it: a frozen server)


@dataclass
class Race:
    """Attempts that competed for one slot at one moment."""

    tutor_id: str
    key: int
    outcomes: Counter[str] = field(default_factory=Counter)
    winners: list[HoldRecord] = field(default_factory=list)


@dataclass
class WaitLine:
    """The line the run formed behind one held slot, and what the clients saw of it."""

    tutor_id: str
    key: int
    entries: dict[str, Account] = field(default_factory=dict)  # entry id -> its student
    positions: dict[str, int] = field(default_factory=dict)  # entry id -> position when it joined
    left: set[str] = field(default_factory=set)  # entries the clients took out of the line
    offers: list[tuple[str, str]] = field(default_factory=list)  # (entry id, hold id), in the order seen


class Ledger:
    def __init__(self) -> None:
        self.holds: dict[str, HoldRecord] = {}
        self.races: list[Race] = []
        self.lines: list[WaitLine] = []
        self.hold_ttl: float | None = None  # learned from the first hold (expires_at - response time)
        self.hold_limit: int | None = None  # learned from hold_limit_reached details
        self.lapse_checks: Counter[str] = Counter()  # statuses a lapsed hold read back as


class RunContext:
    """Shared by the scenario's tasks (one event loop, so no locks are needed)."""

    def __init__(self, api: ApiClient, fleet: Fleet, cfg: LoadConfig, on_hold: HoldListener) -> None:
        self.api = api
        self.fleet = fleet
        self.cfg = cfg
        self.on_hold = on_hold
        self.ledger = Ledger()
        self.rng = random.Random(cfg.seed)
        self.free_students: asyncio.Queue[Account] = asyncio.Queue()
        for student in fleet.students:
            self.free_students.put_nowait(student)
        self.per_student = max(1, cfg.holds_per_student)
        self.started = time.monotonic()
        self.deadline = self.started + cfg.duration
        self.counters: Counter[str] = Counter()
        self._rr = 0
        self.hot = fleet.tutors[0] if fleet.tutors else None

    # -- picking ---------------------------------------------------------------------

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline

    def pick_tutor(self) -> Tutor:
        """The hot tutor with probability ``--hot-share``, else the others in turn."""
        tutors = self.fleet.tutors
        if self.hot is not None and self.cfg.hot_share > 0 and self.rng.random() < self.cfg.hot_share:
            return self.hot
        others = tutors[1:] if len(tutors) > 1 and self.cfg.hot_share > 0 else tutors
        self._rr += 1
        return others[self._rr % len(others)]

    def take_slot(self, tutor: Tutor | None = None) -> tuple[Tutor, int] | None:
        """An open slot only this task will use (FIFO per tutor); None when all are busy."""
        for _ in range(len(self.fleet.tutors) + 1):
            chosen = tutor or self.pick_tutor()
            if chosen.open_slots:
                return chosen, chosen.open_slots.popleft()
            if tutor is not None:
                return None
        self.counters["no_open_slot"] += 1
        return None

    # -- operations ------------------------------------------------------------------

    async def hold(self, student: Account, tutor_id: str, key: int, race: Race | None = None) -> HoldRecord | None:
        """``POST /holds``; on 201 the hold joins the ledger and the student's holds."""
        reply = await self.api.request("hold", "POST", "/holds", account=student, json_body={
            "tutor_id": tutor_id, "start": iso_key(key), "minutes": self.fleet.window.minutes})
        if race is not None:
            race.outcomes[reply.code or str(reply.status)] += 1
        if reply.status == 201:
            body = reply.body
            expires = parse_time(body["expires_at"]).timestamp() if body.get("expires_at") else 0.0
            created = parse_time(body["created_at"]).timestamp() if body.get("created_at") else reply.sent_at
            record = HoldRecord(str(body["id"]), tutor_id, student, key, reply.sent_at, reply.received_at, expires,
                                created_at=created)
            if self.ledger.hold_ttl is None and expires:
                self.ledger.hold_ttl = expires - reply.received_at
            self.ledger.holds[record.id] = record
            student.holds.append(record.id)
            if race is not None:
                race.winners.append(record)
            self.on_hold(tutor_id, key, reply.sent_at, reply.received_at)
            return record
        if reply.code == "hold_limit_reached":
            self._learn_limit(reply)
        return None

    def _learn_limit(self, reply: Reply) -> None:
        details = reply.details
        if isinstance(details, dict) and isinstance(details.get("limit"), int):
            self.ledger.hold_limit = int(details["limit"])
            self.per_student = max(1, min(self.per_student, self.ledger.hold_limit))

    async def release(self, record: HoldRecord) -> bool:
        """``DELETE /holds/{id}``; True when the slot reopened."""
        reply = await self.api.request("release", "DELETE", f"/holds/{record.id}", account=record.student)
        if record.id in record.student.holds:
            record.student.holds.remove(record.id)
        if reply.status == 204:
            # The server marks a hold that lapsed before the release ``expired``, by its clock
            # (somewhere between our send and receipt): on the edge, either status is right.
            if record.expires_at <= reply.sent_at:
                record.state = "lapsed"
            elif record.expires_at < reply.received_at:
                record.state = "ended"
            else:
                record.state = "released"
            return True
        if reply.code == "invalid_transition" and (reply.details or {}).get("from") == "expired":
            record.state = "lapsed"
        elif reply.code == "invalid_transition" and (reply.details or {}).get("from") == "released":
            record.state = "released"  # a retried release whose first attempt went through unanswered
            return True
        return False

    async def confirm(self, record: HoldRecord) -> bool:
        """Checkout, then pay with the test provider; True when the booking is confirmed."""
        reply = await self.api.request("checkout", "POST", f"/bookings/{record.id}/checkout", account=record.student)
        if not reply.ok:
            return False
        provider = (reply.body.get("payment") or {}).get("provider")
        confirmed = provider == "free"
        if provider == "test":
            paid = await self.api.request("confirm", "POST", "/payments/test/confirm", account=record.student,
                                          json_body={"booking_id": record.id})
            confirmed = paid.ok and paid.body.get("status") == "confirmed"
            # A retried confirmation whose first attempt went through unanswered.
            confirmed = confirmed or (paid.code == "invalid_transition"
                                      and (paid.details or {}).get("status") == "confirmed")
        elif provider != "free":
            self.counters["checkout_needs_real_payment"] += 1
        if confirmed:
            record.state = "confirmed"
            if record.id in record.student.holds:
                record.student.holds.remove(record.id)
        return confirmed

    def adopt(self, body: dict[str, Any], student: Account, key: int, sent_at: float,
              received_at: float) -> HoldRecord:
        """A hold the server placed for ``student`` (a waitlist offer): into the ledger as if won."""
        expires = parse_time(body["expires_at"]).timestamp() if body.get("expires_at") else 0.0
        created = parse_time(body["created_at"]).timestamp() if body.get("created_at") else sent_at
        record = HoldRecord(str(body["id"]), str(body["tutor_id"]), student, key, sent_at, received_at, expires,
                            created_at=created)
        self.ledger.holds[record.id] = record
        student.holds.append(record.id)
        return record

    async def booking_status(self, record: HoldRecord) -> str | None:
        reply = await self.api.request("booking", "GET", f"/bookings/{record.id}", account=record.student)
        return str(reply.body.get("status")) if reply.ok else None

    async def student(self) -> Account:
        return await self.free_students.get()

    def give_back(self, student: Account) -> None:
        self.free_students.put_nowait(student)

    def lapsed(self, record: HoldRecord) -> None:
        """The run let ``record`` lapse: it no longer counts against its student's holds."""
        record.state = "lapsed"
        if record.id in record.student.holds:
            record.student.holds.remove(record.id)

    async def make_room(self, student: Account) -> None:
        """Release the student's oldest holds until another one fits under the limit."""
        while len(student.holds) >= self.per_student:
            record = self.ledger.holds[student.holds[0]]
            if await self.release(record):
                self.return_slot(record)
            elif record.id in student.holds:
                student.holds.remove(record.id)

    def return_slot(self, record: HoldRecord) -> None:
        for tutor in self.fleet.tutors:
            if tutor.id == record.tutor_id:
                tutor.open_slots.append(record.key)
                return

    def snapshot(self) -> dict[str, Any]:
        return {"holds_won": len(self.ledger.holds), **self.counters}


def iso_key(key: int) -> str:
    """A slot key back as the API's time format."""
    return iso(datetime.fromtimestamp(key, UTC))

"""Creating (or reusing) the tutors and students a run acts as, through the public API.

Tutors teach one lesson length in UTC, all day every day, with no notice or buffer, so
their slots are a plain grid: a lesson may start every ``minutes`` from midnight. The load
uses the slots of a fixed window that every watcher's snapshot covers for the whole run
(from the first midnight at least 12 hours away, for five days).

Accounts get deterministic e-mail addresses under a tag. Without ``--reuse`` the tag gets
a random run id, so every run starts with fresh accounts; with ``--reuse`` the same
accounts are signed in again (and any hold a crashed run left behind is released).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from loadtest.api import Account, ApiClient

WINDOW_DAYS = 5


def iso(value: datetime) -> str:
    """UTC ISO 8601 with ``Z``, as the API writes times."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def slot_key(value: str | datetime) -> int:
    """A slot's identity within a tutor: its start as whole UTC seconds."""
    moment = parse_time(value) if isinstance(value, str) else value
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True)
class SlotWindow:
    """The slots the run uses and verifies: starts in ``[start, end)``, lessons of ``minutes``."""

    start: datetime
    end: datetime
    minutes: int

    @classmethod
    def for_run(cls, now: datetime, minutes: int) -> SlotWindow:
        first = (now + timedelta(hours=12)).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return cls(first, first + timedelta(days=WINDOW_DAYS), minutes)

    def query(self) -> dict[str, str]:
        """The ``GET /tutors/{id}/slots`` parameters for this window."""
        return {"from": iso(self.start), "to": iso(self.end), "minutes": str(self.minutes)}

    def contains(self, key: int) -> bool:
        return self.start.timestamp() <= key < self.end.timestamp()


@dataclass
class Tutor:
    account: Account
    open_slots: deque[int] = field(default_factory=deque)  # slot keys free for the load, FIFO

    @property
    def id(self) -> str:
        return self.account.id


@dataclass
class Fleet:
    tutors: list[Tutor]
    students: list[Account]
    window: SlotWindow
    tag: str


class SetupError(RuntimeError):
    """The deployment refused to set up the run (shown to the user as is)."""


def _clean_tag(tag: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", tag.lower()).strip("-")
    return cleaned or "loadtest"


def run_tag(tag: str, reuse: bool) -> str:
    """The e-mail prefix: the tag itself with ``--reuse``, else the tag plus a fresh run id."""
    base = _clean_tag(tag)
    return base if reuse else f"{base}-{secrets.token_hex(4)}"


def profile_body(minutes: int) -> dict[str, object]:
    return {"headline": "Load test tutor", "bio": "Created by edustream loadtest.", "subjects": ["load testing"],
            "hourly_rate_cents": 6000, "currency": "USD", "timezone": "UTC", "lesson_minutes": [minutes],
            "min_notice_minutes": 0, "buffer_minutes": 0, "max_advance_days": 60}


AVAILABILITY = {"rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)], "overrides": []}


async def _account(api: ApiClient, email: str, password: str, role: str, name: str, reuse: bool) -> Account:
    account = Account(email=email, password=password, role=role)
    reply = await api.with_retry_after("register", "POST", "/auth/register",
                                       json_body={"email": email, "password": password, "name": name, "role": role})
    if reply.ok:
        account.token = str(reply.body["access_token"])
        account.id = str(reply.body["user"]["id"])
        account.role = str(reply.body["user"].get("role", role))
        return account
    if reply.status == 409 and reply.code == "email_taken" and reuse:
        if await api.sign_in(account):
            return account
        raise SetupError(f"{email} exists but its password is not --password (use another --tag)")
    raise SetupError(f"registering {email} failed: {reply.status} {reply.body}")


async def _tutor(api: ApiClient, email: str, password: str, i: int, reuse: bool, minutes: int) -> Tutor:
    account = await _account(api, email, password, "tutor", f"Load Tutor {i}", reuse)
    if account.role != "tutor":
        raise SetupError(f"{email} is not a tutor")
    for op, path, body in (("profile", "/tutors/me", profile_body(minutes)),
                           ("availability", "/tutors/me/availability", AVAILABILITY)):
        reply = await api.with_retry_after(op, "PUT", path, account=account, json_body=body)
        if not reply.ok:
            raise SetupError(f"PUT {path} for {email} failed: {reply.status} {reply.body}")
    return Tutor(account)


async def _release_leftovers(api: ApiClient, student: Account) -> None:
    """A reused student may still hold slots from a run that did not clean up."""
    reply = await api.request("bookings", "GET", "/bookings", account=student,
                              params={"status": "held", "limit": "100"})
    if reply.ok:
        for booking in reply.body.get("items", []):
            await api.request("release", "DELETE", f"/holds/{booking['id']}", account=student)


async def _gather_limited(n: int, limit: int, make: Callable[[int], Awaitable[object]]) -> list[object]:
    gate = asyncio.Semaphore(limit)

    async def one(i: int) -> object:
        async with gate:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def load_open_slots(api: ApiClient, tutor: Tutor, window: SlotWindow) -> int:
    """Refill ``tutor.open_slots`` from ``GET /tutors/{id}/slots`` (open ones in the window)."""
    reply = await api.with_retry_after("slots", "GET", f"/tutors/{tutor.id}/slots", params=window.query())
    if not reply.ok:
        raise SetupError(f"GET /tutors/{tutor.id}/slots failed: {reply.status} {reply.body}")
    tutor.open_slots = deque(slot_key(s["start"]) for s in reply.body["slots"] if s["status"] == "open")
    return reply.body.get("version", 0)


async def provision(api: ApiClient, *, tutors: int, students: int, tag: str, reuse: bool, password: str,
                    domain: str, minutes: int, concurrency: int,
                    progress: Callable[[str], None] = lambda _: None) -> Fleet:
    """Register (or sign in) the tutors and students, give tutors a profile and hours, list their slots."""
    prefix = run_tag(tag, reuse)
    window = SlotWindow.for_run(datetime.now(UTC), minutes)
    progress(f"setup: {tutors} tutors as {prefix}-tutor-N@{domain}")
    tutor_list = await _gather_limited(tutors, concurrency, lambda i: _tutor(
        api, f"{prefix}-tutor-{i}@{domain}", password, i, reuse, minutes))
    progress(f"setup: {students} students as {prefix}-student-N@{domain}")
    done = [0]

    async def student(i: int) -> Account:
        account = await _account(api, f"{prefix}-student-{i}@{domain}", password, "student", f"Load Student {i}",
                                 reuse)
        if account.role != "student":
            raise SetupError(f"{account.email} is not a student")
        if reuse:
            await _release_leftovers(api, account)
        done[0] += 1
        if done[0] % 100 == 0:
            progress(f"setup: {done[0]}/{students} students")
        return account

    student_list = await _gather_limited(students, concurrency, student)
    fleet = Fleet([t for t in tutor_list if isinstance(t, Tutor)],
                  [s for s in student_list if isinstance(s, Account)], window, prefix)
    await load_all_open_slots(api, fleet, concurrency)
    return fleet


async def load_all_open_slots(api: ApiClient, fleet: Fleet, concurrency: int) -> None:
    """Every tutor's open slots in the fleet's window (see :func:`load_open_slots`)."""
    await _gather_limited(len(fleet.tutors), concurrency * 4,
                          lambda i: load_open_slots(api, fleet.tutors[i], fleet.window))

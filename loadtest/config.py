"""The options of one load-test run (what ``edustream loadtest`` parses)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCENARIOS = ("contention", "throughput", "churn", "mixed", "waitlist", "idle")
WATCHER_CLIENTS = ("socketio", "raw")

DEFAULT_CHURN = {"release": 50, "lapse": 25, "confirm": 25}
DEFAULT_MIX = {"browse": 15, "profile": 10, "slots": 35, "hold": 20, "release": 12, "checkout": 5, "bookings": 3}


@dataclass
class LoadConfig:
    urls: list[str]
    scenario: str = "contention"
    students: int = 100
    tutors: int = 10
    slots: int = 20
    contenders: int = 0  # contention: students racing for each slot (0 = every student)
    concurrency: int = 32
    rate: float = 0.0  # operations started per second (0 = as fast as --concurrency allows)
    duration: float = 20.0
    watchers: int = 50
    hot_watchers: int = 0
    hot_share: float = 0.0
    watcher_client: str = "socketio"
    watcher_processes: int = 0
    connect_concurrency: int = 50
    holds_per_student: int = 3
    max_lapse_wait: float = 15.0
    waiters: int = 3  # waitlist: students joining the line behind each held slot
    leave_share: float = 0.2  # waitlist: share of them who leave the line before it moves
    mix: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))
    churn_mix: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CHURN))
    lesson_minutes: int = 30
    reuse: bool = False
    tag: str = "loadtest"
    password: str = "loadtest-password-1"
    email_domain: str = "example.com"
    setup_concurrency: int = 8
    database_url: str = ""
    json_path: str = ""
    keep: bool = False
    seed: int = 1
    request_timeout: float = 30.0
    verify_timeout: float = 30.0
    progress_seconds: float = 2.0
    # Ride out outages (bench/chaos.py): an unanswered request (no answer, 502/503/504) is sent
    # again, to the next URL, for up to outage_seconds; POSTs carry an Idempotency-Key so a retry
    # of one that did commit gets its first answer back.
    resilient: bool = False
    outage_seconds: float = 90.0

    def public(self) -> dict[str, Any]:
        """The options for the report (no password, no database credentials)."""
        data = asdict(self)
        data.pop("password", None)
        data["database_url"] = bool(self.database_url)
        return data

"""Holds and releases for people who already use Locust (same public API as ``edustream loadtest``).

    pip install -e '.[bench]'
    locust -f bench/locustfile.py --host http://127.0.0.1:8000 --headless -u 200 -r 20 -t 60s

Each simulated user is a student: it signs up, then lists a tutor's open slots, holds one
(409 ``slot_unavailable`` / ``hold_limit_reached`` are expected outcomes, not failures),
and releases its holds, keeping at most ``LOCUST_HOLDS_PER_STUDENT`` (default 3, the
server's default ``MAX_ACTIVE_HOLDS``). At the start of the test ``LOCUST_TUTORS``
(default 10) tutors are created with a 30-minute UTC grid every day, shared by all users.
The deployment must not rate-limit the load (``RATE_LIMIT_ENABLED=false``) nor apply the
slot-hoarding limits (``HOLD_LIMIT_PER_TUTOR=0``, ``HOLD_REHOLD_COOLDOWN_SECONDS=0``).

Locust measures; it does not verify. For the invariants (no double booking, one winner per
contested slot, watchers in step with the database) run ``edustream loadtest``.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from locust import HttpUser, between, events, task

API = "/api/v1"
TUTORS = int(os.environ.get("LOCUST_TUTORS", "10"))
HOLDS_PER_STUDENT = int(os.environ.get("LOCUST_HOLDS_PER_STUDENT", "3"))
PASSWORD = os.environ.get("LOCUST_PASSWORD", "locust-password-1")
RUN = uuid.uuid4().hex[:8]
MINUTES = 30

tutor_ids: list[str] = []


def _window() -> dict[str, str]:
    """Tomorrow-or-later slots (never "too soon"), five days of them."""
    first = (datetime.now(UTC) + timedelta(hours=12)).replace(hour=0, minute=0, second=0, microsecond=0)
    first += timedelta(days=1)
    return {"from": first.isoformat().replace("+00:00", "Z"),
            "to": (first + timedelta(days=5)).isoformat().replace("+00:00", "Z"), "minutes": str(MINUTES)}


@events.test_start.add_listener
def create_tutors(environment: Any, **_: Any) -> None:
    """Tutors with a profile and all-day availability, made once through the API."""
    host = environment.host.rstrip("/")
    for i in range(TUTORS):
        r = requests.post(f"{host}{API}/auth/register", timeout=30, json={
            "email": f"locust-{RUN}-tutor-{i}@example.com", "password": PASSWORD, "name": f"Locust Tutor {i}",
            "role": "tutor"})
        r.raise_for_status()
        body = r.json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        requests.put(f"{host}{API}/tutors/me", headers=headers, timeout=30, json={
            "headline": "Locust tutor", "bio": "", "subjects": ["load testing"], "hourly_rate_cents": 6000,
            "currency": "USD", "timezone": "UTC", "lesson_minutes": [MINUTES], "min_notice_minutes": 0,
            "buffer_minutes": 0, "max_advance_days": 60}).raise_for_status()
        requests.put(f"{host}{API}/tutors/me/availability", headers=headers, timeout=30, json={
            "rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
            "overrides": []}).raise_for_status()
        tutor_ids.append(body["user"]["id"])


class Student(HttpUser):
    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        email = f"locust-{RUN}-student-{uuid.uuid4().hex[:12]}@example.com"
        with self.client.post(f"{API}/auth/register", name="register", catch_response=True, json={
                "email": email, "password": PASSWORD, "name": "Locust Student", "role": "student"}) as r:
            if r.status_code != 201:
                r.failure(f"register: {r.status_code} {r.text[:200]}")
                self.stop()
                return
            self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        self.client.cookies.clear()  # authenticate with the bearer token only (no CSRF dance)
        self.holds: list[str] = []
        self.open: dict[str, list[str]] = {}

    @task(2)
    def list_slots(self) -> None:
        tutor = random.choice(tutor_ids)
        with self.client.get(f"{API}/tutors/{tutor}/slots", params=_window(), name="/tutors/{id}/slots",
                             catch_response=True) as r:
            if r.status_code == 200:
                self.open[tutor] = [s["start"] for s in r.json()["slots"] if s["status"] == "open"]
            else:
                r.failure(f"{r.status_code} {r.text[:200]}")

    @task(4)
    def hold(self) -> None:
        if len(self.holds) >= HOLDS_PER_STUDENT:
            self.release()
        tutor = random.choice(tutor_ids)
        starts = self.open.get(tutor)
        if not starts:
            self.list_slots()
            starts = self.open.get(tutor)
            if not starts:
                return
        start = starts.pop(random.randrange(len(starts)))
        with self.client.post(f"{API}/holds", headers=self.headers, name="/holds", catch_response=True,
                              json={"tutor_id": tutor, "start": start, "minutes": MINUTES}) as r:
            if r.status_code == 201:
                self.holds.append(r.json()["id"])
            elif r.status_code == 409:
                r.success()  # someone else was faster, or the limit: an expected answer
            else:
                r.failure(f"{r.status_code} {r.text[:200]}")

    @task(2)
    def release(self) -> None:
        if not self.holds:
            return
        hold_id = self.holds.pop(0)
        with self.client.delete(f"{API}/holds/{hold_id}", headers=self.headers, name="/holds/{id}",
                                catch_response=True) as r:
            if r.status_code in (204, 409):  # 409: it lapsed meanwhile
                r.success()
            else:
                r.failure(f"{r.status_code} {r.text[:200]}")

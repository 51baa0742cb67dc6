"""The verification rules on hand-made data (no servers): what counts as a violation."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from loadtest.api import Account
from loadtest.context import HoldRecord, Ledger, Race
from loadtest.stats import Histogram, Recorder
from loadtest.verify import Booking, check_bookings_match, check_overlaps, check_races, check_server_errors


def booking(id: str, start: float, end: float, status: str = "held", tutor: str = "t1") -> Booking:
    return Booking(id, tutor, status, start, end, created_at=1000.0)


def hold(id: str, received: float, expires: float, state: str = "held") -> HoldRecord:
    return HoldRecord(id, "t1", Account("s@example.com", "pw", "student"), 3600, received - 0.01, received,
                      expires, state)


def ctx_with(ledger: Ledger) -> Any:
    return SimpleNamespace(ledger=ledger)


def test_overlapping_live_bookings_of_one_tutor_are_a_violation() -> None:
    check = check_overlaps([booking("a", 0, 1800, "confirmed"), booking("b", 900, 2700, "held")])

    assert not check.passed
    assert check.data["overlaps"] == [{"tutor_id": "t1", "a": "a", "b": "b"}]


def test_released_expired_and_other_tutors_bookings_do_not_overlap() -> None:
    check = check_overlaps([booking("a", 0, 1800, "confirmed"), booking("b", 0, 1800, "released"),
                            booking("c", 0, 1800, "expired"), booking("d", 0, 1800, "held", tutor="t2"),
                            booking("e", 1800, 3600, "held")])

    assert check.passed


def test_two_winners_of_one_race_are_a_violation() -> None:
    ledger = Ledger()
    race = Race("t1", 3600)
    race.winners = [hold("h1", 10.0, 610.0), hold("h2", 10.2, 610.2)]
    ledger.races.append(race)

    assert not check_races(ctx_with(ledger)).passed


def test_a_second_winner_after_the_first_hold_lapsed_is_fine() -> None:
    ledger = Ledger()
    race = Race("t1", 3600)
    race.winners = [hold("h1", 10.0, 13.0), hold("h2", 13.5, 16.5)]
    ledger.races.append(race)

    assert check_races(ctx_with(ledger)).passed


def test_a_slot_refused_as_taken_that_nobody_won_is_a_violation() -> None:
    ledger = Ledger()
    race = Race("t1", 3600)
    race.outcomes.update({"slot_unavailable": 3})
    ledger.races.append(race)

    check = check_races(ctx_with(ledger))

    assert not check.passed
    assert check.data["problems"][0]["problem"] == "refused as taken but nobody won"


def test_bookings_must_match_what_clients_were_told() -> None:
    ledger = Ledger()
    ledger.holds = {"h1": hold("h1", 1000.0, 1600.0, "released"), "h2": hold("h2", 1000.0, 1600.0, "confirmed"),
                    "h3": hold("h3", 1000.0, 1600.0, "ended")}
    ok = [booking("h1", 0, 1, "released"), booking("h2", 2, 3, "confirmed"), booking("h3", 4, 5, "expired")]

    assert check_bookings_match(ctx_with(ledger), ok, run_started=1000.0).passed
    wrong = [booking("h1", 0, 1, "held"), booking("h2", 2, 3, "confirmed"), booking("h3", 4, 5, "released"),
             booking("x", 6, 7, "held")]
    check = check_bookings_match(ctx_with(ledger), wrong, run_started=1000.0)
    assert not check.passed
    assert check.data["unknown"] == ["x"]
    assert check.data["wrong"] == [{"id": "h1", "client_thinks": "released", "server_says": "held"}]


def test_any_5xx_or_unanswered_request_fails_the_run() -> None:
    quiet, broken = Recorder(), Recorder()
    quiet.record("hold", 409, "slot_unavailable", 0.01)
    broken.record("hold", 500, "internal_error", 0.01)

    assert check_server_errors([quiet]).passed
    assert not check_server_errors([quiet, broken]).passed


def test_histogram_percentiles_are_within_one_percent_and_merge() -> None:
    a, b = Histogram(), Histogram()
    for ms in range(1, 101):
        a.add(ms / 1000)
    for ms in range(101, 201):
        b.add(ms / 1000)
    a.merge(b)

    assert a.count == 200
    assert abs(a.percentile(0.5) - 0.100) <= 0.001
    assert abs(a.percentile(0.99) - 0.198) <= 0.002
    assert a.percentile(1.0) == 0.200
    assert Histogram.from_dict(a.to_dict()).percentile(0.5) == a.percentile(0.5)

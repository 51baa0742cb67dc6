"""Slot hoarding: holds cost nothing and accounts are cheap, so besides the per-student hold
limit a tutor can have only so many live holds at once, a student waits a moment before
holding again a slot they let go, an address can place only so many holds per hold lifetime,
and free lessons are capped too. Each limit holds under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.fixtures.bookings import StudentFactory, hold, next_day_at


@pytest.fixture
def limits(app: Starlette) -> Iterator[Callable[..., None]]:
    """``limits(hold_limit_per_tutor=3)``: these settings for this test only (the app is shared)."""
    original = app.state.settings

    def apply(**values: Any) -> None:
        app.state.settings = original.model_copy(update=values)

    yield apply
    app.state.settings = original


async def test_concurrent_students_cannot_hold_more_than_the_tutor_limit(
        app: Starlette, limits: Callable[..., None], client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory) -> None:
    limits(hold_limit_per_tutor=3)
    students = await make_students(8)
    replies = await asyncio.gather(*(hold(client, s, tutor["id"], next_day_at(8 + i)) for i, s in enumerate(students)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [201] * 3 + [409] * 5
    refused = [r.json()["error"] for r in replies if r.status_code == 409]
    assert {e["code"] for e in refused} == {"hold_limit_reached"}
    assert {e["details"]["scope"] for e in refused} == {"tutor"}


async def test_a_released_hold_frees_a_place_under_the_tutor_limit(
        app: Starlette, limits: Callable[..., None], client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory) -> None:
    limits(hold_limit_per_tutor=1)
    a, b = await make_students(2)
    held = await hold(client, a, tutor["id"], next_day_at(9))
    assert held.status_code == 201
    assert (await hold(client, b, tutor["id"], next_day_at(11))).status_code == 409
    assert (await client.delete(f"/api/v1/holds/{held.json()['id']}", headers=a["headers"])).status_code == 204
    assert (await hold(client, b, tutor["id"], next_day_at(11))).status_code == 201


async def test_a_student_waits_before_holding_again_the_slot_they_let_go(
        app: Starlette, limits: Callable[..., None], client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory) -> None:
    limits(hold_rehold_cooldown_seconds=60)
    a, b = await make_students(2)  # (the other tests run with no cooldown: see tests/conftest.py)
    held = await hold(client, a, tutor["id"], next_day_at(9))
    assert (await client.delete(f"/api/v1/holds/{held.json()['id']}", headers=a["headers"])).status_code == 204
    again = await hold(client, a, tutor["id"], next_day_at(9))
    assert again.status_code == 409 and again.json()["error"]["code"] == "hold_cooldown"
    # Another slot for the same student, and the same slot for another student, are fine.
    assert (await hold(client, a, tutor["id"], next_day_at(12))).status_code == 201
    assert (await hold(client, b, tutor["id"], next_day_at(9))).status_code == 201


async def test_no_cooldown_when_it_is_switched_off(
        app: Starlette, limits: Callable[..., None], client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory) -> None:
    limits(hold_rehold_cooldown_seconds=0)
    [a] = await make_students(1)
    held = await hold(client, a, tutor["id"], next_day_at(9))
    assert (await client.delete(f"/api/v1/holds/{held.json()['id']}", headers=a["headers"])).status_code == 204
    assert (await hold(client, a, tutor["id"], next_day_at(9))).status_code == 201


async def test_one_address_can_place_only_so_many_holds_whatever_the_accounts(
        app: Starlette, limits: Callable[..., None], client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory) -> None:
    limits(hold_limit_per_ip=4)
    students = await make_students(6)
    replies = await asyncio.gather(*(hold(client, s, tutor["id"], next_day_at(8 + i)) for i, s in enumerate(students)))
    assert sorted(r.status_code for r in replies) == [201] * 4 + [429] * 2
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.json()["error"]["details"]["window_seconds"] == app.state.settings.hold_ttl_seconds
    # Other requests from that address are not affected.
    assert (await client.get(f"/api/v1/tutors/{tutor['id']}")).status_code == 200


async def test_free_lessons_are_capped_even_for_concurrent_checkouts(
        app: Starlette, limits: Callable[..., None], client: httpx.AsyncClient, make_tutor: Any, make_students: StudentFactory) -> None:
    limits(max_upcoming_free_bookings=2, max_active_holds=10)
    free_tutor = await make_tutor(rate=0)
    [student] = await make_students(1)
    held = [await hold(client, student, free_tutor["id"], next_day_at(8 + i)) for i in range(4)]
    assert all(r.status_code == 201 for r in held), [r.text for r in held]
    replies = await asyncio.gather(*(client.post(f"/api/v1/bookings/{r.json()['id']}/checkout",
                                                 headers=student["headers"]) for r in held))
    assert sorted(r.status_code for r in replies) == [200, 200, 409, 409]
    assert {r.json()["error"]["code"] for r in replies if r.status_code == 409} == {"free_booking_limit_reached"}

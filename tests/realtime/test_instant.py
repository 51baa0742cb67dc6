"""Instant lessons live: tutor presence across API processes (and after one is killed), a real
Socket.IO client receiving ``instant.request``, and concurrent accepts over real HTTP to two
processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.settings import Settings
from tests.realtime.conftest import LiveClient, LiveServer, make_tutor, running_servers

pytestmark = pytest.mark.xdist_group("live")


async def _available(base_url: str, tutor: dict[str, Any], on: bool = True) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        r = await http.put("/api/v1/tutors/me/instant", headers=tutor["headers"], json={"available": on})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _state(base_url: str, tutor: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        r = await http.get("/api/v1/tutors/me/instant", headers=tutor["headers"])
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _ask(base_url: str, student: dict[str, Any], minutes: int = 60) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await http.post("/api/v1/instant-requests", headers=student["headers"],
                               json={"subject": "mathematics", "minutes": minutes})


async def _accept(base_url: str, tutor: dict[str, Any], request_id: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await http.post(f"/api/v1/instant-requests/{request_id}/accept", headers=tutor["headers"])


async def _until(predicate: Any, within: float) -> float:
    """Seconds until the async ``predicate()`` holds (AssertionError after ``within``)."""
    start = time.monotonic()
    while not await predicate():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_presence_is_shared_by_the_api_processes(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    await _available(live[0].url, tutor)
    assert (await _state(live[1].url, tutor))["online"] is False
    on_a = await live_client(live[0].url, token=tutor["token"])
    on_b = await live_client(live[1].url, token=tutor["token"])
    for server in live:  # either process sees both connections
        assert (await _state(server.url, tutor))["online"] is True
    await on_a.disconnect()
    assert (await _state(live[0].url, tutor))["online"] is True  # still connected through B
    await on_b.disconnect()
    # A closed connection leaves at once (no waiting for the TTL).
    await _until(lambda: _offline(live[0].url, tutor), within=2)


async def _offline(base_url: str, tutor: dict[str, Any]) -> bool:
    return not (await _state(base_url, tutor))["connected"]


async def test_a_student_connection_is_no_presence(live, api, live_client, make_students) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    await _available(live[0].url, tutor)
    await live_client(live[0].url, token=student["token"])
    await live_client(live[1].url)  # anonymous
    assert (await _state(live[0].url, tutor))["connected"] is False
    r = await _ask(live[0].url, student)
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_tutor_available"


async def test_killed_api_process_ends_its_tutors_presence_within_the_ttl(
        live, api, live_client, settings: Settings, tmp_path: Path) -> None:
    """SIGKILL: no disconnect handler runs; the presence lapses because nobody refreshes it."""
    ttl = 3.0
    tutor = await make_tutor(api)
    await _available(live[0].url, tutor)
    async with running_servers(settings, tmp_path, ["K"], extra_env={
            "INSTANT_PRESENCE_TTL_SECONDS": str(ttl), "INSTANT_PRESENCE_HEARTBEAT_SECONDS": "0.5"}) as [doomed]:
        conn = LiveClient(doomed.url, token=tutor["token"])
        await conn.connect()
        await asyncio.sleep(ttl + 1)  # outlives one TTL: the heartbeat keeps it present
        assert (await _state(live[0].url, tutor))["online"] is True
        doomed.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        assert (await _state(live[1].url, tutor))["online"] is True  # nobody said goodbye
        await _until(lambda: _offline(live[1].url, tutor), within=ttl + 2)
        gone_after = time.monotonic() - killed_at
        assert gone_after <= ttl + 1.0, gone_after
        await _cleanup(conn, doomed)


async def _cleanup(conn: LiveClient, server: LiveServer) -> None:
    with contextlib.suppress(Exception):  # the server is dead; the client notices on its own
        await asyncio.wait_for(conn.disconnect(), 2)
    assert server.proc is not None and server.proc.wait(timeout=10) == -signal.SIGKILL


async def test_online_tutor_receives_instant_request_and_the_outcome_live(
        live, api, live_client, make_students) -> None:
    first, second, offline = [await make_tutor(api) for _ in range(3)]
    [student] = await make_students(1)
    for tutor in (first, second, offline):
        await _available(live[0].url, tutor)
    first_conn = await live_client(live[0].url, token=first["token"])
    second_conn = await live_client(live[1].url, token=second["token"])
    student_conn = await live_client(live[1].url, token=student["token"])

    r = await _ask(live[0].url, student)
    assert r.status_code == 201, r.text
    request = r.json()
    assert request["offered_to"] == 2
    for conn in (first_conn, second_conn):
        await conn.wait_for(lambda c: bool(c.of("instant.request")), within=10)
        [event] = conn.of("instant.request")
        assert event["request"]["id"] == request["id"] and event["request"]["minutes"] == 60
        assert event["request"]["price_cents"] == 6000 and event["request"]["subject"] == "mathematics"

    r = await _accept(live[1].url, second, request["id"])
    assert r.status_code == 200, r.text
    booking = r.json()["booking"]
    await student_conn.wait_for(lambda c: bool(c.of("instant.accepted")), within=10)
    [accepted] = student_conn.of("instant.accepted")
    assert accepted["booking"]["id"] == booking["id"] and accepted["request"]["status"] == "accepted"
    await first_conn.wait_for(lambda c: bool(c.of("instant.taken")), within=10)
    assert first_conn.of("instant.taken") == [{"request_id": request["id"], "status": "accepted"}]
    await second_conn.wait_for(lambda c: bool(c.of("booking.new")), within=10)
    assert second_conn.of("booking.new")[0]["booking"]["id"] == booking["id"]
    assert second_conn.of("instant.taken") == []


async def test_simultaneous_accepts_through_two_processes_have_one_winner(live, api, make_students) -> None:
    tutors = [await make_tutor(api) for _ in range(4)]
    [student] = await make_students(1)
    conns = []
    for i, tutor in enumerate(tutors):
        await _available(live[0].url, tutor)
        conn = LiveClient(live[i % 2].url, token=tutor["token"])
        conns.append(await conn.connect())
    try:
        request_id = (await _ask(live[1].url, student)).json()["id"]
        responses = await asyncio.gather(*(_accept(live[i % 2].url, t, request_id) for i, t in enumerate(tutors)))
        assert Counter(r.status_code for r in responses) == {200: 1, 409: 3}, [r.text for r in responses]
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"request_taken"}
    finally:
        for conn in conns:
            await conn.disconnect()


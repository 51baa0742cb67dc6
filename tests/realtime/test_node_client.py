"""The browser client: ``socket.io-client`` 4.8 from npm connects, watches and receives ``slots.changed``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.realtime.conftest import make_tutor, place_hold, slot_start
from tests.realtime.node import NodeListener, read_line

pytestmark = pytest.mark.xdist_group("live")

async def test_socket_io_client_from_npm_watches_and_receives_slots_changed(live, api, make_students,
                                                                            node_client_dir: Path) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    proc = await asyncio.create_subprocess_exec(
        "node", "watch.mjs", live[0].url, tutor["id"], "1", cwd=node_client_dir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        ack = (await read_line(proc.stdout))["ack"]
        assert ack["tutor_id"] == tutor["id"] and ack["slots"]
        start = slot_start()
        await place_hold(live[1].url, student, tutor["id"], start)
        event = await read_line(proc.stdout)
        assert event["event"] == "slots.changed"
        assert event["data"]["version"] == ack["version"] + 1
        assert {"start": start.isoformat().replace("+00:00", "Z"), "status": "held"}.items() <= \
            next(c for c in event["data"]["changes"] if c["status"] == "held").items()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_socket_io_client_from_npm_receives_personal_events_and_their_notifications(
        live, api, make_students, node_client_dir: Path) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    listener = await NodeListener.start(node_client_dir, live[0].url, tutor["token"], ["notification.new"], 2)
    try:
        held = await place_hold(live[1].url, student, tutor["id"], slot_start())
        events = await listener.until_done()
    finally:
        await listener.close()
    names = [e["event"] for e in events]
    assert names == ["booking.updated", "notification.new", "booking.new", "notification.new"], names
    for pushed, stored in ((events[1], events[0]), (events[3], events[2])):
        notification = pushed["data"]["notification"]
        assert notification["kind"] == stored["event"] and notification["data"] == stored["data"]
        assert notification["data"]["booking"]["id"] == held["id"] and notification["read_at"] is None


async def test_socket_io_client_from_npm_gets_an_instant_request_on_coming_online_and_declines_it(
        live, api, make_students, node_client_dir: Path) -> None:
    """A tutor who connects while a request waits is offered it; declining reaches their tab."""
    asked, late = await make_tutor(api), await make_tutor(api)
    [student] = await make_students(1)
    for tutor in (asked, late):
        r = await api.put("/api/v1/tutors/me/instant", headers=tutor["headers"], json={"available": True})
        assert r.status_code == 200, r.text
    first = await NodeListener.start(node_client_dir, live[0].url, asked["token"], ["instant.request"], 1)
    try:
        r = await api.post("/api/v1/instant-requests", headers=student["headers"],
                           json={"subject": "mathematics", "minutes": 60})
        assert r.status_code == 201 and r.json()["offered_to"] == 1, r.text
        request = r.json()
        assert (await first.until_done())[-1]["data"]["request"]["id"] == request["id"]
    finally:
        await first.close()
    listener = await NodeListener.start(node_client_dir, live[1].url, late["token"], ["instant.declined"], 1)
    try:
        offered = (await listener.until("instant.request"))["data"]["request"]
        assert offered["id"] == request["id"] and offered["expires_at"] == request["expires_at"]
        r = await api.post(f"/api/v1/instant-requests/{request['id']}/decline", headers=late["headers"])
        assert r.status_code == 200 and r.json()["status"] == "pending", r.text
        events = await listener.until_done()
    finally:
        await listener.close()
    assert events[-1]["data"] == {"request_id": request["id"], "status": "pending"}

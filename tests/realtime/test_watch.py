"""``watch``: the snapshot, live changes, and catching up with ``since``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.realtime.conftest import get_slots, make_tutor, place_hold, slot_start

pytestmark = pytest.mark.xdist_group("live")


async def test_watch_answers_the_slots_snapshot_of_the_rest_api(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    ack = await client.watch(tutor["id"])
    rest = await get_slots(live[0].url, tutor["id"])
    assert ack["tutor_id"] == tutor["id"]
    assert ack["version"] == rest["version"]
    assert ack["slots"][5:50] == rest["slots"][5:50]
    assert {"start", "end", "status"} <= set(ack["slots"][0])


async def test_watcher_sees_a_hold_as_a_held_slot(live, api, live_client, make_students) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    client = await live_client(live[0].url)
    ack = await client.watch(tutor["id"])
    start = slot_start()
    await place_hold(live[0].url, student, tutor["id"], start)
    versions = await client.wait_versions(tutor["id"], ack["version"] + 1)
    assert versions == [ack["version"] + 1]
    [event] = client.changes_after_snapshot(tutor["id"])
    held: list[dict[str, Any]] = [c for c in event["changes"] if c["status"] == "held"]
    assert [c["start"] for c in held] == [start.isoformat().replace("+00:00", "Z")]

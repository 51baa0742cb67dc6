"""Across processes: every watcher sees every version once, in order, whoever made the change."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.realtime.conftest import make_tutor, place_hold, slot_start

pytestmark = pytest.mark.xdist_group("live")


async def test_watchers_on_a_see_holds_made_through_b_in_order_with_consecutive_versions(
        live, api, live_client, make_students) -> None:
    a, b = live
    tutor = await make_tutor(api)
    students = await make_students(6)
    watchers = [await live_client(a.url), await live_client(a.url)]
    acks = [await w.watch(tutor["id"]) for w in watchers]
    v0 = acks[0]["version"]

    for i, student in enumerate(students):
        await place_hold(b.url, student, tutor["id"], slot_start(hour=8 + i))

    for watcher in watchers:
        versions = await watcher.wait_versions(tutor["id"], v0 + len(students))
        assert versions == list(range(v0 + 1, v0 + len(students) + 1))


async def test_concurrent_changes_through_both_processes_arrive_once_each_in_version_order(
        live, api, live_client, make_students) -> None:
    a, b = live
    tutor = await make_tutor(api)
    students = await make_students(12)
    watchers = [await live_client(a.url), await live_client(b.url)]
    v0 = (await watchers[0].watch(tutor["id"]))["version"]
    await watchers[1].watch(tutor["id"])

    async def hold(i: int) -> int:
        server = (a, b)[i % 2]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            r = await client.post("/api/v1/holds", headers=students[i]["headers"],
                                  json={"tutor_id": tutor["id"], "start": slot_start(hour=i).isoformat(),
                                        "minutes": 60})
        return r.status_code

    assert set(await asyncio.gather(*(hold(i) for i in range(len(students))))) == {201}
    final = v0 + len(students)
    for watcher in watchers:
        assert await watcher.wait_versions(tutor["id"], final) == list(range(v0 + 1, final + 1))
    # The database agrees: one outbox row per version, each published.
    async with httpx.AsyncClient(base_url=a.url) as client:
        assert (await client.get(f"/api/v1/tutors/{tutor['id']}/slots")).json()["version"] == final


async def test_unwatch_stops_slot_events(live, api, live_client, make_students) -> None:
    tutor = await make_tutor(api)
    [s1, s2] = await make_students(2)
    watcher, control = await live_client(live[0].url), await live_client(live[0].url)
    v0 = (await watcher.watch(tutor["id"]))["version"]
    await control.watch(tutor["id"])
    await place_hold(live[1].url, s1, tutor["id"], slot_start(hour=9))
    await watcher.wait_versions(tutor["id"], v0 + 1)
    await watcher.call("unwatch", {"tutor_id": tutor["id"]})
    await place_hold(live[1].url, s2, tutor["id"], slot_start(hour=11))
    await control.wait_versions(tutor["id"], v0 + 2)
    await asyncio.sleep(0.2)
    assert [d["version"] for d in watcher.changes_after_snapshot(tutor["id"])] == [v0 + 1]

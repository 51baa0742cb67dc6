"""Re-watching with ``since``: the missed changes bring a watcher to exactly the database's state."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.realtime.conftest import get_slots, make_tutor, place_hold, slot_start

pytestmark = pytest.mark.xdist_group("live")


def apply(slots: list[dict[str, Any]], changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A client's view: slots keyed by start, with changes applied (``booked`` removes a slot)."""
    view = {s["start"]: {k: v for k, v in s.items() if v is not None} for s in slots}
    for change in changes:
        if change["status"] == "booked":
            view.pop(change["start"], None)
        else:
            view[change["start"]] = change
    return view


def common(view: dict[str, dict[str, Any]], rest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both views over the starts both windows cover (the default window moves with the clock)."""
    rest_view = apply(rest["slots"], [])
    lo = max(min(view), min(rest_view))
    hi = min(max(view), max(rest_view))
    pick = lambda v: {k: x for k, x in v.items() if lo <= k <= hi}  # noqa: E731
    return pick(view), pick(rest_view)


async def test_rewatch_with_since_ends_with_exactly_the_database_state(live, api, live_client,
                                                                        make_students) -> None:
    a, b = live
    tutor = await make_tutor(api)
    students = await make_students(3)
    client = await live_client(a.url)
    ack = await client.watch(tutor["id"])
    view = apply(ack["slots"], [])
    await client.disconnect()

    first = await place_hold(b.url, students[0], tutor["id"], slot_start(hour=9))
    await place_hold(b.url, students[1], tutor["id"], slot_start(hour=13))
    async with httpx.AsyncClient(base_url=b.url) as http:
        r = await http.delete(f"/api/v1/holds/{first['id']}", headers=students[0]["headers"])
        assert r.status_code == 204
    await place_hold(a.url, students[2], tutor["id"], slot_start(day=3, hour=15))

    again = await live_client(a.url)
    caught_up = await again.watch(tutor["id"], since=ack["version"])
    assert "slots" not in caught_up
    assert caught_up["since"] == ack["version"]
    assert caught_up["version"] == ack["version"] + 4
    view = apply(list(view.values()), caught_up["changes"])
    rest = await get_slots(a.url, tutor["id"])
    assert rest["version"] == caught_up["version"]
    mine, theirs = common(view, rest)
    assert mine == theirs
    assert sum(1 for s in theirs.values() if s["status"] == "held") == 2


async def test_since_equal_to_the_current_version_returns_no_changes(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    version = (await client.watch(tutor["id"]))["version"]
    assert await client.watch(tutor["id"], since=version) == {"tutor_id": tutor["id"], "version": version,
                                                              "since": version, "changes": []}


async def test_since_older_than_the_kept_history_gets_a_snapshot(live, api, live_client, make_students,
                                                                 db: asyncpg.Pool) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    client = await live_client(live[0].url)
    v0 = (await client.watch(tutor["id"]))["version"]
    await place_hold(live[0].url, student, tutor["id"], slot_start())
    await client.wait_versions(tutor["id"], v0 + 1)
    await db.execute("UPDATE outbox SET created_at = now() - interval '2 hours' WHERE tutor_id = $1",
                     __import__("uuid").UUID(tutor["id"]))
    ack = await client.watch(tutor["id"], since=v0)
    assert "slots" in ack and "changes" not in ack
    assert ack["version"] == v0 + 1


async def test_since_across_an_availability_change_gets_a_snapshot(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    v0 = (await client.watch(tutor["id"]))["version"]
    r = await api.put("/api/v1/tutors/me/availability", headers=tutor["headers"],
                      json={"rules": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)],
                            "overrides": []})
    assert r.status_code == 200
    resync = (await client.wait_for(lambda c: bool(c.of("slots.changed"))), client.of("slots.changed")[0])[1]
    assert resync["resync"] is True and resync["changes"] == []
    ack = await client.watch(tutor["id"], since=v0)
    assert ack["version"] == v0 + 1
    assert all("09:00" <= s["start"][11:16] < "17:00" for s in ack["slots"])


async def test_since_ahead_of_the_tutor_gets_a_snapshot(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    ack = await client.watch(tutor["id"], since=10_000)
    assert "slots" in ack

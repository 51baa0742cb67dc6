"""PUT/GET /tutors/me/availability: replace semantics, validation, versions and outbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest

from server.settings import Settings
from tests.server.tutors.support import make_tutor, make_user

AVAIL = "/api/v1/tutors/me/availability"

SCHEDULE = {
    "rules": [{"weekday": 0, "start": "09:00", "end": "12:00"}, {"weekday": 0, "start": "13:00", "end": "17:30"},
              {"weekday": 4, "start": "20:00", "end": "24:00"}],
    "overrides": [{"date": "2027-03-08"}, {"date": "2027-03-09", "start": "08:00", "end": "09:00"},
                  {"date": "2027-03-09", "start": "18:00", "end": "19:00"}],
}


async def put(client: httpx.AsyncClient, tutor: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return await client.put(AVAIL, headers=tutor["headers"], json=body)


async def version(db: asyncpg.Pool, tutor: dict[str, Any]) -> int:
    return int(await db.fetchval("SELECT version FROM tutor_versions WHERE tutor_id = $1", tutor["uuid"]))


async def test_put_then_get_round_trips(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    r = await put(client, tutor, SCHEDULE)
    assert r.status_code == 200, r.text
    expected = {"rules": SCHEDULE["rules"],
                "overrides": [{"date": "2027-03-08", "start": None, "end": None}, *SCHEDULE["overrides"][1:]],
                "version": 1}
    assert r.json() == expected
    assert (await client.get(AVAIL, headers=tutor["headers"])).json() == expected


async def test_output_is_sorted(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    body = {"rules": list(reversed(SCHEDULE["rules"])), "overrides": list(reversed(SCHEDULE["overrides"]))}
    out = (await put(client, tutor, body)).json()
    assert out["rules"] == SCHEDULE["rules"]
    assert [o["date"] for o in out["overrides"]] == ["2027-03-08", "2027-03-09", "2027-03-09"]


async def test_put_replaces_everything(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    await put(client, tutor, SCHEDULE)
    r = await put(client, tutor, {"rules": [{"weekday": 2, "start": "10:00", "end": "11:00"}]})
    assert r.json() == {"rules": [{"weekday": 2, "start": "10:00", "end": "11:00"}], "overrides": [], "version": 2}
    assert await db.fetchval("SELECT count(*) FROM availability_rules") == 1
    assert await db.fetchval("SELECT count(*) FROM availability_overrides") == 0


async def test_empty_body_clears_availability(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    await put(client, tutor, SCHEDULE)
    r = await client.put(AVAIL, headers=tutor["headers"])
    assert r.status_code == 200 and r.json()["rules"] == [] and r.json()["overrides"] == []


async def test_each_change_bumps_version_and_records_a_resync(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                              settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    assert await version(db, tutor) == 0
    await put(client, tutor, SCHEDULE)
    await put(client, tutor, SCHEDULE)
    assert await version(db, tutor) == 2
    rows = await db.fetch("SELECT event, room, tutor_id, version, payload FROM outbox ORDER BY id")
    assert [(r["event"], r["room"], r["tutor_id"], r["version"]) for r in rows] == [
        ("slots.changed", f"tutor:{tutor['id']}", tutor["uuid"], 1),
        ("slots.changed", f"tutor:{tutor['id']}", tutor["uuid"], 2)]
    assert json.loads(rows[1]["payload"]) == {"tutor_id": tutor["id"], "version": 2, "changes": [], "resync": True}


async def test_get_before_any_put_is_empty(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    r = await client.get(AVAIL, headers=tutor["headers"])
    assert r.json() == {"rules": [], "overrides": [], "version": 0}


async def test_availability_needs_a_profile_first(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                  settings: Settings) -> None:
    tutor = await make_user(db, settings, "tutor")
    r = await put(client, tutor, SCHEDULE)
    assert r.status_code == 409 and r.json()["error"]["code"] == "profile_required"
    assert await db.fetchval("SELECT count(*) FROM tutor_versions") == 0


async def test_concurrent_replacements_never_mix(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                 settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    bodies = [{"rules": [{"weekday": d, "start": f"{h:02d}:00", "end": f"{h + 1:02d}:00"} for d in range(7)]}
              for h in range(8)]
    responses = await asyncio.gather(*(put(client, tutor, b) for b in bodies))
    assert all(r.status_code == 200 for r in responses)
    final = (await client.get(AVAIL, headers=tutor["headers"])).json()
    assert {"rules": final["rules"]} in bodies
    assert final["version"] == 8 == await version(db, tutor)
    assert sorted(await db.fetch("SELECT version FROM outbox")) == [(v,) for v in range(1, 9)]


# --- validation -----------------------------------------------------------------------------

def rule(weekday: Any = 0, start: Any = "09:00", end: Any = "10:00") -> dict[str, Any]:
    return {"weekday": weekday, "start": start, "end": end}


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("weekday too big", {"rules": [rule(weekday=7)]}, "body.rules.0.weekday"),
    ("weekday negative", {"rules": [rule(weekday=-1)]}, "body.rules.0.weekday"),
    ("weekday as text", {"rules": [rule(weekday="1")]}, "body.rules.0.weekday"),
    ("start not HH:MM", {"rules": [rule(start="9:00")]}, "body.rules.0.start"),
    ("start minute 60", {"rules": [rule(start="09:60")]}, "body.rules.0.start"),
    ("start 24:00", {"rules": [rule(start="24:00", end="24:00")]}, "body.rules.0.start"),
    ("end 24:30", {"rules": [rule(end="24:30")]}, "body.rules.0.end"),
    ("end 25:00", {"rules": [rule(end="25:00")]}, "body.rules.0.end"),
    ("end before start", {"rules": [rule(start="10:00", end="09:00")]}, "body.rules.0.end"),
    ("empty window", {"rules": [rule(start="10:00", end="10:00")]}, "body.rules.0.end"),
    ("missing end", {"rules": [{"weekday": 0, "start": "09:00"}]}, "body.rules.0.end"),
    ("overlap", {"rules": [rule(start="09:00", end="12:00"), rule(start="11:00", end="13:00")]}, "body.rules.1"),
    ("contained overlap", {"rules": [rule(start="08:00", end="18:00"), rule(start="10:00", end="11:00"),
                                     rule(start="12:00", end="13:00")]}, "body.rules.2"),
    ("unknown rule field", {"rules": [{**rule(), "tz": "UTC"}]}, "body.rules.0.tz"),
    ("bad date", {"overrides": [{"date": "2027-02-30"}]}, "body.overrides.0.date"),
    ("date far away", {"overrides": [{"date": "9999-12-31", "start": "00:00", "end": "24:00"}]},
     "body.overrides.0.date"),
    ("only start", {"overrides": [{"date": "2027-03-08", "start": "09:00"}]}, "body.overrides.0"),
    ("override end before start", {"overrides": [{"date": "2027-03-08", "start": "12:00", "end": "09:00"}]},
     "body.overrides.0.end"),
    ("override overlap", {"overrides": [{"date": "2027-03-08", "start": "09:00", "end": "12:00"},
                                        {"date": "2027-03-08", "start": "10:00", "end": "11:00"}]},
     "body.overrides.1"),
    ("day off plus hours", {"overrides": [{"date": "2027-03-08"},
                                          {"date": "2027-03-08", "start": "10:00", "end": "11:00"}]},
     "body.overrides.1"),
    ("hours plus day off", {"overrides": [{"date": "2027-03-08", "start": "10:00", "end": "11:00"},
                                          {"date": "2027-03-08"}]}, "body.overrides.1"),
    ("rules not a list", {"rules": {"weekday": 0}}, "body.rules"),
    ("too many rules", {"rules": [rule(weekday=i % 7, start=f"{i // 7:02d}:00", end=f"{i // 7:02d}:30")
                                  for i in range(101)]}, "body.rules"),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BAD], ids=[n for n, _, _ in BAD])
async def test_bad_availability_is_422_and_changes_nothing(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                           settings: Settings, body: dict[str, Any],
                                                           field: str) -> None:
    tutor = await make_tutor(client, db, settings)
    await put(client, tutor, SCHEDULE)
    r = await put(client, tutor, body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in [d["field"] for d in error["details"]], error["details"]
    assert (await client.get(AVAIL, headers=tutor["headers"])).json()["rules"] == SCHEDULE["rules"]
    assert await version(db, tutor) == 1


async def test_windows_may_touch(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    r = await put(client, tutor, {"rules": [rule(start="09:00", end="12:00"), rule(start="12:00", end="24:00")],
                                  "overrides": [{"date": "2027-03-08", "start": "00:00", "end": "01:00"},
                                                {"date": "2027-03-08", "start": "01:00", "end": "24:00"}]})
    assert r.status_code == 200, r.text


async def test_same_hours_on_different_weekdays_do_not_overlap(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                               settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    r = await put(client, tutor, {"rules": [rule(weekday=d) for d in range(7)]})
    assert r.status_code == 200

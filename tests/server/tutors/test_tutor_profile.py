"""PUT/GET /tutors/me and GET /tutors/{id}: validation, roles, subjects, versions."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from server.bookings.holds import price_for
from server.settings import Settings
from server.tutors.schemas import lesson_price
from tests.server.tutors.support import make_tutor, make_user, profile_body

ME = "/api/v1/tutors/me"


async def test_tutor_creates_profile_and_gets_the_public_profile(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                  settings: Settings) -> None:
    tutor = await make_user(db, settings, "tutor", name="Ada Lovelace")
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(
        subjects=["Computer Science", "  mathematics ", "Mathematics"], lesson_minutes=[90, 30, 60],
        timezone="Europe/Berlin", currency="EUR", buffer_minutes=10, min_notice_minutes=120, max_advance_days=30))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": tutor["id"], "name": "Ada Lovelace", "headline": "Patient maths tutor",
        "bio": "Ten years of teaching algebra and calculus.", "subjects": ["computer-science", "mathematics"],
        "hourly_rate_cents": 6000, "currency": "EUR", "timezone": "Europe/Berlin", "lesson_minutes": [30, 60, 90],
        "min_notice_minutes": 120, "buffer_minutes": 10, "max_advance_days": 30, "rating": 0.0, "rating_count": 0,
        "trial": None, "has_avatar": False}
    assert (await client.get(ME, headers=tutor["headers"])).json() == r.json()
    assert (await client.get(f"/api/v1/tutors/{tutor['id']}")).json() == r.json()


async def test_profile_creation_creates_version_zero(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                     settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    assert await db.fetchval("SELECT version FROM tutor_versions WHERE tutor_id = $1", tutor["uuid"]) == 0
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0


async def test_second_put_replaces_the_profile_and_subjects(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                            settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, subjects=["Physics", "Chemistry"])
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(headline="Now also biology",
                                                                         subjects=["Biology"]))
    assert r.status_code == 200
    assert r.json()["headline"] == "Now also biology" and r.json()["subjects"] == ["biology"]
    assert await db.fetchval("SELECT count(*) FROM tutor_subjects") == 1


async def test_changing_slot_fields_bumps_the_version_with_a_resync(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                    settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(headline="Only the headline changed"))
    assert r.status_code == 200
    assert await db.fetchval("SELECT version FROM tutor_versions WHERE tutor_id = $1", tutor["uuid"]) == 0
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(buffer_minutes=15))
    assert r.status_code == 200
    assert await db.fetchval("SELECT version FROM tutor_versions WHERE tutor_id = $1", tutor["uuid"]) == 1
    row = await db.fetchrow("SELECT event, room, version, payload FROM outbox")
    assert (row["event"], row["room"], row["version"]) == ("slots.changed", f"tutor:{tutor['id']}", 1)


async def test_tutors_share_subject_rows(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    await make_tutor(client, db, settings, subjects=["Mathematics"])
    await make_tutor(client, db, settings, subjects=["mathematics", "Physics"])
    rows = await db.fetch("SELECT slug, name FROM subjects ORDER BY slug")
    assert [(r["slug"], r["name"]) for r in rows] == [("mathematics", "Mathematics"), ("physics", "Physics")]


async def test_concurrent_tutors_creating_the_same_new_subjects_both_succeed(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutors = [await make_user(db, settings, "tutor") for _ in range(6)]
    subjects = ["Quantum Basket Weaving", "Underwater Origami", "Zither"]
    responses = await asyncio.gather(*(
        client.put(ME, headers=t["headers"], json=profile_body(subjects=subjects[i % 2:] + subjects[:i % 2]))
        for i, t in enumerate(tutors)))
    assert [r.status_code for r in responses] == [200] * 6
    assert await db.fetchval("SELECT count(*) FROM subjects") == 3
    assert await db.fetchval("SELECT count(*) FROM tutor_subjects") == 18


async def test_get_my_profile_before_creating_it_is_404(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                        settings: Settings) -> None:
    tutor = await make_user(db, settings, "tutor")
    r = await client.get(ME, headers=tutor["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "profile_not_found"


async def test_unknown_tutor_is_404(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    for path in (f"/api/v1/tutors/{uuid.uuid4()}", "/api/v1/tutors/not-a-uuid"):
        r = await client.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_a_student_id_is_not_a_tutor(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    student = await make_user(db, settings, "student")
    r = await client.get(f"/api/v1/tutors/{student['id']}")
    assert r.status_code == 404


async def test_inactive_profile_is_hidden_from_the_public(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                          settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    await db.execute("UPDATE tutor_profiles SET is_active = false WHERE user_id = $1", tutor["uuid"])
    assert (await client.get(f"/api/v1/tutors/{tutor['id']}")).status_code == 404
    assert (await client.get(ME, headers=tutor["headers"])).status_code == 200


# --- roles ----------------------------------------------------------------------------------

TUTOR_ONLY = [("PUT", ME, profile_body()), ("GET", ME, None),
              ("PUT", ME + "/availability", {"rules": [], "overrides": []}), ("GET", ME + "/availability", None)]


@pytest.mark.parametrize(("method", "path", "body"), TUTOR_ONLY)
async def test_student_gets_403_on_tutor_endpoints(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings,
                                                   method: str, path: str, body: Any) -> None:
    student = await make_user(db, settings, "student")
    r = await client.request(method, path, headers=student["headers"], json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body"), TUTOR_ONLY)
async def test_admin_gets_403_on_tutor_endpoints(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings,
                                                 method: str, path: str, body: Any) -> None:
    admin = await make_user(db, settings, "admin")
    r = await client.request(method, path, headers=admin["headers"], json=body)
    assert r.status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), TUTOR_ONLY)
async def test_anonymous_gets_401_on_tutor_endpoints(client: httpx.AsyncClient, method: str, path: str,
                                                     body: Any) -> None:
    r = await client.request(method, path, json=body)
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"


async def test_discovery_endpoints_are_public(client: httpx.AsyncClient, db: asyncpg.Pool,
                                              settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    for path in ("/api/v1/tutors", f"/api/v1/tutors/{tutor['id']}", f"/api/v1/tutors/{tutor['id']}/slots"):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text)


# --- validation -----------------------------------------------------------------------------

BAD_FIELDS: list[tuple[str, Any]] = [
    ("headline", ""), ("headline", "x" * 201), ("headline", None), ("bio", "x" * 5001),
    ("subjects", []), ("subjects", [f"subject {i}" for i in range(11)]), ("subjects", ["!!!"]), ("subjects", "math"),
    ("subjects", [""]),
    ("hourly_rate_cents", -1), ("hourly_rate_cents", 100_000_01), ("hourly_rate_cents", "6000"),
    ("hourly_rate_cents", 60.5), ("hourly_rate_cents", True),
    ("currency", "usd"), ("currency", "US"), ("currency", "USDX"), ("currency", 840),
    ("timezone", "Mars/Olympus_Mons"), ("timezone", ""), ("timezone", "America/Nowhere"), ("timezone", "utc+2"), ("timezone", "../etc/passwd"),
    ("lesson_minutes", []), ("lesson_minutes", [10]), ("lesson_minutes", [17]), ("lesson_minutes", [245]),
    ("lesson_minutes", [30, 30]), ("lesson_minutes", [15, 20, 25, 30, 35, 40, 45, 50, 55]),
    ("lesson_minutes", ["60"]),
    ("min_notice_minutes", -1), ("min_notice_minutes", 30 * 24 * 60 + 1),
    ("buffer_minutes", -5), ("buffer_minutes", 241),
    ("max_advance_days", 0), ("max_advance_days", 366),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=[f"{f}={v!r}"[:40] for f, v in BAD_FIELDS])
async def test_bad_profile_field_is_422_naming_the_field(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                         settings: Settings, field: str, value: Any) -> None:
    tutor = await make_user(db, settings, "tutor")
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(**{field: value}))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(d["field"].startswith(f"body.{field}") for d in error["details"]), error["details"]
    assert await db.fetchval("SELECT count(*) FROM tutor_profiles") == 0


@pytest.mark.parametrize("field", ["headline", "subjects", "hourly_rate_cents", "timezone", "lesson_minutes"])
async def test_missing_required_profile_field_is_422(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                     settings: Settings, field: str) -> None:
    tutor = await make_user(db, settings, "tutor")
    body = profile_body()
    del body[field]
    r = await client.put(ME, headers=tutor["headers"], json=body)
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["error"]["details"]] == [f"body.{field}"]


async def test_unknown_profile_field_is_422(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_user(db, settings, "tutor")
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(hourly_rate=100))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "body.hourly_rate"


async def test_optional_fields_take_defaults(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_user(db, settings, "tutor")
    body = {k: v for k, v in profile_body().items()
            if k in ("headline", "subjects", "hourly_rate_cents", "timezone", "lesson_minutes")}
    r = await client.put(ME, headers=tutor["headers"], json=body)
    assert r.status_code == 200
    out = r.json()
    assert (out["bio"], out["currency"], out["min_notice_minutes"], out["buffer_minutes"],
            out["max_advance_days"]) == ("", "USD", 0, 0, 60)


async def test_boundary_values_are_accepted(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_user(db, settings, "tutor")
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(
        hourly_rate_cents=100_000_00, lesson_minutes=[15, 240], subjects=[f"s{i}" for i in range(10)],
        max_advance_days=365, buffer_minutes=240, timezone="Pacific/Chatham"))
    assert r.status_code == 200, r.text
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(hourly_rate_cents=0))
    assert r.status_code == 200


async def test_malformed_json_body_is_422(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    tutor = await make_user(db, settings, "tutor")
    r = await client.put(ME, headers={**tutor["headers"], "Content-Type": "application/json"}, content=b"{nope")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body"


@pytest.mark.parametrize(("currency", "lengths", "rate", "ok"), [
    ("USD", [30, 60], 99, True),  # 30 minutes of 99/hour: 49.5, rounded half up to 50
    ("USD", [30, 60], 98, False),
    ("USD", [60], 50, True),
    ("GBP", [60], 30, True),
    ("GBP", [60], 29, False),
    ("EUR", [15], 198, True),
    ("EUR", [15], 197, False),
    ("JPY", [30], 99, True),
    ("HUF", [60], 17499, False),
    ("XYZ", [60], 49, False),
    ("USD", [15], 0, True),
])
async def test_a_rate_under_the_minimum_charge_for_the_shortest_lesson_is_422(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings, currency: str, lengths: list[int],
        rate: int, ok: bool) -> None:
    tutor = await make_user(db, settings, "tutor")
    r = await client.put(ME, headers=tutor["headers"], json=profile_body(
        currency=currency, lesson_minutes=lengths, hourly_rate_cents=rate))
    if ok:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 422, r.text
    [detail] = r.json()["error"]["details"]
    assert detail["field"] == "body.hourly_rate_cents" and "minimum charge" in detail["message"]


def test_the_rate_check_prices_lessons_as_bookings_do() -> None:
    assert all(lesson_price(rate, minutes) == price_for(rate, minutes)
               for rate in range(0, 400, 7) for minutes in range(15, 241, 5))

"""Lesson-material limits: uploads only on confirmed bookings, per-file and per-booking quotas
that hold under concurrent requests, a bounded paginated listing, deletion by the uploader, and
a booking's files leaving the store with the booking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.settings import Settings
from tasks.housekeeping import sweep_uploads
from tests.conftest import make_settings, start_app
from tests.fixtures.bookings import hold
from tests.fixtures.integrations import book, quick_user, tutor_with_profile
from tests.fixtures.s3_store import ACCESS_KEY, SECRET_KEY
from tests.fixtures.storage import BUCKET, lesson, objects, upload

MAX_FILES = 3
MAX_BYTES = 10_000
FILE_BYTES = 4000


def _settings(s3_url: str) -> Settings:
    return make_settings(s3_endpoint_url=s3_url, s3_bucket=BUCKET, s3_access_key_id=ACCESS_KEY,
                         s3_secret_access_key=SECRET_KEY, s3_material_max_bytes=FILE_BYTES,
                         materials_max_files_per_booking=MAX_FILES, materials_max_bytes_per_booking=MAX_BYTES,
                         public_url="http://testserver")


@pytest.fixture(scope="module")
async def qapp(s3_url: str, db: asyncpg.Pool, redis: Redis) -> AsyncIterator[Starlette]:
    application, ctx = await start_app(_settings(s3_url))
    yield application
    await ctx.__aexit__(None, None, None)


@pytest.fixture
async def qc(qapp: Starlette, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=qapp), base_url="http://testserver") as c:
        yield c


async def _booking(qc: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any], str]:
    tutor = await tutor_with_profile(qc)
    student = await quick_user("student")
    booking = await book(qc, student, tutor["id"], lesson())
    return tutor, student, booking["id"]


async def _form(qc: httpx.AsyncClient, party: dict[str, Any], booking_id: str, name: str = "notes.pdf",
                size: int | None = None) -> httpx.Response:
    body: dict[str, Any] = {"filename": name, "content_type": "application/pdf"}
    if size is not None:
        body["size"] = size
    return await qc.post(f"/api/v1/bookings/{booking_id}/materials/upload", headers=party["headers"], json=body)


async def test_a_held_booking_gets_no_upload_form(qc: httpx.AsyncClient) -> None:
    tutor = await tutor_with_profile(qc)
    student = await quick_user("student")
    r = await hold(qc, student, tutor["id"], lesson())
    assert r.status_code == 201, r.text
    r = await _form(qc, student, r.json()["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "booking_not_confirmed"


async def test_concurrent_forms_never_exceed_the_file_quota(qc: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    tutor, student, booking_id = await _booking(qc)
    answers = await asyncio.gather(*(_form(qc, (tutor, student)[i % 2], booking_id, f"f{i}.pdf", 10)
                                     for i in range(12)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * MAX_FILES + [409] * (12 - MAX_FILES), [r.text for r in answers]
    refused = next(r for r in answers if r.status_code == 409).json()["error"]
    assert refused["code"] == "materials_quota_exceeded" and refused["details"]["max_files"] == MAX_FILES
    assert await db.fetchval("SELECT count(*) FROM uploads WHERE booking_id = $1", booking_id) == MAX_FILES


async def test_concurrent_declared_sizes_never_exceed_the_byte_quota(qc: httpx.AsyncClient,
                                                                     db: asyncpg.Pool) -> None:
    _, student, booking_id = await _booking(qc)
    answers = await asyncio.gather(*(_form(qc, student, booking_id, f"f{i}.pdf", 4000) for i in range(8)))
    assert sorted(r.status_code for r in answers) == [200, 200] + [409] * 6
    assert all(r.json()["max_bytes"] == 4000 for r in answers if r.status_code == 200)
    assert await db.fetchval("SELECT sum(size) FROM uploads WHERE booking_id = $1", booking_id) == 8000
    # An undeclared size gets a form for what is left, and the store holds it to that.
    r = await _form(qc, student, booking_id)
    assert r.status_code == 200 and r.json()["max_bytes"] == MAX_BYTES - 8000
    assert (await upload(r.json(), b"%PDF" + b"0" * 2500)).status_code == 400
    r = await _form(qc, student, booking_id, size=1)
    assert r.status_code == 409 and r.json()["error"]["details"]["bytes_used"] == MAX_BYTES
    # A file larger than the per-file limit is refused whatever the quota.
    _, other_student, other_booking = await _booking(qc)
    r = await _form(qc, other_student, other_booking, size=FILE_BYTES + 1)
    assert r.status_code == 422 and r.json()["error"]["code"] == "file_too_large"


async def test_a_stored_file_counts_its_real_size(qc: httpx.AsyncClient) -> None:
    _, student, booking_id = await _booking(qc)
    form = (await _form(qc, student, booking_id)).json()
    assert form["max_bytes"] == FILE_BYTES
    assert (await upload(form, b"%PDF small")).status_code == 204
    await qc.get(f"/api/v1/bookings/{booking_id}/materials", headers=student["headers"])  # sees it arrived
    r = await _form(qc, student, booking_id, size=FILE_BYTES)
    assert r.status_code == 200, r.text


async def test_the_listing_is_cursor_paginated_and_leaves_out_unused_forms(qc: httpx.AsyncClient) -> None:
    tutor, student, booking_id = await _booking(qc)
    for i in range(MAX_FILES - 1):
        form = (await _form(qc, student, booking_id, f"part {i}.pdf", 100)).json()
        assert (await upload(form, b"%PDF " + str(i).encode())).status_code == 204
    assert (await _form(qc, tutor, booking_id, "never.pdf", 100)).status_code == 200
    url = f"/api/v1/bookings/{booking_id}/materials"
    first = (await qc.get(url, headers=tutor["headers"], params={"limit": 1})).json()
    assert [i["name"] for i in first["items"]] == ["part-0.pdf"] and first["next_cursor"]
    second = (await qc.get(url, headers=tutor["headers"], params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert [i["name"] for i in second["items"]] == ["part-1.pdf"]
    assert second["items"][0]["size"] == 6 and second["items"][0]["uploaded_by"] == student["user"]["id"]
    everything = (await qc.get(url, headers=tutor["headers"])).json()
    assert [i["name"] for i in everything["items"]] == ["part-0.pdf", "part-1.pdf"]
    assert everything["next_cursor"] is None
    r = await qc.get(url, headers=tutor["headers"], params={"limit": 101})
    assert r.status_code == 422
    r = await qc.get(url, headers=tutor["headers"], params={"cursor": "nonsense"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"


async def test_only_the_uploader_deletes_a_material_and_its_file_leaves_the_store(
        qc: httpx.AsyncClient, s3_url: str, make_students: Any) -> None:
    tutor, student, booking_id = await _booking(qc)
    [stranger] = await make_students(1)
    forms = [(await _form(qc, student, booking_id, f"f{i}.pdf", 100)).json() for i in range(MAX_FILES)]
    for form in forms:
        assert (await upload(form, b"%PDF")).status_code == 204
    assert (await _form(qc, student, booking_id, size=1)).status_code == 409
    [first, *_] = (await qc.get(f"/api/v1/bookings/{booking_id}/materials", headers=tutor["headers"])).json()["items"]
    url = f"/api/v1/bookings/{booking_id}/materials/{first['id']}"
    r = await qc.delete(url, headers=tutor["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_uploader"
    assert (await qc.delete(url, headers=stranger["headers"])).status_code == 404
    assert (await qc.delete(url, headers=student["headers"])).status_code == 204
    assert first["key"] not in await objects(s3_url, f"bookings/{booking_id}/")
    assert len(await objects(s3_url, f"bookings/{booking_id}/")) == MAX_FILES - 1
    r = await qc.delete(url, headers=student["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "material_not_found"
    items = (await qc.get(f"/api/v1/bookings/{booking_id}/materials", headers=student["headers"])).json()["items"]
    assert first["id"] not in {i["id"] for i in items}
    assert (await _form(qc, student, booking_id, size=1)).status_code == 200  # the quota is free again


async def test_a_deleted_booking_takes_its_files_with_it(qc: httpx.AsyncClient, qapp: Starlette,
                                                         db: asyncpg.Pool, s3_url: str) -> None:
    _, student, booking_id = await _booking(qc)
    _, other_student, kept_booking = await _booking(qc)
    used = (await _form(qc, student, booking_id, size=100)).json()
    assert (await upload(used, b"%PDF")).status_code == 204
    assert (await _form(qc, student, booking_id, size=100)).status_code == 200  # never used
    kept = (await _form(qc, other_student, kept_booking, size=100)).json()
    assert (await upload(kept, b"%PDF")).status_code == 204
    await db.execute("DELETE FROM bookings WHERE id = $1", booking_id)
    states = await db.fetch("SELECT state, booking_id FROM uploads WHERE key LIKE $1", f"bookings/{booking_id}/%")
    assert [(r["state"], r["booking_id"]) for r in states] == [("deleting", None)] * 2

    done = await sweep_uploads(qapp.state.sessionmaker, _settings(s3_url), datetime.now(UTC))

    assert done["deleted"] == 2
    assert await objects(s3_url, f"bookings/{booking_id}/") == []
    assert await objects(s3_url, f"bookings/{kept_booking}/") == [kept["key"]]
    assert {r["state"] for r in await db.fetch("SELECT state FROM uploads WHERE key LIKE $1",
                                               f"bookings/{booking_id}/%")} == {"deleted"}


async def test_the_sweep_settles_lapsed_forms(qc: httpx.AsyncClient, qapp: Starlette, db: asyncpg.Pool,
                                              s3_url: str) -> None:
    _, student, booking_id = await _booking(qc)
    arrived = (await _form(qc, student, booking_id, "arrived.pdf", size=100)).json()
    assert (await upload(arrived, b"%PDF arrived")).status_code == 204
    never = (await _form(qc, student, booking_id, "never.pdf", size=100)).json()
    settings = _settings(s3_url)
    # Before the grace after the forms' expiry, nothing is settled.
    assert (await sweep_uploads(qapp.state.sessionmaker, settings, datetime.now(UTC)))["lapsed"] == 0
    later = datetime.now(UTC) + timedelta(seconds=settings.s3_presign_ttl_seconds
                                          + settings.uploads_orphan_grace_seconds + 1)

    assert (await sweep_uploads(qapp.state.sessionmaker, settings, later))["lapsed"] == 2

    rows = {r["key"]: r for r in await db.fetch("SELECT key, state, size FROM uploads")}
    assert rows[arrived["key"]]["state"] == "stored" and rows[arrived["key"]]["size"] == 12
    assert rows[never["key"]]["state"] == "deleted"
    assert await objects(s3_url, f"bookings/{booking_id}/") == [arrived["key"]]
    assert await sweep_uploads(qapp.state.sessionmaker, settings, later) == {"deleted": 0, "lapsed": 0}

"""Avatars and lesson materials in an S3-protocol store on 127.0.0.1 (moto's server mode with
S3's POST-policy checks, see s3_store.py): presigned uploads, limits the store enforces,
short-lived downloads, and materials only for the booking's two parties."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aioboto3
import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.integrations.storage import presign_avatar
from server.settings import Settings
from tests.conftest import make_settings, start_app
from tests.integrations.conftest import book, quick_user, tutor_with_profile
from tests.integrations.s3_store import ACCESS_KEY, SECRET_KEY, PolicyEnforcingMotoServer

BUCKET = "edustream-test"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 300


@pytest.fixture(scope="module")
async def s3_url() -> AsyncIterator[str]:
    server = PolicyEnforcingMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    await asyncio.to_thread(server.start)
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                              aws_secret_access_key=SECRET_KEY) as s3:
        await s3.create_bucket(Bucket=BUCKET)
    yield url
    await asyncio.to_thread(server.stop)


@pytest.fixture(scope="module")
async def sapp(s3_url: str, database_url: str, db: asyncpg.Pool, redis: Redis) -> AsyncIterator[Starlette]:
    settings: Settings = make_settings(s3_endpoint_url=s3_url, s3_bucket=BUCKET, s3_access_key_id=ACCESS_KEY,
                                       s3_secret_access_key=SECRET_KEY, s3_avatar_max_bytes=1000,
                                       s3_material_max_bytes=4000, public_url="http://testserver")
    application, ctx = await start_app(settings)
    yield application
    await ctx.__aexit__(None, None, None)


@pytest.fixture
async def sc(sapp: Starlette, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sapp), base_url="http://testserver") as c:
        yield c


async def upload(form: dict[str, Any], content: bytes, filename: str = "file.bin",
                 **field_overrides: str) -> httpx.Response:
    """What a browser does with the presigned form: the fields, then the file."""
    async with httpx.AsyncClient() as browser:
        return await browser.post(form["url"], data={**form["fields"], **field_overrides},
                                  files={"file": (filename, content)})


async def objects(s3_url: str, prefix: str) -> list[str]:
    async with aioboto3.Session().client("s3", endpoint_url=s3_url, region_name="us-east-1",
                                         aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY) as s3:
        page = await s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in page.get("Contents", [])]


def lesson(days: int = 2, hour: int = 10) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


async def test_an_avatar_is_uploaded_with_the_presigned_form_and_served_to_anyone(sc: httpx.AsyncClient) -> None:
    tutor = await tutor_with_profile(sc)
    r = await sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                      json={"content_type": "image/png", "size": len(PNG)})
    assert r.status_code == 200, r.text
    form = r.json()
    assert form["key"].startswith(f"avatars/{tutor['id']}/") and form["key"].endswith(".png")
    assert form["fields"]["Content-Type"] == "image/png" and form["max_bytes"] == 1000
    assert (await upload(form, PNG)).status_code == 204
    r = await sc.put("/api/v1/tutors/me/avatar", headers=tutor["headers"], json={"key": form["key"]})
    assert r.status_code == 200, r.text
    assert r.json()["url"] == f"http://testserver/api/v1/tutors/{tutor['id']}/avatar"
    r = await sc.get(f"/api/v1/tutors/{tutor['id']}/avatar")
    assert r.status_code == 302 and "X-Amz-Expires=300" in r.headers["location"]
    async with httpx.AsyncClient() as browser:
        image = await browser.get(r.headers["location"])
    assert image.status_code == 200 and image.content == PNG


async def test_the_store_rejects_an_oversize_upload(sc: httpx.AsyncClient, s3_url: str) -> None:
    tutor = await tutor_with_profile(sc)
    form = (await sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                          json={"content_type": "image/png"})).json()
    r = await upload(form, b"\x89PNG" + b"\x00" * 2000)
    assert r.status_code == 400 and "EntityTooLarge" in r.text
    assert await objects(s3_url, f"avatars/{tutor['id']}/") == []


async def test_the_store_rejects_another_content_type_or_key(sc: httpx.AsyncClient, s3_url: str) -> None:
    tutor = await tutor_with_profile(sc)
    form = (await sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                          json={"content_type": "image/png"})).json()
    r = await upload(form, b"<script>alert(1)</script>", **{"Content-Type": "text/html"})
    assert r.status_code == 403 and "$content-type" in r.text
    r = await upload(form, PNG, key=f"avatars/{tutor['id']}/../../index.html")
    assert r.status_code == 403 and "$key" in r.text
    assert [k for k in await objects(s3_url, "") if k.endswith("index.html")] == []
    assert await objects(s3_url, f"avatars/{tutor['id']}/") == []


async def test_unsupported_types_and_declared_oversize_are_refused_before_uploading(sc: httpx.AsyncClient) -> None:
    tutor = await tutor_with_profile(sc)
    r = await sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"], json={"content_type": "text/html"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_file_type"
    r = await sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                      json={"content_type": "image/png", "size": 5000})
    assert r.status_code == 422 and r.json()["error"]["details"] == {"max_bytes": 1000, "size": 5000}


async def test_an_avatar_key_must_be_your_own_finished_upload(sc: httpx.AsyncClient) -> None:
    tutor, other = await tutor_with_profile(sc), await tutor_with_profile(sc)
    form = (await sc.post("/api/v1/tutors/me/avatar/upload", headers=other["headers"],
                          json={"content_type": "image/png"})).json()
    assert (await upload(form, PNG)).status_code == 204
    r = await sc.put("/api/v1/tutors/me/avatar", headers=tutor["headers"], json={"key": form["key"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "upload_not_found"
    never = (await sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                           json={"content_type": "image/png"})).json()
    r = await sc.put("/api/v1/tutors/me/avatar", headers=tutor["headers"], json={"key": never["key"]})
    assert r.status_code == 404
    assert (await sc.get(f"/api/v1/tutors/{tutor['id']}/avatar")).status_code == 404


async def test_materials_are_shared_by_the_bookings_student_and_tutor(sc: httpx.AsyncClient) -> None:
    tutor = await tutor_with_profile(sc)
    student = await quick_user("student")
    booking = await book(sc, student, tutor["id"], lesson())
    r = await sc.post(f"/api/v1/bookings/{booking['id']}/materials/upload", headers=student["headers"],
                      json={"filename": "Homework week 3 (draft).pdf", "content_type": "application/pdf"})
    assert r.status_code == 200, r.text
    form = r.json()
    assert form["key"].startswith(f"bookings/{booking['id']}/") and form["key"].endswith("/Homework-week-3-draft-.pdf")
    assert (await upload(form, b"%PDF-1.7 homework")).status_code == 204
    for party in (tutor, student):
        r = await sc.get(f"/api/v1/bookings/{booking['id']}/materials", headers=party["headers"])
        assert r.status_code == 200, r.text
        [item] = r.json()["items"]
        assert item["name"] == "Homework-week-3-draft-.pdf" and item["size"] == 17
        async with httpx.AsyncClient() as browser:
            download = await browser.get(item["download_url"])
        assert download.status_code == 200 and download.content == b"%PDF-1.7 homework"
        assert download.headers["content-disposition"] == 'attachment; filename="Homework-week-3-draft-.pdf"'


async def test_another_user_cannot_see_or_add_materials(sc: httpx.AsyncClient, make_students: Any) -> None:
    tutor, other_tutor = await tutor_with_profile(sc), await tutor_with_profile(sc)
    student = await quick_user("student")
    [stranger] = await make_students(1)
    booking = await book(sc, student, tutor["id"], lesson())
    form = (await sc.post(f"/api/v1/bookings/{booking['id']}/materials/upload", headers=tutor["headers"],
                          json={"filename": "notes.txt", "content_type": "text/plain"})).json()
    assert (await upload(form, b"secret notes")).status_code == 204
    for outsider in (stranger, other_tutor):
        r = await sc.get(f"/api/v1/bookings/{booking['id']}/materials", headers=outsider["headers"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await sc.post(f"/api/v1/bookings/{booking['id']}/materials/upload", headers=outsider["headers"],
                          json={"filename": "x.txt", "content_type": "text/plain"})
        assert r.status_code == 404


async def test_materials_oversize_and_wrong_type_are_rejected(sc: httpx.AsyncClient, s3_url: str) -> None:
    tutor = await tutor_with_profile(sc)
    student = await quick_user("student")
    booking = await book(sc, student, tutor["id"], lesson())
    r = await sc.post(f"/api/v1/bookings/{booking['id']}/materials/upload", headers=student["headers"],
                      json={"filename": "run.sh", "content_type": "application/x-sh"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_file_type"
    form = (await sc.post(f"/api/v1/bookings/{booking['id']}/materials/upload", headers=student["headers"],
                          json={"filename": "big.pdf", "content_type": "application/pdf"})).json()
    r = await upload(form, b"%PDF" + b"0" * 5000)
    assert r.status_code == 400 and "EntityTooLarge" in r.text
    assert await objects(s3_url, f"bookings/{booking['id']}/") == []


async def test_materials_cannot_be_added_to_a_cancelled_booking(sc: httpx.AsyncClient) -> None:
    tutor = await tutor_with_profile(sc)
    student = await quick_user("student")
    booking = await book(sc, student, tutor["id"], lesson())
    await sc.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=tutor["headers"], json={})
    r = await sc.post(f"/api/v1/bookings/{booking['id']}/materials/upload", headers=student["headers"],
                      json={"filename": "a.pdf", "content_type": "application/pdf"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "booking_closed"


async def test_without_storage_settings_uploads_say_so(client: httpx.AsyncClient) -> None:
    tutor = await tutor_with_profile(client)
    r = await client.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                          json={"content_type": "image/png"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "storage_not_configured"


async def test_presigned_urls_use_the_public_address_of_the_store(s3_url: str) -> None:
    settings = make_settings(s3_endpoint_url="http://minio:9000", s3_public_endpoint_url=s3_url, s3_bucket=BUCKET,
                             s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SECRET_KEY)
    form = await presign_avatar(settings, uuid.uuid4(), "image/png", None)
    assert form.url == f"{s3_url}/{BUCKET}"
    async with httpx.AsyncClient() as browser:  # the signature holds for the public host
        r = await browser.post(form.url, data=form.fields, files={"file": ("a.png", PNG)})
    assert r.status_code == 204

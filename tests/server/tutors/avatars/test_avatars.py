"""Avatars in an S3-protocol store on 127.0.0.1 (tests/fixtures/storage.py): presigned
uploads, limits the store enforces, served to anyone through short-lived URLs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from starlette.applications import Starlette

from server.providers import storage
from tasks.housekeeping import sweep_uploads
from tests.conftest import make_settings
from tests.fixtures.integrations import tutor_with_profile
from tests.fixtures.s3_store import ACCESS_KEY, SECRET_KEY
from tests.fixtures.storage import BUCKET, PNG, objects, upload


async def test_an_avatar_is_uploaded_with_the_presigned_form_and_served_to_anyone(sc: httpx.AsyncClient) -> None:
    tutor = await tutor_with_profile(sc)
    assert (await sc.get(f"/api/v1/tutors/{tutor['id']}")).json()["has_avatar"] is False
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
    # Search cards and the tutor page show the image only for tutors who have one.
    assert (await sc.get(f"/api/v1/tutors/{tutor['id']}")).json()["has_avatar"] is True
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


async def test_without_storage_settings_uploads_say_so(client: httpx.AsyncClient) -> None:
    tutor = await tutor_with_profile(client)
    r = await client.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                          json={"content_type": "image/png"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "feature_disabled"


async def test_presigned_urls_use_the_public_address_of_the_store(s3_url: str) -> None:
    settings = make_settings(s3_endpoint_url="http://minio:9000", s3_public_endpoint_url=s3_url, s3_bucket=BUCKET,
                             s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SECRET_KEY)
    form = await storage.presign_upload(settings, f"avatars/{uuid.uuid4()}/a.png", "image/png", 1000)
    assert form.url == f"{s3_url}/{BUCKET}"
    async with httpx.AsyncClient() as browser:  # the signature holds for the public host
        r = await browser.post(form.url, data=form.fields, files={"file": ("a.png", PNG)})
    assert r.status_code == 204


async def _uploaded_avatar(sc: httpx.AsyncClient, tutor: dict) -> str:
    form = (await sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                          json={"content_type": "image/png"})).json()
    assert (await upload(form, PNG)).status_code == 204
    return str(form["key"])


async def test_a_replaced_avatar_and_uploads_never_used_leave_the_store(
        sc: httpx.AsyncClient, sapp: Starlette, s3_url: str, db: asyncpg.Pool) -> None:
    tutor = await tutor_with_profile(sc)
    first, second, unused = [await _uploaded_avatar(sc, tutor) for _ in range(3)]
    for key in (first, second):
        r = await sc.put("/api/v1/tutors/me/avatar", headers=tutor["headers"], json={"key": key})
        assert r.status_code == 200, r.text
    assert (await sc.put("/api/v1/tutors/me/avatar", headers=tutor["headers"], json={"key": first})).status_code == 404
    settings = make_settings(s3_endpoint_url=s3_url, s3_bucket=BUCKET, s3_access_key_id=ACCESS_KEY,
                             s3_secret_access_key=SECRET_KEY)
    later = datetime.now(UTC) + timedelta(seconds=settings.s3_presign_ttl_seconds
                                          + settings.uploads_orphan_grace_seconds + 1)

    assert await sweep_uploads(sapp.state.sessionmaker, settings, later) == {"deleted": 1, "lapsed": 1}

    assert await objects(s3_url, f"avatars/{tutor['id']}/") == [second]
    states = {r["key"]: r["state"] for r in await db.fetch("SELECT key, state FROM uploads")}
    assert states == {first: "deleted", second: "stored", unused: "deleted"}
    assert (await sc.get(f"/api/v1/tutors/{tutor['id']}/avatar")).status_code == 302


async def test_concurrent_avatar_forms_stop_at_the_open_form_cap(sc: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    tutor = await tutor_with_profile(sc)
    cap = make_settings().avatars_max_open_forms
    answers = await asyncio.gather(*(sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"],
                                             json={"content_type": "image/png"}) for _ in range(cap + 6)))
    assert sorted(r.status_code for r in answers) == [200] * cap + [409] * 6
    refused = next(r for r in answers if r.status_code == 409).json()["error"]
    assert refused["code"] == "too_many_upload_forms" and refused["details"]["max_open_forms"] == cap
    assert await db.fetchval("SELECT count(*) FROM uploads WHERE kind = 'avatar'") == cap
    # A lapsed form no longer counts.
    await db.execute("UPDATE uploads SET expires_at = now() - interval '1 second'")
    r = await sc.post("/api/v1/tutors/me/avatar/upload", headers=tutor["headers"], json={"content_type": "image/png"})
    assert r.status_code == 200, r.text

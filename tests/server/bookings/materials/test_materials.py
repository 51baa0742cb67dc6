"""Lesson materials in an S3-protocol store on 127.0.0.1 (tests/fixtures/storage.py): only the
booking's two parties may upload, list and download them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.integrations import book, quick_user, tutor_with_profile
from tests.fixtures.storage import lesson, objects, upload


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

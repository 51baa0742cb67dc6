"""Connecting Google Calendar through Google's (fake) consent, and files through the S3 store:
a tutor's photo and a lesson's materials, done in the browser as a person does them.

Its own API process runs with Google (the local fake, tests/fakes/google.py) and the file store
(moto's S3 server with S3's POST-policy checks, tests/fixtures/s3_store.py) configured — the
package's platform has neither — and its own Next.js server points at it. Payments use the test
provider.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aioboto3
import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.async_api import Browser, Page, expect

from server.db import libpq_url
from server.settings import Settings
from tests.browser.bookings import confirmed_booking
from tests.browser.conftest import PASSWORD, NextServer, new_page, problems_of, screenshot, sign_in
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS
from tests.browser.test_accessibility import violations
from tests.fakes import google as fg
from tests.fakes.google import FakeGoogle, Identity
from tests.fixtures.s3_store import ACCESS_KEY, SECRET_KEY, PolicyEnforcingMotoServer
from tests.helpers import register, unique_email
from tests.realtime.conftest import LiveServer, free_port

pytestmark = pytest.mark.xdist_group("browser")

BUCKET = "edustream-browser"


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FilesPlatform:
    api: LiveServer
    web: NextServer
    google: FakeGoogle


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real, decodable PNG of one colour (the page must be able to show it)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
async def files_platform(frontend_build: Path, settings: Settings,
                         tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FilesPlatform]:
    google = await FakeGoogle().start()
    store = PolicyEnforcingMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    await asyncio.to_thread(store.start)
    host, port = store.get_host_and_port()
    s3_url = f"http://{host}:{port}"
    async with aioboto3.Session().client("s3", endpoint_url=s3_url, region_name="us-east-1",
                                         aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY) as s3:
        await s3.create_bucket(Bucket=BUCKET)
    log_dir = tmp_path_factory.mktemp("browser-files-logs")
    web_port, api_port = free_port(), free_port()
    api = LiveServer("browser-files", settings, log_dir, port=api_port, extra_env={
        "CORS_ORIGINS": f"http://127.0.0.1:{web_port},http://localhost:{web_port}",
        "PUBLIC_URL": f"http://127.0.0.1:{api_port}", "FRONTEND_URL": f"http://127.0.0.1:{web_port}",
        "PAYMENTS_TEST_PROVIDER": "true", "STRIPE_SECRET_KEY": "", "STRIPE_PUBLISHABLE_KEY": "",
        "HOLD_REHOLD_COOLDOWN_SECONDS": "0",
        "GOOGLE_CLIENT_ID": fg.CLIENT_ID, "GOOGLE_CLIENT_SECRET": fg.CLIENT_SECRET,
        "GOOGLE_DISCOVERY_URL": google.discovery_url, "GOOGLE_CALENDAR_API_BASE": google.calendar_base,
        "INTEGRATIONS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "S3_ENDPOINT_URL": s3_url, "S3_BUCKET": BUCKET, "S3_ACCESS_KEY_ID": ACCESS_KEY,
        "S3_SECRET_ACCESS_KEY": SECRET_KEY})
    web = NextServer("", log_dir / "next.log", port=web_port)
    try:
        await api.start()
        web.api_url = api.url
        await web.start()
        yield FilesPlatform(api, web, google)
    finally:
        await web.stop()
        await api.stop()
        await google.stop()
        await asyncio.to_thread(store.stop)


@dataclass
class Pair:
    tutor: dict
    student: dict
    tutor_page: Page
    student_page: Page


@pytest.fixture
async def pair(files_platform: FilesPlatform, browser: Browser, settings: Settings) -> AsyncIterator[Pair]:
    """A tutor (London, weekly hours) and a student, each signed in in a browser of their own.

    The database is shared with the package's other browser tests, whose search tests list the
    cast's tutors only: the tutor made here leaves the listing when the test ends."""
    async with httpx.AsyncClient(base_url=files_platform.api.url, timeout=30) as api:
        tutor = await register(api, role="tutor", email=unique_email("files-tutor"), name="Priya Raman",
                               password=PASSWORD)
        api.cookies.clear()
        student = await register(api, role="student", email=unique_email("files-student"), name="Tom Becker",
                                 password=PASSWORD)
        api.cookies.clear()
        r = await api.put("/api/v1/tutors/me", headers=tutor["headers"], json={
            "headline": "Piano theory, from scales to harmony", "bio": "Conservatoire-trained.",
            "subjects": ["Music"], "hourly_rate_cents": 4000, "currency": "GBP", "timezone": "Europe/London",
            "lesson_minutes": [60], "min_notice_minutes": 60, "buffer_minutes": 0, "max_advance_days": 60})
        assert r.status_code == 200, r.text
        r = await api.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
            "rules": [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(7)], "overrides": []})
        assert r.status_code == 200, r.text
    pages = await asyncio.gather(new_page(browser), new_page(browser))
    for page, person in zip(pages, (tutor, student), strict=True):
        await sign_in(page, files_platform.web.url, person["user"]["email"], PASSWORD)
    try:
        yield Pair(tutor, student, *pages)
    finally:
        conn = await asyncpg.connect(libpq_url(settings.database_url))
        try:
            await conn.execute("UPDATE tutor_profiles SET is_active = false WHERE user_id = $1",
                               uuid.UUID(tutor["user"]["id"]))
        finally:
            await conn.close()
    for page in pages:
        assert not problems_of(page).errors, problems_of(page).errors
        await page.context.close()


async def test_a_tutor_connects_google_calendar_through_consent_and_disconnects(
        files_platform: FilesPlatform, pair: Pair) -> None:
    page, google = pair.tutor_page, files_platform.google
    google.next_identity = Identity(f"g-{pair.tutor['user']['id'][:8]}", "priya.calendar@example.com")
    await page.goto(f"{files_platform.web.url}/settings")
    section = page.get_by_test_id("settings-calendar")
    await expect(section.get_by_test_id("calendar-state")).to_have_attribute("data-state", "disconnected",
                                                                            timeout=SLOW_UI_TIMEOUT_MS)
    # Our API → Google's consent (the fake approves as next_identity) → our callback → back here.
    await section.get_by_test_id("calendar-connect").click()
    await expect(page).to_have_url(f"{files_platform.web.url}/settings", timeout=SLOW_UI_TIMEOUT_MS)
    state = section.get_by_test_id("calendar-state")
    await expect(state).to_have_attribute("data-state", "connected", timeout=SLOW_UI_TIMEOUT_MS)
    await expect(state).to_contain_text("priya.calendar@example.com")
    await expect(page.get_by_text("Google Calendar connected")).to_be_visible(timeout=UI_TIMEOUT_MS)
    [consent] = [a for a in google.authorizations if a.get("client_id") == fg.CLIENT_ID][-1:]
    assert "https://www.googleapis.com/auth/calendar.events" in consent["scope"].split()
    await screenshot(page, "settings-calendar-connected", full_page=False)
    assert await violations(page) == []

    async with httpx.AsyncClient(base_url=files_platform.api.url, timeout=30) as api:
        r = await api.get("/api/v1/integrations", headers=pair.tutor["headers"])
        assert r.json()["google_calendar"]["connected"] is True
        assert r.json()["google_calendar"]["account_email"] == "priya.calendar@example.com"
        # Busy time in Google blocks the slots it overlaps once synced ("Sync busy times now").
        day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
        google.busy["priya.calendar@example.com"] = [(z(day), z(day + timedelta(hours=2)))]
        await section.get_by_test_id("calendar-sync").click()
        await expect(page.get_by_text("1 busy time blocks your slots.")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
        r = await api.get(f"/api/v1/tutors/{pair.tutor['user']['id']}/slots",
                          params={"from": z(day - timedelta(hours=2)), "to": z(day + timedelta(hours=4))})
        starts = {slot["start"] for slot in r.json()["slots"]}
        assert z(day) not in starts and z(day + timedelta(hours=1)) not in starts, starts
        assert {z(day - timedelta(hours=1)), z(day + timedelta(hours=2))} <= starts, starts
        revoked_before = set(google.revoked)
        await section.get_by_test_id("calendar-disconnect").click()
        await expect(state).to_have_attribute("data-state", "disconnected", timeout=SLOW_UI_TIMEOUT_MS)
        r = await api.get("/api/v1/integrations", headers=pair.tutor["headers"])
        assert r.json()["google_calendar"]["connected"] is False
    assert google.revoked - revoked_before, "disconnecting did not revoke the token at Google"


async def test_a_tutor_uploads_a_photo_that_students_see(files_platform: FilesPlatform, pair: Pair) -> None:
    page, tutor_id = pair.tutor_page, pair.tutor["user"]["id"]
    photo = png(64, 64, (220, 80, 40))
    await page.goto(f"{files_platform.web.url}/settings")
    await page.get_by_test_id("avatar-file").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": photo})
    await expect(page.get_by_text("Photo updated")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    await screenshot(page, "settings-avatar", full_page=False)

    # The API serves what was uploaded (through the store), and the tutor's profile says so.
    async with httpx.AsyncClient(base_url=files_platform.api.url, timeout=30, follow_redirects=True) as api:
        r = await api.get(f"/api/v1/tutors/{tutor_id}/avatar")
        assert r.status_code == 200 and r.content == photo
        assert (await api.get(f"/api/v1/tutors/{tutor_id}")).json()["has_avatar"] is True

    # A student sees the photo, decoded, on the tutor's page.
    student = pair.student_page
    await student.goto(f"{files_platform.web.url}/tutors/{tutor_id}")
    image = student.locator(f'img[src*="/api/v1/tutors/{tutor_id}/avatar"]').first
    await expect(image).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    # Decoded, not a broken-image box: the store served the PNG to the browser.
    await student.wait_for_function(
        "path => [...document.images].some(i => i.src.includes(path) && i.complete && i.naturalWidth === 64)",
        arg=f"/api/v1/tutors/{tutor_id}/avatar", timeout=UI_TIMEOUT_MS)
    await screenshot(student, "tutor-page-with-photo", full_page=False)


async def test_lesson_materials_are_shared_both_ways_and_removed_by_their_uploader(
        files_platform: FilesPlatform, pair: Pair) -> None:
    async with httpx.AsyncClient(base_url=files_platform.api.url, timeout=30) as api:
        booking = await confirmed_booking(api, pair.student["headers"], pair.tutor["user"]["id"], days=3)
    url = f"{files_platform.web.url}/bookings/{booking['id']}"
    worksheet = b"%PDF-1.4\n% worksheet for the first lesson\n" + bytes(range(256)) * 8
    tutor, student = pair.tutor_page, pair.student_page

    await tutor.goto(url)
    card = tutor.get_by_test_id("booking-materials")
    await expect(card).to_contain_text("No materials shared yet", timeout=SLOW_UI_TIMEOUT_MS)
    await card.get_by_test_id("material-file").set_input_files(
        {"name": "scales-worksheet.pdf", "mimeType": "application/pdf", "buffer": worksheet})
    await expect(card.get_by_test_id("material")).to_have_count(1, timeout=SLOW_UI_TIMEOUT_MS)
    await expect(card.get_by_test_id("material")).to_contain_text("scales-worksheet.pdf")
    await screenshot(tutor, "booking-materials-shared", full_page=False)

    # The student sees it and downloads exactly those bytes (the link is the store's, presigned).
    await student.goto(url)
    shared = student.get_by_test_id("booking-materials").get_by_test_id("material")
    await expect(shared).to_have_count(1, timeout=SLOW_UI_TIMEOUT_MS)
    await expect(shared).to_contain_text("the tutor")
    await expect(shared.get_by_role("button", name="Remove scales-worksheet.pdf")).to_have_count(0)
    href = await shared.get_by_role("link", name="scales-worksheet.pdf").get_attribute("href")
    assert href
    async with httpx.AsyncClient(timeout=30) as plain:
        got = await plain.get(href)
    assert got.status_code == 200 and got.content == worksheet

    # The student shares one back; each sees both; the tutor removes theirs.
    notes = b"Questions for next time:\n1. Why does the minor scale have three forms?\n"
    await student.get_by_test_id("material-file").set_input_files(
        {"name": "questions.txt", "mimeType": "text/plain", "buffer": notes})
    await expect(shared).to_have_count(2, timeout=SLOW_UI_TIMEOUT_MS)
    await tutor.reload()
    await expect(card.get_by_test_id("material")).to_have_count(2, timeout=SLOW_UI_TIMEOUT_MS)
    await card.get_by_role("button", name="Remove scales-worksheet.pdf").click()
    await expect(card.get_by_test_id("material")).to_have_count(1, timeout=SLOW_UI_TIMEOUT_MS)
    await expect(card.get_by_test_id("material")).to_contain_text("questions.txt")
    assert await violations(tutor) == []  # axe A/AA, with the materials card and its controls
    async with httpx.AsyncClient(base_url=files_platform.api.url, timeout=30) as api:
        r = await api.get(f"/api/v1/bookings/{booking['id']}/materials", headers=pair.student["headers"])
        [left] = r.json()["items"]
        assert left["name"] == "questions.txt" and left["uploaded_by"] == pair.student["user"]["id"]
        assert (await api.get(left["download_url"])).content == notes

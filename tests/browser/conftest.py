"""Browser-test fixtures: the whole platform as it runs for real, driven by headless Chromium.

For the ``tests/browser`` package (all of it runs on one xdist worker, ``xdist_group("browser")``):
an API process (``uvicorn edustream.asgi:app_factory``, REST + ``/live``) with a short hold TTL, a
taskiq worker and scheduler (the hold-expiry sweep publishes lapsed holds), and the Next.js
production server pointed at the API with ``EDUSTREAM_API_URL``; everything on 127.0.0.1 so the
API's cookies are same-site for the pages. One tutor with weekly hours and two students are made
through the API; three browser contexts (students A and B, the tutor) are signed in through the
login form once and reused by the tests.

Chromium is Debian's (``/usr/bin/chromium``) driven by PyPI ``playwright``; without it the tests
fail on CI (``CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, async_playwright, expect
from redis.asyncio import Redis

from server.db import libpq_url
from server.settings import PROJECT_ROOT, Settings
from tests.browser.frontend import CHROMIUM, FRONTEND, FrontendUnavailable, ensure_built, in_ci, node_env
from tests.browser.pages import SLOW_UI_TIMEOUT_MS
from tests.helpers import register, unique_email
from tests.realtime.conftest import LiveServer, free_port
from tests.tasks.conftest import Jobs

HOLD_TTL_SECONDS = 8
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
PHONE_VIEWPORT = {"width": 390, "height": 844}
TIMEZONE = "Europe/London"
PASSWORD = "browser-test-password"


def _unavailable(message: str) -> None:
    """Fail on CI (a missing browser must not pass silently); skip with the reason elsewhere."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


# --- processes ------------------------------------------------------------------------------


@dataclass
class NextServer:
    """``next start`` (run by node directly, so the PID is the server's) on 127.0.0.1."""

    api_url: str
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {**node_env(), "EDUSTREAM_API_URL": self.api_url, "PORT": str(self.port), "NODE_ENV": "production",
               **self.extra_env}
        with open(self.log_path, "ab") as log:  # noqa: ASYNC230  (spawning only)
            self.proc = subprocess.Popen(  # noqa: ASYNC220
                ["node", "node_modules/next/dist/bin/next", "start", "-p", str(self.port), "-H", "127.0.0.1"],
                cwd=FRONTEND, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"next start exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(f"{self.url}/runtime-config.js", timeout=2)
                    if r.status_code == 200 and self.api_url in r.text:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"next start did not answer within 60 s:\n{self.log()[-3000:]}")
                await asyncio.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        for _ in range(100):
            if self.proc.poll() is not None:
                return
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@dataclass
class Platform:
    """The running API, jobs and web server of the browser tests."""

    api: LiveServer
    jobs: Jobs
    web: NextServer

    @property
    def api_url(self) -> str:
        return self.api.url

    @property
    def web_url(self) -> str:
        return self.web.url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; fails on CI and skips elsewhere when it is not installed."""
    if not CHROMIUM.exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's `chromium` "
                     "package (apt-get install -y chromium); `playwright install` is not used")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
async def frontend_build(chromium_path: str) -> Path:
    """The production build of ``frontend/``, made (``npm ci``, ``npm run build``) when stale."""
    try:
        await asyncio.to_thread(ensure_built)
    except FrontendUnavailable as exc:
        if "not on PATH" in str(exc):
            _unavailable(str(exc))
        pytest.fail(str(exc), pytrace=False)
    return FRONTEND


async def _empty_database(database_url: str, redis: Redis) -> None:
    # The worker's database holds what earlier test modules left; the search page should show ours.
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    await redis.flushdb()


@pytest.fixture(scope="package")
async def platform(frontend_build: Path, database_url: str, settings: Settings, redis: Redis,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """API + worker + scheduler + Next.js, on this worker's (emptied) database and Redis.

    Deliberately not built on the ``db``/``app`` fixtures: their per-test cleaner would empty
    the tables and flush the task stream under the running processes between tests.
    """
    await _empty_database(database_url, redis)
    log_dir = tmp_path_factory.mktemp("browser-logs")
    # The live channel of this test worker, as tests/realtime and tests/tasks use (Jobs and
    # LiveServer set it): API processes those packages leave running on this database relay
    # outbox stragglers, ours included, and must publish them where our API listens.
    jobs = Jobs(settings, log_dir, {"HOLD_TTL_SECONDS": str(HOLD_TTL_SECONDS)})
    web_port = free_port()
    api = LiveServer("browser", settings, log_dir, extra_env={
        "HOLD_TTL_SECONDS": str(HOLD_TTL_SECONDS), "TASK_QUEUE_NAME": jobs.queue,
        "CORS_ORIGINS": f"http://127.0.0.1:{web_port},http://localhost:{web_port}",
        "PAYMENTS_TEST_PROVIDER": "true", "STRIPE_SECRET_KEY": "", "STRIPE_PUBLISHABLE_KEY": "",
        # Tests hold the earliest open slot again right after releasing it (one student, one tutor):
        # the anti-hoarding re-hold cooldown (tested in tests/server/bookings) would refuse that.
        "HOLD_REHOLD_COOLDOWN_SECONDS": "0"})
    web = NextServer("", log_dir / "next.log", port=web_port)
    try:
        jobs.start_worker()
        jobs.start_scheduler()
        await api.start()
        web.api_url = api.url
        await asyncio.gather(web.start(), jobs.ready(redis))
        yield Platform(api, jobs, web)
    finally:
        await web.stop()
        await api.stop()
        await jobs.stop()


# --- people ---------------------------------------------------------------------------------


@dataclass
class Person:
    """An account made through the API, and (for signed-in contexts) its browser page."""

    id: str
    email: str
    name: str
    role: str
    headers: dict[str, str]
    page: Page | None = None

    @property
    def p(self) -> Page:
        assert self.page is not None, f"{self.name} has no page"
        return self.page


@dataclass
class Cast:
    """The people of the browser tests: one tutor with weekly hours, two students."""

    tutor: Person
    student_a: Person
    student_b: Person
    other_tutors: list[Person]


async def _person(api: httpx.AsyncClient, role: str, name: str) -> Person:
    account = await register(api, role=role, email=unique_email(name.split()[0].lower()), name=name,
                             password=PASSWORD)
    user = account["user"]
    return Person(user["id"], user["email"], name, role, account["headers"])


async def _profile(api: httpx.AsyncClient, tutor: Person, **fields: Any) -> None:
    body = {"headline": "", "bio": "", "subjects": ["mathematics"], "hourly_rate_cents": 4500, "currency": "GBP",
            "timezone": TIMEZONE, "lesson_minutes": [60], "min_notice_minutes": 60, "buffer_minutes": 0,
            "max_advance_days": 60, **fields}
    r = await api.put("/api/v1/tutors/me", headers=tutor.headers, json=body)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="package")
async def cast(platform: Platform) -> Cast:
    """A tutor teaching every day 08:00–20:00 London time, two more tutors for search, two students."""
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        tutor, daniel, haruto, student_a, student_b = await asyncio.gather(
            _person(api, "tutor", "Amelia Hart"), _person(api, "tutor", "Daniel Okafor"),
            _person(api, "tutor", "Haruto Sato"), _person(api, "student", "Sam Taylor"),
            _person(api, "student", "Maya Patel"))
        await _profile(api, tutor, headline="Maths and physics that finally click",
                       bio="Ten years of A-level and university-entrance teaching.\nPatient, structured, exam-focused.",
                       subjects=["Mathematics", "Physics"], hourly_rate_cents=4500, lesson_minutes=[60, 90])
        await _profile(api, daniel, headline="Organic chemistry without the tears", subjects=["Chemistry"],
                       hourly_rate_cents=3800, timezone="Europe/Paris")
        await _profile(api, haruto, headline="Python and algorithms for beginners", subjects=["Programming"],
                       hourly_rate_cents=5200, currency="USD", timezone="Asia/Tokyo")
        r = await api.put("/api/v1/tutors/me/availability", headers=tutor.headers, json={
            "rules": [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(7)], "overrides": []})
        assert r.status_code == 200, r.text
    return Cast(tutor, student_a, student_b, [daniel, haruto])


# --- browser --------------------------------------------------------------------------------


@pytest.fixture(scope="package")
async def playwright_driver(chromium_path: str) -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
async def browser(playwright_driver: Playwright, chromium_path: str) -> AsyncIterator[Browser]:
    """Headless Debian Chromium (never a downloaded one)."""
    instance = await playwright_driver.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield instance
    await instance.close()


@dataclass
class PageProblems:
    """Uncaught errors in a page (a broken page must fail the test, not just look odd)."""

    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def on_error(self, exc: Exception) -> None:
        self.errors.append(str(exc))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(message.text)


PROBLEMS: dict[int, PageProblems] = {}


async def new_page(browser: Browser, **context_options: Any) -> Page:
    """A page in a fresh context (own cookies), London time, desktop size unless told."""
    options: dict[str, Any] = {"viewport": VIEWPORT, "timezone_id": TIMEZONE, "locale": "en-GB"}
    options.update(context_options)
    context: BrowserContext = await browser.new_context(**options)
    context.set_default_timeout(SLOW_UI_TIMEOUT_MS)
    page = await context.new_page()
    problems = PageProblems()
    page.on("pageerror", problems.on_error)
    page.on("console", problems.on_console)
    PROBLEMS[id(page)] = problems
    return page


def problems_of(page: Page) -> PageProblems:
    return PROBLEMS.setdefault(id(page), PageProblems())


async def sign_in(page: Page, web_url: str, email: str, password: str) -> None:
    """Through the login form, as a person would; waits until the header shows the user."""
    await page.goto(f"{web_url}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("current-user-name")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)


@pytest.fixture(scope="package")
async def signed_in(browser: Browser, platform: Platform, cast: Cast) -> AsyncIterator[Cast]:
    """Students A and B and the tutor, each signed in in a context of their own."""
    people = (cast.student_a, cast.student_b, cast.tutor)
    pages = await asyncio.gather(*(new_page(browser) for _ in people))
    for person, page in zip(people, pages, strict=True):
        person.page = page
    await asyncio.gather(*(sign_in(p.p, platform.web_url, p.email, PASSWORD) for p in people))
    yield cast
    for person in people:
        await person.p.context.close()
        person.page = None


@pytest.fixture
async def anonymous(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A signed-out visitor's page, closed after the test (screenshot kept on failure)."""
    page = await new_page(browser)
    yield page
    await _shoot_on_failure(request, {"anonymous": page})
    await page.context.close()


@pytest.fixture
async def phone(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A signed-out visitor on a phone-sized touch screen."""
    page = await new_page(browser, viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True, device_scale_factor=2)
    yield page
    await _shoot_on_failure(request, {"phone": page})
    await page.context.close()


@pytest.fixture
async def people(signed_in: Cast, request: pytest.FixtureRequest) -> AsyncIterator[Cast]:
    """The signed-in cast; fails the test on uncaught page errors, screenshots on failure."""
    pages = {"a": signed_in.student_a.p, "b": signed_in.student_b.p, "tutor": signed_in.tutor.p}
    for page in pages.values():
        problems_of(page).errors.clear()
        problems_of(page).console.clear()
    yield signed_in
    await _shoot_on_failure(request, pages)
    errors = {name: problems_of(page).errors for name, page in pages.items() if problems_of(page).errors}
    assert not errors, f"uncaught errors in the pages: {errors}"


async def _shoot_on_failure(request: pytest.FixtureRequest, pages: dict[str, Page]) -> None:
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, page in pages.items():
        with contextlib.suppress(Exception):
            await page.screenshot(path=SCREENSHOTS / f"failed-{request.node.name}-{name}.png", full_page=True)
        problems = problems_of(page)
        if problems.errors or problems.console:
            print(f"[{name}] page errors: {problems.errors}; console errors: {problems.console[-20:]}")


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save ``test-output/screenshots/<name>.png`` (fonts loaded, animations settled)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.evaluate("document.fonts.ready.then(() => true)")
    await page.screenshot(path=path, full_page=full_page, animations="disabled")
    return path


def create_admin(database_url: str, email: str, name: str = "Ada Admin") -> None:
    """The documented way to make an admin: ``edustream admin create``, the password on stdin."""
    edustream = str(Path(sys.executable).parent / "edustream")
    done = subprocess.run([edustream, "admin", "create", "--email", email, "--name", name, "--password-stdin"],
                          input=PASSWORD + "\n", text=True, capture_output=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr

"""Frontend errors reach Sentry when a DSN is set (here a local recorder that speaks Sentry's
envelope endpoint), and nothing is sent when none is."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import NextServer, Platform, new_page
from tests.browser.pages import SLOW_UI_TIMEOUT_MS
from tests.observability.receivers import RecordingServer
from tests.realtime.conftest import free_port

pytestmark = pytest.mark.xdist_group("browser")


async def test_an_uncaught_browser_error_reaches_sentry_without_personal_data(
        browser: Browser, platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> None:
    ingest = RecordingServer().start()
    web = NextServer(platform.api_url, tmp_path_factory.mktemp("sentry-web") / "next.log", port=free_port(),
                     extra_env={"EDUSTREAM_SENTRY_DSN": f"http://publickey@127.0.0.1:{ingest.port}/7"})
    try:
        await web.start()
        page = await new_page(browser)
        await page.goto(web.url + "/")
        await expect(page.get_by_role("heading").first).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
        await page.wait_for_function("() => !!window.__SENTRY__", timeout=SLOW_UI_TIMEOUT_MS)
        await page.evaluate("setTimeout(() => { throw new Error('boom from the browser test') })")
        await asyncio.to_thread(ingest.wait_for, lambda reqs: any(b"boom from the browser test" in r.body
                                                                  for r in reqs), 60)
        sent = next(r for r in ingest.requests if b"boom from the browser test" in r.body)
        assert sent.path.startswith("/api/7/envelope")
        assert b"es_access" not in sent.body and b"es_refresh" not in sent.body  # no cookies
        await page.context.close()
    finally:
        await web.stop()
        ingest.stop()


async def test_without_a_dsn_the_frontend_sends_nothing(browser: Browser, platform: Platform) -> None:
    page = await new_page(browser)
    await page.goto(platform.web_url + "/")
    await expect(page.get_by_role("heading").first).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    assert await page.evaluate("() => window.__EDUSTREAM__ && window.__EDUSTREAM__.sentryDsn") is None
    assert await page.evaluate("() => !!window.__SENTRY__") is False
    await page.context.close()

"""Every page passes axe-core's WCAG 2.0/2.1 level A and AA checks, as each kind of visitor
sees it (axe-core from the frontend's npm devDependencies, injected into the page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.browser.conftest import PASSWORD, Cast, Platform, create_admin, new_page, screenshot, sign_in
from tests.browser.pages import SLOW_UI_TIMEOUT_MS
from tests.helpers import unique_email

pytestmark = pytest.mark.xdist_group("browser")

AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's A/AA violations on the page as it is now (rule, impact, first offenders)."""
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations
             .map(v => ({rule: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""",
        TAGS)
    return found


async def _audit(page: Page, web_url: str, paths: list[str], ready: str = "main") -> dict[str, list[dict[str, Any]]]:
    problems = {}
    for path in paths:
        await page.goto(web_url + path)
        await page.locator(ready).first.wait_for(timeout=SLOW_UI_TIMEOUT_MS)
        await page.wait_for_load_state("networkidle")
        found = await violations(page)
        if found:
            problems[path] = found
            await screenshot(page, "axe" + path.replace("/", "-"))
    return problems


async def test_every_page_passes_axe_for_every_kind_of_visitor(browser: Browser, platform: Platform, cast: Cast,
                                                                database_url: str) -> None:
    tutor_page = f"/tutors/{cast.tutor.id}"
    problems: dict[str, Any] = {}

    page = await new_page(browser)
    problems["anonymous"] = await _audit(page, platform.web_url, ["/", "/login", "/signup", tutor_page])
    await sign_in(page, platform.web_url, cast.student_a.email, PASSWORD)
    problems["student"] = await _audit(page, platform.web_url, ["/", "/bookings", "/credits", "/settings", "/messages", tutor_page])
    await page.context.close()

    page = await new_page(browser)
    await sign_in(page, platform.web_url, cast.tutor.email, PASSWORD)
    problems["tutor"] = await _audit(page, platform.web_url,
                                     ["/tutor/dashboard", "/tutor/availability", "/tutor/profile", "/tutor/packages", "/payouts",
                                      "/messages"])
    await page.context.close()

    admin = unique_email("axe-admin")
    create_admin(database_url, admin, "Axe Admin")
    page = await new_page(browser)
    await sign_in(page, platform.web_url, admin, PASSWORD)
    problems["admin"] = await _audit(page, platform.web_url, ["/admin"])
    await page.context.close()

    assert not any(problems.values()), problems

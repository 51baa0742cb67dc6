"""Messages in the browser, two people at once: the student writes from the tutor's page, the
tutor's header badge goes up live, the tutor opens the conversation and replies, and the
student sees the reply (and the read receipt) live."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Cast, Platform, screenshot
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS

pytestmark = pytest.mark.xdist_group("browser")


async def _badge(page: Page) -> int:
    badge = page.get_by_test_id("messages-unread")
    return int(await badge.inner_text()) if await badge.count() else 0


async def test_student_writes_from_the_tutor_page_and_the_tutor_replies_live(platform: Platform,
                                                                            people: Cast) -> None:
    student, tutor = people.student_a.p, people.tutor.p
    await tutor.goto(f"{platform.web_url}/tutor/dashboard")
    await expect(tutor.get_by_test_id("live-status")).to_have_attribute("data-state", "live",
                                                                        timeout=SLOW_UI_TIMEOUT_MS)
    await expect(tutor.get_by_test_id("messages-link")).to_be_visible(timeout=UI_TIMEOUT_MS)
    before = await _badge(tutor)

    await student.goto(f"{platform.web_url}/tutors/{people.tutor.id}")
    await student.get_by_test_id("message-tutor").click()
    await expect(student).to_have_url(re.compile(r"/messages\?to="), timeout=UI_TIMEOUT_MS)
    await expect(student.get_by_test_id("thread-title")).to_have_text(people.tutor.name, timeout=UI_TIMEOUT_MS)
    text = "Hello! Could you help me with integrals before my exam?"
    box = student.get_by_test_id("message-input")
    await box.fill(text)
    await expect(student.get_by_test_id("message-counter")).to_have_text(f"{len(text)} / 4000")
    await student.get_by_test_id("message-send").click()
    mine = student.locator('[data-testid="message"][data-mine="true"]')
    await expect(mine).to_have_text(text, timeout=UI_TIMEOUT_MS)
    await expect(student).to_have_url(re.compile(r"/messages\?c="), timeout=UI_TIMEOUT_MS)
    await expect(box).to_have_value("")
    await screenshot(student, "messages-student-sent", full_page=False)

    # The tutor's header badge goes up without a reload.
    await expect(tutor.get_by_test_id("messages-unread")).to_have_text(str(before + 1), timeout=UI_TIMEOUT_MS)
    await screenshot(tutor, "messages-tutor-badge", full_page=False)
    await tutor.get_by_test_id("messages-link").click()
    item = tutor.locator('[data-testid="conversation-item"]', has_text=people.student_a.name)
    await expect(item.get_by_test_id("conversation-unread")).to_have_text(re.compile(r"^1"), timeout=UI_TIMEOUT_MS)
    await item.click()
    await expect(tutor.locator('[data-testid="message"][data-mine="false"]').last).to_have_text(text,
                                                                                              timeout=UI_TIMEOUT_MS)
    # Opening it reads it: the badge goes back down, and the student sees the receipt.
    if before == 0:
        await expect(tutor.get_by_test_id("messages-unread")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    else:
        await expect(tutor.get_by_test_id("messages-unread")).to_have_text(str(before), timeout=UI_TIMEOUT_MS)
    await expect(student.get_by_test_id("message-seen")).to_be_visible(timeout=UI_TIMEOUT_MS)

    reply = "Of course, Sam. Book a lesson on Thursday and bring your past papers."
    await tutor.get_by_test_id("message-input").fill(reply)
    await tutor.get_by_test_id("message-send").click()
    await expect(tutor.locator('[data-testid="message"][data-mine="true"]').last).to_have_text(reply,
                                                                                             timeout=UI_TIMEOUT_MS)
    theirs = student.locator('[data-testid="message"][data-mine="false"]')
    await expect(theirs).to_have_text(reply, timeout=UI_TIMEOUT_MS)
    await screenshot(tutor, "messages-tutor-replied", full_page=False)
    await screenshot(student, "messages-student-reply", full_page=False)

    # The receipt is stored, not only pushed: it is still there after a reload.
    await student.reload()
    await expect(student.get_by_test_id("message-seen")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    await expect(theirs).to_have_text(reply)

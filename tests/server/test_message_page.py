"""The HTML pages the OAuth flows answer with link back to pages the frontend has."""

from __future__ import annotations

from server.pages import message_page
from server.settings import Settings


def test_message_page_links_to_the_login_page(settings: Settings) -> None:
    page = message_page(settings, "Google sign-in did not complete", "You cancelled signing in.", 400)
    body = bytes(page.body).decode()
    # The frontend's sign-in page is /login (there is no /signin).
    assert f'{settings.frontend_url.rstrip("/")}/login"' in body
    assert "/signin" not in body

"""What the API answers to a browser navigation (the OAuth flows): where to send it back to,
and HTML pages from the Jinja templates beside this module."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from server.settings import Settings

_ENVIRONMENT = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                           undefined=StrictUndefined, autoescape=select_autoescape(["html"]))


def message_page(settings: Settings, title: str, message: str, status: int, *, back: str = "/login") -> HTMLResponse:
    """A small page that says what happened and links back to the frontend (``back``)."""
    link = settings.frontend_url.rstrip("/") + back
    body = _ENVIRONMENT.get_template("message.html").render(title=title, message=message, link=link)
    return HTMLResponse(body, status_code=status)


def safe_next(value: str | None) -> str:
    """A same-site path to return to after the flow (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def frontend_url(settings: Settings, path: str, **params: str) -> str:
    """Where the browser lands after a flow: ``FRONTEND_URL`` + a same-site ``path`` (+ ``params``)."""
    url = settings.frontend_url.rstrip("/") + safe_next(path)
    if params:
        url += ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def callback_url(settings: Settings, path: str) -> str:
    """The absolute URL a provider sends the browser back to."""
    return settings.public_url.rstrip("/") + path

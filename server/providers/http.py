"""What every provider client shares: one way to call out, and two kinds of failure.

* :class:`ProviderRejected`: the provider refused the request itself (4xx other than 408/429).
  Retrying cannot help; the task layer turns it into ``PermanentError`` (dead letter at once).
* :class:`ProviderUnavailable`: 5xx, 408, 429, timeouts, connection errors. The task is retried
  with backoff.

A provider's own words (error bodies, connection errors naming internal hosts) never travel in
an exception's text, which ends up in API answers, dead letters and pages: ``str(exc)`` is our
wording; the original is logged here once and kept on ``exc.detail`` / ``exc.body`` for code
that must inspect it.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from server.settings import Settings

RETRYABLE_STATUSES = frozenset({408, 425, 429})
log = logging.getLogger("edustream.providers")


class ProviderError(Exception):
    """A provider call failed; ``provider`` names it and ``status`` is its HTTP status (0: no answer).

    ``message`` is ours and safe to show; ``detail`` is what the provider (or the network
    stack) said, for logs only."""

    def __init__(self, provider: str, message: str, *, status: int = 0, body: Any = None, detail: str = "") -> None:
        self.provider = provider
        self.status = status
        self.body = body
        self.detail = detail
        super().__init__(f"{provider}: {message}" + (f" (HTTP {status})" if status else ""))


class ProviderRejected(ProviderError):
    """The provider refused the request (a 4xx that retrying cannot fix)."""


class ProviderUnavailable(ProviderError):
    """The provider failed or did not answer; worth retrying later."""


def client(settings: Settings, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client with the integrations' timeout."""
    return httpx.AsyncClient(timeout=settings.integrations_http_timeout_seconds, **kwargs)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def check(provider: str, response: httpx.Response, *, ok_statuses: frozenset[int] = frozenset()) -> Any:
    """The decoded body of a successful response; raise the right :class:`ProviderError` otherwise."""
    if response.is_success or response.status_code in ok_statuses:
        if not response.content:
            return None
        return _body(response)
    body = _body(response)
    detail = str(body)[:300]
    log.warning("%s answered HTTP %s to %s %s: %s", provider, response.status_code, response.request.method,
                response.request.url.copy_with(query=None), detail)
    if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
        raise ProviderUnavailable(provider, "the service failed or is busy", status=response.status_code,
                                  body=body, detail=detail)
    raise ProviderRejected(provider, "the service refused the request", status=response.status_code, body=body,
                           detail=detail)


async def request(provider: str, http: httpx.AsyncClient, method: str, url: str,
                  *, ok_statuses: frozenset[int] = frozenset(), **kwargs: Any) -> Any:
    """Send one request; transport failures become :class:`ProviderUnavailable`."""
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        log.warning("%s did not answer %s %s: %s: %s", provider, method, url.split("?", 1)[0], type(exc).__name__, exc)
        raise ProviderUnavailable(provider, f"no answer ({type(exc).__name__})", detail=str(exc)) from exc
    return check(provider, response, ok_statuses=ok_statuses)

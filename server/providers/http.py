"""What every provider client shares: one way to call out, and two kinds of failure.

* :class:`ProviderRejected`: the provider refused the request itself (4xx other than 408/429).
  Retrying cannot help; the task layer turns it into ``PermanentError`` (dead letter at once).
* :class:`ProviderUnavailable`: 5xx, 408, 429, timeouts, connection errors. The task is retried
  with backoff.
"""

from __future__ import annotations

from typing import Any

import httpx

from server.settings import Settings

RETRYABLE_STATUSES = frozenset({408, 425, 429})


class ProviderError(Exception):
    """A provider call failed; ``provider`` names it and ``status`` is its HTTP status (0: no answer)."""

    def __init__(self, provider: str, message: str, *, status: int = 0, body: Any = None) -> None:
        self.provider = provider
        self.status = status
        self.body = body
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
    if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
        raise ProviderUnavailable(provider, detail, status=response.status_code, body=body)
    raise ProviderRejected(provider, detail, status=response.status_code, body=body)


async def request(provider: str, http: httpx.AsyncClient, method: str, url: str,
                  *, ok_statuses: frozenset[int] = frozenset(), **kwargs: Any) -> Any:
    """Send one request; transport failures become :class:`ProviderUnavailable`."""
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise ProviderUnavailable(provider, f"{type(exc).__name__}: {exc}") from exc
    return check(provider, response, ok_statuses=ok_statuses)

"""Google: OpenID Connect (authlib's Starlette client, discovery), the OAuth token endpoints
(refresh, revoke) and the Calendar API.

* **Browser flows** (sign-in and calendar connect) use authlib's Starlette client: discovery
  from ``GOOGLE_DISCOVERY_URL``, ``state`` and ``nonce`` kept in the signed session cookie,
  PKCE (S256). :func:`authorized` turns Google's redirect back into the token response and
  the account's claims.
* **Access tokens** of a calendar grant are refreshed with the refresh-token grant; Google
  answers 400 ``invalid_grant`` when the user withdrew our access (:class:`GrantRevoked`).
* **Calendar API** calls go through :class:`CalendarApi`, which holds one user's tokens,
  refreshes the access token when it has lapsed or Google answers 401 (once), and keeps the
  new token response for the caller to store.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request

from server.errors import AppError
from server.providers import http
from server.settings import Settings

PROVIDER = "google"
SIGN_IN_SCOPE = "openid email profile"
_METADATA_TTL_SECONDS = 3600.0


class GoogleNotConfigured(AppError):
    """Shown on the browser flows' HTML page (both sign-in and calendar connect)."""

    status = 404
    code = "google_not_configured"
    message = "Google sign-in is not configured on this server."


class GrantRevoked(Exception):
    """The user withdrew our access (or it expired for good): the refresh grant says ``invalid_grant``."""


_registries: dict[tuple[str, str, str], OAuth] = {}


def oauth_client(settings: Settings) -> Any:
    """authlib's Starlette OAuth app for Google (one per configuration, so metadata is cached)."""
    if not settings.google_configured:
        raise GoogleNotConfigured()
    key = (settings.google_client_id, settings.google_client_secret, settings.google_discovery_url)
    registry = _registries.get(key)
    if registry is None:
        registry = OAuth()
        registry.register(
            name=PROVIDER, client_id=settings.google_client_id, client_secret=settings.google_client_secret,
            server_metadata_url=settings.google_discovery_url,
            client_kwargs={"scope": SIGN_IN_SCOPE, "code_challenge_method": "S256",
                           "timeout": settings.integrations_http_timeout_seconds})
        _registries[key] = registry
    return registry.create_client(PROVIDER)


async def authorized(settings: Settings, request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """Google's redirect back to us → the token response (state and nonce checked) and the
    account's claims (from the ID token, else the userinfo endpoint)."""
    client = oauth_client(settings)
    token: dict[str, Any] = await client.authorize_access_token(request)
    claims = token.get("userinfo")
    if not claims or not claims.get("email"):
        claims = await client.userinfo(token=token)
    return token, dict(claims)


_metadata: dict[str, tuple[float, dict[str, Any]]] = {}


async def discovery(settings: Settings) -> dict[str, Any]:
    """The provider's OpenID configuration (cached for an hour per process)."""
    url = settings.google_discovery_url
    cached = _metadata.get(url)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    async with http.client(settings) as client:
        document = await http.request(PROVIDER, client, "GET", url)
    if not isinstance(document, dict) or "token_endpoint" not in document:
        raise http.ProviderUnavailable(PROVIDER, "the discovery document has no token_endpoint")
    _metadata[url] = (time.monotonic() + _METADATA_TTL_SECONDS, document)
    return document


async def refresh_access_token(settings: Settings, refresh_token: str) -> dict[str, Any]:
    """A new access token from the refresh-token grant (Google may rotate the refresh token
    too); :class:`GrantRevoked` when the grant is gone."""
    token_endpoint = (await discovery(settings))["token_endpoint"]
    async with http.client(settings) as client:
        try:
            result = await http.request(PROVIDER, client, "POST", token_endpoint, data={
                "grant_type": "refresh_token", "refresh_token": refresh_token,
                "client_id": settings.google_client_id, "client_secret": settings.google_client_secret})
        except http.ProviderRejected as exc:
            if exc.status == 400 and isinstance(exc.body, dict) and exc.body.get("error") == "invalid_grant":
                # Google's description was logged by http.check; ours is what users and records see.
                raise GrantRevoked("invalid_grant") from exc
            raise
    if not isinstance(result, dict) or "access_token" not in result:
        raise http.ProviderUnavailable(PROVIDER, "the token response has no access_token")
    return result


async def revoke_token(settings: Settings, token: str) -> None:
    """Revoke ``token`` at Google (when the provider has a revocation endpoint)."""
    endpoint = (await discovery(settings)).get("revocation_endpoint")
    if endpoint:
        async with http.client(settings) as client:
            await http.request(PROVIDER, client, "POST", endpoint, data={"token": token})


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class CalendarApi:
    """The Calendar API as one user.

    ``access_token`` None means the stored one has lapsed: :meth:`ensure_token` (or the first
    call) refreshes it. After a refresh, :attr:`refreshed` holds Google's token response so
    the caller can store it; :class:`GrantRevoked` means the grant is gone."""

    def __init__(self, settings: Settings, refresh_token: str, access_token: str | None) -> None:
        self.settings = settings
        self.refresh_token = refresh_token
        self.access_token = access_token
        self.refreshed: dict[str, Any] | None = None

    async def _refresh(self) -> str:
        token = await refresh_access_token(self.settings, self.refresh_token)
        self.refreshed = token
        self.access_token = str(token["access_token"])
        if token.get("refresh_token"):
            self.refresh_token = str(token["refresh_token"])
        return self.access_token

    async def ensure_token(self) -> str:
        """A usable access token, refreshed first when the stored one has lapsed."""
        return self.access_token or await self._refresh()

    async def call(self, method: str, path: str, *, ok_statuses: frozenset[int] = frozenset(), **kwargs: Any) -> Any:
        """Call the Calendar API; a 401 refreshes the access token once and retries."""
        url = self.settings.google_calendar_api_base.rstrip("/") + path
        token = await self.ensure_token()
        async with http.client(self.settings) as client:
            try:
                return await http.request(PROVIDER, client, method, url, ok_statuses=ok_statuses,
                                          headers={"Authorization": f"Bearer {token}"}, **kwargs)
            except http.ProviderRejected as exc:
                if exc.status != 401:
                    raise
            token = await self._refresh()
            return await http.request(PROVIDER, client, method, url, ok_statuses=ok_statuses,
                                      headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def free_busy(self, calendar_id: str, time_min: datetime,
                        time_max: datetime) -> list[tuple[datetime, datetime]]:
        """The calendar's busy ranges meeting ``[time_min, time_max)``, sorted, without duplicates."""
        body = {"timeMin": _rfc3339(time_min), "timeMax": _rfc3339(time_max), "items": [{"id": calendar_id}]}
        result = await self.call("POST", "/freeBusy", json=body)
        calendar = ((result or {}).get("calendars") or {}).get(calendar_id) or {}
        if calendar.get("errors"):
            detail = str(calendar["errors"])[:300]
            http.log.warning("google freeBusy reported errors for a calendar: %s", detail)
            raise http.ProviderRejected(PROVIDER, "the calendar could not be read", detail=detail)
        ranges = {(_parse_time(b["start"]), _parse_time(b["end"])) for b in calendar.get("busy", [])}
        return sorted((s, e) for s, e in ranges if e > s)

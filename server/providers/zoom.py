"""Zoom (Server-to-Server OAuth app): scheduled meetings.

**Token**: ``POST {ZOOM_OAUTH_URL}?grant_type=account_credentials&account_id=…`` with HTTP
Basic client credentials. The access token (an hour) is cached in Redis, encrypted, until a
minute before it expires, shared by every worker; a 401 from the API drops it and fetches a
new one once. Zoom has no idempotency keys: callers serialize the runs that create meetings
(server/video/service.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from server.providers import crypto, http
from server.settings import Settings

PROVIDER = "zoom"
TOKEN_MARGIN_SECONDS = 60


def _token_key(settings: Settings) -> str:
    account = hashlib.sha256(f"{settings.zoom_account_id}:{settings.zoom_client_id}".encode()).hexdigest()[:16]
    return f"edustream:zoom:token:{account}"


class ZoomClient:
    """Calls the Zoom API with a cached Server-to-Server OAuth access token."""

    def __init__(self, settings: Settings, redis: Redis, http_client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.redis = redis
        self.http = http_client

    async def _fetch_token(self) -> str:
        result = await http.request(
            PROVIDER, self.http, "POST", self.settings.zoom_oauth_url,
            params={"grant_type": "account_credentials", "account_id": self.settings.zoom_account_id},
            auth=(self.settings.zoom_client_id, self.settings.zoom_client_secret))
        if not isinstance(result, dict) or "access_token" not in result:
            raise http.ProviderUnavailable(PROVIDER, "the token response has no access_token")
        token = str(result["access_token"])
        ttl = int(result.get("expires_in", 3600)) - TOKEN_MARGIN_SECONDS
        if ttl > 0:
            await self.redis.set(_token_key(self.settings), crypto.encrypt(self.settings, token), ex=ttl)
        return token

    async def access_token(self) -> str:
        """The cached token, or a new one."""
        cached = await self.redis.get(_token_key(self.settings))
        if cached:
            try:
                return crypto.decrypt(self.settings, cached.decode() if isinstance(cached, bytes) else cached)
            except crypto.TokenDecryptionFailed:
                pass
        return await self._fetch_token()

    async def call(self, method: str, path: str, *, ok_statuses: frozenset[int] = frozenset(), **kwargs: Any) -> Any:
        """Call the API; a 401 drops the cached token, fetches a new one and retries once."""
        url = self.settings.zoom_api_base.rstrip("/") + path
        token = await self.access_token()
        try:
            return await http.request(PROVIDER, self.http, method, url, ok_statuses=ok_statuses,
                                      headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except http.ProviderRejected as exc:
            if exc.status != 401:
                raise
        await self.redis.delete(_token_key(self.settings))
        token = await self._fetch_token()
        return await http.request(PROVIDER, self.http, method, url, ok_statuses=ok_statuses,
                                  headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def create_meeting(self, topic: str, agenda: str, start: datetime, minutes: int) -> tuple[str, str]:
        """Schedule a meeting on ``ZOOM_USER_ID``'s account; returns its id and join link."""
        created = await self.call("POST", f"/users/{self.settings.zoom_user_id}/meetings", json={
            "topic": topic, "type": 2, "start_time": _start_time(start), "duration": minutes, "timezone": "UTC",
            "agenda": agenda, "settings": {"join_before_host": True, "waiting_room": False, "approval_type": 2}})
        if not isinstance(created, dict) or "id" not in created or "join_url" not in created:
            raise http.ProviderUnavailable(PROVIDER, "the meeting response has no id or join_url")
        return str(created["id"]), str(created["join_url"])

    async def move_meeting(self, meeting_id: str, start: datetime, minutes: int) -> None:
        """Give the meeting new times."""
        await self.call("PATCH", f"/meetings/{meeting_id}", json={
            "start_time": _start_time(start), "duration": minutes, "timezone": "UTC"})

    async def delete_meeting(self, meeting_id: str) -> None:
        """Delete the meeting (gone already is fine)."""
        await self.call("DELETE", f"/meetings/{meeting_id}", ok_statuses=frozenset({404}))


def _start_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@asynccontextmanager
async def zoom_client(settings: Settings, redis: Redis) -> AsyncIterator[ZoomClient]:
    """A :class:`ZoomClient` on its own HTTP connection pool, closed afterwards."""
    async with http.client(settings) as http_client:
        yield ZoomClient(settings, redis, http_client)

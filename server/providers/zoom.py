"""Zoom meetings for confirmed lessons (Server-to-Server OAuth app).

* **Token**: ``POST {ZOOM_OAUTH_URL}?grant_type=account_credentials&account_id=…`` with HTTP
  Basic client credentials. The access token (an hour) is cached in Redis, encrypted, until a
  minute before it expires, shared by every worker; a 401 from the API drops it and fetches a
  new one once.
* **Meeting** (``video.create_meeting``, which follows the booking whatever changed):
  confirmed without a meeting → ``POST /users/{ZOOM_USER_ID}/meetings`` (a scheduled meeting)
  and the join link goes on the booking (``bookings.join_url``, so ``session.starting`` and
  e-mails carry it; both parties hear ``booking.updated``); moved → ``PATCH
  /meetings/{id}``; cancelled, expired or released → ``DELETE /meetings/{id}`` (404: gone
  already) and the link is removed from the booking.

Zoom has no idempotency keys: runs for one booking are serialized by a Redis lock
(server/providers/locks.py), and a meeting is created only when the booking has none recorded.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import delete

from models.booking import Booking
from models.integrations import VideoMeeting
from server.bookings.service import emit_booking
from server.db import Sessionmaker, unit_of_work
from server.providers import crypto, http
from server.providers.locks import booking_lock
from server.settings import Settings

log = logging.getLogger("edustream.integrations.zoom")

PROVIDER = "zoom"
Kick = Callable[..., Awaitable[Any]]
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


def _start_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(booking: Booking) -> int:
    return int((booking.end_at - booking.start_at).total_seconds() // 60)


async def _set_join_url(sessionmaker: Sessionmaker, booking_id: uuid.UUID,
                        join_url: str | None) -> None:
    async with unit_of_work(sessionmaker) as session:
        booking = await session.get(Booking, booking_id, with_for_update=True)
        if booking is not None and booking.join_url != join_url:
            booking.join_url = join_url
            await session.flush()
            await emit_booking(session, booking, datetime.now(UTC))


async def sync_meeting(sessionmaker: Sessionmaker, settings: Settings, redis: Redis,
                       booking_id: uuid.UUID, *, kick: Kick | None = None) -> str:
    """Make the booking's Zoom meeting follow the booking; returns what was done."""
    if not settings.zoom_configured:
        return "not_configured"
    async with booking_lock(redis, f"zoom:{booking_id}", ttl_seconds=settings.task_timeout_seconds + 5,
                            wait_seconds=settings.task_timeout_seconds / 2):
        async with unit_of_work(sessionmaker) as session:
            booking = await session.get(Booking, booking_id)
            meeting = await session.get(VideoMeeting, booking_id)
        if booking is None:
            return "no_booking"
        async with http.client(settings) as http_client:
            zoom = ZoomClient(settings, redis, http_client)
            outcome = await _apply(sessionmaker, settings, zoom, booking, meeting)
    log.info("zoom meeting of booking %s: %s", booking_id, outcome)
    if kick is not None and outcome in ("created", "updated") and settings.google_configured:
        await kick("calendar.sync_booking", str(booking_id))  # the event shows the join link
    return outcome


async def _apply(sessionmaker: Sessionmaker, settings: Settings, zoom: ZoomClient,
                 booking: Booking, meeting: VideoMeeting | None) -> str:
    if booking.status in ("cancelled", "expired", "released"):
        if meeting is None:
            return "nothing"
        await zoom.call("DELETE", f"/meetings/{meeting.meeting_id}", ok_statuses=frozenset({404}))
        async with unit_of_work(sessionmaker) as session:
            await session.execute(delete(VideoMeeting).where(VideoMeeting.booking_id == booking.id))
        await _set_join_url(sessionmaker, booking.id, None)
        return "deleted"
    if booking.status != "confirmed":
        return "nothing"
    if meeting is None:
        created = await zoom.call("POST", f"/users/{settings.zoom_user_id}/meetings", json={
            "topic": f"{settings.email_sender_name} lesson", "type": 2, "start_time": _start_time(booking.start_at),
            "duration": _minutes(booking), "timezone": "UTC",
            "agenda": f"Booking {booking.id}",
            "settings": {"join_before_host": True, "waiting_room": False, "approval_type": 2}})
        if not isinstance(created, dict) or "id" not in created or "join_url" not in created:
            raise http.ProviderUnavailable(PROVIDER, "the meeting response has no id or join_url")
        async with unit_of_work(sessionmaker) as session:
            session.add(VideoMeeting(booking_id=booking.id, provider=PROVIDER, meeting_id=str(created["id"]),
                                     join_url=str(created["join_url"]), start_at=booking.start_at,
                                     minutes=_minutes(booking)))
        await _set_join_url(sessionmaker, booking.id, str(created["join_url"]))
        return "created"
    if meeting.start_at == booking.start_at and meeting.minutes == _minutes(booking):
        if booking.join_url != meeting.join_url:
            await _set_join_url(sessionmaker, booking.id, meeting.join_url)
        return "unchanged"
    await zoom.call("PATCH", f"/meetings/{meeting.meeting_id}", json={
        "start_time": _start_time(booking.start_at), "duration": _minutes(booking), "timezone": "UTC"})
    async with unit_of_work(sessionmaker) as session:
        row = await session.get(VideoMeeting, booking.id, with_for_update=True)
        if row is not None:
            row.start_at, row.minutes = booking.start_at, _minutes(booking)
    return "updated"

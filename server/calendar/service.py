"""Google Calendar: connections, access tokens, busy time (freeBusy) and disconnecting.

* **Connect** (routes.py): the OAuth code flow with the calendar scopes, ``access_type=offline``
  and ``prompt=consent`` so Google returns a refresh token. Both tokens are stored encrypted
  (server/providers/crypto.py).
* **Access tokens** are refreshed with the refresh-token grant when they are within a minute
  of expiry, and stored again, encrypted.
* **Busy time**: ``POST {GOOGLE_CALENDAR_API_BASE}/freeBusy`` over now … now +
  ``GOOGLE_CALENDAR_BUSY_DAYS``; the tutor's ranges replace the stored ones in one
  transaction, and when they changed, watchers get a ``slots.changed`` resync. Refreshed by
  ``calendar.refresh_all`` on ``GOOGLE_CALENDAR_SYNC_CRON`` and on demand
  (``POST /api/v1/integrations/google-calendar/sync``).
* **Revoked access**: Google answers the refresh grant with 400 ``invalid_grant``. The
  connection becomes ``revoked`` (tokens wiped), its busy time and event links are dropped,
  and the user is told with the personal live event ``integration.disconnected``.

Mirroring bookings as events lives in server/integrations/calendar_mirror.py.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.integrations import CalendarBusy, CalendarEvent, OAuthConnection
from models.user import User
from server.db import Session, Sessionmaker, unit_of_work
from server.integrations.google_auth import discovery
from server.outbox import emit, slots_changed, user_room
from server.providers import crypto, http
from server.settings import Settings

log = logging.getLogger("edustream.integrations.google_calendar")

PROVIDER = "google_calendar"
TOKEN_MARGIN = timedelta(seconds=60)


class CalendarRevoked(Exception):
    """The user withdrew our access (or it expired for good); the connection is now revoked."""


@dataclass(frozen=True, slots=True)
class Connection:
    user_id: uuid.UUID
    calendar_id: str
    access_token: str


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


async def save_connection(session: Session, settings: Settings, user_id: uuid.UUID,
                          token: dict[str, Any], account_email: str | None) -> OAuthConnection:
    """Store (or replace) the user's Calendar grant from an OAuth token response."""
    refresh_token = token.get("refresh_token")
    existing = (await session.execute(select(OAuthConnection).where(
        OAuthConnection.user_id == user_id, OAuthConnection.provider == PROVIDER).with_for_update())
    ).scalar_one_or_none()
    if not refresh_token and (existing is None or existing.refresh_token_enc is None):
        raise http.ProviderRejected("google", "no refresh token was granted (offline access refused)")
    connection = existing or OAuthConnection(id=uuid.uuid4(), user_id=user_id, provider=PROVIDER)
    if refresh_token:
        connection.refresh_token_enc = crypto.encrypt(settings, str(refresh_token))
    connection.access_token_enc = crypto.encrypt(settings, str(token["access_token"]))
    expires_at = token.get("expires_at")
    connection.access_token_expires_at = (datetime.fromtimestamp(float(expires_at), UTC) if expires_at else
                                          _now() + timedelta(seconds=int(token.get("expires_in", 3600))))
    connection.scope = str(token.get("scope") or settings.google_calendar_scope)
    connection.account_email = account_email
    connection.calendar_id = connection.calendar_id or "primary"
    connection.status = "active"
    connection.last_error = None
    if existing is None:
        session.add(connection)
    await session.flush()
    return connection


async def get_connection(session: Session, user_id: uuid.UUID) -> OAuthConnection | None:
    return (await session.execute(select(OAuthConnection).where(
        OAuthConnection.user_id == user_id, OAuthConnection.provider == PROVIDER))).scalar_one_or_none()


async def _refresh_grant(settings: Settings, refresh_token: str) -> dict[str, Any]:
    token_endpoint = (await discovery(settings))["token_endpoint"]
    async with http.client(settings) as client:
        try:
            result = await http.request("google", client, "POST", token_endpoint, data={
                "grant_type": "refresh_token", "refresh_token": refresh_token,
                "client_id": settings.google_client_id, "client_secret": settings.google_client_secret})
        except http.ProviderRejected as exc:
            if exc.status == 400 and isinstance(exc.body, dict) and exc.body.get("error") == "invalid_grant":
                raise CalendarRevoked(str(exc.body.get("error_description") or "invalid_grant")) from exc
            raise
    if not isinstance(result, dict) or "access_token" not in result:
        raise http.ProviderUnavailable("google", "the token response has no access_token")
    return result


async def connection_for(sessionmaker: Sessionmaker, settings: Settings, user_id: uuid.UUID,
                         *, force_refresh: bool = False) -> Connection | None:
    """The user's active connection with a usable access token (refreshed when needed), or
    None when there is none. A revoked grant is disconnected here and raises :class:`CalendarRevoked`."""
    async with unit_of_work(sessionmaker) as session:
        row = await get_connection(session, user_id)
        if row is None or row.status != "active" or row.refresh_token_enc is None:
            return None
        calendar_id = row.calendar_id
        fresh = (not force_refresh and row.access_token_enc is not None and row.access_token_expires_at is not None
                 and row.access_token_expires_at > _now() + TOKEN_MARGIN)
        if fresh:
            return Connection(user_id, calendar_id, crypto.decrypt(settings, row.access_token_enc or ""))
        refresh_token = crypto.decrypt(settings, row.refresh_token_enc)
    try:
        token = await _refresh_grant(settings, refresh_token)
    except CalendarRevoked as exc:
        await disconnect(sessionmaker, settings, user_id, reason="revoked", detail=str(exc))
        raise
    async with unit_of_work(sessionmaker) as session:
        row = await get_connection(session, user_id)
        if row is not None and row.status == "active":
            row.access_token_enc = crypto.encrypt(settings, token["access_token"])
            row.access_token_expires_at = _now() + timedelta(seconds=int(token.get("expires_in", 3600)))
            if token.get("refresh_token"):  # Google may rotate it
                row.refresh_token_enc = crypto.encrypt(settings, token["refresh_token"])
    return Connection(user_id, calendar_id, token["access_token"])


async def call(sessionmaker: Sessionmaker, settings: Settings, connection: Connection,
               method: str, path: str, *, ok_statuses: frozenset[int] = frozenset(), **kwargs: Any) -> Any:
    """Call the Calendar API as the user; a 401 refreshes the access token once and retries."""
    url = settings.google_calendar_api_base.rstrip("/") + path
    async with http.client(settings) as client:
        try:
            return await http.request("google", client, method, url, ok_statuses=ok_statuses,
                                      headers={"Authorization": f"Bearer {connection.access_token}"}, **kwargs)
        except http.ProviderRejected as exc:
            if exc.status != 401:
                raise
        renewed = await connection_for(sessionmaker, settings, connection.user_id, force_refresh=True)
        if renewed is None:
            raise CalendarRevoked("the connection was removed")
        return await http.request("google", client, method, url, ok_statuses=ok_statuses,
                                  headers={"Authorization": f"Bearer {renewed.access_token}"}, **kwargs)


async def disconnect(sessionmaker: Sessionmaker, settings: Settings, user_id: uuid.UUID, *,
                     reason: str, detail: str = "", revoke_remote: bool = False) -> bool:
    """Drop the user's grant, busy time and event links. ``reason`` ``revoked``: keep the row as
    ``revoked`` and tell the user (``integration.disconnected``); ``user``: delete it, and with
    ``revoke_remote`` also revoke the token at Google (best effort). Returns whether a
    connection existed."""
    remote_token: str | None = None
    async with unit_of_work(sessionmaker) as session:
        row = (await session.execute(select(OAuthConnection).where(
            OAuthConnection.user_id == user_id, OAuthConnection.provider == PROVIDER).with_for_update())
        ).scalar_one_or_none()
        if row is None:
            return False
        if revoke_remote and row.refresh_token_enc:
            remote_token = crypto.decrypt(settings, row.refresh_token_enc)
        had_busy = (await session.execute(delete(CalendarBusy).where(CalendarBusy.user_id == user_id)
                                          .returning(CalendarBusy.id))).first() is not None
        await session.execute(delete(CalendarEvent).where(CalendarEvent.user_id == user_id))
        if reason == "revoked":
            row.status, row.refresh_token_enc, row.access_token_enc = "revoked", None, None
            row.access_token_expires_at = None
            row.last_error = f"Google access was revoked ({detail or 'invalid_grant'}); connect the calendar again."
            await emit(session, [("integration.disconnected", user_room(user_id), {
                "provider": PROVIDER, "reason": "revoked", "message": row.last_error})])
        else:
            await session.delete(row)
        if had_busy:
            await slots_changed(session, user_id, [], resync=True)
    log.info("google calendar of user %s disconnected (%s)", user_id, reason)
    if remote_token:
        try:
            endpoint = (await discovery(settings)).get("revocation_endpoint")
            if endpoint:
                async with http.client(settings) as client:
                    await http.request("google", client, "POST", endpoint, data={"token": remote_token})
        except http.ProviderError as exc:
            log.warning("could not revoke the Google token of user %s: %s", user_id, exc)
    return True


async def _freebusy(sessionmaker: Sessionmaker, settings: Settings, connection: Connection,
                    time_min: datetime, time_max: datetime) -> list[tuple[datetime, datetime]]:
    body = {"timeMin": time_min.isoformat().replace("+00:00", "Z"),
            "timeMax": time_max.isoformat().replace("+00:00", "Z"),
            "items": [{"id": connection.calendar_id}]}
    result = await call(sessionmaker, settings, connection, "POST", "/freeBusy", json=body)
    calendar = ((result or {}).get("calendars") or {}).get(connection.calendar_id) or {}
    if calendar.get("errors"):
        raise http.ProviderRejected("google", f"freeBusy: {calendar['errors']}")
    ranges = {(_parse_time(b["start"]), _parse_time(b["end"])) for b in calendar.get("busy", [])}
    return sorted((s, e) for s, e in ranges if e > s)


async def refresh_busy(sessionmaker: Sessionmaker, settings: Settings, user_id: uuid.UUID,
                       now: datetime | None = None) -> str:
    """Pull the tutor's busy time and store it; ``unchanged``, ``changed``, ``not_connected``,
    ``not_a_tutor`` or ``revoked``."""
    if not settings.google_configured:
        return "not_configured"
    now = now or _now()
    async with unit_of_work(sessionmaker) as session:
        role = await session.scalar(select(User.role).where(User.id == user_id))
    if role != "tutor":
        return "not_a_tutor"
    try:
        connection = await connection_for(sessionmaker, settings, user_id)
        if connection is None:
            return "not_connected"
        busy = await _freebusy(sessionmaker, settings, connection, now,
                               now + timedelta(days=settings.google_calendar_busy_days))
    except CalendarRevoked:
        return "revoked"
    except http.ProviderError as exc:
        async with unit_of_work(sessionmaker) as session:
            row = await get_connection(session, user_id)
            if row is not None:
                row.last_error = str(exc)[:500]
        raise
    async with unit_of_work(sessionmaker) as session:
        row = (await session.execute(select(OAuthConnection).where(
            OAuthConnection.user_id == user_id, OAuthConnection.provider == PROVIDER).with_for_update())
        ).scalar_one_or_none()
        if row is None or row.status != "active":
            return "not_connected"
        stored = (await session.execute(select(CalendarBusy.during).where(CalendarBusy.user_id == user_id))).scalars()
        before = sorted((r.lower, r.upper) for r in stored if r.lower is not None and r.upper is not None)
        row.last_synced_at, row.last_error = now, None
        if before == busy:
            return "unchanged"
        await session.execute(delete(CalendarBusy).where(CalendarBusy.user_id == user_id))
        if busy:
            await session.execute(pg_insert(CalendarBusy).values(
                [{"user_id": user_id, "during": Range(s, e, bounds="[)")} for s, e in busy]))
        await slots_changed(session, user_id, [], resync=True)
    log.info("google calendar busy time of tutor %s changed (%d ranges)", user_id, len(busy))
    return "changed"


async def tutors_to_refresh(sessionmaker: Sessionmaker) -> list[uuid.UUID]:
    """Every tutor with an active Calendar connection."""
    async with unit_of_work(sessionmaker) as session:
        rows = await session.scalars(
            select(OAuthConnection.user_id).join(User, User.id == OAuthConnection.user_id)
            .where(OAuthConnection.provider == PROVIDER, OAuthConnection.status == "active", User.role == "tutor"))
        return list(rows.all())

"""Google Calendar sync: connections (grants), their access tokens, and busy time.

* **Connect** (routes.py): the OAuth code flow with the calendar scopes, ``access_type=offline``
  and ``prompt=consent`` so Google returns a refresh token. Both tokens are stored encrypted
  (server/providers/crypto.py); a first busy-time pull is queued.
* **Access tokens** are refreshed with the refresh-token grant when they are within a minute
  of expiry (or Google answers 401), and stored again, encrypted.
* **Busy time**: freeBusy over now … now + ``GOOGLE_CALENDAR_BUSY_DAYS``; the tutor's ranges
  replace the stored ones in one transaction, and when they changed, watchers get a
  ``slots.changed`` resync. Pulled by ``calendar.pull_busy`` (every tutor on
  ``GOOGLE_CALENDAR_SYNC_CRON``, and after a mirrored event moved) and on demand
  (``POST /api/v1/integrations/google-calendar/sync``).
* **Revoked access**: Google answers the refresh grant with 400 ``invalid_grant``. The
  connection becomes ``revoked`` (tokens wiped), its busy time and event links are dropped,
  and the user is told with the personal live event ``integration.disconnected``.

Work that calls Google comes in three steps, so that a worker holds no database connection
while it waits on Google: *start* (read, in a unit of work), *fetch* (Google only), *finish*
(write, in a unit of work). What must be remembered even when Google fails (a refreshed
token, a revoked grant, the last error) is written by *finish*, whose unit of work commits;
the caller raises the failure afterwards. Mirroring bookings as events lives in mirror.py.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from models.integrations import CalendarSyncOutcome, ConnectionStatus, OAuthConnection, OAuthProvider
from server.calendar import repository
from server.calendar.schemas import CalendarStatusOut, IntegrationsOut
from server.db import Session
from server.errors import AppError, Conflict
from server.jobs import enqueue
from server.outbox import emit, slots_changed, user_room
from server.providers import crypto, google, http
from server.settings import Settings

log = logging.getLogger("edustream.calendar")

TOKEN_MARGIN = timedelta(seconds=60)


class CalendarNotConnected(Conflict):
    code = "calendar_not_connected"
    message = "Connect a Google Calendar first."


class CalendarProviderError(AppError):
    status = 502
    code = "calendar_provider_error"
    message = "Google Calendar did not answer as expected; try again shortly."


class CalendarRevoked(Exception):
    """The user withdrew our access while a sync ran; the connection is now revoked."""


# --- Connections ---------------------------------------------------------------------------

async def connect(session: Session, settings: Settings, user_id: uuid.UUID, token: dict[str, Any],
                  account_email: str | None) -> OAuthConnection:
    """Store (or replace) the user's Calendar grant from an OAuth token response and queue a
    first busy-time pull."""
    refresh_token = token.get("refresh_token")
    existing = await repository.lock_connection(session, user_id)
    if not refresh_token and (existing is None or existing.refresh_token_enc is None):
        raise http.ProviderRejected(google.PROVIDER, "no refresh token was granted (offline access refused)")
    connection = existing or OAuthConnection(id=uuid.uuid4(), user_id=user_id,
                                             provider=OAuthProvider.GOOGLE_CALENDAR)
    if refresh_token:
        connection.refresh_token_enc = crypto.encrypt(settings, str(refresh_token))
    connection.access_token_enc = crypto.encrypt(settings, str(token["access_token"]))
    expires_at = token.get("expires_at")
    connection.access_token_expires_at = (datetime.fromtimestamp(float(expires_at), UTC) if expires_at else
                                          datetime.now(UTC) + timedelta(seconds=int(token.get("expires_in", 3600))))
    connection.scope = str(token.get("scope") or settings.google_calendar_scope)
    connection.account_email = account_email
    connection.calendar_id = connection.calendar_id or "primary"
    connection.status = ConnectionStatus.ACTIVE
    connection.last_error = None
    if existing is None:
        repository.add_connection(session, connection)
    await session.flush()
    enqueue(session, settings, "calendar.pull_busy", str(user_id))
    return connection


async def integrations_status(session: Session, settings: Settings, user_id: uuid.UUID) -> IntegrationsOut:
    """The state of the user's Calendar grant: active, revoked (and why), or none (never
    connected, or disconnected)."""
    row = await repository.get_connection(session, user_id)
    if row is None:
        return IntegrationsOut(google_calendar=CalendarStatusOut(available=settings.google_configured,
                                                                 connected=False))
    return IntegrationsOut(google_calendar=CalendarStatusOut(
        available=settings.google_configured, connected=row.status == ConnectionStatus.ACTIVE,
        status=ConnectionStatus(row.status), account_email=row.account_email, last_synced_at=row.last_synced_at,
        last_error=row.last_error))


async def tutors_to_refresh(session: Session) -> list[uuid.UUID]:
    """Every tutor with an active Calendar connection."""
    return await repository.tutors_with_active_connection(session)


async def disconnect(session: Session, settings: Settings, user_id: uuid.UUID, *,
                     reason: str, detail: str = "", revoke_remote: bool = False) -> bool:
    """Drop the user's grant, busy time and event links. ``reason`` ``revoked``: keep the row as
    ``revoked`` and tell the user (``integration.disconnected``); ``user``: delete it, and with
    ``revoke_remote`` also revoke the token at Google once committed (best effort). Returns
    whether a connection existed."""
    row = await repository.lock_connection(session, user_id)
    if row is None:
        return False
    if revoke_remote and row.refresh_token_enc:
        remote_token = crypto.decrypt(settings, row.refresh_token_enc)

        async def revoke() -> None:
            try:
                await google.revoke_token(settings, remote_token)
            except http.ProviderError as exc:
                log.warning("could not revoke the Google token of user %s: %s", user_id, exc)

        session.after_commit(revoke)
    had_busy = await repository.delete_busy(session, user_id)
    await repository.delete_events_of(session, user_id)
    if reason == "revoked":
        row.status, row.refresh_token_enc, row.access_token_enc = ConnectionStatus.REVOKED, None, None
        row.access_token_expires_at = None
        row.last_error = f"Google access was revoked ({detail or 'invalid_grant'}); connect the calendar again."
        await emit(session, [("integration.disconnected", user_room(user_id), {
            "provider": OAuthProvider.GOOGLE_CALENDAR.value, "reason": "revoked", "message": row.last_error})])
    else:
        await repository.delete_connection(session, row)
    if had_busy:
        await slots_changed(session, user_id, [], resync=True)
    log.info("google calendar of user %s disconnected (%s)", user_id, reason)
    return True


# --- Access to the Calendar API ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Grant:
    """A usable grant as read from the database: the refresh token, and the access token
    when it is still fresh."""

    user_id: uuid.UUID
    calendar_id: str
    refresh_token: str
    access_token: str | None

    def api(self, settings: Settings) -> google.CalendarApi:
        """The Calendar API as this user."""
        return google.CalendarApi(settings, self.refresh_token, self.access_token)


async def load_grant(session: Session, settings: Settings, user_id: uuid.UUID, now: datetime) -> Grant | None:
    """The user's active grant, decrypted; None when there is none."""
    row = await repository.get_connection(session, user_id)
    if row is None or row.status != ConnectionStatus.ACTIVE or row.refresh_token_enc is None:
        return None
    fresh = (row.access_token_enc is not None and row.access_token_expires_at is not None
             and row.access_token_expires_at > now + TOKEN_MARGIN)
    return Grant(user_id, row.calendar_id, crypto.decrypt(settings, row.refresh_token_enc),
                 crypto.decrypt(settings, row.access_token_enc or "") if fresh else None)


async def record_access(session: Session, settings: Settings, user_id: uuid.UUID,
                        api: google.CalendarApi | None, revoked: str | None, now: datetime) -> None:
    """Keep what using the API changed: a revoked grant is disconnected; a refreshed access
    token (and a rotated refresh token) is stored, encrypted."""
    if revoked is not None:
        await disconnect(session, settings, user_id, reason="revoked", detail=revoked)
        return
    if api is None or api.refreshed is None:
        return
    row = await repository.get_connection(session, user_id)
    if row is not None and row.status == ConnectionStatus.ACTIVE:
        token = api.refreshed
        row.access_token_enc = crypto.encrypt(settings, token["access_token"])
        row.access_token_expires_at = now + timedelta(seconds=int(token.get("expires_in", 3600)))
        if token.get("refresh_token"):  # Google may rotate it
            row.refresh_token_enc = crypto.encrypt(settings, token["refresh_token"])


# --- Busy time -----------------------------------------------------------------------------

@dataclass
class BusyPull:
    """One pull of a tutor's busy time, filled in by its three steps. ``outcome`` is set as soon
    as it is known; ``error`` is a failure to raise once :func:`finish_busy_pull` is committed."""

    user_id: uuid.UUID
    now: datetime
    outcome: CalendarSyncOutcome | None = None
    grant: Grant | None = None
    api: google.CalendarApi | None = None
    busy: list[tuple[datetime, datetime]] = field(default_factory=list)
    revoked: str | None = None
    error: http.ProviderError | None = None


async def start_busy_pull(session: Session, settings: Settings, user_id: uuid.UUID, now: datetime) -> BusyPull:
    """Step 1: whose busy time, with which grant (or why there is nothing to pull)."""
    pull = BusyPull(user_id, now)
    if not settings.google_configured:
        pull.outcome = CalendarSyncOutcome.NOT_CONFIGURED
    elif await repository.user_role(session, user_id) != "tutor":
        pull.outcome = CalendarSyncOutcome.NOT_A_TUTOR
    else:
        pull.grant = await load_grant(session, settings, user_id, now)
        if pull.grant is None:
            pull.outcome = CalendarSyncOutcome.NOT_CONNECTED
    return pull


async def fetch_busy(settings: Settings, pull: BusyPull) -> None:
    """Step 2 (Google only): freeBusy over the next ``GOOGLE_CALENDAR_BUSY_DAYS``."""
    if pull.outcome is not None or pull.grant is None:
        return
    pull.api = pull.grant.api(settings)
    try:
        await pull.api.ensure_token()
        pull.busy = await pull.api.free_busy(pull.grant.calendar_id, pull.now,
                                             pull.now + timedelta(days=settings.google_calendar_busy_days))
    except google.GrantRevoked as exc:
        pull.revoked = str(exc)
    except http.ProviderError as exc:
        pull.error = exc


async def finish_busy_pull(session: Session, settings: Settings, pull: BusyPull) -> CalendarSyncOutcome | None:
    """Step 3: store the busy time (and what the pull changed about the grant); returns the
    outcome, or None when Google failed (``pull.error``, remembered as the connection's ``last_error``)."""
    if pull.outcome is not None:
        return pull.outcome
    await record_access(session, settings, pull.user_id, pull.api, pull.revoked, pull.now)
    if pull.revoked is not None:
        pull.outcome = CalendarSyncOutcome.REVOKED
        return pull.outcome
    if pull.error is not None:
        row = await repository.get_connection(session, pull.user_id)
        if row is not None:
            row.last_error = str(pull.error)[:500]
        return None
    row = await repository.lock_connection(session, pull.user_id)
    if row is None or row.status != ConnectionStatus.ACTIVE:
        pull.outcome = CalendarSyncOutcome.NOT_CONNECTED
        return pull.outcome
    before = sorted(await repository.busy_ranges(session, pull.user_id))
    row.last_synced_at, row.last_error = pull.now, None
    if before == pull.busy:
        pull.outcome = CalendarSyncOutcome.UNCHANGED
        return pull.outcome
    await repository.replace_busy(session, pull.user_id, pull.busy)
    await slots_changed(session, pull.user_id, [], resync=True)
    log.info("google calendar busy time of tutor %s changed (%d ranges)", pull.user_id, len(pull.busy))
    pull.outcome = CalendarSyncOutcome.CHANGED
    return pull.outcome


@dataclass(frozen=True, slots=True)
class BusySync:
    """The result of pulling busy time on demand (``outcome`` None: Google failed, see ``error``)."""

    outcome: CalendarSyncOutcome | None
    busy: list[tuple[datetime, datetime]]
    last_synced_at: datetime | None
    error: http.ProviderError | None


async def sync_busy_now(session: Session, settings: Settings, user_id: uuid.UUID, now: datetime) -> BusySync:
    """Pull the tutor's busy time while they wait (the three steps in the caller's unit of work).

    :class:`CalendarNotConnected` when there is no grant. A failure at Google comes back as
    ``error`` rather than raised, so the unit of work still commits what it remembers
    (``last_error``)."""
    pull = await start_busy_pull(session, settings, user_id, now)
    await fetch_busy(settings, pull)
    outcome = await finish_busy_pull(session, settings, pull)
    if outcome == CalendarSyncOutcome.NOT_CONNECTED:
        raise CalendarNotConnected()
    row = await repository.get_connection(session, user_id)
    return BusySync(outcome=outcome, busy=await repository.busy_ranges(session, user_id),
                    last_synced_at=row.last_synced_at if row else None, error=pull.error)

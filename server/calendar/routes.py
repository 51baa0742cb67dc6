"""HTTP routes of calendar sync: connect (two browser navigations), status, sync now, disconnect.

The connect callback answers Google's redirect with a redirect to the frontend or, when
something went wrong, a small HTML page that says what and offers a way back. A request that
is not Google's redirect (no ``state``, neither ``code`` nor ``error``) gets the 422 error
envelope, and so does any request on a server without Google (404 ``google_not_configured``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import httpx
from authlib.integrations.base_client import OAuthError
from starlette.responses import RedirectResponse, Response

from server.calendar import service
from server.calendar.schemas import BusyRangeOut, CalendarSyncOut, CallbackQuery, IntegrationsOut, NextQuery
from server.db import Session
from server.errors import AppError, error_response
from server.http import PUBLIC, SIGNED_IN, TUTOR, Ctx, Router
from server.pages import callback_url, frontend_url, message_page, safe_next
from server.providers import google
from server.providers.http import ProviderError

log = logging.getLogger("edustream.calendar")
router = Router("/api/v1", tags=["integrations"])

CALENDAR_FLOW = "es_google_calendar"


@router.get("/integrations", auth=SIGNED_IN, summary="Your connected integrations")
async def get_integrations(ctx: Ctx, session: Session) -> IntegrationsOut:
    """The state of your Google Calendar connection (a revoked one says why)."""
    return await service.integrations_status(session, ctx.settings, ctx.user.id)


@router.get("/integrations/google-calendar/connect", auth=SIGNED_IN,
            summary="Connect your Google Calendar (browser redirect)")
async def calendar_connect(ctx: Ctx, query: NextQuery) -> Response:
    """Redirects to Google asking for the calendar scopes with offline access. Tutors' busy
    times then block their slots; every connected user gets their lessons as events."""
    settings = ctx.settings
    try:
        client = google.oauth_client(settings)
        ctx.request.session[CALENDAR_FLOW] = {"user_id": str(ctx.user.id), "next": safe_next(query.next)}
        response: Response = await client.authorize_redirect(
            ctx.request, callback_url(settings, "/api/v1/integrations/google-calendar/callback"),
            scope=f"openid email {settings.google_calendar_scope}", access_type="offline", prompt="consent",
            include_granted_scopes="true")
        return response
    except AppError as exc:
        return message_page(settings, "Google Calendar is unavailable", exc.message, exc.status, back="/settings")
    except (ProviderError, httpx.HTTPError, OSError, ValueError) as exc:
        log.warning("calendar connect could not start: %s", exc)
        return message_page(settings, "Google Calendar is unavailable", "We could not reach Google; try again shortly.",
                            502, back="/settings")


@router.get("/integrations/google-calendar/callback", auth=PUBLIC,
            summary="Google Calendar connect callback (browser redirect)", errors=[google.GoogleNotConfigured])
async def calendar_callback(ctx: Ctx, session: Session, query: CallbackQuery) -> Response:
    """Stores the (encrypted) tokens, queues a first busy-time pull and redirects to the
    frontend with `?google_calendar=connected`; an HTML page explains any failure of the flow."""
    settings = ctx.settings
    if not settings.google_configured:
        # No connect flow could have started (and there is no session cookie to read one from).
        raise google.GoogleNotConfigured("Google Calendar is not configured on this server.")
    try:
        flow = ctx.request.session.pop(CALENDAR_FLOW, None) or {}
        token, claims = await google.authorized(settings, ctx.request)
        if not flow.get("user_id"):
            return message_page(settings, "Google Calendar was not connected",
                                "This link has expired; start again from your account settings.", 400, back="/settings")
        await service.connect(session, settings, uuid.UUID(flow["user_id"]), token, claims.get("email"))
    except OAuthError as exc:
        reason = "You did not allow access to your calendar." if exc.error == "access_denied" else (
            "This link has expired or was already used; start again from your account settings."
            if exc.error == "mismatching_state" else "Google could not connect your calendar; try again.")
        if exc.error not in ("access_denied", "mismatching_state"):
            # The description arrives in the redirect's query string: log it, never show it.
            log.warning("calendar connect failed: %s (%s)", exc.error, exc.description)
        return message_page(settings, "Google Calendar was not connected", reason, 400, back="/settings")
    except ProviderError as exc:
        log.warning("calendar connect failed: %s", exc)
        return message_page(settings, "Google Calendar was not connected",
                            "Google did not grant offline access to your calendar; try again and allow it."
                            if exc.status == 0 or 400 <= exc.status < 500 else "We could not reach Google; try again.",
                            502 if exc.status >= 500 else 400, back="/settings")
    except (AppError, httpx.HTTPError, OSError, ValueError) as exc:
        log.warning("calendar connect failed: %s", exc)
        return message_page(settings, "Google Calendar was not connected", "Something went wrong; try again.", 400,
                            back="/settings")
    return RedirectResponse(frontend_url(settings, flow.get("next", "/"), google_calendar="connected"), status_code=302)


@router.post("/integrations/google-calendar/sync", auth=TUTOR, summary="Pull your calendar's busy times now",
             errors=[service.CalendarNotConnected, service.CalendarProviderError])
async def calendar_sync(ctx: Ctx, session: Session) -> CalendarSyncOut | Response:
    """Refreshes your busy times from Google now (they also refresh on a schedule). Busy time
    blocks your slots like a booking. A revoked grant answers `outcome: revoked` and
    disconnects the calendar."""
    synced = await service.sync_busy_now(session, ctx.settings, ctx.user.id, datetime.now(UTC))
    if synced.outcome is None:
        # Answered, not raised: the unit of work keeps the connection's last_error.
        error = service.CalendarProviderError(details={"reason": str(synced.error)[:200]})
        return error_response(error.code, error.message, error.status, error.details)
    return CalendarSyncOut(outcome=synced.outcome, busy=[BusyRangeOut(start=s, end=e) for s, e in synced.busy],
                           last_synced_at=synced.last_synced_at)


@router.delete("/integrations/google-calendar", auth=SIGNED_IN, summary="Disconnect your Google Calendar")
async def calendar_disconnect(ctx: Ctx, session: Session) -> None:
    """Revokes our access at Google, forgets the tokens and busy times (204, also when not connected)."""
    await service.disconnect(session, ctx.settings, ctx.user.id, reason="user", revoke_remote=True)

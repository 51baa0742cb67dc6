"""HTTP routes for the integrations: deployment config, Google sign-in and Calendar, uploads.

The two OAuth callbacks are browser navigations: they answer with a redirect to the frontend
or, when something went wrong, a small HTML page that says what and offers a way back —
never a JSON error or a stack trace.
"""

from __future__ import annotations

import html
import logging
import uuid
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from sqlalchemy import select
from starlette.responses import HTMLResponse, RedirectResponse, Response

from models.integrations import CalendarBusy
from server.auth.routes import session_response
from server.db import unit_of_work
from server.errors import AppError
from server.http import PUBLIC, SIGNED_IN, TUTOR, Ctx, Router
from server.integrations import google_auth, google_calendar, storage
from server.integrations.schemas import (
    AvatarIn,
    AvatarOut,
    AvatarUploadIn,
    BusyRangeOut,
    CalendarStatusOut,
    CalendarSyncOut,
    ConfigOut,
    GoogleLoginQuery,
    IntegrationsOut,
    MaterialOut,
    MaterialsOut,
    MaterialUploadIn,
    NextQuery,
    UploadOut,
)
from server.jobs import TaskClient
from server.providers.http import ProviderError
from server.settings import Settings

log = logging.getLogger("edustream.integrations")
router = Router("/api/v1", tags=["integrations"])

SIGN_IN_FLOW = "es_google_sign_in"
CALENDAR_FLOW = "es_google_calendar"


def _page(settings: Settings, title: str, message: str, status: int, *, back: str = "/signin") -> HTMLResponse:
    link = settings.frontend_url.rstrip("/") + back
    body = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
            "<body style='font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;"
            "color:#1f2933'>"
            f"<h1 style='font-size:1.4rem'>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
            f"<p><a href='{html.escape(link)}'>Back to EduStream</a></p></body></html>")
    return HTMLResponse(body, status_code=status)


def _frontend(settings: Settings, path: str, **params: str) -> str:
    url = settings.frontend_url.rstrip("/") + google_auth.safe_next(path)
    if params:
        url += ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def _callback_url(settings: Settings, path: str) -> str:
    return settings.public_url.rstrip("/") + path


@router.get("/config", summary="Deployment features and public keys for the frontend")
async def get_config(ctx: Ctx) -> ConfigOut:
    """Which integrations are on. No secrets: only the Stripe publishable key."""
    s = ctx.settings
    publishable = (s.stripe_publishable_key or None) if s.payments_provider == "stripe" else None
    return ConfigOut(stripe_publishable_key=publishable,
                     google_sign_in=s.google_configured, google_calendar=s.google_configured,
                     video_meetings=s.zoom_configured, email=s.brevo_configured, uploads=s.storage_configured)


# --- Google sign-in ----------------------------------------------------------------------


@router.get("/auth/google/login", auth=PUBLIC, summary="Start signing in with Google (browser redirect)")
async def google_login(ctx: Ctx, query: GoogleLoginQuery) -> Response:
    """Redirects to Google (OpenID Connect with state, nonce and PKCE). `role` is the role of a
    new account; `next` the frontend path to land on. Errors are an HTML page."""
    settings = ctx.settings
    try:
        client = google_auth.oauth_client(settings)
        ctx.request.session[SIGN_IN_FLOW] = {"role": query.role, "next": google_auth.safe_next(query.next)}
        response: Response = await client.authorize_redirect(
            ctx.request, _callback_url(settings, "/api/v1/auth/google/callback"))
        return response
    except AppError as exc:
        return _page(settings, "Google sign-in is unavailable", exc.message, exc.status)
    except (ProviderError, httpx.HTTPError, OSError, ValueError) as exc:
        log.warning("google sign-in could not start: %s", exc)
        return _page(settings, "Google sign-in is unavailable", "We could not reach Google; try again shortly.", 502)


async def _authorized(ctx: Ctx) -> tuple[Any, dict[str, Any]]:
    client = google_auth.oauth_client(ctx.settings)
    token: dict[str, Any] = await client.authorize_access_token(ctx.request)
    claims = token.get("userinfo")
    if not claims or not claims.get("email"):
        claims = await client.userinfo(token=token)
    return token, dict(claims)


@router.get("/auth/google/callback", auth=PUBLIC, summary="Google sign-in callback (browser redirect)")
async def google_callback(ctx: Ctx) -> Response:
    """Google sends the browser back here. Signs in (or links or creates the account) and sets
    the same cookies as `POST /auth/login`, then redirects to the frontend; an HTML page explains
    any failure (bad state, unverified email, …)."""
    settings = ctx.settings
    try:
        flow = ctx.request.session.pop(SIGN_IN_FLOW, None) or {}
        _, claims = await _authorized(ctx)
        identity = google_auth.GoogleIdentity.from_claims(claims)
        async with unit_of_work(ctx.sessionmaker) as session:
            signed_in, _ = await google_auth.sign_in(session, settings, identity, flow.get("role", "student"))
    except OAuthError as exc:
        reason = "You cancelled signing in." if exc.error == "access_denied" else (
            "This sign-in link has expired or was already used (the security check did not match). "
            "Start again from the sign-in page." if exc.error == "mismatching_state"
            else f"Google sign-in failed: {exc.description or exc.error}.")
        return _page(settings, "Google sign-in did not complete", reason, 400)
    except AppError as exc:
        return _page(settings, "Google sign-in did not complete", exc.message, exc.status)
    except (ProviderError, httpx.HTTPError, OSError, ValueError) as exc:
        log.warning("google sign-in failed: %s", exc)
        return _page(settings, "Google sign-in did not complete", "We could not complete the sign-in with Google; "
                     "try again shortly.", 502)
    redirect = RedirectResponse(_frontend(settings, flow.get("next", "/")), status_code=302)
    for cookie in session_response(ctx, signed_in, 200).headers.getlist("set-cookie"):
        redirect.headers.append("set-cookie", cookie)
    return redirect


# --- Google Calendar ----------------------------------------------------------------------


@router.get("/integrations", auth=SIGNED_IN, summary="Your connected integrations")
async def get_integrations(ctx: Ctx) -> IntegrationsOut:
    """The state of your Google Calendar connection (a revoked one says why)."""
    async with unit_of_work(ctx.sessionmaker) as session:
        row = await google_calendar.get_connection(session, ctx.user.id)
    status = CalendarStatusOut(available=ctx.settings.google_configured, connected=bool(row and row.status == "active"))
    if row is not None:
        status = status.model_copy(update={"status": row.status, "account_email": row.account_email,
                                           "last_synced_at": row.last_synced_at, "last_error": row.last_error})
    return IntegrationsOut(google_calendar=status)


@router.get("/integrations/google-calendar/connect", auth=SIGNED_IN,
            summary="Connect your Google Calendar (browser redirect)")
async def calendar_connect(ctx: Ctx, query: NextQuery) -> Response:
    """Redirects to Google asking for the calendar scopes with offline access. Tutors' busy
    times then block their slots; every connected user gets their lessons as events."""
    settings = ctx.settings
    try:
        client = google_auth.oauth_client(settings)
        ctx.request.session[CALENDAR_FLOW] = {"user_id": str(ctx.user.id), "next": google_auth.safe_next(query.next)}
        response: Response = await client.authorize_redirect(
            ctx.request, _callback_url(settings, "/api/v1/integrations/google-calendar/callback"),
            scope=f"openid email {settings.google_calendar_scope}", access_type="offline", prompt="consent",
            include_granted_scopes="true")
        return response
    except AppError as exc:
        return _page(settings, "Google Calendar is unavailable", exc.message, exc.status, back="/")
    except (ProviderError, httpx.HTTPError, OSError, ValueError) as exc:
        log.warning("calendar connect could not start: %s", exc)
        return _page(settings, "Google Calendar is unavailable", "We could not reach Google; try again shortly.", 502,
                     back="/")


async def _kick_pull(settings: Settings, user_id: uuid.UUID) -> None:

    try:
        async with TaskClient(settings) as client:
            await client.kick("calendar.pull_busy", str(user_id))
    except Exception:
        log.exception("could not enqueue calendar.pull_busy for user %s", user_id)


@router.get("/integrations/google-calendar/callback", auth=PUBLIC,
            summary="Google Calendar connect callback (browser redirect)")
async def calendar_callback(ctx: Ctx) -> Response:
    """Stores the (encrypted) tokens, queues a first busy-time pull and redirects to the
    frontend with `?google_calendar=connected`; an HTML page explains any failure."""
    settings = ctx.settings
    try:
        flow = ctx.request.session.pop(CALENDAR_FLOW, None) or {}
        token, claims = await _authorized(ctx)
        if not flow.get("user_id"):
            return _page(settings, "Google Calendar was not connected",
                         "This link has expired; start again from your account page.", 400, back="/")
        user_id = uuid.UUID(flow["user_id"])
        async with unit_of_work(ctx.sessionmaker) as session:
            await google_calendar.save_connection(session, settings, user_id, token, claims.get("email"))
            session.after_commit(lambda: _kick_pull(settings, user_id))
    except OAuthError as exc:
        reason = "You did not allow access to your calendar." if exc.error == "access_denied" else (
            "This link has expired or was already used; start again from your account page."
            if exc.error == "mismatching_state" else f"Google said: {exc.description or exc.error}.")
        return _page(settings, "Google Calendar was not connected", reason, 400, back="/")
    except ProviderError as exc:
        log.warning("calendar connect failed: %s", exc)
        return _page(settings, "Google Calendar was not connected",
                     "Google did not grant offline access to your calendar; try again and allow it."
                     if exc.status == 0 or 400 <= exc.status < 500 else "We could not reach Google; try again.",
                     502 if exc.status >= 500 else 400, back="/")
    except (AppError, httpx.HTTPError, OSError, ValueError) as exc:
        log.warning("calendar connect failed: %s", exc)
        return _page(settings, "Google Calendar was not connected", "Something went wrong; try again.", 400, back="/")
    return RedirectResponse(_frontend(settings, flow.get("next", "/"), google_calendar="connected"), status_code=302)


class CalendarNotConnected(AppError):
    status = 409
    code = "calendar_not_connected"
    message = "Connect a Google Calendar first."


class CalendarProviderError(AppError):
    status = 502
    code = "calendar_provider_error"
    message = "Google Calendar did not answer as expected; try again shortly."


@router.post("/integrations/google-calendar/sync", auth=TUTOR, summary="Pull your calendar's busy times now",
             errors=[CalendarNotConnected, CalendarProviderError])
async def calendar_sync(ctx: Ctx) -> CalendarSyncOut:
    """Refreshes your busy times from Google now (they also refresh on a schedule). Busy time
    blocks your slots like a booking. A revoked grant answers `outcome: revoked` and
    disconnects the calendar."""
    try:
        outcome = await google_calendar.refresh_busy(ctx.sessionmaker, ctx.settings, ctx.user.id)
    except ProviderError as exc:
        raise CalendarProviderError(details={"reason": str(exc)[:200]}) from exc
    if outcome == "not_connected":
        raise CalendarNotConnected()
    async with unit_of_work(ctx.sessionmaker) as session:
        busy = (await session.execute(select(CalendarBusy.during).where(CalendarBusy.user_id == ctx.user.id)
                                      .order_by(CalendarBusy.during))).scalars().all()
        row = await google_calendar.get_connection(session, ctx.user.id)
    return CalendarSyncOut(outcome=outcome,  # type: ignore[arg-type]
                           busy=[BusyRangeOut(start=r.lower, end=r.upper) for r in busy
                                 if r.lower is not None and r.upper is not None],
                           last_synced_at=row.last_synced_at if row else None)


@router.delete("/integrations/google-calendar", auth=SIGNED_IN, summary="Disconnect your Google Calendar")
async def calendar_disconnect(ctx: Ctx) -> None:
    """Revokes our access at Google, forgets the tokens and busy times (204, also when not connected)."""
    await google_calendar.disconnect(ctx.sessionmaker, ctx.settings, ctx.user.id, reason="user", revoke_remote=True)


# --- Uploads ------------------------------------------------------------------------------

_STORAGE_ERRORS: list[type[AppError]] = [storage.StorageNotConfigured, storage.StorageUnavailable,
                                         storage.UnsupportedFileType, storage.FileTooLarge]


@router.post("/tutors/me/avatar/upload", auth=TUTOR, summary="Get a presigned form to upload an avatar",
             errors=_STORAGE_ERRORS)
async def avatar_upload(ctx: Ctx, body: AvatarUploadIn) -> UploadOut:
    """POST `fields` and then the image as `file` (multipart/form-data) to `url`. The store
    refuses another content type or more than S3_AVATAR_MAX_BYTES. Then `PUT /tutors/me/avatar`."""
    upload = await storage.presign_avatar(ctx.settings, ctx.user.id, body.content_type, body.size)
    return UploadOut(url=upload.url, fields=upload.fields, key=upload.key, expires_in=upload.expires_in,
                     max_bytes=upload.max_bytes)


@router.put("/tutors/me/avatar", auth=TUTOR, summary="Use an uploaded image as your avatar",
            errors=[*_STORAGE_ERRORS, storage.UploadNotFound])
async def put_avatar(ctx: Ctx, body: AvatarIn) -> AvatarOut:
    """404 `upload_not_found` unless the key is one of your finished avatar uploads."""
    async with unit_of_work(ctx.sessionmaker) as session:
        key = await storage.set_avatar(session, ctx.settings, ctx.user.id, body.key)
    return AvatarOut(key=key, url=f"{ctx.settings.public_url.rstrip('/')}/api/v1/tutors/{ctx.user.id}/avatar")


@router.get("/tutors/{tutor_id}/avatar", summary="A tutor's avatar (redirect to the image)",
            errors=[storage.StorageNotConfigured])
async def get_avatar(ctx: Ctx, tutor_id: uuid.UUID) -> Response:
    """302 to a short-lived image URL; 404 `avatar_not_found` when the tutor has none."""
    async with unit_of_work(ctx.sessionmaker) as session:
        url = await storage.avatar_url(session, ctx.settings, tutor_id)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "private, max-age=60"})


@router.post("/bookings/{booking_id}/materials/upload", auth=SIGNED_IN,
             summary="Get a presigned form to upload a lesson material",
             errors=[*_STORAGE_ERRORS, storage.MaterialsNotFound, storage.MaterialsClosed])
async def material_upload(ctx: Ctx, booking_id: uuid.UUID, body: MaterialUploadIn) -> UploadOut:
    """For the booking's student or tutor (404 for anyone else). Documents, images, audio and
    video up to S3_MATERIAL_MAX_BYTES; the store enforces type and size."""
    async with unit_of_work(ctx.sessionmaker) as session:
        upload = await storage.presign_material(session, ctx.settings, ctx.user, booking_id, body.filename,
                                                body.content_type, body.size)
    return UploadOut(url=upload.url, fields=upload.fields, key=upload.key, expires_in=upload.expires_in,
                     max_bytes=upload.max_bytes)


@router.get("/bookings/{booking_id}/materials", auth=SIGNED_IN, summary="A booking's lesson materials",
            errors=[storage.StorageNotConfigured, storage.StorageUnavailable, storage.MaterialsNotFound])
async def list_materials(ctx: Ctx, booking_id: uuid.UUID) -> MaterialsOut:
    """Every material uploaded for the booking, with short-lived download links; only for its
    student and tutor (404 for anyone else)."""
    async with unit_of_work(ctx.sessionmaker) as session:
        files = await storage.list_materials(session, ctx.settings, ctx.user, booking_id)
    return MaterialsOut(booking_id=booking_id, items=[
        MaterialOut(key=f.key, name=f.name, size=f.size, uploaded_at=f.uploaded_at, download_url=f.download_url)
        for f in files])

"""Signing in with Google: two browser navigations.

The callback answers with a redirect to the frontend or, when something went wrong, a small
HTML page that says what and offers a way back — never a JSON error or a stack trace.
"""

from __future__ import annotations

import logging

import httpx
from authlib.integrations.base_client import OAuthError
from starlette.responses import RedirectResponse, Response

from models.user import Role
from server.auth.google import service
from server.auth.google.schemas import GoogleLoginQuery
from server.auth.routes import session_response
from server.db import Session
from server.errors import AppError
from server.http import PUBLIC, Ctx, Router
from server.pages import callback_url, frontend_url, message_page, safe_next
from server.providers import google
from server.providers.http import ProviderError

log = logging.getLogger("edustream.auth.google")
router = Router("/api/v1", tags=["integrations"])

SIGN_IN_FLOW = "es_google_sign_in"


@router.get("/auth/google/login", auth=PUBLIC, summary="Start signing in with Google (browser redirect)")
async def google_login(ctx: Ctx, query: GoogleLoginQuery) -> Response:
    """Redirects to Google (OpenID Connect with state, nonce and PKCE). `role` is the role of a
    new account; `next` the frontend path to land on. Errors are an HTML page."""
    settings = ctx.settings
    try:
        client = google.oauth_client(settings)
        ctx.request.session[SIGN_IN_FLOW] = {"role": str(query.role), "next": safe_next(query.next)}
        response: Response = await client.authorize_redirect(
            ctx.request, callback_url(settings, "/api/v1/auth/google/callback"))
        return response
    except AppError as exc:
        return message_page(settings, "Google sign-in is unavailable", exc.message, exc.status)
    except (ProviderError, httpx.HTTPError, OSError, ValueError) as exc:
        log.warning("google sign-in could not start: %s", exc)
        return message_page(settings, "Google sign-in is unavailable", "We could not reach Google; try again shortly.",
                            502)


ERROR_CODE_HEADER = "X-Error-Code"


def _did_not_complete(ctx: Ctx, message: str, status: int, code: str) -> Response:
    """The failure page, with the error's code also in a header for non-browser clients."""
    page = message_page(ctx.settings, "Google sign-in did not complete", message, status)
    page.headers[ERROR_CODE_HEADER] = code
    return page


@router.get("/auth/google/callback", auth=PUBLIC, summary="Google sign-in callback (browser redirect)")
async def google_callback(ctx: Ctx, session: Session) -> Response:
    """Google sends the browser back here. Signs in (or links or creates the account) and sets
    the same cookies as `POST /auth/login`, then redirects to the frontend; an HTML page explains
    any failure, with its code in the `X-Error-Code` header: 404 `google_not_configured`; 400
    `mismatching_state` (no or a stale `state`, e.g. a request without parameters), `access_denied`
    or another OAuth error; 403 `google_email_unverified`; 409 `account_email_unverified` (an
    existing account whose address is not verified yet) or `google_account_conflict`; 502
    `google_unreachable`."""
    settings = ctx.settings
    try:
        # First, so that an unconfigured server answers 404 before touching the OAuth session.
        _, claims = await google.authorized(settings, ctx.request)
        flow = ctx.request.session.pop(SIGN_IN_FLOW, None) or {}
        signed_in = await service.sign_in(session, settings, claims, Role(flow.get("role", Role.STUDENT)))
    except OAuthError as exc:
        reason = "You cancelled signing in." if exc.error == "access_denied" else (
            "This sign-in link has expired or was already used (the security check did not match). "
            "Start again from the sign-in page." if exc.error == "mismatching_state"
            else "Google could not sign you in; try again.")
        if exc.error not in ("access_denied", "mismatching_state"):
            # The description arrives in the redirect's query string: log it, never show it.
            log.warning("google sign-in failed: %s (%s)", exc.error, exc.description)
        return _did_not_complete(ctx, reason, 400, str(exc.error or "oauth_error"))
    except AppError as exc:
        return _did_not_complete(ctx, exc.message, exc.status, exc.code)
    except (ProviderError, httpx.HTTPError, OSError, ValueError) as exc:
        log.warning("google sign-in failed: %s", exc)
        return _did_not_complete(ctx, "We could not complete the sign-in with Google; try again shortly.", 502,
                                 "google_unreachable")
    redirect = RedirectResponse(frontend_url(settings, flow.get("next", "/")), status_code=302)
    for cookie in session_response(ctx, signed_in, 200).headers.getlist("set-cookie"):
        redirect.headers.append("set-cookie", cookie)
    return redirect

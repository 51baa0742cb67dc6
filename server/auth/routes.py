"""HTTP routes for accounts and sessions.

Sign-in responses carry the tokens twice: in the JSON body (``access_token`` for
``Authorization: Bearer``, ``refresh_token`` for non-browser clients) and as cookies
for browsers: ``es_access`` (HttpOnly, Path=/), ``es_refresh`` (HttpOnly, Path=/api/v1/auth,
so it is sent only to these routes) and ``es_csrf`` (readable by scripts, echoed in the
``X-CSRF-Token`` header on unsafe cookie-authenticated requests). All are SameSite=Lax,
and Secure when ``COOKIE_SECURE`` is on (always in production).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.auth import service, throttle, verification
from server.auth.schemas import (
    AuthOut,
    LoginIn,
    MeUpdate,
    PasswordChange,
    RefreshIn,
    RegisterIn,
    UserOut,
    VerifyEmailIn,
)
from server.db import Session
from server.errors import Forbidden
from server.http import PUBLIC, SIGNED_IN, Ctx, Router
from server.identity import ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, REFRESH_COOKIE
from server.ratelimit import client_ip
from server.settings import Settings

router = Router("/api/v1", tags=["auth"])


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    message = "Cookie-authenticated requests must send the X-CSRF-Token header matching the es_csrf cookie."

REFRESH_COOKIE_PATH = "/api/v1/auth"


def _set_cookie(response: Response, settings: Settings, name: str, value: str, *, max_age: int, path: str,
                httponly: bool) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, domain=settings.cookie_domain,
                        secure=settings.cookie_secure, httponly=httponly, samesite="lax")


def session_response(ctx: Ctx, signed_in: service.SignedIn, status: int, *, keep_csrf: bool = False) -> Response:
    settings = ctx.settings
    body = AuthOut(user=UserOut.model_validate(signed_in.user), access_token=signed_in.access_token,
                   expires_in=settings.access_token_ttl_seconds, refresh_token=signed_in.refresh_token)
    response = JSONResponse(body.model_dump(mode="json"), status_code=status)
    _set_cookie(response, settings, ACCESS_COOKIE, signed_in.access_token,
                max_age=settings.access_token_ttl_seconds, path="/", httponly=True)
    _set_cookie(response, settings, REFRESH_COOKIE, signed_in.refresh_token,
                max_age=settings.refresh_token_ttl_seconds, path=REFRESH_COOKIE_PATH, httponly=True)
    # On refresh the CSRF value stays put, so requests already in flight with the old header still pass.
    csrf = ctx.request.cookies.get(CSRF_COOKIE) if keep_csrf else None
    _set_cookie(response, settings, CSRF_COOKIE, csrf or secrets.token_urlsafe(32),
                max_age=settings.refresh_token_ttl_seconds, path="/", httponly=False)
    return response


def _clear_cookies(response: Response, settings: Settings) -> None:
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_COOKIE_PATH), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path, domain=settings.cookie_domain, secure=settings.cookie_secure,
                               httponly=name != CSRF_COOKIE, samesite="lax")


def _refresh_token_from(request: Request, body: RefreshIn) -> str | None:
    """The body's token, else the cookie's; a cookie is ambient, so using it needs the CSRF header."""
    if body.refresh_token:
        return body.refresh_token
    cookie = request.cookies.get(REFRESH_COOKIE)
    if not cookie:
        return None
    csrf_cookie = request.cookies.get(CSRF_COOKIE, "")
    csrf_header = request.headers.get(CSRF_HEADER, "")
    if not csrf_cookie or not csrf_header or not secrets.compare_digest(csrf_cookie, csrf_header):
        raise CsrfFailed()
    return cookie


@router.post("/auth/register", status=201, errors=[service.EmailTaken, throttle.RegistrationLimited])
async def register(ctx: Ctx, session: Session, body: RegisterIn) -> AuthOut | Response:
    """Create a student or tutor account and sign in.

    The email is unique regardless of letter case (409 ``email_taken``). Passwords are 8 to 256
    characters. Admin accounts cannot be registered. Sets the session cookies. A client IP or
    an address that has had ``REGISTER_TAKEN_PER_IP`` / ``REGISTER_TAKEN_PER_EMAIL`` 409s within
    ``REGISTER_TAKEN_WINDOW_SECONDS`` gets 429 ``registration_limited`` (with ``Retry-After``)
    for every registration until the window ends.
    """
    signed_in = await service.register(session, ctx.redis, ctx.settings, body,
                                       client_ip(ctx.request.scope, ctx.settings))
    return session_response(ctx, signed_in, 201)


@router.post("/auth/login", errors=[service.InvalidCredentials, throttle.LoginLocked])
async def login(ctx: Ctx, session: Session, body: LoginIn) -> AuthOut | Response:
    """Sign in with email and password; sets the session cookies.

    401 ``invalid_credentials`` for an unknown email and for a wrong password alike. After
    ``LOGIN_MAX_FAILURES`` failures in a row an address is locked (429 ``login_locked`` with
    ``Retry-After``, whatever the password) for ``LOGIN_LOCK_BASE_SECONDS``, doubling with each
    further failure up to ``LOGIN_LOCK_MAX_SECONDS``; a successful sign-in resets it.
    """
    signed_in = await service.login(session, ctx.redis, ctx.settings, body)
    return session_response(ctx, signed_in, 200)


@router.post("/auth/refresh", errors=[service.InvalidRefreshToken, service.RefreshTokenReused, CsrfFailed])
async def refresh(ctx: Ctx, session: Session, body: RefreshIn) -> AuthOut | Response:
    """Exchange a refresh token for a new access token and a new refresh token.

    The token comes from the ``es_refresh`` cookie (then the ``X-CSRF-Token`` header must match
    the ``es_csrf`` cookie, else 403 ``csrf_failed``) or from the body ``{"refresh_token"}``.
    Each refresh token works once: presenting a used one revokes every token of that sign-in
    (401 ``refresh_token_reused``).
    """
    raw = _refresh_token_from(ctx.request, body)
    if raw is None:
        raise service.InvalidRefreshToken()
    signed_in = await service.refresh(session, ctx.settings, raw)
    return session_response(ctx, signed_in, 200, keep_csrf=True)


@router.post("/auth/logout", status=204, errors=[CsrfFailed])
async def logout(ctx: Ctx, session: Session, body: RefreshIn) -> Response:
    """Revoke this sign-in's refresh tokens and clear the cookies (204, also when already signed out).

    Like refresh, the token comes from the body or from the cookie plus the CSRF header.
    """
    raw = _refresh_token_from(ctx.request, body)
    await service.logout(session, raw)
    response = Response(status_code=204)
    _clear_cookies(response, ctx.settings)
    return response


@router.get("/me", auth=SIGNED_IN, errors=[service.AccountNotFound])
async def get_me(ctx: Ctx, session: Session) -> UserOut:
    """The signed-in account."""
    user = await service.get_user(session, ctx.user.id)
    return UserOut.model_validate(user)


@router.patch("/me", auth=SIGNED_IN, errors=[service.AccountNotFound])
async def patch_me(ctx: Ctx, session: Session, body: MeUpdate) -> UserOut:
    """Change your display name and/or time zone (IANA name, used for e-mails and reminders);
    omitted fields stay as they are."""
    return UserOut.model_validate(await service.update_me(session, ctx.user.id, body))


@router.put("/me", auth=SIGNED_IN, errors=[service.AccountNotFound])
async def put_me(ctx: Ctx, session: Session, body: MeUpdate) -> UserOut:
    """The same as `PATCH /me` (kept for clients written against the first version)."""
    return UserOut.model_validate(await service.update_me(session, ctx.user.id, body))


@router.post("/me/password", auth=SIGNED_IN, status=204, errors=[service.WrongPassword, service.AccountNotFound])
async def change_password(ctx: Ctx, session: Session, body: PasswordChange) -> None:
    """Change your password: 403 `wrong_password` unless `current_password` is right. Every
    other sign-in's refresh tokens are revoked; the sign-in making the call stays."""
    await service.change_password(session, ctx.user, body)



@router.post("/auth/verify-email", auth=PUBLIC,
             errors=[verification.InvalidVerificationToken, verification.VerificationTokenUsed,
                     verification.VerificationTokenExpired])
async def verify_email(ctx: Ctx, session: Session, body: VerifyEmailIn) -> UserOut:
    """Confirm an e-mail address with the token of the link e-mailed at registration (or by
    `POST /auth/verify-email/resend`); answers the account, now with `email_verified: true`.

    Each link works once (400 `verification_token_used`) and for `EMAIL_VERIFICATION_TTL_SECONDS`
    (400 `verification_token_expired`); anything else is 400 `invalid_verification_token`.
    No sign-in needed: the link may be opened in another browser."""
    return UserOut.model_validate(await verification.verify(session, body.token, datetime.now(UTC)))


@router.post("/auth/verify-email/resend", auth=SIGNED_IN, status=204,
             errors=[verification.EmailAlreadyVerified, verification.VerificationResendTooSoon,
                     verification.VerificationAccountNotFound])
async def resend_verification_email(ctx: Ctx, session: Session) -> None:
    """E-mail a new verification link to your address (earlier links keep working until they
    expire). 409 `email_already_verified`; 429 `verification_resend_too_soon` (with
    `Retry-After`) within `EMAIL_VERIFICATION_RESEND_SECONDS` of the last link."""
    await verification.resend(session, ctx.settings, ctx.user.id, datetime.now(UTC))

"""One error family, mapped to the JSON envelope in one place.

Every failure leaves the API as ``{"error": {"code", "message", "details"}}``.
Domain errors subclass :class:`AppError` beside their service.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("edustream.errors")


class AppError(Exception):
    """Base of every expected failure: a status, a stable code and a human message."""

    status: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."
    # A failure whose changes must stand (e.g. revoking a replayed refresh token's sign-in):
    # the unit of work commits them, then the error reaches the caller.
    keeps_changes: bool = False

    def __init__(self, message: str | None = None, *, details: Any = None, code: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None) -> None:
        self.message = message or self.message
        self.details = details
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(AppError):
    status = 422
    code = "invalid_request"
    message = "The request is invalid."


class Unauthorized(AppError):
    status = 401
    code = "not_authenticated"
    message = "Sign in to do this."


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "Not found."


class FeatureDisabled(NotFound):
    """An integration that is not configured on this server: its endpoints answer 404, never a 5xx."""

    code = "feature_disabled"
    message = "This feature is not enabled on this server."


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    message = "Send the body as JSON with 'Content-Type: application/json'."


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"
    message = "Requests that change data are accepted only from the EduStream web app's origin."


class Conflict(AppError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; slow down."


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    message = "A dependency is unavailable."


def validation_details(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Per-field details from a pydantic error, JSON-safe."""
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = [*prefix, *err["loc"]]
        out.append({"field": ".".join(str(p) for p in loc), "message": err["msg"], "type": err["type"]})
    return out


def error_response(code: str, message: str, status: int, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}},
                        status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "rate_limited",
}


async def app_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response(exc.code, exc.message, exc.status, exc.details, exc.headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
    if exc.status_code == 404:
        message = f"No route for {request.url.path}."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    return error_response(_HTTP_CODES.get(exc.status_code, "http_error"), message, exc.status_code,
                          headers=dict(exc.headers or {}))


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response("internal_error", "Something went wrong on our side.", 500)


EXCEPTION_HANDLERS = {
    AppError: app_error_handler,
    HTTPException: http_error_handler,
    Exception: unhandled_error_handler,
}

"""Error reporting to Sentry, with personal data scrubbed before anything leaves the process.

:func:`setup_sentry` is a no-op without ``SENTRY_DSN``. Events carry the environment
(``SENTRY_ENVIRONMENT``, default ``ENVIRONMENT``), the release (``RELEASE``), the process
(``api``/``worker``/``scheduler``) and, for correlation, the trace id and request id of
the moment they were captured. ``send_default_pii=False``, request bodies are never sent,
and :func:`scrub_event` removes what could still identify a person: e-mail addresses and
bearer tokens anywhere in the event, credentials and cookies in headers and variables, and
everything about the user except the id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sentry_sdk
from sentry_sdk.integrations.logging import ignore_logger

from server.observability.logging import bound_fields
from server.observability.tracing import current_ids

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger("edustream.sentry")

FILTERED = "[Filtered]"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# Keys whose values are never sent, wherever they appear (headers, variables, extra data).
_SENSITIVE_KEY_PARTS = ("password", "passwd", "secret", "token", "authorization", "cookie", "csrf", "session",
                        "api_key", "apikey", "signature", "email", "phone", "card", "iban", "credential")
# Request headers worth keeping; all others are dropped.
_SAFE_HEADERS = frozenset({"accept", "content-type", "content-length", "user-agent", "host", "x-request-id",
                           "traceparent", "origin", "referer"})


def _sensitive(key: str) -> bool:
    normalized = key.lower().replace("-", "_")
    return any(part in normalized for part in _SENSITIVE_KEY_PARTS)


def scrub_text(value: str) -> str:
    """Mask e-mail addresses, bearer tokens and JWTs inside free text."""
    value = _BEARER.sub("Bearer " + FILTERED, value)
    value = _JWT.sub(FILTERED, value)
    return _EMAIL.sub("[email]", value)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: FILTERED if isinstance(k, str) and _sensitive(k) and v not in (None, "", [], {})
                else _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


def _scrub_headers(headers: Any) -> Any:
    if isinstance(headers, Mapping):
        return {k: scrub_text(str(v)) for k, v in headers.items() if str(k).lower() in _SAFE_HEADERS}
    if isinstance(headers, list):
        return [[k, scrub_text(str(v))] for k, v in (pair for pair in headers if len(pair) == 2)
                if str(k).lower() in _SAFE_HEADERS]
    return {}


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry ``before_send``: remove personal data and credentials from an event."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)
        request.pop("env", None)
        if "headers" in request:
            request["headers"] = _scrub_headers(request["headers"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    scrubbed: dict[str, Any] = _scrub(event)
    tags = scrubbed.setdefault("tags", {})
    if isinstance(tags, dict):
        ids = current_ids()
        if ids:
            tags.setdefault("trace_id", ids[0])
        for key in ("request_id", "task_id", "task_name"):
            if key in bound_fields():
                tags.setdefault(key, bound_fields()[key])
    return scrubbed


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry ``before_breadcrumb``: the same scrubbing for breadcrumbs."""
    result: dict[str, Any] = _scrub(crumb)
    return result


def setup_sentry(settings: Settings, process_name: str) -> bool:
    """Initialise Sentry for this process when ``SENTRY_DSN`` is set; returns whether it is on."""
    if not settings.sentry_dsn:
        shutdown_sentry()
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment or settings.environment,
        release=settings.release,
        sample_rate=settings.sentry_sample_rate,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,  # locals hold names, bios, tokens: never send them
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=scrub_breadcrumb,  # type: ignore[arg-type]
    )
    sentry_sdk.set_tag("process", process_name)
    # taskiq logs every task exception; the task middleware reports it with the task's tags.
    ignore_logger("taskiq.receiver.receiver")
    log.info("sentry on: environment=%s release=%s", settings.sentry_environment or settings.environment,
             settings.release)
    return True


def capture_exception(exc: BaseException, **tags: str) -> None:
    """Report ``exc`` with extra tags (no-op when Sentry is off)."""
    if not sentry_sdk.get_client().is_active():
        return
    with sentry_sdk.new_scope() as scope:
        for key, value in tags.items():
            scope.set_tag(key, value)
        sentry_sdk.capture_exception(exc)


def tag_request(**tags: str | None) -> None:
    """Tag the current request's Sentry scope (request id, trace id): an error captured later
    in the request, even after our middleware has returned, still names them."""
    if not sentry_sdk.get_client().is_active():
        return
    scope = sentry_sdk.get_isolation_scope()
    for key, value in tags.items():
        if value:
            scope.set_tag(key, value)


def shutdown_sentry() -> None:
    """Flush pending events and switch Sentry off in this process."""
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)

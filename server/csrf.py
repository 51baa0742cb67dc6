"""Cross-site request defences of the HTTP edge: ``Origin`` checked on unsafe methods (signed
in or not, so login CSRF too) and bodies accepted only when declared JSON. The router
(server/http.py) applies both before a handler runs; webhooks are exempt (they are signed)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from starlette.requests import Request

from server.errors import OriginNotAllowed, UnsupportedMediaType
from server.settings import Settings

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port; ``None`` when ``value`` is
    not an http(s) origin (``null``, garbage). A Referer's path and query are dropped."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else "")


@lru_cache(maxsize=16)
def _allowed_origins(cors_origins: tuple[str, ...], public_url: str, frontend_url: str) -> frozenset[str]:
    found = (normalize_origin(o) for o in (*cors_origins, public_url, frontend_url))
    return frozenset(o for o in found if o is not None)


def allowed_origins(settings: Settings) -> frozenset[str]:
    """Origins whose pages may change data: ``CORS_ORIGINS``, ``FRONTEND_URL`` and the API's own
    ``PUBLIC_URL`` (its docs page)."""
    return _allowed_origins(tuple(settings.cors_origins), settings.public_url, settings.frontend_url)


def check_origin(request: Request, settings: Settings) -> None:
    """CSRF defence in depth for unsafe methods, signed in or not (login CSRF included).

    A browser names the page that made a request in ``Origin`` (every non-GET fetch or form
    post); when a privacy setting strips it, ``Referer`` is checked instead. A request with
    neither comes from no browser page (API clients, scripts, tests) and cannot be forged by
    another site, so it passes. ``Origin: null`` (sandboxed frames, cross-origin redirects,
    ``file:`` pages) is refused.
    """
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return
        origin = referer
    if normalize_origin(origin) not in allowed_origins(settings):
        raise OriginNotAllowed(details={"origin": origin[:200]})


def _is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, in UTF-8 (no other charset)."""
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    kind, _, subtype = media_type.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


def require_json_body(request: Request) -> None:
    """415 for a body that is not declared JSON. A cross-site form can only send
    ``text/plain``, ``multipart/form-data`` or urlencoded bodies without a CORS preflight;
    refusing them keeps such a post from ever reaching a handler."""
    if _has_body(request) and not _is_json_media_type(request.headers.get("content-type", "")):
        raise UnsupportedMediaType(details={"content_type": request.headers.get("content-type", "")[:200]})

"""The ASGI application that ``edustream api`` serves (uvicorn factory mode).

``uvicorn --factory edustream.asgi:app_factory --ws websockets-sansio --ws-per-message-deflate false
--ws-max-size 65536 --ws-ping-interval 0`` works too (the options ``edustream api`` applies:
docs/live.md). One process serves the REST API and the Socket.IO live layer on one port:
``realtime.server.create_asgi`` wraps the Starlette app of :func:`server.app.create_app` with
Socket.IO.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from realtime.server import create_asgi
from server.settings import Settings, get_settings


def build_app(settings: Settings) -> ASGIApp:
    """REST and the live layer on one port."""
    return create_asgi(settings)


def app_factory() -> ASGIApp:
    """Zero-argument factory for uvicorn; settings come from the environment."""
    return build_app(get_settings())

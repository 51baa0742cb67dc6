"""The ASGI application that ``edustream api`` serves (uvicorn factory mode).

``uvicorn --factory server.asgi:app_factory`` works too. One process serves the REST API
and the Socket.IO live layer on one port: when ``realtime.server`` is present its
``create_asgi(settings)`` wraps the Starlette app with Socket.IO; otherwise the bare REST
app is served.
"""

from __future__ import annotations

import importlib
import importlib.util

from starlette.types import ASGIApp

from server.app import create_app
from server.settings import Settings, get_settings


def build_app(settings: Settings) -> ASGIApp:
    """REST + live layer when the live layer exists, else the REST app alone."""
    if importlib.util.find_spec("realtime.server") is not None:
        # Imported by name: the live layer is optional until realtime/server.py lands,
        # and any error inside it must surface rather than silently drop the live layer.
        realtime = importlib.import_module("realtime.server")
        app: ASGIApp = realtime.create_asgi(settings)
        return app
    return create_app(settings)


def app_factory() -> ASGIApp:
    """Zero-argument factory for uvicorn; settings come from the environment."""
    return build_app(get_settings())

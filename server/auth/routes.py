"""HTTP routes for auth."""

from __future__ import annotations

from server.http import Router

router = Router("/api/v1", tags=["auth"])

"""HTTP routes for bookings."""

from __future__ import annotations

from server.http import Router

router = Router("/api/v1", tags=["bookings"])

"""HTTP routes for tutors."""

from __future__ import annotations

from server.http import Router

router = Router("/api/v1", tags=["tutors"])

"""Every domain's router: the one list the app factory serves and the OpenAPI document describes.

Kept apart from :mod:`server.app` so the document can be built from the code (``python -m
server.openapi``) without the app, and the app can serve it without a cycle between the two.
"""

from __future__ import annotations

from server.admin.routes import router as admin_router
from server.auth.google.routes import router as google_sign_in_router
from server.auth.routes import router as auth_router
from server.availability.routes import router as availability_router
from server.bookings.materials.routes import router as materials_router
from server.bookings.routes import router as bookings_router
from server.calendar.routes import router as calendar_router
from server.config.routes import router as config_router
from server.health.routes import router as health_router
from server.http import Endpoint, Router
from server.instant.routes import router as instant_router
from server.messages.routes import router as messages_router
from server.notifications.routes import router as notifications_router
from server.packages.routes import router as packages_router
from server.payments.routes import router as payments_router
from server.payouts.routes import router as payouts_router
from server.reviews.routes import router as reviews_router
from server.tutors.avatars.routes import router as avatars_router
from server.tutors.routes import router as tutors_router
from server.waitlist.routes import router as waitlist_router

API_PREFIX = "/api/v1"

# The integration routers last and in this order: the OpenAPI document lists paths in
# registration order.
ROUTERS: tuple[Router, ...] = (
    health_router, auth_router, tutors_router, availability_router, bookings_router, reviews_router,
    notifications_router, messages_router, instant_router, waitlist_router, packages_router, payments_router,
    payouts_router, admin_router,
    config_router, google_sign_in_router, calendar_router, avatars_router, materials_router,
)


def api_endpoints() -> list[Endpoint]:
    """The endpoints under ``/api/v1`` (what the OpenAPI document describes)."""
    return [ep for r in ROUTERS for ep in r.endpoints if ep.path.startswith(API_PREFIX)]

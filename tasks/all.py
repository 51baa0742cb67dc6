"""Every task module, imported for its registrations: ``python -m taskiq worker tasks.broker:broker tasks.all``."""

from __future__ import annotations

from tasks import bookings, housekeeping, integrations, outbound, packages, payments

__all__ = ["bookings", "housekeeping", "integrations", "outbound", "packages", "payments"]

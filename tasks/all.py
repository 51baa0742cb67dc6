"""Every task module, imported for its registrations: ``python -m taskiq worker tasks.broker:broker tasks.all``."""

from __future__ import annotations

from tasks import bookings, housekeeping, instant, integrations, messages, outbound, packages, payments

__all__ = ["bookings", "housekeeping", "instant", "integrations", "messages", "outbound", "packages", "payments"]

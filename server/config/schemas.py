"""Edge schema of the deployment's public configuration."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.settings import Settings


class ConfigOut(BaseModel):
    """What the frontend needs to know about this deployment."""

    stripe_publishable_key: str | None = Field(None, description="Stripe.js key; absent with the test provider.")
    google_sign_in: bool = Field(description="`GET /auth/google/login` works.")
    google_calendar: bool = Field(description="Users can connect a Google Calendar.")
    video_meetings: bool = Field(description="Confirmed lessons get a Zoom meeting.")
    email: bool = Field(description="Transactional e-mail is sent.")
    uploads: bool = Field(description="Avatars and lesson materials can be uploaded.")
    payouts: bool = Field(description="Tutors can be paid through Stripe Connect (Stripe is configured).")
    platform_fee_bps: int = Field(description="The platform's share of each lesson in basis points "
                                                    "(1500 = 15 %), shown to tutors where they set their rate.")

    @classmethod
    def from_settings(cls, s: Settings) -> ConfigOut:
        """Which integrations are configured; no secrets (the publishable key is public)."""
        publishable = (s.stripe_publishable_key or None) if s.payments_provider == "stripe" else None
        return cls(stripe_publishable_key=publishable,
                   google_sign_in=s.google_configured, google_calendar=s.google_configured,
                   video_meetings=s.zoom_configured, email=s.brevo_configured, uploads=s.storage_configured,
                   payouts=s.payments_provider == "stripe", platform_fee_bps=s.platform_fee_bps)

"""Clients of third-party APIs (Stripe, Google, Zoom, Brevo, S3): they speak the provider's HTTP API
and import no domain code."""

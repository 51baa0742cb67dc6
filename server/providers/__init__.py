"""Clients of the outside services (Google, Zoom, Brevo, S3) and what they share.

Each module speaks one provider's HTTP API and nothing else: they import settings,
observability and libraries, never domain code, so a domain can use any of them and a
provider change touches one file.
"""

"""Typed settings read from the environment.

Every variable is documented in docs/configuration.md. Development defaults are
safe and convenient; ``ENVIRONMENT=production`` turns on strict checks.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-insecure-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    """All EduStream configuration, one object for every process."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    release: str = "edustream@0.1.0"

    # Storage. Empty means "start the embedded default" (see devtools/embedded.py).
    database_url: str = ""
    redis_url: str = ""
    # A Redis Cluster instead of one Redis: "host:port,host:port" (any reachable nodes; the
    # client learns the rest). REDIS_URL then defaults to the first node (server/redis_client.py).
    redis_cluster_nodes: str = ""
    data_dir: Path = PROJECT_ROOT / ".edustream"
    embedded_redis_port: int = 6390
    db_pool_size: int = 10
    db_max_overflow: int = 5
    # Plain asyncpg connections for one-statement units of work (the hold path), opened on demand.
    db_statement_pool_size: int = 10
    # DATABASE_URL points at PgBouncer in transaction pooling mode: no server-side prepared
    # statements kept across transactions (docs/operations.md, "PgBouncer").
    database_pgbouncer: bool = False
    # A session connection (PostgreSQL itself, or a session-mode pool) for what needs one: the
    # outbox relay's LISTEN and leadership lock, and migrations. Empty: DATABASE_URL.
    database_direct_url: str = ""

    # HTTP
    public_url: str = "http://localhost:8000"
    frontend_url: str = "http://localhost:3000"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["http://localhost:3000", "http://127.0.0.1:3000"])
    max_body_bytes: int = 1_000_000

    # Auth
    secret_key: str = DEV_SECRET
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    cookie_secure: bool = False
    cookie_domain: str | None = None
    # E-mail verification links: how long one works, and the least time between two sent.
    email_verification_ttl_seconds: int = 48 * 3600
    email_verification_resend_seconds: int = 60
    # Password sign-in per account: after LOGIN_MAX_FAILURES wrong passwords in a row the address
    # is locked for LOGIN_LOCK_BASE_SECONDS, doubling with each further failure up to
    # LOGIN_LOCK_MAX_SECONDS; the count is forgotten after LOGIN_FAILURE_WINDOW_SECONDS without one.
    login_max_failures: int = 5
    login_lock_base_seconds: int = 30
    login_lock_max_seconds: int = 900
    login_failure_window_seconds: int = 3600
    # Registration answers 409 email_taken at most this often per client IP and per address
    # within REGISTER_TAKEN_WINDOW_SECONDS (then 429), so addresses cannot be enumerated quickly.
    register_taken_per_ip: int = 10
    register_taken_per_email: int = 5
    register_taken_window_seconds: int = 3600
    # Refresh tokens are deleted this long after they expired or were revoked.
    refresh_token_retention_seconds: int = 7 * 24 * 3600

    # Rate limits: requests per window, per client IP / per signed-in user.
    rate_limit_enabled: bool = True
    rate_limit_window_seconds: int = 60
    rate_limit_per_ip: int = 600
    rate_limit_per_user: int = 300
    rate_limit_auth_per_ip: int = 20
    # A Redis call slower than this lets the request through (rate limiting fails open).
    rate_limit_redis_timeout_seconds: float = 0.5
    # The API's Redis clients (cache, rate limits, task kicks) give up on a connect or a reply
    # after this long, so a hung Redis cannot hang requests.
    redis_socket_timeout_seconds: float = 2.0
    # A task kicked after commit (inside the HTTP response) is abandoned after this long and
    # logged; the sweeps pick up what it would have done (docs/jobs.md).
    enqueue_timeout_seconds: float = 2.0
    # How often each API process re-reads the suspended accounts (their access tokens are
    # refused from then on; their live connections close at once through the outbox).
    suspension_refresh_seconds: float = 1.0
    # Behind a reverse proxy: take the client IP from X-Forwarded-For, counting this many
    # proxies from the right (only addresses our own proxies appended can be trusted).
    trust_proxy_headers: bool = False
    trusted_proxy_count: int = 1

    # Booking rules
    hold_ttl_seconds: int = 600
    max_active_holds: int = 3
    # How long the first student in line has to pay for a slot handed to them (docs/waitlist.md).
    waitlist_offer_seconds: int = Field(default=120, gt=0)
    # Slot hoarding (docs/security.md): live holds on one tutor at once, all students together
    # (0: no limit); how long a student waits before holding again a slot they let go;
    # hold attempts per client IP per HOLD_TTL_SECONDS (0: no limit; counted with the rate
    # limits, so off when RATE_LIMIT_ENABLED is); confirmed free lessons a student may have ahead.
    hold_limit_per_tutor: int = 20
    hold_rehold_cooldown_seconds: int = 60
    hold_limit_per_ip: int = 30
    max_upcoming_free_bookings: int = 5
    slot_window_max_days: int = 31
    # How long the shared default slot listing of a tutor may be reused at one version.
    slots_snapshot_ttl_seconds: float = 60.0
    cancel_full_refund_hours: int = 24
    # A refund still failing after this many attempts (task runs, retries and reconcile re-queues)
    # becomes ``refund_failed``: an alert (log, metric, admin list) instead of endless retries.
    refund_max_attempts: int = 8
    idempotency_ttl_seconds: int = 24 * 3600

    # Live layer
    live_history_seconds: int = 3600
    live_max_watches: int = 20
    live_max_payload_bytes: int = 4096
    live_events_per_second: int = 20
    live_allow_polling: bool = True
    # Pub/sub ignores Redis database numbers: the default channel carries the environment and
    # REDIS_URL's database number so separate deployments/test runs on one server stay apart.
    live_redis_channel: str = ""
    live_relay_poll_seconds: float = 0.5
    live_relay_batch_size: int = 500
    # False serves fan-out through python-socketio's stock AsyncRedisManager (for comparison).
    live_fast_fanout: bool = True
    # A client whose unsent backlog passes this many packets is disconnected (it re-watches with since).
    live_max_queued_packets: int = 1000
    # Broadcasts waiting for Redis while a publish is in flight; past it, new ones skip Redis (docs/live.md).
    live_max_pending_broadcasts: int = 10_000
    # Socket (read/write and connect) timeout of the live layer's Redis clients; subscriptions block without it.
    live_redis_timeout_seconds: float = 5.0
    # Per client IP and RATE_LIMIT_WINDOW_SECONDS, shared by every API process through Redis.
    live_connections_per_ip: int = 120
    live_events_per_ip: int = 1200
    # Engine.IO heartbeat: a client that misses pings for interval + timeout is dropped.
    live_ping_interval_seconds: float = 25.0
    live_ping_timeout_seconds: float = 20.0

    # Instant lessons (docs/instant.md): how long the offered tutors have to accept a request;
    # a tutor's /live connection counts as present for INSTANT_PRESENCE_TTL_SECONDS after its
    # API process last refreshed it (every INSTANT_PRESENCE_HEARTBEAT_SECONDS), so the presence
    # of a crashed process ends within the TTL; the most tutors one request is offered to.
    instant_accept_seconds: int = Field(default=30, ge=5, le=600)
    instant_presence_ttl_seconds: float = Field(default=30.0, gt=0)
    instant_presence_heartbeat_seconds: float = Field(default=10.0, gt=0)
    instant_max_offers: int = Field(default=50, ge=1)

    # Messages (docs/messages.md): messages one user may send per minute (counted with the rate
    # limits, so off when RATE_LIMIT_ENABLED is; 0: no limit); a message still unread this long
    # after it was sent is e-mailed to its recipient, by a sweep run every
    # MESSAGE_EMAIL_SWEEP_SECONDS (0: no e-mails).
    message_limit_per_minute: int = Field(default=20, ge=0)
    message_email_after_seconds: int = Field(default=900, ge=0)
    message_email_sweep_seconds: int = Field(default=60, ge=1)

    # Jobs
    hold_expiring_lead_seconds: int = 60
    session_alert_minutes: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [10, 1])
    sweep_interval_seconds: float = 1.0
    task_max_retries: int = 5
    task_timeout_seconds: int = 30
    # Task queue (docs/jobs.md). One Redis stream per deployment; tests use one per run.
    task_queue_name: str = "edustream:tasks"
    # An unacknowledged task is handed to another worker after this long: keep it above
    # task_timeout_seconds, or a slow task runs twice.
    task_idle_timeout_seconds: float = 120.0
    task_stream_maxlen: int = 100_000
    task_retry_base_seconds: float = 2.0
    task_retry_max_seconds: float = 600.0
    # Lead times in seconds; when set, they replace session_alert_minutes (tests use seconds).
    session_alert_seconds: Annotated[list[float] | None, NoDecode] = None
    hold_retention_days: int = 30
    notification_retention_days: int = 90
    housekeeping_cron: str = "*/10 * * * *"

    # Payments
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    payments_test_provider: bool = False
    # The platform's share of every paid lesson, in basis points (1500 = 15 %), rounded down
    # (in the tutor's favour). Tutors are paid through Stripe Connect Express (docs/payments.md).
    platform_fee_bps: int = Field(default=1500, ge=0, le=10_000)
    # A completed lesson's earnings become ``available`` this long after it ended (refunds by an
    # admin are still possible until then).
    payout_refund_window_hours: int = Field(default=48, ge=0)
    # Package credits (docs/payments.md): they expire this many months after the package was
    # paid; the student is reminded (e-mail and live ``credits.expiring``) this many days before,
    # by the ``credits.remind_expiring`` sweep on this schedule (0 days: no reminder).
    credit_expiry_months: int = Field(default=12, ge=1, le=120)
    credit_expiry_reminder_days: int = Field(default=14, ge=0, le=365)
    credits_reminder_cron: str = "*/30 * * * *"
    # Where Stripe sends the tutor back after onboarding (paths under FRONTEND_URL).
    connect_return_path: str = "/payouts?onboarding=done"
    connect_refresh_path: str = "/payouts?onboarding=retry"

    # Object storage: any S3-compatible store (MinIO in docker-compose.yml) for avatars and
    # lesson materials. An empty endpoint means AWS S3 itself.
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_bucket: str = "edustream"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # The store's address as browsers see it, for presigned URLs (S3_ENDPOINT_URL may be an internal
    # name such as http://minio:9000). Empty: S3_ENDPOINT_URL.
    s3_public_endpoint_url: str = ""
    # Storage limits (enforced by the store through the presigned POST policy).
    s3_presign_ttl_seconds: int = 300
    s3_avatar_max_bytes: int = 2_000_000
    s3_material_max_bytes: int = 25_000_000
    # Lesson-material quotas per booking (files in the store or still uploadable, and their bytes).
    materials_max_files_per_booking: int = 20
    materials_max_bytes_per_booking: int = 100_000_000
    # A form handed out this long ago (past its expiry) whose object never appeared is an orphan:
    # uploads.sweep forgets it (and removes the object, should a slow upload land after all).
    uploads_orphan_grace_seconds: int = 3600
    uploads_sweep_cron: str = "*/5 * * * *"
    # Avatar upload forms a tutor may hold at once (each lets them store S3_AVATAR_MAX_BYTES).
    avatars_max_open_forms: int = 5

    # Integrations (docs/integrations.md). Each one is off until its credentials are set; every
    # provider base URL is a setting so tests (and staging) can point it at a local server.
    integrations_http_timeout_seconds: float = 10.0
    # Fernet keys (comma-separated, the first encrypts) for OAuth tokens at rest. Empty: a key
    # derived from SECRET_KEY (refused in production when Google Calendar is configured).
    integrations_encryption_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Booking changes, new accounts and refunds are picked up by a sweep this often, looking back this far.
    integrations_sweep_seconds: float = 5.0
    integrations_lookback_hours: int = 24
    # Google: sign-in (OpenID Connect) and Calendar share one OAuth client.
    google_client_id: str = ""
    google_client_secret: str = ""
    google_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    google_calendar_api_base: str = "https://www.googleapis.com/calendar/v3"
    google_calendar_scope: str = ("https://www.googleapis.com/auth/calendar.events "
                                  "https://www.googleapis.com/auth/calendar.freebusy")
    google_calendar_sync_cron: str = "*/10 * * * *"
    google_calendar_busy_days: int = 60
    # Zoom Server-to-Server OAuth app (account credentials grant).
    zoom_account_id: str = ""
    zoom_client_id: str = ""
    zoom_client_secret: str = ""
    zoom_oauth_url: str = "https://zoom.us/oauth/token"
    zoom_api_base: str = "https://api.zoom.us/v2"
    zoom_user_id: str = "me"
    # Brevo transactional e-mail.
    brevo_api_key: str = ""
    brevo_api_base: str = "https://api.brevo.com"
    email_sender_address: str = "no-reply@edustream.example"
    email_sender_name: str = "EduStream"
    email_reminder_minutes: int = 24 * 60

    # Observability
    sentry_dsn: str = ""
    sentry_traces_sample_rate: float = 0.0
    log_level: str = "INFO"
    log_json: bool | None = None
    tracing_enabled: bool = False
    tracing_exporter: Literal["jaeger", "otlp", "console"] = "console"
    tracing_service_name: str = "edustream-api"
    tracing_sample_rate: float | None = None
    jaeger_agent_host: str = "localhost"
    jaeger_agent_port: int = 6831
    otlp_endpoint: str = "http://localhost:4317"
    # Peers (IPs or CIDR networks, comma-separated) whose W3C trace context headers are continued
    # (a tracing proxy, a trusted internal caller). Anyone else starts a new trace.
    tracing_trusted_sources: Annotated[list[str], NoDecode] = Field(default_factory=list)
    sentry_environment: str = ""  # empty: ENVIRONMENT
    sentry_sample_rate: float = 1.0  # share of error events sent
    log_access: bool = True  # one structured line per HTTP request (route, status, duration)
    metrics_enabled: bool = True  # serve /metrics (Prometheus text format)
    metrics_token: str = ""  # when set, /metrics needs "Authorization: Bearer <token>" (required in production)
    worker_metrics_port: int = 0  # worker/scheduler serve /metrics on this port when > 0
    worker_metrics_host: str = "127.0.0.1"  # address the worker/scheduler metrics listen on

    @field_validator("cors_origins", "session_alert_minutes", "session_alert_seconds",
                     "integrations_encryption_keys", "tracing_trusted_sources", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        # NoDecode on these fields: pydantic-settings would otherwise insist on JSON.
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("tracing_trusted_sources")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"TRACING_TRUSTED_SOURCES: {item!r} is not an IP address or network") from exc
        return value

    @model_validator(mode="after")
    def _cluster_url(self) -> Settings:
        """With ``REDIS_CLUSTER_NODES`` set, ``REDIS_URL`` names its first node (for the checks
        and the tools that need one URL); a cluster has only database 0."""
        if self.redis_cluster_nodes and not self.redis_url:
            first = self.redis_cluster_nodes.split(",")[0].strip()
            object.__setattr__(self, "redis_url", f"redis://{first}/0")
        return self

    @model_validator(mode="after")
    def _production_checks(self) -> Settings:
        if self.environment != "production":
            return self
        problems: list[str] = []
        if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if not self.database_url:
            problems.append("DATABASE_URL is required (no embedded database in production)")
        if not self.redis_url:
            problems.append("REDIS_URL is required (no embedded Redis in production)")
        if self.payments_test_provider:
            problems.append("PAYMENTS_TEST_PROVIDER cannot be enabled in production")
        if not self.stripe_secret_key or not self.stripe_webhook_secret:
            problems.append("STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are required")
        if (self.metrics_enabled or self.worker_metrics_port > 0) and len(self.metrics_token) < 16:
            problems.append("METRICS_TOKEN (at least 16 characters) is required while metrics are served "
                            "(or set METRICS_ENABLED=false)")
        if self.google_configured and not self.integrations_encryption_keys:
            problems.append("INTEGRATIONS_ENCRYPTION_KEYS is required when Google is configured")
        if problems:
            raise ValueError("production configuration refused: " + "; ".join(problems))
        # Secure cookies are not optional in production.
        object.__setattr__(self, "cookie_secure", True)
        return self

    @property
    def session_database_url(self) -> str:
        """Where session state (LISTEN, session advisory locks, migrations) may live."""
        return self.database_direct_url or self.database_url

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def live_channel(self) -> str:
        """The Redis pub/sub channel the live layer's processes share."""
        if self.live_redis_channel:
            return self.live_redis_channel
        tail = self.redis_url.rstrip("/").rpartition("/")[2]
        return f"edustream-{self.environment}-db{tail if tail.isdigit() else 0}"

    @property
    def effective_sample_rate(self) -> float:
        if self.tracing_sample_rate is not None:
            return self.tracing_sample_rate
        return 0.1 if self.is_production else 1.0

    @property
    def json_logs(self) -> bool:
        return self.is_production if self.log_json is None else self.log_json

    @property
    def google_configured(self) -> bool:
        """Google sign-in and Calendar are on when the OAuth client is configured."""
        return bool(self.google_client_id and self.google_client_secret)

    @property
    def zoom_configured(self) -> bool:
        return bool(self.zoom_account_id and self.zoom_client_id and self.zoom_client_secret)

    @property
    def brevo_configured(self) -> bool:
        return bool(self.brevo_api_key)

    @property
    def storage_configured(self) -> bool:
        return bool(self.s3_access_key_id and self.s3_secret_access_key and self.s3_bucket)

    @property
    def payments_provider(self) -> Literal["stripe", "test"]:
        """Stripe when keys are configured; the labelled test provider otherwise."""
        if self.stripe_secret_key and not self.payments_test_provider:
            return "stripe"
        return "test"


@lru_cache
def get_settings() -> Settings:
    return Settings()

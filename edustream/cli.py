"""The ``edustream`` command: one entry point for every EduStream process.

``edustream dev`` runs the whole platform in one terminal; ``api``, ``worker``,
``scheduler`` and ``migrate`` are what a deployment runs (docker-compose.yml); ``seed
--demo`` loads demo data. With ``DATABASE_URL``/``REDIS_URL`` unset, every subcommand
first starts (or reuses) the embedded PostgreSQL and Redis under ``DATA_DIR``.

Logs are plain text on stderr, one line per record with a timestamp and the process
name (``LOG_JSON=true`` switches to one JSON object per line).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import logging.config
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from devtools import embedded
from devtools.seed import format_logins, seed_demo
from devtools.supervisor import run_dev
from loadtest.cli import add_arguments as add_loadtest_arguments
from loadtest.cli import run_from_args
from server.auth import service as auth_service
from server.auth.schemas import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from server.db import libpq_url, make_engine, make_sessionmaker, unit_of_work
from server.emails.preview import write_previews
from server.migrate import upgrade
from server.observability.logging import configure_logging
from server.payouts import reconcile
from server.settings import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger("edustream.cli")

# taskiq's own worker log lines (before our task runtime configures logging).
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s[%(process)d] %(name)s: %(message)s"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class DropColorMessage(logging.Filter):
    """uvicorn attaches an ANSI-coloured copy of some messages as ``color_message``; formatters
    that print a record's extra fields would print the escape codes. Drop it at the source."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def logging_config(level: str = "INFO", json_lines: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` with the formatters of :mod:`server.observability.logging`
    (uvicorn applies it in each of its worker processes too)."""
    level = level.upper() if level.upper() in _LEVELS else "INFO"
    formatter = "JsonFormatter" if json_lines else "ConsoleFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"server.observability.logging.{formatter}"}},
        "filters": {"no_color": {"()": "edustream.cli.DropColorMessage"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "default"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own loggers: no handlers of their own, so no colours; ours via the root.
            "uvicorn": {"level": level, "handlers": [], "propagate": True, "filters": ["no_color"]},
            "uvicorn.error": {"level": level, "filters": ["no_color"]},
            "uvicorn.access": {"level": level, "handlers": [], "propagate": True, "filters": ["no_color"]},
            "pgserver": {"level": "WARNING"},
            "alembic.runtime.plugins": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
        },
    }


def _configure_logging(settings: Settings | None, process_name: str) -> None:
    """Plain lines on stderr until the settings are read; then the settings' format
    (``LOG_JSON``, ``LOG_LEVEL``) with the process name on every record."""
    multiprocessing.current_process().name = process_name
    if settings is None:
        logging.config.dictConfig(logging_config(os.environ.get("LOG_LEVEL", "INFO")))
        return
    logging.config.dictConfig(logging_config(settings.log_level, settings.json_logs))
    configure_logging(settings, process_name)


def _load_settings() -> Settings:
    get_settings.cache_clear()
    try:
        return get_settings()
    except ValidationError as exc:
        details = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise SystemExit(f"edustream: invalid configuration: {details}") from None


def prepare_services(settings: Settings) -> Settings:
    """Start the embedded PostgreSQL/Redis when ``DATABASE_URL``/``REDIS_URL`` are unset;
    return settings that point at the servers in use (children inherit the environment)."""
    if settings.database_url and settings.redis_url:
        return settings
    log.info("DATABASE_URL/REDIS_URL unset: using embedded services (data in %s)", settings.data_dir)
    try:
        embedded.ensure_services(settings.data_dir, redis_port=settings.embedded_redis_port)
    except embedded.EmbeddedServiceError as exc:
        raise SystemExit(f"edustream: {exc}") from None
    return _load_settings()


async def _ensure_database(url: str) -> None:
    """Create the database named in ``url`` when the server has no such database yet."""
    try:
        conn = await asyncpg.connect(libpq_url(url), timeout=10)
    except asyncpg.InvalidCatalogNameError:
        target = make_url(libpq_url(url))
        admin = target.set(database="postgres").render_as_string(hide_password=False)
        conn = await asyncpg.connect(admin, timeout=10)
        try:
            name = str(target.database).replace('"', '""')
            await conn.execute(f'CREATE DATABASE "{name}"')
            log.info("created database %s", target.database)
        except asyncpg.DuplicateDatabaseError:
            pass  # another process created it first
    await conn.close()


def run_migrations(settings: Settings) -> None:
    # A session connection: migrations serialise on a lock and run DDL (DATABASE_DIRECT_URL).
    asyncio.run(_ensure_database(settings.session_database_url))
    log.info("migrating the database to the latest revision")
    upgrade(settings.session_database_url)


async def _seed(settings: Settings) -> str:
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
    try:
        report = await seed_demo(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    log.info("demo data: %d accounts created, %d already there", report.created, report.existing)
    return format_logins(report.logins)


# --- subcommands --------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    settings = prepare_services(settings)
    run_migrations(settings)
    log.info("database is at the latest revision")
    return 0


#: How every API process serves WebSockets (for ``uvicorn edustream.asgi:app_factory`` pass
#: ``--ws websockets-sansio --ws-per-message-deflate false --ws-max-size 65536 --ws-ping-interval 0``;
#: docs/live.md). websockets-sansio is the one protocol the direct write path serves (and the
#: leanest: docs/benchmarks.md, "Memory per idle live connection"). A frame is at most 64 KiB (the
#: live layer's events are far smaller). Browsers and socket.io-client offer permessage-deflate;
#: accepting it gives each connection a zlib compressor and decompressor (about 47 KB) that the
#: live layer never uses (it sends its frames uncompressed: realtime/internals/queues.py). No
#: WebSocket-level keepalive: Engine.IO's heartbeat (LIVE_PING_INTERVAL_SECONDS) already ends a
#: connection that stops answering, and uvicorn's would cost each connection a timer more.
LIVE_UVICORN_OPTIONS: dict[str, Any] = {"ws": "websockets-sansio", "ws_per_message_deflate": False,
                                        "ws_max_size": 65536, "ws_ping_interval": None}


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    settings = prepare_services(settings)
    if not args.no_migrate:
        run_migrations(settings)
    uvicorn.run(
        "edustream.asgi:app_factory", factory=True, host=args.host, port=args.port, workers=args.workers,
        reload=args.reload, reload_dirs=[str(PROJECT_ROOT / d) for d in ("server", "realtime", "tasks", "models", "edustream")]
        if args.reload else None,
        log_config=logging_config(settings.log_level, settings.json_logs),
        proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips, timeout_graceful_shutdown=10,
        # One access line per request: ours (edustream.access, with route and duration), not uvicorn's too.
        access_log=False,
        **LIVE_UVICORN_OPTIONS,
    )
    return 0


def _exec_taskiq(argv: list[str], settings: Settings) -> int:
    level = settings.log_level.upper() if settings.log_level.upper() in _LEVELS else "INFO"
    argv += ["--log-level", level]
    log.info("exec %s", " ".join(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(argv[0], argv)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    settings = prepare_services(settings)
    return _exec_taskiq(
        [sys.executable, "-m", "taskiq", "worker", "tasks.broker:broker", "tasks.all",
         "--workers", str(args.workers), "--max-async-tasks", str(args.max_async_tasks),
         "--ack-type", "when_executed", "--log-format", LOG_FORMAT], settings)


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    settings = prepare_services(settings)
    return _exec_taskiq(
        [sys.executable, "-m", "taskiq", "scheduler", "tasks.scheduler:scheduler",
         "--update-interval", str(args.update_interval), "--skip-first-run"], settings)


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    if not args.demo:
        args.parser.error("nothing to seed: pass --demo")
    if settings.is_production:
        # The demo accounts have published passwords: never in a real deployment.
        args.parser.error("refusing to load demo data with ENVIRONMENT=production (its passwords are public)")
    settings = prepare_services(settings)
    run_migrations(settings)
    table = asyncio.run(_seed(settings))
    print(table, flush=True)
    return 0


def _admin_password(args: argparse.Namespace) -> str | None:
    """From stdin (--password-stdin), else prompted twice on a terminal; None keeps an existing one."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password (empty: keep the existing one): ")
        if password and getpass.getpass("Again: ") != password:
            args.parser.error("the passwords differ")
    else:
        password = ""
    if password and not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        args.parser.error(f"the password must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters")
    return password or None


async def _make_admin(settings: Settings, email: str, name: str | None, password: str | None) -> tuple[str, bool]:
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            user, created = await auth_service.make_admin(session, email, name, password)
            return str(user.id), created
    finally:
        await engine.dispose()


def cmd_admin(args: argparse.Namespace, settings: Settings) -> int:
    password = _admin_password(args)
    settings = prepare_services(settings)
    run_migrations(settings)
    try:
        user_id, created = asyncio.run(_make_admin(settings, args.email.strip(), args.name, password))
    except ValueError as exc:
        args.parser.error(f"{exc} (pass --password-stdin or run it on a terminal)")
    print(f"{'created' if created else 'made'} admin {args.email} ({user_id})", flush=True)
    return 0


async def _check_ledger(settings: Settings, with_stripe: bool) -> list[str]:
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            return [str(d) for d in await reconcile.check(session, settings, with_stripe=with_stripe)]
    finally:
        await engine.dispose()


def cmd_ledger(args: argparse.Namespace, settings: Settings) -> int:
    settings = prepare_services(settings)
    differences = asyncio.run(_check_ledger(settings, not args.no_stripe))
    for difference in differences:
        print(difference, flush=True)
    print(f"ledger check: {len(differences)} difference(s)", flush=True)
    return 1 if differences else 0


def cmd_loadtest(args: argparse.Namespace, settings: Settings) -> int:
    return run_from_args(args)


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    if args.stop_embedded:
        stopped = embedded.stop_services(settings.data_dir, redis_port=settings.embedded_redis_port)
        log.info("stopped embedded services: %s", ", ".join(stopped) or "none were running")
        return 0
    embedded_dir = None if settings.database_url and settings.redis_url else settings.data_dir
    settings = prepare_services(settings)
    run_migrations(settings)
    logins = None if args.no_seed else asyncio.run(_seed(settings))
    if logins:
        print(logins, flush=True)
    return run_dev(args, settings, demo_logins=logins is not None, embedded_dir=embedded_dir)


def cmd_emails(args: argparse.Namespace, settings: Settings) -> int:
    files = write_previews(settings, Path(args.out))
    print(f"rendered {(len(files) - 1) // 2} e-mail templates into {args.out}; open {files[0]}", flush=True)
    return 0


# --- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edustream", description="EduStream: a student-tutor booking platform with live availability.",
        epilog="Configuration comes from environment variables (see docs/configuration.md). "
               "With DATABASE_URL/REDIS_URL unset, an embedded PostgreSQL and Redis are started under DATA_DIR.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=description)
        p.set_defaults(parser=p)
        return p

    dev = add("dev", "run everything in one terminal (API, live layer, worker, scheduler, frontend)",
              "Start (or reuse) the database and Redis, migrate, seed demo data, then run the API with the "
              "live layer, the worker, the scheduler and the frontend as child processes with prefixed output. "
              "Prints the URLs once ready; Ctrl-C stops everything.")
    dev.add_argument("--host", default="127.0.0.1", help="interface the API and frontend listen on (default %(default)s)")
    dev.add_argument("--api-port", type=int, default=8000, help="API port (default %(default)s)")
    dev.add_argument("--frontend-port", type=int, default=3000, help="frontend port (default %(default)s)")
    dev.add_argument("--no-seed", action="store_true", help="do not load the demo data")
    dev.add_argument("--no-frontend", action="store_true", help="do not build or run the Next.js frontend")
    dev.add_argument("--no-tasks", action="store_true", help="do not run the task worker and scheduler")
    dev.add_argument("--reload", action="store_true", help="restart the API when Python files change")
    dev.add_argument("--stop-embedded", action="store_true",
                     help="stop the embedded PostgreSQL and Redis of DATA_DIR and exit (they keep running "
                          "between runs otherwise, for a fast start)")
    dev.set_defaults(handler=cmd_dev)

    api = add("api", "serve the HTTP API and the Socket.IO live layer",
              "Run migrations, then serve the REST API (/api/v1), the live layer (/socket.io/, namespace /live), "
              "/healthz and /readyz on one port with uvicorn.")
    api.add_argument("--host", default="127.0.0.1", help="interface to listen on (default %(default)s)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on (default %(default)s)")
    api.add_argument("--workers", type=int, default=1, help="number of worker processes (default %(default)s)")
    api.add_argument("--reload", action="store_true", help="restart when Python files change (development)")
    api.add_argument("--no-migrate", action="store_true", help="skip running migrations at start")
    api.add_argument("--forwarded-allow-ips", default=None,
                     help="proxies trusted for X-Forwarded-For/Proto (comma-separated, '*' for any; "
                          "default: $FORWARDED_ALLOW_IPS or 127.0.0.1)")
    api.set_defaults(handler=cmd_api)

    worker = add("worker", "run the background task worker (taskiq)",
                 "Exec `python -m taskiq worker tasks.broker:broker tasks.all` with at-least-once delivery "
                 "(--ack-type when_executed). Run as many as the load needs.")
    worker.add_argument("--workers", type=int, default=1, help="worker processes (default %(default)s)")
    worker.add_argument("--max-async-tasks", type=int, default=100,
                        help="concurrent tasks per worker process (default %(default)s)")
    worker.set_defaults(handler=cmd_worker)

    scheduler = add("scheduler", "run the task scheduler (taskiq); run exactly one",
                    "Exec `python -m taskiq scheduler tasks.scheduler:scheduler --skip-first-run`. "
                    "Run exactly one scheduler per deployment.")
    scheduler.add_argument("--update-interval", type=int, default=5,
                           help="seconds between re-reads of the schedule sources (default %(default)s)")
    scheduler.set_defaults(handler=cmd_scheduler)

    migrate = add("migrate", "bring the database schema to the latest revision",
                  "Run the Alembic migrations up to head. Idempotent; concurrent runs serialise on a lock.")
    migrate.set_defaults(handler=cmd_migrate)

    seed = add("seed", "load demo data", "Create the demo tutors and students (idempotent) and print their logins. "
               "Runs migrations first.")
    seed.add_argument("--demo", action="store_true",
                      help="a dozen tutors across subjects and time zones with availability, and two students")
    seed.set_defaults(handler=cmd_seed)

    admin = add("admin", "manage admin accounts", "Admins cannot be created through the API; make them here.")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    create = admin_sub.add_parser(
        "create", help="create an admin account (or make an existing account an admin)",
        description="Create an admin account with this e-mail address, or give the existing account with it "
                    "the admin role. The password is prompted for (twice) on a terminal, or read from the "
                    "first line of stdin with --password-stdin; an existing account keeps its password when "
                    "none is given.")
    create.add_argument("--email", required=True, help="the admin's e-mail address")
    create.add_argument("--name", default=None, help="display name (default: the address's local part)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.set_defaults(handler=cmd_admin, parser=create)

    emails = add("emails", "e-mail templates (preview)", "Work with the e-mail templates in server/emails/templates.")
    emails_sub = emails.add_subparsers(dest="emails_command", metavar="ACTION", required=True)
    preview = emails_sub.add_parser("preview", help="render every template to HTML with sample data",
                                    description="Render every e-mail template (HTML and text) with sample data "
                                                "into DIR, with an index.html linking them.")
    preview.add_argument("--out", required=True, metavar="DIR", help="directory to write the files into")
    preview.set_defaults(handler=cmd_emails, parser=preview)

    ledger = add("ledger", "check the money ledger", "The double-entry ledger of charges, fees, transfers, "
                 "refunds and payouts (docs/payments.md).")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    check = ledger_sub.add_parser(
        "check", help="verify the ledger; exit 1 on any difference",
        description="Verify that every ledger entry sums to zero per currency, that each booking's entries "
                    "match its earnings line, and (with STRIPE_SECRET_KEY set) that each Transfer agrees with "
                    "Stripe's records. Prints each difference; exits 1 if there is any.")
    check.add_argument("--no-stripe", action="store_true", help="skip the comparison with Stripe")
    check.set_defaults(handler=cmd_ledger, parser=check)

    loadtest = add("loadtest", "drive concurrent holds against a deployment and verify the invariants",
                   "Load test a running deployment (see loadtest).")
    add_loadtest_arguments(loadtest)
    loadtest.set_defaults(handler=cmd_loadtest)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``edustream`` console script."""
    args = build_parser().parse_args(argv)
    args.started = time.monotonic()
    _configure_logging(None, args.command)
    settings = _load_settings()
    _configure_logging(settings, args.command)
    try:
        code: int = args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())

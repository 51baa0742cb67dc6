"""Structured logs that carry the request id and the trace and span ids.

:func:`configure_logging` gives every process (API, worker, scheduler) one handler on the
root logger: one JSON object per line when ``settings.json_logs`` (production default),
a readable line otherwise. Every record, whichever handler formats it, gains the fields
``trace_id``, ``span_id`` (the current OpenTelemetry span, when there is one),
``request_id`` / ``task_id`` (bound with :func:`bind` by the HTTP middleware and the task
middleware) and ``service`` (the process name).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TextIO

from server.observability.tracing import current_ids

if TYPE_CHECKING:
    from server.settings import Settings

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Fields bound to the current request or task (a contextvar: each asyncio task sees its own).
_EMPTY: Mapping[str, str] = MappingProxyType({})
_bound: ContextVar[Mapping[str, str]] = ContextVar("edustream_log_fields", default=_EMPTY)
_process_name = "edustream"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message", "asctime", "trace_id", "span_id", "service", "taskName", "ctx", "kv",
    "color_message"}  # uvicorn's ANSI copy of its message
_CONTEXT_FIELDS = ("request_id", "task_id", "task_name")


def bind(**fields: str | None) -> Token[Mapping[str, str]]:
    """Add fields (``request_id=...``) to every log line of the current context; pass the
    returned token to :func:`unbind` when the request or task ends."""
    merged = {**_bound.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _bound.set(merged)


def unbind(token: Token[Mapping[str, str]]) -> None:
    """Restore the fields as they were before the matching :func:`bind`."""
    _bound.reset(token)


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """``with bound(task_id=...):`` — :func:`bind` for a block."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def bound_fields() -> Mapping[str, str]:
    """The fields bound in the current context (request id, task id...)."""
    return _bound.get()


_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    ids = current_ids()
    record.trace_id, record.span_id = ids if ids else ("", "")
    record.service = _process_name
    fields = _bound.get()
    for key in _CONTEXT_FIELDS:
        setattr(record, key, fields.get(key, ""))
    return record


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k not in _CONTEXT_FIELDS
            and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts level logger message service pid`` plus the trace,
    request and task ids when present, fields passed with ``extra=`` and ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": getattr(record, "service", _process_name),
            "pid": record.process,
        }
        for key in ("trace_id", "span_id", *_CONTEXT_FIELDS):
            value = getattr(record, key, "")
            if value:
                payload[key] = value
        payload.update(_extras(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """A readable line: ``time LEVEL service logger [req=… trace=…] message key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(service)s %(name)s%(ctx)s: %(message)s%(kv)s")

    def format(self, record: logging.LogRecord) -> str:
        ctx = [f"{label}={value}" for label, key in (("req", "request_id"), ("task", "task_id"), ("trace", "trace_id"))
               if (value := getattr(record, key, ""))]
        record.ctx = f" [{' '.join(ctx)}]" if ctx else ""
        extras = _extras(record)
        record.kv = "".join(f" {k}={v}" for k, v in extras.items())
        if not hasattr(record, "service"):
            record.service = _process_name
        return super().format(record)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`configure_logging` installed, so a second call replaces it."""


def configure_logging(settings: Settings, process_name: str, *, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record of this process to stderr (or ``stream``) in our format.

    Replaces the handler of an earlier call and plain stderr/stdout handlers (the CLI's and
    uvicorn's default ones), leaves other handlers (test capture...) alone, routes uvicorn's
    loggers through the root logger, and makes every record carry the context fields.
    """
    global _process_name
    _process_name = process_name
    if logging.getLogRecordFactory() is not _record_factory:
        logging.setLogRecordFactory(_record_factory)
    level = settings.log_level.upper() if settings.log_level.upper() in _LEVELS else "INFO"
    root = logging.getLogger()
    for handler in list(root.handlers):
        plain_std = type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout)
        if isinstance(handler, _OurHandler) or plain_std:
            root.removeHandler(handler)
    handler = _OurHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.json_logs else ConsoleFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    return handler

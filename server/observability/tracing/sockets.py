"""Socket.IO handlers as spans: ``socketio <namespace> <event>``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode
from socketio.exceptions import ConnectionRefusedError as _Refused

from server.observability.tracing.state import Tracing, current, record_error

P = ParamSpec("P")
R = TypeVar("R")


def _environ_context(state: Tracing, environ: Mapping[str, Any]) -> otel_context.Context | None:
    """The handshake's trace context, from a trusted peer only (as for HTTP requests)."""
    scope = environ.get("asgi.scope")
    client = scope.get("client") if isinstance(scope, Mapping) else None
    if not state.trusts(client[0] if client else None):
        return None
    carrier = {key[5:].lower(): value for key, value in environ.items()
               if key in ("HTTP_TRACEPARENT", "HTTP_TRACESTATE") and isinstance(value, str)}
    return extract(carrier) if carrier else None


async def _traced_call(state: Tracing, namespace: str, event: str, args: Sequence[Any],
                       call: Callable[[], Awaitable[R]]) -> R:
    """Run one Socket.IO event (``args`` = ``sid, ...``) inside a server span."""
    sid = args[0] if args else None
    parent = None
    if event == "connect" and len(args) > 1 and isinstance(args[1], Mapping):
        parent = _environ_context(state, args[1])
    attributes: dict[str, Any] = {"socketio.namespace": namespace, "socketio.event": event}
    if isinstance(sid, str):
        attributes["socketio.sid"] = sid
    with state.tracer.start_as_current_span(f"socketio {namespace} {event}", context=parent,
                                            kind=SpanKind.SERVER, attributes=attributes,
                                            record_exception=False, set_status_on_exception=False) as span:
        try:
            result = await call()
        except Exception as exc:
            if isinstance(exc, _Refused):
                # An expected refusal (bad credentials), not a server fault.
                span.set_attribute("socketio.refused", True)
            elif isinstance(getattr(exc, "status", None), int) and getattr(exc, "status", 500) < 500:
                span.set_attribute("socketio.error_code", str(getattr(exc, "code", type(exc).__name__)))
            else:
                record_error(exc)
            raise
        error = result.get("error") if isinstance(result, dict) else None
        if isinstance(error, dict) and "code" in error:
            # Error acks are the protocol's answers; only an internal error is our fault.
            span.set_attribute("socketio.error_code", str(error["code"]))
            if error["code"] == "internal_error":
                span.set_status(Status(StatusCode.ERROR, str(error.get("message", ""))))
        return result


def traced_event(name: str | None = None) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate one Socket.IO handler so each call is a span ``socketio <namespace> <event>``.

    Works on ``AsyncNamespace`` methods (``on_connect(self, sid, environ, auth)``,
    ``on_<event>(self, sid, data)``) and on plain ``@sio.on`` handlers (namespace ``/``
    unless the first argument is a namespace). The event name defaults to the function name
    without ``on_``. A connect handshake that carried a ``traceparent`` header continues that
    trace. A refused connection or a client error (``AppError`` below 500, error acks) is
    recorded as an attribute; anything else marks the span as failed.
    """

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        event = name or func.__name__.removeprefix("on_")
        signature = inspect.signature(func)

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            state = current()
            if state is None:
                return await func(*args, **kwargs)
            # python-socketio retries a legacy disconnect handler with fewer arguments on
            # TypeError: let a signature mismatch through untraced so the retry is the one span.
            signature.bind(*args, **kwargs)
            owner = args[0] if args and isinstance(getattr(args[0], "namespace", None), str) else None
            namespace = getattr(owner, "namespace", None) or "/"
            return await _traced_call(state, namespace, event, args[1:] if owner is not None else args,
                                      lambda: func(*args, **kwargs))

        return wrapper

    return decorate


def traced_dispatch(func: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Decorate an ``AsyncNamespace.trigger_event(self, event, *args)`` override: every event
    the namespace dispatches (connect and disconnect included) becomes a span, as with
    :func:`traced_event`."""

    @functools.wraps(func)
    async def wrapper(self: Any, event: str, *args: Any) -> R:
        state = current()
        if state is None:
            return await func(self, event, *args)
        namespace = getattr(self, "namespace", None) or "/"
        return await _traced_call(state, namespace, str(event), args, lambda: func(self, event, *args))

    return wrapper

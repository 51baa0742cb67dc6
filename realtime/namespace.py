"""The ``/live`` namespace: thin handlers over :mod:`realtime.service`.

A namespace instance is shared by every connection, so per-connection state (who it is,
what it watches, its rate bucket) lives in the Socket.IO session. Every client event
answers through its ack: the payload, or ``{"error": {"code", "message", "details"}}``
exactly as the REST API shapes errors; a bad event never disconnects.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, ValidationError
from socketio.exceptions import ConnectionRefusedError

from realtime import service
from realtime.auth import authenticate_handshake
from realtime.limits import ConnectionState, TokenBucket, check_event, reserve_watch
from realtime.schemas import UnwatchIn, UnwatchOut, WatchChanges, WatchIn
from server.db import unit_of_work
from server.errors import AppError, InvalidRequest, validation_details
from server.identity import InvalidToken
from server.observability import metrics
from server.observability.tracing import traced_dispatch
from server.outbox import tutor_room, user_room
from server.settings import Settings

log = logging.getLogger("edustream.live")
M = TypeVar("M", bound=BaseModel)

NAMESPACE = "/live"
_SESSION_KEY = "live"
_LIFECYCLE = frozenset({"connect", "disconnect"})


class UnknownEvent(AppError):
    status = 404
    code = "unknown_event"
    message = "This namespace has no such event."


class InternalError(AppError):
    status = 500
    code = "internal_error"
    message = "Something went wrong on our side; try again."


def refusal(exc: InvalidToken) -> ConnectionRefusedError:
    """The connect error a client sees: ``err.message`` and ``err.data = {code, message}``."""
    message = f"The access token is invalid ({exc}); sign in again or connect without a token."
    return ConnectionRefusedError(message, {"code": "invalid_token", "message": message,
                                            "details": {"reason": str(exc)}})


class LiveNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Connect (auth), ``watch`` and ``unwatch``; events to clients come from the outbox relay."""

    def __init__(self, settings: Settings, state: Any, namespace: str = NAMESPACE) -> None:
        """``state`` is the Starlette ``app.state``; its ``sessionmaker`` exists once the lifespan ran."""
        super().__init__(namespace)
        self.settings = settings
        self.app_state = state

    @traced_dispatch  # a span per event, connect and disconnect included
    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Route an event through the limits and the error mapping before its handler."""
        if event in _LIFECYCLE:
            return await super().trigger_event(event, *args)
        sid, payload = args[0], args[1:]
        try:
            state = await self._state(sid)
            check_event(state, payload, max_bytes=self.settings.live_max_payload_bytes)
            handler: Callable[..., Awaitable[Any]] | None = getattr(self, f"on_{event}", None) \
                if isinstance(event, str) and event.isidentifier() else None
            if handler is None:
                raise UnknownEvent(details={"event": str(event)[:64], "events": ["watch", "unwatch"]})
            if len(payload) != 1:
                raise InvalidRequest("Send exactly one object as the event's argument.",
                                     details=[{"field": "payload", "message": "expected one object"}])
            return await handler(sid, state, payload[0])
        except AppError as exc:
            return exc.to_dict()
        except Exception:  # an unexpected failure answers the ack; the connection stays up
            log.exception("live event %r failed", event)
            return InternalError().to_dict()

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        """Authenticate (token in ``auth`` or the ``es_access`` cookie); anonymous may only watch."""
        try:
            principal = authenticate_handshake(self.settings, environ, auth)
        except InvalidToken as exc:
            raise refusal(exc) from exc
        state = ConnectionState(principal=principal, bucket=TokenBucket(float(self.settings.live_events_per_second)))
        await self.save_session(sid, {_SESSION_KEY: state})
        if principal is not None:
            await self.enter_room(sid, user_room(principal.id))
        metrics.connection_opened()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        """Rooms are left by the library; nothing else is held per connection."""
        metrics.connection_closed()

    async def on_watch(self, sid: str, state: ConnectionState, data: Any) -> dict[str, Any]:
        """Join the tutor's room, then answer the snapshot (or the missed changes).

        Joining first means no change can fall between the snapshot and the first event;
        the client ignores events whose version is at or below the ack's.
        """
        body = _parse(WatchIn, data)
        room = tutor_room(body.tutor_id)
        added = reserve_watch(state, room, max_watches=self.settings.live_max_watches)
        await self.enter_room(sid, room)
        try:
            async with unit_of_work(self.app_state.sessionmaker) as session:
                result = await service.watch(session, self.settings, body.tutor_id, body.since, datetime.now(UTC))
        except BaseException:
            if added:
                state.watching.discard(room)
                await self.leave_room(sid, room)
            raise
        return result.model_dump(mode="json", exclude_none=isinstance(result, WatchChanges))

    async def on_unwatch(self, sid: str, state: ConnectionState, data: Any) -> dict[str, Any]:
        """Leave the tutor's room (a no-op when not watching)."""
        body = _parse(UnwatchIn, data)
        room = tutor_room(body.tutor_id)
        state.watching.discard(room)
        await self.leave_room(sid, room)
        return UnwatchOut(tutor_id=body.tutor_id).model_dump(mode="json")

    async def _state(self, sid: str) -> ConnectionState:
        session = await self.get_session(sid)
        state = session.get(_SESSION_KEY) if isinstance(session, dict) else None
        if not isinstance(state, ConnectionState):
            raise InternalError("The connection has no live session; reconnect.")
        return state


def _parse(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise InvalidRequest("The event's argument must be a JSON object.",
                             details=[{"field": "payload", "message": "expected an object"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(details=validation_details(exc, ("payload",))) from exc

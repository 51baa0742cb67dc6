"""The ``/live`` namespace: thin handlers over :mod:`realtime.service`.

A namespace instance is shared by every connection, so per-connection state (who it is,
what it watches, its rate bucket) lives in the Socket.IO session. Every client event
answers through its ack: the payload, or ``{"error": {"code", "message", "details"}}``
exactly as the REST API shapes errors; a bad event never disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, ValidationError
from socketio.exceptions import ConnectionRefusedError

from models.user import Role
from realtime import service
from realtime.auth import Identity, authenticate_handshake, verify_token
from realtime.internals import release_handshake
from realtime.limits import (
    CLIENT_IP,
    ConnectionState,
    IpBudgets,
    LiveRateLimited,
    TokenBucket,
    check_event,
    reserve_watch,
)
from realtime.presence import TutorPresence
from realtime.schemas import AuthIn, AuthOut, UnwatchIn, UnwatchOut, WatchIn
from server.availability.schemas import SlotsOut
from server.db import unit_of_work
from server.errors import AppError, InvalidRequest, validation_details
from server.identity import InvalidToken
from server.instant import service as instant_service
from server.observability import metrics
from server.observability.tracing import traced_dispatch
from server.outbox import sign_in_room, tutor_room, user_room
from server.rendered import Rendered
from server.settings import Settings

log = logging.getLogger("edustream.live")
M = TypeVar("M", bound=BaseModel)

NAMESPACE = "/live"
_SESSION_KEY = "live"
_LIFECYCLE = frozenset({"connect", "disconnect"})
_EVENTS = ["auth", "watch", "unwatch"]
#: Sent to a connection whose access token expired, just before it is disconnected.
SESSION_EXPIRED = "session.expired"


class UnknownEvent(AppError):
    status = 404
    code = "unknown_event"
    message = "This namespace has no such event."


class AccountSuspended(AppError):
    status = 403
    code = "account_suspended"
    message = "This account is suspended."


class InvalidLiveToken(AppError):
    status = 401
    code = "invalid_token"
    message = "The access token is invalid; refresh it and send it with the auth event."


class TokenExpired(AppError):
    status = 401
    code = "token_expired"
    message = "The connection's access token expired; send a fresh one with the auth event."


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
        self._tasks: set[asyncio.Task[None]] = set()
        self.budgets = IpBudgets(settings)
        # A tutor's signed-in connections make them present for instant lessons (docs/instant.md).
        self.presence = TutorPresence(settings, self._redis)

    @traced_dispatch  # a span per event, connect and disconnect included
    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Route an event through the limits and the error mapping before its handler."""
        if event in _LIFECYCLE:
            return await super().trigger_event(event, *args)
        sid, payload = args[0], args[1:]
        try:
            state = await self._state(sid)
            check_event(state, payload, max_bytes=self.settings.live_max_payload_bytes)
            await self.budgets.event(self._redis(), state.ip)
            if event != "auth" and state.expires_at is not None and time.time() >= state.expires_at:
                raise TokenExpired()  # the expiry timer is about to end the connection
            handler: Callable[..., Awaitable[Any]] | None = getattr(self, f"on_{event}", None) \
                if isinstance(event, str) and event.isidentifier() else None
            if handler is None:
                raise UnknownEvent(details={"event": str(event)[:64], "events": _EVENTS})
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
        """Within the IP's connection budget, authenticate (token in ``auth`` or the ``es_access``
        cookie); anonymous may only watch."""
        ip = IpBudgets.ip_of(self.settings, environ)
        try:
            await self.budgets.connect(self._redis(), ip)
        except LiveRateLimited as exc:
            raise ConnectionRefusedError(exc.message, exc.to_dict()["error"]) from exc
        try:
            identity = authenticate_handshake(self.settings, environ, auth)
        except InvalidToken as exc:
            raise refusal(exc) from exc
        state = ConnectionState(principal=None, bucket=TokenBucket(float(self.settings.live_events_per_second)),
                                ip=ip)
        await self.save_session(sid, {_SESSION_KEY: state})
        if identity is not None:
            try:
                await self._sign_in(sid, state, identity)
            except AccountSuspended as exc:
                raise ConnectionRefusedError(exc.message, exc.to_dict()["error"]) from exc
        if isinstance(environ, dict):
            release_handshake(environ, {CLIENT_IP: ip})  # idle connections keep only what they use
        metrics.connection_opened()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        """Rooms are left by the library; the expiry timer is cancelled."""
        session = await self.get_session(sid)
        state = session.get(_SESSION_KEY) if isinstance(session, dict) else None
        if isinstance(state, ConnectionState) and state.expiry is not None:
            state.expiry.cancel()
        await self.presence.left(sid)
        metrics.connection_closed()

    async def on_auth(self, sid: str, state: ConnectionState, data: Any) -> dict[str, Any]:
        """Re-authenticate in-band: a fresh access token for the same user moves the expiry.

        An anonymous connection may sign in this way. A token of another user is refused
        (connect again instead); a refused token leaves the connection as it was.
        """
        body = _parse(AuthIn, data)
        try:
            identity = verify_token(self.settings, body.token)
        except InvalidToken as exc:
            raise InvalidLiveToken(details={"reason": str(exc)}) from exc
        if state.principal is not None and identity.principal.id != state.principal.id:
            raise InvalidLiveToken("The token belongs to another user; open a new connection for them.",
                                   details={"reason": "different user"})
        await self._sign_in(sid, state, identity)
        return AuthOut(user_id=identity.principal.id,
                       expires_at=datetime.fromtimestamp(identity.expires_at, UTC)).model_dump(mode="json")

    async def _sign_in(self, sid: str, state: ConnectionState, identity: Identity) -> None:
        """Bind the connection to the token's user until the token expires."""
        if identity.principal.id in getattr(self.app_state, "suspended_ids", ()):
            raise AccountSuspended()
        first = state.principal is None
        if first:
            await self.enter_room(sid, user_room(identity.principal.id))
        old = state.principal.session_id if state.principal is not None else None
        if identity.principal.session_id != old:
            if old is not None:
                await self.leave_room(sid, sign_in_room(old))
            if identity.principal.session_id is not None:
                await self.enter_room(sid, sign_in_room(identity.principal.session_id))
        state.principal, state.expires_at = identity.principal, identity.expires_at
        self._schedule_expiry(sid, state)
        if identity.principal.role == Role.TUTOR:
            await self.presence.joined(sid, identity.principal.id)
            if first:
                self._spawn(self._offer_waiting(identity.principal.id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _offer_waiting(self, tutor_id: uuid.UUID) -> None:
        """A tutor has come online: the instant requests still waiting that they could take
        reach them too (after the connect, so it never delays it)."""
        try:
            async with unit_of_work(self.app_state.sessionmaker) as session:
                await instant_service.offer_waiting(session, self.settings, tutor_id, datetime.now(UTC))
        except Exception:  # best effort: the request's other tutors are unaffected
            log.warning("offering waiting instant requests to tutor %s failed", tutor_id, exc_info=True)

    def _schedule_expiry(self, sid: str, state: ConnectionState) -> None:
        if state.expiry is not None:
            state.expiry.cancel()
        if state.expires_at is not None:
            # The loop's clock is monotonic and the expiry wall-clock time: _expire re-checks.
            delay = max(0.0, state.expires_at - time.time()) + 0.05
            state.expiry = asyncio.get_running_loop().call_later(delay, self._expire, sid, state)

    def _expire(self, sid: str, state: ConnectionState) -> None:
        state.expiry = None
        if state.expires_at is None:
            return
        if time.time() < state.expires_at:
            self._schedule_expiry(sid, state)
            return
        self._spawn(self._end_expired(sid))

    async def _end_expired(self, sid: str) -> None:
        """Tell the client why, then disconnect it (it refreshes its token and connects again)."""
        log.info("live connection %s: access token expired", sid)
        message = "The access token expired; refresh it and connect again (or send auth before it expires)."
        # Local only (the connection is ours): no Redis round trip before the disconnect.
        await self.emit(SESSION_EXPIRED, {"reason": "token_expired", "message": message}, to=sid, ignore_queue=True)
        await self.disconnect(sid)

    async def on_watch(self, sid: str, state: ConnectionState, data: Any) -> Rendered[SlotsOut] | dict[str, Any]:
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
        if isinstance(result, Rendered):
            return result  # the shared listing's JSON, spliced into the ack as is (realtime/wire.py)
        return result.model_dump(mode="json", exclude_none=True)

    async def on_unwatch(self, sid: str, state: ConnectionState, data: Any) -> dict[str, Any]:
        """Leave the tutor's room (a no-op when not watching)."""
        body = _parse(UnwatchIn, data)
        room = tutor_room(body.tutor_id)
        state.watching.discard(room)
        await self.leave_room(sid, room)
        return UnwatchOut(tutor_id=body.tutor_id).model_dump(mode="json")

    def _redis(self) -> Any:
        return getattr(self.app_state, "redis", None)

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

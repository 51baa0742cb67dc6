"""Thin typed endpoints: one decorator declares who may call, the body and query
schemas and the response schema; the same declarations generate the OpenAPI document.

A handler looks like::

    @router.post("/holds", status=201, auth=STUDENT, errors=[SlotUnavailable])
    async def place_hold(ctx: Ctx, body: HoldCreate) -> HoldOut: ...

Parameters are recognised by name: ``body`` (JSON body model), ``query`` (query-string
model), and any other name is a path parameter (``uuid.UUID`` or ``str``).
"""

from __future__ import annotations

import inspect
import json
import typing
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.csrf import UNSAFE_METHODS, check_origin, require_json_body
from server.db import Sessionmaker, unit_of_work
from server.errors import (
    AppError,
    Forbidden,
    InvalidRequest,
    NotFound,
    Unauthorized,
    validation_details,
)
from server.identity import ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, InvalidToken, Principal, decode_access_token
from server.rendered import Rendered
from server.settings import Settings


class Auth:
    """Who may call an endpoint: ``None`` roles means anyone, signed in or not."""

    def __init__(self, *roles: str, optional: bool = False) -> None:
        self.roles = frozenset(roles)
        self.required = bool(roles) and not optional
        self.optional = optional

    @property
    def public(self) -> bool:
        return not self.roles and not self.optional


PUBLIC = Auth()
OPTIONAL = Auth(optional=True)
SIGNED_IN = Auth("student", "tutor", "admin")
STUDENT = Auth("student")
TUTOR = Auth("tutor")
ADMIN = Auth("admin")


class Ctx:
    """Everything a handler may use: the request, settings, shared clients and the caller."""

    def __init__(self, request: Request, principal: Principal | None) -> None:
        self.request = request
        self._principal = principal

    @property
    def settings(self) -> Settings:
        return typing.cast(Settings, self.request.app.state.settings)

    @property
    def sessionmaker(self) -> Sessionmaker:
        return typing.cast(Sessionmaker, self.request.app.state.sessionmaker)

    @property
    def redis(self) -> Redis:
        return typing.cast(Redis, self.request.app.state.redis)

    @property
    def state(self) -> Any:
        return self.request.app.state

    @property
    def principal(self) -> Principal | None:
        return self._principal

    @property
    def user(self) -> Principal:
        """The signed-in caller (the endpoint's ``auth`` guarantees there is one)."""
        if self._principal is None:
            raise Unauthorized()
        return self._principal

    @property
    def idempotency_key(self) -> str | None:
        key = self.request.headers.get("idempotency-key")
        if key is not None and not (1 <= len(key) <= 255):
            raise InvalidRequest("Idempotency-Key must be 1 to 255 characters.", code="invalid_idempotency_key")
        return key


def authenticate(request: Request, settings: Settings) -> Principal | None:
    """Bearer header first, then the access cookie (which needs the CSRF header on unsafe methods)."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Use 'Authorization: Bearer <access_token>'.", code="invalid_token")
        try:
            return decode_access_token(settings, token.strip())
        except InvalidToken as exc:
            raise Unauthorized(f"The access token is invalid: {exc}.", code="invalid_token") from exc
    cookie = request.cookies.get(ACCESS_COOKIE)
    if not cookie:
        return None
    try:
        principal = decode_access_token(settings, cookie)
    except InvalidToken:
        return None  # A stale cookie is treated as signed out; /auth/refresh renews it.
    if request.method in UNSAFE_METHODS:
        csrf_cookie = request.cookies.get(CSRF_COOKIE)
        csrf_header = request.headers.get(CSRF_HEADER)
        if not csrf_cookie or not csrf_header or csrf_cookie != csrf_header:
            raise Forbidden("Cookie-authenticated requests must send the X-CSRF-Token header "
                            "matching the es_csrf cookie.", code="csrf_failed")
    return principal


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Callable[..., Awaitable[Any]]
    auth: Auth
    status: int
    summary: str
    tags: list[str]
    body_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    path_params: dict[str, type] = field(default_factory=dict)
    errors: Sequence[type[AppError]] = ()
    description: str = ""
    raw_body: bool = False
    # Called by another service's servers (Stripe), authenticated by a signature over the raw
    # body: no Origin check, any content type.
    webhook: bool = False
    wants_session: bool = False


def _nul_details(value: Any, path: str) -> list[dict[str, str]]:
    """PostgreSQL text cannot hold U+0000: refuse it at the edge rather than fail in the database."""
    if isinstance(value, str):
        return [{"field": path, "message": "must not contain NUL characters", "type": "string_nul"}] \
            if "\x00" in value else []
    if isinstance(value, dict):
        return [d for k, v in value.items() for d in _nul_details(k, path) + _nul_details(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [d for i, v in enumerate(value) for d in _nul_details(v, f"{path}.{i}")]
    return []


async def _json_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.body()
    if not raw:
        raw = b"{}" if not model.model_fields or all(not f.is_required() for f in model.model_fields.values()) else b""
    if not raw:
        raise InvalidRequest("A JSON body is required.", details=[{"field": "body", "message": "missing"}])
    try:
        data = json.loads(raw)
        nul = _nul_details(data, "body")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise InvalidRequest("The body is not valid JSON.", details=[{"field": "body", "message": str(exc)}]) from exc
    if nul:
        raise InvalidRequest(details=nul)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(details=validation_details(exc, ("body",))) from exc


def _query(request: Request, model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        field_info = model.model_fields.get(key)
        is_list = field_info is not None and typing.get_origin(field_info.annotation) is list
        data[key] = values if is_list else values[-1]
    if nul := _nul_details(data, "query"):
        raise InvalidRequest(details=nul)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(details=validation_details(exc, ("query",))) from exc


def _serialize(endpoint: Endpoint, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=endpoint.status if endpoint.status == 204 else 204)
    if isinstance(result, Rendered):
        return Response(result.body, status_code=endpoint.status, media_type="application/json")
    if isinstance(result, BaseModel):
        # pydantic's own encoder: one pass to bytes, no intermediate dicts (hot paths return models).
        return Response(result.model_dump_json(), status_code=endpoint.status, media_type="application/json")
    return JSONResponse(result, status_code=endpoint.status)


def _make_asgi(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        settings: Settings = request.app.state.settings
        if request.method in UNSAFE_METHODS and not endpoint.webhook:
            check_origin(request, settings)
            require_json_body(request)
        principal = authenticate(request, settings)
        if principal is not None and principal.id in getattr(request.app.state, "suspended_ids", ()):
            raise Forbidden("This account is suspended; contact support.", code="account_suspended")
        if endpoint.auth.required:
            if principal is None:
                raise Unauthorized()
            if principal.role not in endpoint.auth.roles:
                raise Forbidden(f"This needs the {' or '.join(sorted(endpoint.auth.roles))} role.")
        kwargs: dict[str, Any] = {}
        for name, typ in endpoint.path_params.items():
            raw = request.path_params[name]
            if typ is uuid.UUID:
                try:
                    kwargs[name] = uuid.UUID(raw)
                except ValueError as exc:
                    raise NotFound() from exc
            else:
                kwargs[name] = raw
        if endpoint.body_model is not None:
            kwargs["body"] = await _json_body(request, endpoint.body_model)
        if endpoint.query_model is not None:
            kwargs["query"] = _query(request, endpoint.query_model)
        if not endpoint.wants_session:
            return _serialize(endpoint, await endpoint.handler(Ctx(request, principal), **kwargs))
        sessionmaker: Sessionmaker = request.app.state.sessionmaker
        async with unit_of_work(sessionmaker) as session:
            result = await endpoint.handler(Ctx(request, principal), session=session, **kwargs)
        return _serialize(endpoint, result)

    return run


class Router:
    """Collects endpoints of one domain; ``routes()`` turns them into Starlette routes."""

    def __init__(self, prefix: str = "", tags: Sequence[str] = ()) -> None:
        self.prefix = prefix
        self.tags = list(tags)
        self.endpoints: list[Endpoint] = []

    def _register(self, method: str, path: str, *, auth: Auth, status: int, summary: str,
                  errors: Sequence[type[AppError]], raw_body: bool = False, webhook: bool = False,
                  ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        def decorator(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            hints = typing.get_type_hints(func)
            doc = inspect.cleandoc(func.__doc__ or func.__name__)
            ep = Endpoint(method=method, path=self.prefix + path, handler=func, auth=auth, status=status,
                          summary=summary or doc.split("\n", 1)[0],
                          description=doc if summary else doc.partition("\n")[2].strip(), tags=self.tags,
                          errors=errors, raw_body=raw_body, webhook=webhook)
            for name in list(inspect.signature(func).parameters)[1:]:
                typ = hints.get(name, str)
                if name == "session":
                    ep.wants_session = True
                elif name == "body":
                    ep.body_model = typ
                elif name == "query":
                    ep.query_model = typ
                else:
                    ep.path_params[name] = typ
            ret = hints.get("return")
            candidates = typing.get_args(ret) if typing.get_args(ret) else (ret,)
            for candidate in candidates:
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    ep.response_model = candidate
                    break
            self.endpoints.append(ep)
            return func

        return decorator

    def get(self, path: str, *, auth: Auth = PUBLIC, summary: str = "",
            errors: Sequence[type[AppError]] = ()) -> Callable[..., Any]:
        return self._register("GET", path, auth=auth, status=200, summary=summary, errors=errors)

    def post(self, path: str, *, auth: Auth = PUBLIC, status: int = 200, summary: str = "",
             errors: Sequence[type[AppError]] = (), raw_body: bool = False,
             webhook: bool = False) -> Callable[..., Any]:
        return self._register("POST", path, auth=auth, status=status, summary=summary, errors=errors,
                              raw_body=raw_body, webhook=webhook)

    def put(self, path: str, *, auth: Auth = PUBLIC, status: int = 200, summary: str = "",
            errors: Sequence[type[AppError]] = ()) -> Callable[..., Any]:
        return self._register("PUT", path, auth=auth, status=status, summary=summary, errors=errors)

    def patch(self, path: str, *, auth: Auth = PUBLIC, status: int = 200, summary: str = "",
              errors: Sequence[type[AppError]] = ()) -> Callable[..., Any]:
        return self._register("PATCH", path, auth=auth, status=status, summary=summary, errors=errors)

    def delete(self, path: str, *, auth: Auth = PUBLIC, status: int = 204, summary: str = "",
               errors: Sequence[type[AppError]] = ()) -> Callable[..., Any]:
        return self._register("DELETE", path, auth=auth, status=status, summary=summary, errors=errors)

    def routes(self) -> list[Route]:
        grouped: dict[str, dict[str, Endpoint]] = {}
        for ep in self.endpoints:
            grouped.setdefault(ep.path, {})[ep.method] = ep
        routes = []
        for path, by_method in grouped.items():
            handlers = {m: _make_asgi(ep) for m, ep in by_method.items()}

            async def dispatch(request: Request, _handlers: dict[str, Any] = handlers) -> Response:
                return await _handlers[request.method](request)

            routes.append(Route(path, dispatch, methods=list(by_method)))
        return routes

"""A real S3-protocol server for the storage tests: moto's server mode on 127.0.0.1, with the
POST-policy checks S3 and MinIO make in front of it.

moto 5.2 stores a browser-based POST upload without evaluating its policy (a probe showed
a wrong key, a wrong Content-Type and an oversize file all accepted with 204), so
:class:`PolicyEnforcingMotoServer` evaluates it the way S3 documents it before moto sees the
request: the SigV4 signature of the policy, its expiration, every condition (exact match,
``starts-with``, ``content-length-range``), and that every form field is covered by one.
Everything else (the buckets, objects, listing, presigned GETs) is moto's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.formparser import parse_form_data
from werkzeug.serving import make_server

ACCESS_KEY = "edustream-test-key"
SECRET_KEY = "edustream-test-secret"
EXEMPT_FIELDS = {"policy", "x-amz-signature", "file"}

StartResponse = Callable[..., Any]


def _sign(secret: str, date: str, region: str, policy_b64: str) -> str:
    key = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


class PolicyViolation(Exception):
    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check_post_policy(bucket: str, form: dict[str, str], size: int) -> None:
    """Raise :class:`PolicyViolation` unless the form satisfies its signed policy."""
    fields = {k.lower(): v for k, v in form.items()}
    policy_b64 = fields.get("policy", "")
    try:
        policy = json.loads(base64.b64decode(policy_b64))
    except ValueError as exc:
        raise PolicyViolation("400 Bad Request", "InvalidPolicyDocument", "Invalid Policy: malformed") from exc
    _, date, region, *_ = (fields.get("x-amz-credential", "") + "/////").split("/")
    if not hmac.compare_digest(_sign(SECRET_KEY, date, region, policy_b64), fields.get("x-amz-signature", "")):
        raise PolicyViolation("403 Forbidden", "SignatureDoesNotMatch", "The policy signature does not match")
    if datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) < datetime.now(UTC):
        raise PolicyViolation("403 Forbidden", "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = {**fields, "bucket": bucket}
    covered: set[str] = set()
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            [(name, expected)] = condition.items()
            op, name = "eq", name.lower()
        elif condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if size > high:
                raise PolicyViolation("400 Bad Request", "EntityTooLarge",
                                      "Your proposed upload exceeds the maximum allowed size")
            if size < low:
                raise PolicyViolation("400 Bad Request", "EntityTooSmall",
                                      "Your proposed upload is smaller than the minimum allowed size")
            continue
        else:
            op, name, expected = condition[0], condition[1].lstrip("$").lower(), condition[2]
        covered.add(name)
        actual = values.get(name, "")
        if (op == "eq" and actual != expected) or (op == "starts-with" and not actual.startswith(expected)):
            raise PolicyViolation("403 Forbidden", "AccessDenied",
                                  f'Invalid according to Policy: Policy Condition failed: ["{op}", "${name}", '
                                  f'"{expected}"]')
    extra = {name for name in fields if name not in EXEMPT_FIELDS and not name.startswith("x-ignore-")} - covered
    if extra:
        raise PolicyViolation("403 Forbidden", "AccessDenied",
                              f"Invalid according to Policy: Extra input fields: {sorted(extra)[0]}")


class PostPolicyCheck:
    """WSGI middleware: POST-object uploads must satisfy their policy before moto stores them."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").strip("/")
        if (environ["REQUEST_METHOD"] == "POST" and path and "/" not in path
                and environ.get("CONTENT_TYPE", "").startswith("multipart/form-data")):
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            _, form, files = parse_form_data({**environ, "wsgi.input": io.BytesIO(raw)})
            upload = files.get("file")
            size = len(upload.read()) if upload is not None else 0
            try:
                check_post_policy(path, dict(form), size)
            except PolicyViolation as exc:
                body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{exc.code}</Code>'
                        f"<Message>{exc.message}</Message></Error>").encode()
                start_response(exc.status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
                return [body]
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
        return self.app(environ, start_response)


class PolicyEnforcingMotoServer(ThreadedMotoServer):
    """moto's threaded server with :class:`PostPolicyCheck` in front."""

    def _server_entry(self) -> None:
        app = PostPolicyCheck(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True,  # type: ignore[arg-type]
                                   request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

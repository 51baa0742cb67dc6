"""Opaque keyset cursors shared by every paginated list."""

from __future__ import annotations

import base64
import json
from typing import Any

from server.errors import InvalidRequest


class InvalidCursor(InvalidRequest):
    code = "invalid_cursor"
    message = "The cursor is not one this API issued."


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(details=[{"field": "query.cursor", "message": "malformed"}]) from exc
    if not isinstance(values, list) or len(values) != size:
        raise InvalidCursor(details=[{"field": "query.cursor", "message": "malformed"}])
    return values

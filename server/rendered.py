"""A response body rendered to JSON once and served as is, by REST and by Socket.IO acks.

A shared listing (server/availability/snapshots.py) is read by every page view and every
live ``watch`` of its tutor. Kept as pydantic models, a week of slots holds ~340 models, each
with its ``__dict__`` and fields-set: about 200 KB per tutor, 100 MB for 500 watched tutors;
kept as its JSON it is ~37 KB, and no reader encodes it again.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class Rendered(Generic[M]):
    """The JSON of an ``M`` (what ``model_dump_json()`` gives), as UTF-8 bytes.

    A route declared ``-> Rendered[M]`` is documented as answering ``M`` and sends the bytes
    (server/http.py); an event handler that returns one has it spliced into the Socket.IO
    acknowledgement unchanged (realtime/wire.py).
    """

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    @classmethod
    def of(cls, model: M) -> Rendered[M]:
        return cls(model.model_dump_json().encode())

    def __repr__(self) -> str:
        return f"Rendered({len(self.body)} bytes)"

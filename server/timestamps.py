"""Times a client sends: ISO 8601 with an offset, within the years a booking can mean.

Every request schema types its instants as :data:`Timestamp`, so an extreme but well-formed
value (``0001-01-01T00:00:00+01:00`` is year 0 in UTC; ``9999-12-31`` plus a window overflows)
is a 422 ``invalid_request`` with a field message, never an error deep in a query.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = date(2000, 1, 1)
LATEST = date(2199, 12, 31)


def _bounded(value: datetime) -> datetime:
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_bounded)]

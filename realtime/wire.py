"""The JSON module python-socketio and python-engineio encode and decode packets with.

The libraries' own (``engineio.json``: the standard module, with integers of at most 100
digits when parsing), plus one thing: an argument of a packet that is already JSON
(:class:`server.rendered.Rendered`, e.g. a watch's shared slot listing) is spliced into
the packet as it is instead of being turned back into objects and encoded again.
"""

from __future__ import annotations

from typing import Any

from engineio import json as _json

from server.rendered import Rendered

loads = _json.loads


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps``; a top-level list's :class:`Rendered` items are inserted verbatim."""
    if type(obj) is list and any(isinstance(item, Rendered) for item in obj):
        return "[" + ",".join(item.body.decode() if isinstance(item, Rendered) else _json.dumps(item, **kwargs)
                              for item in obj) + "]"
    return str(_json.dumps(obj, **kwargs))

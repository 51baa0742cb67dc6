"""Bare python-socketio behind uvicorn: the library's own cost per connection, for comparison.

    .venv/bin/python -m bench.fanout.bare_server --port P

A stock ``socketio.AsyncServer`` (no Redis, no auth, no limits) whose ``/live`` namespace
answers ``watch`` by joining the tutor's room, served by uvicorn with its defaults. It is
what EduStream's live layer would cost per idle connection with nothing of ours added
(``bench/connections.py``).
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
import uvicorn


def build() -> socketio.ASGIApp:
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    @sio.on("watch", namespace="/live")  # type: ignore[untyped-decorator]
    async def watch(sid: str, data: Any) -> dict[str, Any]:
        await sio.enter_room(sid, f"tutor:{data['tutor_id']}", namespace="/live")
        return {"tutor_id": data["tutor_id"], "version": 0, "slots": []}

    @sio.on("connect", namespace="/live")  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        return None

    return socketio.ASGIApp(sio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws", default="auto", help="uvicorn WebSocket implementation")
    parser.add_argument("--no-deflate", action="store_true", help="refuse permessage-deflate (as edustream api does)")
    args = parser.parse_args()
    uvicorn.run(build(), host="127.0.0.1", port=args.port, ws=args.ws, log_level="warning", access_log=False,
                ws_per_message_deflate=not args.no_deflate)


if __name__ == "__main__":
    main()

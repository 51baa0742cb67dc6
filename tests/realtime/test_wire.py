"""realtime/wire.py: the JSON module of our Socket.IO packets splices pre-rendered JSON in as is."""

from __future__ import annotations

import json

import pytest
from socketio import packet

from realtime import wire
from server.rendered import Rendered


def test_a_rendered_argument_is_spliced_verbatim_and_the_rest_encoded() -> None:
    body = b'{"tutor_id":"t","slots":[{"start":"2026-01-01T09:00:00Z","status":"open"}],"note":"caf\xc3\xa9"}'
    text = wire.dumps([Rendered(body), {"b": [1, None]}, "x"], separators=(",", ":"))
    assert text == '[' + body.decode() + ',{"b":[1,null]},"x"]'
    assert json.loads(text)[0]["note"] == "café"


@pytest.mark.parametrize("obj", [[1, "a", {"k": None}], {"k": [1, 2]}, "s", 3, None, []])
def test_anything_else_is_the_standard_encoding(obj: object) -> None:
    assert wire.dumps(obj, separators=(",", ":")) == json.dumps(obj, separators=(",", ":"))


def test_an_ack_packet_carries_the_rendered_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packet.Packet, "json", wire)
    pkt = packet.Packet(packet.ACK, data=[Rendered(b'{"version":7}')], namespace="/live", id=12)
    assert pkt.encode() == '3/live,12[{"version":7}]'


def test_parsing_keeps_the_libraries_integer_guard() -> None:
    with pytest.raises(ValueError):
        wire.loads("1" * 101)

"""Server-side wire helpers: Phoenix V2 frames as the server writes them, WebSocket framing.

Text frames are encoded with orjson the way Phoenix's ``V2.JSONSerializer`` lays them out
(a reply payload is ``{"response": ..., "status": ...}``, the key order Jason produces, so
our bytes match the golden frames). Binary layouts mirror the same serializer:
server push kind 0 ``[0, jr_len, topic_len, event_len]``, reply kind 1
``[1, jr_len, ref_len, topic_len, status_len]``, broadcast kind 2 ``[2, topic_len, event_len]``;
the only kind a client may send is push kind 0 ``[0, jr_len, ref_len, topic_len, event_len]``.
"""

from __future__ import annotations

from typing import Any

import orjson

from .._types import RawJSON
from ..errors import FrameDecodeError

__all__ = [
    "KIND_BROADCAST",
    "KIND_PUSH",
    "KIND_REPLY",
    "WireRef",
    "binary_broadcast",
    "binary_push",
    "binary_reply",
    "json_payload",
    "parse_client_binary",
    "text_frame",
    "text_reply",
    "ws_frame",
]

KIND_PUSH = 0
KIND_REPLY = 1
KIND_BROADCAST = 2

#: A ref or join_ref exactly as it stood on the wire (Phoenix echoes an integer as an integer).
WireRef = str | int | None


def json_payload(value: Any) -> Any:
    """Return ``value`` ready for ``orjson.dumps``: a ``RawJSON`` becomes an ``orjson.Fragment``."""
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.data)
    return value


def text_frame(join_ref: WireRef, ref: WireRef, topic: str, event: str, payload: Any) -> bytes:
    """Return the JSON text of ``[join_ref, ref, topic, event, payload]`` (compact, UTF-8)."""
    return orjson.dumps([join_ref, ref, topic, event, json_payload(payload)])


def text_reply(join_ref: WireRef, ref: WireRef, topic: str, status: str, response: Any) -> bytes:
    """Return a ``phx_reply`` text frame; ``response=None`` is sent as ``{}``."""
    body = {"response": {} if response is None else json_payload(response), "status": status}
    return orjson.dumps([join_ref, ref, topic, "phx_reply", body])


def _field(value: WireRef, name: str) -> bytes:
    """Return a header field's UTF-8 bytes (``None`` -> empty, as Phoenix's ``to_string(nil)``)."""
    data = b"" if value is None else str(value).encode("utf-8")
    if len(data) > 255:
        raise ValueError(f"{name} is {len(data)} bytes; a binary frame allows at most 255")
    return data


def binary_push(join_ref: WireRef, topic: str, event: str, data: bytes) -> bytes:
    """Return a binary server push (kind 0): ``[0, jr_len, topic_len, event_len] jr topic event``
    then ``data``."""
    jr, tp, ev = _field(join_ref, "join_ref"), _field(topic, "topic"), _field(event, "event")
    return bytes((KIND_PUSH, len(jr), len(tp), len(ev))) + jr + tp + ev + bytes(data)


def binary_reply(join_ref: WireRef, ref: WireRef, topic: str, status: str, data: bytes) -> bytes:
    """Return a binary reply (kind 1): ``[1, jr_len, ref_len, topic_len, status_len] ... data``."""
    jr, rf = _field(join_ref, "join_ref"), _field(ref, "ref")
    tp, st = _field(topic, "topic"), _field(status, "status")
    header = bytes((KIND_REPLY, len(jr), len(rf), len(tp), len(st)))
    return header + jr + rf + tp + st + bytes(data)


def binary_broadcast(topic: str, event: str, data: bytes) -> bytes:
    """Return a binary broadcast (kind 2): ``[2, topic_len, event_len] topic event data``."""
    tp, ev = _field(topic, "topic"), _field(event, "event")
    return bytes((KIND_BROADCAST, len(tp), len(ev))) + tp + ev + bytes(data)


def _text(data: bytes, start: int, size: int, name: str) -> str:
    """Return ``data[start:start+size]`` as UTF-8 text or raise ``FrameDecodeError``."""
    try:
        return data[start : start + size].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameDecodeError(f"invalid UTF-8 in {name}", start + exc.start) from exc


def parse_client_binary(data: bytes) -> tuple[str, str, str, str, bytes]:
    """Parse a client binary push (kind 0); return ``(join_ref, ref, topic, event, payload)``.

    Raises ``FrameDecodeError`` for an empty or truncated frame, a kind other than 0 (the
    Phoenix server accepts only pushes from clients) or a header field that is not UTF-8.
    """
    if not data:
        raise FrameDecodeError("empty binary frame", 0)
    if data[0] != KIND_PUSH:
        raise FrameDecodeError(f"binary kind {data[0]} is not a client push", 0)
    if len(data) < 5:
        raise FrameDecodeError("truncated binary header", len(data))
    sizes = data[1:5]
    end = 5 + sum(sizes)
    if len(data) < end:
        raise FrameDecodeError("truncated binary frame", len(data))
    fields = []
    pos = 5
    for size, name in zip(sizes, ("join_ref", "ref", "topic", "event"), strict=True):
        fields.append(_text(data, pos, size, name))
        pos += size
    return fields[0], fields[1], fields[2], fields[3], bytes(data[end:])


def ws_frame(payload: bytes, binary: bool = False) -> bytes:
    """Return one unmasked server-to-client WebSocket frame (FIN set) carrying ``payload``."""
    opcode = 0x82 if binary else 0x81
    size = len(payload)
    if size < 126:
        header = bytes((opcode, size))
    elif size < 65536:
        header = bytes((opcode, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((opcode, 127)) + size.to_bytes(8, "big")
    return header + payload

"""Server-side wire helpers: Phoenix frames as the server writes them, WebSocket framing.

Text frames are encoded with orjson the way Phoenix's serializers and Jason lay them out:
map keys come out sorted (an Erlang map of at most 32 entries iterates in key order; a
larger one in hash order, which no client can rely on, so sorting it too is faithful),
a reply payload is ``{"response": ..., "status": ...}``, integers beyond 64 bits stay exact.
``V2`` writes ``[join_ref, ref, topic, event, payload]``; ``V1`` (``vsn=1.0.0`` or no vsn)
writes ``{"event", "payload", "ref", "topic"}`` objects and has no binary frames.
Inbound JSON is read as Jason reads it (:func:`loads`): exact big integers, the first of
duplicate keys, no ``NaN``. Binary layouts mirror the same serializer:
server push kind 0 ``[0, jr_len, topic_len, event_len]``, reply kind 1
``[1, jr_len, ref_len, topic_len, status_len]``, broadcast kind 2 ``[2, topic_len, event_len]``;
the only kind a client may send is push kind 0 ``[0, jr_len, ref_len, topic_len, event_len]``.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson

from .._types import RawJSON
from ..errors import FrameDecodeError

__all__ = [
    "KIND_BROADCAST",
    "KIND_PUSH",
    "KIND_REPLY",
    "V1",
    "V2",
    "WireRef",
    "binary_broadcast",
    "binary_push",
    "binary_reply",
    "dumps",
    "json_payload",
    "loads",
    "parse_client_binary",
    "phoenix_order",
    "require_map",
    "text_frame",
    "text_reply",
    "ws_frame",
]

KIND_PUSH = 0
KIND_REPLY = 1
KIND_BROADCAST = 2

#: A ref or join_ref exactly as it stood on the wire (Phoenix echoes what it got: an integer
#: as an integer, and in the lenient profiles a float, bool or object too).
WireRef = Any


def json_payload(value: Any) -> Any:
    """Return ``value`` ready for ``orjson.dumps``: a ``RawJSON`` becomes an ``orjson.Fragment``."""
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.data)
    return value


def require_map(payload: Any, action: str) -> None:
    """Raise ``TypeError`` unless ``payload`` is a dict (or RawJSON): Phoenix's ``push`` and
    ``broadcast`` take a map (``action`` names the call in the message)."""
    if not isinstance(payload, dict | RawJSON):
        raise TypeError(f"{action} payload must be a dict (a Phoenix map), "
                        f"not {type(payload).__name__}")


def phoenix_order(value: Any) -> Any:
    """Return ``value`` with every dict's keys in sorted order (as Jason writes an Erlang map
    of at most 32 entries; see :func:`dumps` for larger ones); RawJSON becomes a Fragment."""
    kind = type(value)
    if kind is dict:
        return {k: phoenix_order(value[k]) for k in sorted(value)}
    if kind is list or kind is tuple:
        return [phoenix_order(v) for v in value]
    return json_payload(value)


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON of ``value``; integers beyond 64 bits are written exactly.

    ``sort_keys`` writes every map's keys sorted, as Jason writes an Erlang small map (at
    most 32 entries). A larger map Phoenix writes in hash order, which no client can rely
    on; sorting it too costs nothing and still breaks a client that relies on the order it
    was built in.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise
        # orjson refuses integers beyond 64 bits; Jason writes them exactly.
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          sort_keys=sort_keys)
        return text.encode("utf-8")


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(data: str | bytes) -> Any:
    """Parse JSON as Jason does: exact big integers, the first of duplicate keys kept, no NaN.

    orjson parses first; its result is used when writing it back gives the input bytes
    (no duplicate key was dropped, no big integer rounded), else the stdlib parser decides.
    Raises ``ValueError`` for invalid JSON, including an escaped lone surrogate.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        value = orjson.loads(raw)
        if orjson.dumps(value) == raw:
            return value
    except orjson.JSONDecodeError:
        pass
    value = json.loads(raw.decode("utf-8"), object_pairs_hook=_first_wins,
                       parse_constant=_no_constant)
    try:  # the stdlib accepts "\ud800"; orjson (above) and Jason refuse a lone surrogate
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("a lone surrogate is not valid JSON text") from exc
    return value


def text_frame(join_ref: WireRef, ref: WireRef, topic: Any, event: Any, payload: Any, *,
               ordered: bool = False) -> bytes:
    """Return the JSON text of ``[join_ref, ref, topic, event, payload]`` (compact, UTF-8).

    ``ordered=True``: the payload's key order is already Phoenix's (kept as is).
    """
    return dumps([join_ref, ref, topic, event, json_payload(payload)], sort_keys=not ordered)


def text_reply(join_ref: WireRef, ref: WireRef, topic: Any, status: str, response: Any) -> bytes:
    """Return a ``phx_reply`` text frame (``response=None`` is sent as ``null``)."""
    body = {"response": json_payload(response), "status": status}
    return dumps([join_ref, ref, topic, "phx_reply", body], sort_keys=True)


class V2:
    """The V2 JSON serializer (``vsn=2.0.x``): array frames, binary frames allowed."""

    vsn = 2
    binary = True

    @staticmethod
    def message(join_ref: WireRef, ref: WireRef, topic: Any, event: Any, payload: Any, *,
                ordered: bool = False) -> bytes:
        """A message frame."""
        return text_frame(join_ref, ref, topic, event, payload, ordered=ordered)

    @staticmethod
    def reply(join_ref: WireRef, ref: WireRef, topic: Any, status: str, response: Any) -> bytes:
        """A ``phx_reply`` frame."""
        return text_reply(join_ref, ref, topic, status, response)


class V1:
    """The V1 JSON serializer (``vsn=1.0.x`` or no vsn): ``{"event", "payload", "ref",
    "topic"}`` objects (no join_ref), text frames only (``Phoenix.Socket.V1.JSONSerializer``)."""

    vsn = 1
    binary = False

    @staticmethod
    def message(join_ref: WireRef, ref: WireRef, topic: Any, event: Any, payload: Any, *,
                ordered: bool = False) -> bytes:
        """A message frame (the join_ref is not part of V1)."""
        body = {"event": event, "payload": json_payload(payload), "ref": ref, "topic": topic}
        return dumps(body, sort_keys=not ordered)

    @staticmethod
    def reply(join_ref: WireRef, ref: WireRef, topic: Any, status: str, response: Any) -> bytes:
        """A ``phx_reply`` frame."""
        payload = {"response": json_payload(response), "status": status}
        return dumps({"event": "phx_reply", "payload": payload, "ref": ref, "topic": topic},
                     sort_keys=True)


Serializer = type[V1] | type[V2]


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


def ws_frame(payload: bytes, binary: bool = False, deflate_bits: int = 0) -> bytes:
    """Return one unmasked server-to-client WebSocket frame (FIN set) carrying ``payload``;
    with ``deflate_bits`` (the negotiated window, 8-15) the payload is compressed as a
    permessage-deflate message (RFC 7692: RSV1 set, the flush's empty tail stripped). A
    fresh compressor per message is valid whether or not context takeover was agreed."""
    opcode = 0x82 if binary else 0x81
    if deflate_bits:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -deflate_bits)
        payload = (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        opcode |= 0x40
    size = len(payload)
    if size < 126:
        header = bytes((opcode, size))
    elif size < 65536:
        header = bytes((opcode, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((opcode, 127)) + size.to_bytes(8, "big")
    return header + payload

"""The text-frame kernel of the pure-Python codec build: orjson and one header regex.

Its compiled counterpart is ``_text.pyx`` (a byte scanner in C, ``_jsonscan.h``); the
codec (``_codec_py.py``) calls the same three functions in both builds:

- ``scan_text(data, eager)``: ``(join_ref, ref, topic, event, raw_payload, payload)`` of a V2
  text frame (payload ``UNPARSED`` when it was only validated), or FrameDecodeError;
- ``splice(join_ref, ref, topic, event, body)``: the encoded frame around a payload's JSON;
- ``load_payload(raw)``: ``orjson.loads(raw)``.

This build validates a frame with one ``orjson.loads`` of the whole frame (a JSON list of
five whose header values are strings or null is a valid V2 frame) and keeps the parsed
payload. Integer refs and the one frame orjson refuses whole (a payload nested exactly
1024 deep) go through the header regex plus ``orjson.loads`` of the payload slice. It
accepts and rejects the same frames as the compiled build with the same exception types;
its errors carry orjson's message and no byte offset.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .errors import FrameDecodeError

__all__ = ["load_payload", "scan_text", "splice"]

_loads = orjson.loads
_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError
_UNSET: Any = object()

_W = rb"[ \t\n\r]*"
_STR = rb'"[^"\\\x00-\x1f]*(?:\\.[^"\\\x00-\x1f]*)*"'
_REF = rb"(null|-?(?:0|[1-9][0-9]*)|" + _STR + rb")"
_SEP = _W + rb"," + _W
# Everything up to the payload's first byte; a match proves the header's structure (string
# contents are checked when they are decoded).
_HEADER = re.compile(
    b"".join(
        (_W, rb"\[", _W, _REF, _SEP, _REF, _SEP, b"(", _STR, b")", _SEP, b"(", _STR, b")", _SEP)
    ),
    re.DOTALL,
)
_WS = frozenset(b" \t\n\r")
_cache: dict[bytes, str | None] = {}

Parts = tuple[str | None, str | None, str, str, bytes, Any]


def load_payload(raw: bytes) -> Any:
    """``orjson.loads(raw)`` (the compiled build may build the same objects itself)."""
    return _loads(raw)


def splice(join_ref: str | None, ref: str | None, topic: str, event: str, body: bytes) -> bytes:
    """``[join_ref,ref,"topic","event",`` + body + ``]`` (the header as orjson writes it)."""
    return b"".join((_dumps((join_ref, ref, topic, event))[:-1], b",", body, b"]"))


def _as_bytes(data: object) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            offset = len(data[: exc.start].encode("utf-8"))
            raise FrameDecodeError("invalid UTF-8", offset) from exc
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(
        f"decode() expects bytes, bytearray, memoryview or str, not {type(data).__name__}"
    )


def _header_str(token: bytes) -> str | None:
    """Decodes one header token (a JSON string, null or integer), through a small cache."""
    value = _cache.get(token, _UNSET)
    if value is not _UNSET:
        return value  # type: ignore[no-any-return]
    first = token[0]
    if first == 0x22:  # '"'
        value = token[1:-1].decode("utf-8") if b"\\" not in token else _loads(token)
    elif first == 0x6E:  # 'n'
        value = None
    else:
        value = token.decode("ascii")
    if len(_cache) >= 512:
        _cache.clear()
    _cache[token] = value
    return value  # type: ignore[no-any-return]


def _payload_end(b: bytes, ps: int) -> int:
    """Index just past the payload: before the final ']' and whitespace, or -1."""
    pe = len(b)
    while pe > ps and b[pe - 1] in _WS:
        pe -= 1
    if pe <= ps or b[pe - 1] != 0x5D:
        return -1
    pe -= 1
    while pe > ps and b[pe - 1] in _WS:
        pe -= 1
    return pe if pe > ps else -1


def _raw_payload(b: bytes, jr: str | None, ref: str | None, topic: str, event: str) -> bytes:
    """The payload bytes of the valid frame `b`, given its decoded header.

    Fast when the header is spelt as orjson spells it (compact, no optional escapes), which
    is how Phoenix sends it; otherwise the header regex finds the payload's start.
    """
    head = _dumps((jr, ref, topic, event))
    ps = len(head)
    if b.startswith(head[:-1]) and b[ps - 1] == 0x2C:  # ','
        while b[ps] in _WS:
            ps += 1
    else:
        m = _HEADER.match(b)
        assert m is not None, "a valid frame matches the header pattern"
        ps = m.end()
    return b[ps : _payload_end(b, ps)]


def _by_slices(b: bytes, cause: Exception | None) -> Parts:
    """Header by regex, payload by ``orjson.loads`` of its slice: for integer refs and the
    payload nested exactly 1024 deep (orjson's limit, one level below the frame's list)."""
    m = _HEADER.match(b)
    if m is not None:
        ps = m.end()
        pe = _payload_end(b, ps)
        if pe >= 0:
            raw = b[ps:pe]
            try:
                payload = _loads(raw)
                jr, ref, topic, event = map(_header_str, m.groups())
            except (_JSONDecodeError, UnicodeDecodeError) as exc:
                cause = exc
            else:
                return jr, ref, topic, event, raw, payload  # type: ignore[return-value]
    if isinstance(cause, _JSONDecodeError):
        raise FrameDecodeError(f"invalid JSON: {cause.msg}", None) from cause
    if cause is not None:
        raise FrameDecodeError("invalid UTF-8", None) from cause
    raise FrameDecodeError(
        "not a V2 frame: expected [join_ref, ref, topic, event, payload] with string topic "
        "and event and string, integer or null refs",
        None,
    )


def scan_text(data: object, eager: bool) -> Parts:
    """Decodes the V2 text frame `data` into its parts (this build always parses the payload).

    Raises FrameDecodeError for a malformed frame, TypeError for a wrong input type.
    """
    b = _as_bytes(data)
    if not b:
        raise FrameDecodeError("empty frame", 0)
    try:
        v = _loads(b)
    except _JSONDecodeError as exc:
        return _by_slices(b, exc)
    if type(v) is list and len(v) == 5:
        jr, ref, topic, event, payload = v
        if (
            (jr is None or type(jr) is str)
            and (ref is None or type(ref) is str)
            and type(topic) is str
            and type(event) is str
        ):
            return jr, ref, topic, event, _raw_payload(b, jr, ref, topic, event), payload
    return _by_slices(b, None)  # JSON, but not a V2 frame with string refs

"""The text-frame kernel of the pure-Python codec build: orjson and one header regex.

Its compiled counterpart is ``_text.pyx`` (a byte scanner in C, ``_jsonscan.h``); the
codec (``_codec_py.py``) calls the same three functions in both builds:

- ``scan_text(data, eager)``: ``(join_ref, ref, topic, event, data, start, end, payload)`` of
  a V2 text frame, the payload's bytes being ``data[start:end]`` (payload ``UNPARSED`` when
  it was only validated), or FrameDecodeError;
- ``splice(join_ref, ref, topic, event, body)``: the encoded frame around a payload's JSON;
- ``load_payload(data, start, end)``: ``orjson.loads(data[start:end])``.

This build validates a frame with one ``orjson.loads`` of the whole frame (a JSON list of
five whose header values are strings or null is a valid V2 frame) and keeps the parsed
payload. A frame that starts with the previous frame's header bytes (a stream repeats
them) needs only ``orjson.loads`` of its payload slice. Integer refs and the one frame
orjson refuses whole (a payload nested exactly 1024 deep) go through the header regex plus
``orjson.loads`` of the payload slice. It
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
_WS_BYTES = b" \t\n\r"
_cache: dict[bytes, str | None] = {}

Parts = tuple[str | None, str | None, str, str, bytes, int, int, Any]


def load_payload(data: bytes, start: int, end: int) -> Any:
    """``orjson.loads(data[start:end])`` (the compiled build may build the same objects
    itself). ValueError for a range outside ``data``."""
    if not 0 <= start <= end <= len(data):
        raise ValueError("payload range outside the frame")
    return _loads(data if start == 0 and end == len(data) else data[start:end])


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


def _payload(b: bytes, ps: int) -> tuple[int, int]:
    """Where the payload lies between `ps` and the frame's final ']', whitespace stripped
    (an empty range if there is none)."""
    # C-speed strips (a frame padded with megabytes of whitespace costs no Python loop);
    # rstrip returns the bytes itself when there is nothing to strip.
    close = len(b.rstrip(_WS_BYTES)) - 1  # where the final ']' must stand
    if close <= ps or b[close] != 0x5D:  # ']'
        return ps, ps
    inner = b[ps:close]
    return ps + len(inner) - len(inner.lstrip(_WS_BYTES)), ps + len(inner.rstrip(_WS_BYTES))


def _payload_start(b: bytes, jr: str | None, ref: str | None, topic: str, event: str) -> int:
    """Where the payload of the valid frame `b` starts, given its decoded header.

    Fast when the header is spelt as orjson spells it (compact, no optional escapes), which
    is how Phoenix sends it; otherwise the header regex finds it.
    """
    head = _dumps((jr, ref, topic, event))
    k = len(head) - 1  # the header's bytes up to the payload: head without its ']', then ','
    if b[k : k + 1] == b"," and b.startswith(head[:k]):
        return k + 1
    m = _HEADER.match(b)
    assert m is not None, "a valid frame matches the header pattern"
    return m.end()


# The last frame's header bytes (up to the payload) and their values: a stream repeats the
# same header on every push, and equal bytes parse to equal values.
_last: tuple[bytes, tuple[Any, ...]] | None = None


def _parts(b: bytes, ps: int, head: tuple[Any, ...], payload: Any) -> Parts:
    global _last
    _last = (b[:ps], head)
    return (*head, b, *_payload(b, ps), payload)


def _same_header(b: bytes) -> Parts | None:
    """The frame's parts when it starts with the last frame's header; None otherwise."""
    if _last is None or not b.startswith(_last[0]):
        return None
    prefix, head = _last
    start, end = _payload(b, len(prefix))
    try:
        payload = _loads(b[start:end]) if end > start else _UNSET
    except _JSONDecodeError:
        return None  # the full path names the error
    return None if payload is _UNSET else (*head, b, start, end, payload)


def _by_slices(b: bytes, cause: Exception | None) -> Parts:
    """Header by regex, payload by ``orjson.loads`` of its slice: for integer refs and the
    payload nested exactly 1024 deep (orjson's limit, one level below the frame's list)."""
    m = _HEADER.match(b)
    start, end = _payload(b, m.end()) if m is not None else (0, 0)
    if m is not None and end > start:
        try:
            payload = _loads(b[start:end])
            head = tuple(map(_header_str, m.groups()))
        except (_JSONDecodeError, UnicodeDecodeError) as exc:
            cause = exc
        else:
            return _parts(b, m.end(), head, payload)
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
    parts = _same_header(b)
    if parts is not None:
        return parts
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
            ps = _payload_start(b, jr, ref, topic, event)
            return _parts(b, ps, (jr, ref, topic, event), payload)
    return _by_slices(b, None)  # JSON, but not a V2 frame with string refs

"""Pure-Python build of the fastphx codec: Phoenix V2 text and binary frames, ref routing.

Same contract as the Cython build ``fastphx._codec`` (see notes/CODEC_SPEC.md): both accept
and reject exactly the same inputs, with the same reasons and offsets. ``decode`` validates
a frame with one ``orjson.loads`` of the whole frame (a valid JSON list of five whose header
values are strings or null is a valid V2 frame), keeps the parsed payload, and locates
``raw_payload`` on first access. Integer refs and the one frame orjson refuses whole (a
payload nested exactly 1024 deep) go through a header regex plus ``orjson.loads`` of the
payload slice; everything else that fails goes through a strict hand-written scanner
(``_scan_frame``) that names the reason and the byte offset of the first error.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ._types import RawJSON, Reply
from .errors import FrameDecodeError

__all__ = [
    "Frame",
    "RefTable",
    "decode",
    "decode_binary",
    "decode_eager",
    "encode",
    "encode_binary",
    "parse_reply",
]

_loads = orjson.loads
_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError
_UNSET: Any = object()
_PHX_REPLY = "phx_reply"
_MAX_DEPTH = 1024  # orjson's own nesting limit for one JSON value

# ---------------------------------------------------------------------------------------------
# Frame


class Frame:
    """One Phoenix V2 message: ``[join_ref, ref, topic, event, payload]``.

    ``raw_payload`` holds the payload's JSON bytes exactly as they stood in a text frame (or
    the binary payload); ``payload`` is ``orjson.loads(raw_payload)``, computed once (a
    binary push's payload is the bytes; a binary reply's is ``{"status", "response"}``).
    Attributes are read-only.
    """

    __slots__ = ("_payload", "_raw", "_src", "binary", "event", "join_ref", "ref", "topic")

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    binary: bool
    _raw: bytes | None
    _payload: Any
    _src: bytes | None

    def __init__(
        self,
        join_ref: str | None,
        ref: str | None,
        topic: str,
        event: str,
        raw_payload: bytes | bytearray | memoryview,
        binary: bool = False,
    ) -> None:
        if not (join_ref is None or isinstance(join_ref, str)):
            raise TypeError("join_ref must be a str or None")
        if not (ref is None or isinstance(ref, str)):
            raise TypeError("ref must be a str or None")
        if not isinstance(topic, str) or not isinstance(event, str):
            raise TypeError("topic and event must be str")
        if isinstance(raw_payload, str):
            raise TypeError("raw_payload must be bytes-like, not str")
        raw = raw_payload if type(raw_payload) is bytes else bytes(raw_payload)
        binary = bool(binary)
        for name, value in (
            ("join_ref", join_ref), ("ref", ref), ("topic", topic), ("event", event),
            ("_raw", raw), ("binary", binary), ("_payload", raw if binary else _UNSET),
            ("_src", None),
        ):  # fmt: skip
            object.__setattr__(self, name, value)

    @property
    def raw_payload(self) -> bytes:
        """The payload's bytes as they stood in the frame (located on first access)."""
        raw = self._raw
        if raw is None:
            src = self._src
            assert src is not None
            ps = _payload_start(src, self.join_ref, self.ref, self.topic, self.event)
            raw = src[ps : _payload_end(src, ps)]
            _set_raw(self, raw)
            _set_src(self, None)
        return raw

    @property
    def payload(self) -> Any:
        """The decoded payload (text: ``orjson.loads(raw_payload)``, cached; binary: bytes).

        Raises orjson.JSONDecodeError only for a Frame built by hand with invalid JSON.
        """
        value = self._payload
        if value is _UNSET:
            value = _loads(self.raw_payload)
            _set_payload(self, value)
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Frame attribute {name!r} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Frame attribute {name!r} is read-only")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (
            self.join_ref == other.join_ref
            and self.ref == other.ref
            and self.topic == other.topic
            and self.event == other.event
            and self.raw_payload == other.raw_payload
            and self.binary == other.binary
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        raw = self.raw_payload
        shown = repr(raw[:80]) + ("..." if len(raw) > 80 else "")
        return (
            f"Frame(join_ref={self.join_ref!r}, ref={self.ref!r}, topic={self.topic!r}, "
            f"event={self.event!r}, raw_payload={shown}, binary={self.binary!r})"
        )


# Frame.__setattr__ refuses writes. The codec builds frames as _OpenFrame (same layout,
# plain slot writes) and then switches the class: 2x faster than writing via descriptors.
class _OpenFrame(Frame):
    __slots__ = ()
    __setattr__ = object.__setattr__  # type: ignore[assignment]
    __delattr__ = object.__delattr__  # both, or the slot stays slow


_set_raw = Frame.__dict__["_raw"].__set__
_set_payload = Frame.__dict__["_payload"].__set__
_set_src = Frame.__dict__["_src"].__set__
_new = object.__new__


def _frame(
    join_ref: str | None,
    ref: str | None,
    topic: str,
    event: str,
    raw: bytes | None,
    payload: Any,
    src: bytes | None,
    binary: bool = False,
) -> Frame:
    """A new Frame (raw None: located from `src` on first access)."""
    f = _new(_OpenFrame)
    f.join_ref = join_ref
    f.ref = ref
    f.topic = topic
    f.event = event
    f._raw = raw
    f.binary = binary
    f._payload = payload
    f._src = src
    f.__class__ = Frame  # type: ignore[assignment]
    return f


# ---------------------------------------------------------------------------------------------
# Text decode: fast path


_W = rb"[ \t\n\r]*"
_STR = rb'"[^"\\\x00-\x1f]*(?:\\.[^"\\\x00-\x1f]*)*"'
_REF = rb"(null|-?(?:0|[1-9][0-9]*)|" + _STR + rb")"
# Everything up to the payload's first byte; a match proves the header's structure (string
# contents are checked when they are decoded).
_SEP = _W + rb"," + _W
_HEADER = re.compile(
    b"".join(
        (_W, rb"\[", _W, _REF, _SEP, _REF, _SEP, b"(", _STR, b")", _SEP, b"(", _STR, b")", _SEP)
    ),
    re.DOTALL,
)
_WS = b" \t\n\r"
_cache: dict[bytes, str | None] = {}


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


def _regex_frame(b: bytes) -> Frame | None:
    """Header by regex, payload by ``orjson.loads`` of its slice; None if anything fails."""
    m = _HEADER.match(b)
    if m is None:
        return None
    ps = m.end()
    pe = _payload_end(b, ps)
    if pe < 0:
        return None
    raw = b[ps:pe]
    try:
        payload = _loads(raw)
        jr, ref, topic, event = map(_header_str, m.groups())
    except (_JSONDecodeError, UnicodeDecodeError):
        return None
    return _frame(jr, ref, topic, event, raw, payload, None)  # type: ignore[arg-type]


def _payload_start(b: bytes, jr: str | None, ref: str | None, topic: str, event: str) -> int:
    """Where the payload of the valid frame `b` starts, given its decoded header.

    Fast when the header is spelt as orjson spells it (compact, no optional escapes), which
    is how Phoenix sends it; otherwise the header regex finds it.
    """
    head = _dumps((jr, ref, topic, event))
    k = len(head)
    if b.startswith(head[:-1]) and b[k - 1 : k] == b",":
        while b[k] in _WS_SET:
            k += 1
        return k
    m = _HEADER.match(b)
    if m is not None:
        return m.end()
    return _scan_frame(b)[4]


def _decode(b: bytes) -> Frame:
    """decode() and decode_eager(): one orjson.loads of the whole frame, then the header.

    The payload value comes from that parse; raw_payload is located on first access.
    """
    try:
        v = _loads(b)
    except _JSONDecodeError as exc:
        # orjson refuses one valid frame whole: a payload nested exactly 1024 deep (the
        # frame's own list is one more level); the scanner names every other error.
        frame = _regex_frame(b)
        if frame is not None:
            return frame
        try:
            return _decode_slow(b)
        except FrameDecodeError as err:
            raise err from exc
    if type(v) is list and len(v) == 5:
        jr, ref, topic, event, payload = v
        if (
            (jr is None or type(jr) is str)
            and (ref is None or type(ref) is str)
            and type(topic) is str
            and type(event) is str
        ):
            return _frame(jr, ref, topic, event, None, payload, b)  # raw_payload: lazily
        frame = _regex_frame(b)  # integer refs, exposed as their decimal text
        if frame is not None:
            return frame
    return _decode_slow(b)  # JSON, but not a V2 frame: the scanner names the error


def decode(data: bytes | bytearray | memoryview | str) -> Frame:
    """Decodes a V2 text frame ``[join_ref, ref, topic, event, payload]`` into a Frame.

    The header is parsed and the payload validated (exactly what orjson accepts); this
    twin validates with one orjson.loads of the frame and keeps the parsed payload; it
    locates raw_payload on first access. Raises FrameDecodeError for a malformed frame,
    TypeError for an input that is not bytes, bytearray, memoryview or str.
    """
    return _decode(_as_bytes(data))


def decode_eager(data: bytes | bytearray | memoryview | str) -> Frame:
    """Decodes like decode() (same results, same errors) with the payload parsed right away.

    One ``orjson.loads`` of the whole frame; ``raw_payload`` is located on first use.
    Raises FrameDecodeError (chained from orjson's error when orjson rejected the frame)
    or TypeError, like decode().
    """
    return _decode(_as_bytes(data))


# ---------------------------------------------------------------------------------------------
# Text decode: the strict scanner (error path; names reason and byte offset)


_HEX = frozenset(b"0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = frozenset(b'"\\/bfnrt')
_DIGITS = frozenset(b"0123456789")
_WS_SET = frozenset(_WS)


def _skip_ws(b: bytes, i: int, n: int) -> int:
    while i < n and b[i] in _WS_SET:
        i += 1
    return i


def _hex4(b: bytes, i: int) -> int:
    chunk = b[i : i + 4]
    if len(chunk) != 4 or not all(c in _HEX for c in chunk):
        return -1
    return int(chunk, 16)


def _scan_escape(b: bytes, i: int, n: int) -> int:
    """Validates the escape at b[i] == '\\'; returns the index after it."""
    if n - i < 2:
        raise FrameDecodeError("unexpected end of frame", n)
    c = b[i + 1]
    if c in _SIMPLE_ESCAPES:
        return i + 2
    if c != 0x75:  # 'u'
        raise FrameDecodeError("invalid escape", i)
    if n - i < 6:
        raise FrameDecodeError("unexpected end of frame", n)
    cp = _hex4(b, i + 2)
    if cp < 0:
        raise FrameDecodeError("invalid escape", i)
    if 0xDC00 <= cp <= 0xDFFF:
        raise FrameDecodeError("lone surrogate escape", i)
    if not 0xD800 <= cp <= 0xDBFF:
        return i + 6
    if n - i < 12 or b[i + 6 : i + 8] != b"\\u" or not 0xDC00 <= _hex4(b, i + 8) <= 0xDFFF:
        raise FrameDecodeError("lone surrogate escape", i)
    return i + 12


def _utf8_seq(b: bytes, i: int, n: int) -> int:
    """Validates the UTF-8 sequence whose lead byte (>= 0x80) is b[i]; returns its end."""
    c = b[i]
    if 0xC2 <= c <= 0xDF:
        size, lo, hi = 2, 0x80, 0xBF
    elif 0xE0 <= c <= 0xEF:
        size = 3
        lo = 0xA0 if c == 0xE0 else 0x80
        hi = 0x9F if c == 0xED else 0xBF
    elif 0xF0 <= c <= 0xF4:
        size = 4
        lo = 0x90 if c == 0xF0 else 0x80
        hi = 0x8F if c == 0xF4 else 0xBF
    else:
        raise FrameDecodeError("invalid UTF-8", i)
    if n - i < size or not lo <= b[i + 1] <= hi:
        raise FrameDecodeError("invalid UTF-8", i)
    if any(b[k] & 0xC0 != 0x80 for k in range(i + 2, i + size)):
        raise FrameDecodeError("invalid UTF-8", i)
    return i + size


def _scan_string(b: bytes, i: int, n: int) -> int:
    """Validates a JSON string body starting after its opening quote; returns the index of
    the closing quote."""
    while True:
        i = _plain_run(b, i).end()  # type: ignore[union-attr]  # always matches (maybe empty)
        if i >= n:
            raise FrameDecodeError("unexpected end of frame", n)
        c = b[i]
        if c == 0x22:
            return i
        if c == 0x5C:
            i = _scan_escape(b, i, n)
        elif c < 0x20:
            raise FrameDecodeError("control character in string", i)
        else:
            i = _utf8_seq(b, i, n)


def _digits(b: bytes, i: int, n: int) -> int:
    while i < n and b[i] in _DIGITS:
        i += 1
    return i


_plain_run = re.compile(rb'[^"\\\x00-\x1f\x80-\xff]*').match
_simple_number = re.compile(rb"-?(?:0|[1-9][0-9]{0,14})(?![0-9.eE])").match


def _scan_number(b: bytes, i: int, n: int) -> int:
    """Validates a JSON number at b[i] ('-' or a digit); returns the index after it."""
    m = _simple_number(b, i)  # up to 15 digits, no fraction or exponent: always finite
    if m is not None:
        return m.end()
    start = i
    if b[i] == 0x2D:
        i += 1
        if i >= n:
            raise FrameDecodeError("unexpected end of frame", n)
    if b[i] == 0x30:
        i += 1
    elif b[i] in _DIGITS:
        i = _digits(b, i, n)
    else:
        raise FrameDecodeError("invalid number", i)
    if i < n and b[i] == 0x2E:  # '.'
        i += 1
        if i >= n:
            raise FrameDecodeError("unexpected end of frame", n)
        if b[i] not in _DIGITS:
            raise FrameDecodeError("invalid number", i)
        i = _digits(b, i, n)
    if i < n and b[i] in b"eE":
        i += 1
        if i < n and b[i] in b"+-":
            i += 1
        if i >= n:
            raise FrameDecodeError("unexpected end of frame", n)
        if b[i] not in _DIGITS:
            raise FrameDecodeError("invalid number", i)
        i = _digits(b, i, n)
    if float(b[start:i]) in (float("inf"), float("-inf")):
        raise FrameDecodeError("number is infinity when parsed as double", start)
    return i


def _scan_literal(b: bytes, i: int, n: int, lit: bytes) -> int:
    got = b[i : i + len(lit)]
    if got == lit:
        return i + len(lit)
    if len(got) < len(lit) and lit.startswith(got):
        raise FrameDecodeError("unexpected end of frame", n)
    raise FrameDecodeError("invalid JSON in payload", i)


def _scan_scalar(b: bytes, i: int, n: int) -> int:
    c = b[i]
    if c == 0x22:
        return _scan_string(b, i + 1, n) + 1
    if c == 0x74:
        return _scan_literal(b, i, n, b"true")
    if c == 0x66:
        return _scan_literal(b, i, n, b"false")
    if c == 0x6E:
        return _scan_literal(b, i, n, b"null")
    if c == 0x2D or c in _DIGITS:
        return _scan_number(b, i, n)
    raise FrameDecodeError("invalid JSON in payload", i)


def _scan_key(b: bytes, i: int, n: int) -> int:
    """Scans `"key" :` at i (whitespace before it skipped); returns the index after ':'."""
    i = _skip_ws(b, i, n)
    if i >= n:
        raise FrameDecodeError("unexpected end of frame", n)
    if b[i] != 0x22:
        raise FrameDecodeError("invalid JSON in payload", i)
    i = _skip_ws(b, _scan_string(b, i + 1, n) + 1, n)
    if i >= n:
        raise FrameDecodeError("unexpected end of frame", n)
    if b[i] != 0x3A:
        raise FrameDecodeError("invalid JSON in payload", i)
    return i + 1


def _scan_value(b: bytes, i: int, n: int) -> int:
    """Validates one JSON value at i (whitespace before it skipped); returns its end.

    Iterative: `stack` holds the closing byte of every open container.
    """
    stack: list[int] = []
    while True:
        # a value starts here
        i = _skip_ws(b, i, n)
        if i >= n:
            raise FrameDecodeError("unexpected end of frame", n)
        c = b[i]
        if c == 0x7B or c == 0x5B:  # '{' or '['
            if len(stack) >= _MAX_DEPTH:
                raise FrameDecodeError("nesting too deep", i)
            close = c + 2  # '}' or ']'
            stack.append(close)
            i = _skip_ws(b, i + 1, n)
            if i < n and b[i] == close:
                stack.pop()
                i += 1
            else:
                if close == 0x7D:
                    i = _scan_key(b, i, n)
                continue
        else:
            i = _scan_scalar(b, i, n)
        # after a value: close containers or move to the next element
        while True:
            if not stack:
                return i
            i = _skip_ws(b, i, n)
            if i >= n:
                raise FrameDecodeError("unexpected end of frame", n)
            c = b[i]
            if c == 0x2C:  # ','
                i += 1
                if stack[-1] == 0x7D:
                    i = _scan_key(b, i, n)
                break
            if c != stack[-1]:
                raise FrameDecodeError("invalid JSON in payload", i)
            stack.pop()
            i += 1


def _need(i: int, n: int) -> int:
    if i >= n:
        raise FrameDecodeError("unexpected end of frame", n)
    return i


def _separator(b: bytes, i: int, n: int, count: int) -> int:
    """Skips whitespace and the ',' after element number `count` (1-based)."""
    i = _skip_ws(b, i, n)
    if i >= n:
        raise FrameDecodeError("unexpected end of frame", n)
    if b[i] == 0x2C:
        return _need(_skip_ws(b, i + 1, n), n)
    if b[i] == 0x5D:
        raise FrameDecodeError(f"expected 5 elements, got {count}", i)
    raise FrameDecodeError("expected ',' or ']'", i)


def _string_token(b: bytes, i: int, n: int) -> tuple[str, int]:
    j = _scan_string(b, i + 1, n)
    token = b[i : j + 1]
    value = token[1:-1].decode("utf-8") if b"\\" not in token else _loads(token)
    return value, j + 1


def _ref_token(b: bytes, i: int, n: int, what: str) -> tuple[str | None, int]:
    """join_ref / ref at i: a JSON string, null, or an integer exposed as its text."""
    c = b[i]
    if c == 0x22:
        return _string_token(b, i, n)
    if c == 0x6E and b[i : i + 4] == b"null":
        return None, i + 4
    if c == 0x2D or c in _DIGITS:
        q = i + 1 if c == 0x2D else i
        if q < n and b[q] == 0x30:
            q += 1
        elif q < n and b[q] in _DIGITS:
            q = _digits(b, q, n)
        else:
            raise FrameDecodeError(what, i)
        if q < n and (b[q] in b".eE" or b[q] in _DIGITS):
            raise FrameDecodeError(what, i)
        return b[i:q].decode("ascii"), q
    raise FrameDecodeError(what, i)


def _scan_frame(b: bytes) -> tuple[str | None, str | None, str, str, int, int]:
    """Scans a whole text frame strictly: (join_ref, ref, topic, event, payload start, end).

    Raises FrameDecodeError with the reason and offset of the first error.
    """
    n = len(b)
    if n == 0:
        raise FrameDecodeError("empty frame", 0)
    i = _skip_ws(b, 0, n)
    if i >= n or b[i] != 0x5B:
        raise FrameDecodeError("expected '['", i)
    i = _skip_ws(b, i + 1, n)
    if i < n and b[i] == 0x5D:
        raise FrameDecodeError("expected 5 elements, got 0", i)
    jr, i = _ref_token(b, _need(i, n), n, "join_ref must be a string, integer or null")
    i = _separator(b, i, n, 1)
    ref, i = _ref_token(b, i, n, "ref must be a string, integer or null")
    i = _separator(b, i, n, 2)
    if b[i] != 0x22:
        raise FrameDecodeError("topic must be a string", i)
    topic, i = _string_token(b, i, n)
    i = _separator(b, i, n, 3)
    if b[i] != 0x22:
        raise FrameDecodeError("event must be a string", i)
    event, i = _string_token(b, i, n)
    ps = _separator(b, i, n, 4)
    pe = _scan_value(b, ps, n)
    i = _skip_ws(b, pe, n)
    if i >= n:
        raise FrameDecodeError("unexpected end of frame", n)
    if b[i] == 0x2C:
        raise FrameDecodeError("expected 5 elements, got more", i)
    if b[i] != 0x5D:
        raise FrameDecodeError("expected ',' or ']'", i)
    i = _skip_ws(b, i + 1, n)
    if i != n:
        raise FrameDecodeError("trailing bytes after frame", i)
    return jr, ref, topic, event, ps, pe


def _decode_slow(b: bytes) -> Frame:
    """decode() for what the fast path did not accept: a precise error, or the frame."""
    jr, ref, topic, event, ps, pe = _scan_frame(b)
    raw = b[ps:pe]
    try:
        payload = _loads(raw)
    except _JSONDecodeError as exc:  # the scanner and orjson disagree: orjson has the word
        raise FrameDecodeError("invalid JSON in payload", ps) from exc
    return _frame(jr, ref, topic, event, raw, payload, None)


# ---------------------------------------------------------------------------------------------
# Binary decode (Phoenix binary serializer, server -> client kinds 0, 1, 2)

_KIND_FIELDS = {0: 3, 1: 4, 2: 2}  # kind -> number of length-prefixed header fields


def _binary_fields(b: bytes, nf: int) -> tuple[list[str], int]:
    """Reads `nf` length-prefixed UTF-8 header fields; returns them and the payload start."""
    n = len(b)
    if n < 1 + nf:
        raise FrameDecodeError("unexpected end of frame", n)
    lens = b[1 : 1 + nf]
    pos = 1 + nf
    if n < pos + sum(lens):
        raise FrameDecodeError("unexpected end of frame", n)
    fields = []
    for size in lens:
        try:
            fields.append(b[pos : pos + size].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise FrameDecodeError("invalid UTF-8", pos + exc.start) from exc
        pos += size
    return fields, pos


def decode_binary(data: bytes | bytearray | memoryview) -> Frame:
    """Decodes a Phoenix binary frame (kind 0 push, 1 reply, 2 broadcast) into a Frame.

    Raises FrameDecodeError for an empty, truncated or unknown-kind frame or a header string
    that is not UTF-8; TypeError for an input that is not bytes, bytearray or memoryview.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"decode_binary() expects bytes, bytearray or memoryview, not {type(data).__name__}"
        )
    b = data if type(data) is bytes else bytes(data)
    if not b:
        raise FrameDecodeError("empty frame", 0)
    kind = b[0]
    nf = _KIND_FIELDS.get(kind)
    if nf is None:
        raise FrameDecodeError(f"unknown binary frame kind {kind}", 0)
    fields, pos = _binary_fields(b, nf)
    raw = b[pos:]
    if kind == 0:
        return _frame(fields[0], None, fields[1], fields[2], raw, raw, None, True)
    if kind == 1:
        reply = {"status": fields[3], "response": raw}
        return _frame(fields[0], fields[1], fields[2], _PHX_REPLY, raw, reply, None, True)
    return _frame(None, None, fields[0], fields[1], raw, raw, None, True)


# ---------------------------------------------------------------------------------------------
# Encode


def _check_str(value: object, what: str, nullable: bool) -> None:
    if isinstance(value, str) or (nullable and value is None):
        return
    kind = "a str or None" if nullable else "a str"
    raise TypeError(f"{what} must be {kind}, not {type(value).__name__}")


def encode(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes:
    """Encodes ``[join_ref, ref, topic, event, payload]`` as compact JSON text bytes.

    Byte-identical to the official JS client's ``JSON.stringify`` for the same values. The
    payload goes through ``orjson.dumps``, or is spliced verbatim when it is a RawJSON.
    Raises TypeError for a wrong argument type, an unserialisable payload or a str holding
    a lone surrogate (orjson.JSONEncodeError).
    """
    if not (
        type(topic) is str
        and type(event) is str
        and (join_ref is None or type(join_ref) is str)
        and (ref is None or type(ref) is str)
    ):  # the common case costs four type checks; str subclasses pass here
        _check_str(join_ref, "join_ref", True)
        _check_str(ref, "ref", True)
        _check_str(topic, "topic", False)
        _check_str(event, "event", False)
    if type(payload) is RawJSON or isinstance(payload, RawJSON):
        body = payload.data
        if type(body) is not bytes:
            raise TypeError("RawJSON.data must be bytes")
        return _dumps((join_ref, ref, topic, event))[:-1] + b"," + body + b"]"
    return _dumps((join_ref, ref, topic, event, payload))


def _field_bytes(value: str | None, what: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, not {type(value).__name__}")
    b = value.encode("utf-8")
    if len(b) > 255:
        raise ValueError(f"{what} is {len(b)} UTF-8 bytes; the binary format allows at most 255")
    return b


def encode_binary(
    join_ref: str | None,
    ref: str | None,
    topic: str,
    event: str,
    payload: bytes | bytearray | memoryview,
) -> bytes:
    """Encodes a client binary push (kind 0): ``[0, jr_len, ref_len, topic_len, event_len]``
    then join_ref, ref, topic, event and the payload bytes. join_ref/ref None -> empty field.

    Raises TypeError for a non-bytes-like payload or a non-str field, ValueError for a field
    over 255 UTF-8 bytes.
    """
    _check_str(topic, "topic", False)
    _check_str(event, "event", False)
    fields = [
        _field_bytes(join_ref, "join_ref"),
        _field_bytes(ref, "ref"),
        _field_bytes(topic, "topic"),
        _field_bytes(event, "event"),
    ]
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"payload must be bytes, bytearray or memoryview, not {type(payload).__name__}"
        )
    head = bytes((0, *map(len, fields)))
    return b"".join((head, *fields, payload))


# ---------------------------------------------------------------------------------------------
# Replies and ref routing


def parse_reply(frame: Frame) -> Reply:
    """Reads a ``phx_reply`` frame as Reply(status, response).

    Text: the payload must be an object whose "status" is a str; a missing "response" gives
    None (phoenix.js would read it as undefined). Binary reply: response is the payload bytes.
    Raises FrameDecodeError for another event or a malformed reply payload, TypeError for a
    non-Frame argument.
    """
    if not isinstance(frame, Frame):
        raise TypeError(f"parse_reply() expects a Frame, not {type(frame).__name__}")
    if frame.event != _PHX_REPLY:
        raise FrameDecodeError(f"not a phx_reply frame: event {frame.event!r}", None)
    try:
        payload = frame.payload
    except _JSONDecodeError as exc:
        raise FrameDecodeError("invalid JSON in payload", None) from exc
    if not isinstance(payload, dict) or "status" not in payload:
        raise FrameDecodeError("phx_reply payload has no status", None)
    status = payload["status"]
    if not isinstance(status, str):
        raise FrameDecodeError("phx_reply status must be a string", None)
    return Reply(status, payload.get("response"))


class RefTable:
    """Ref allocation and ref -> waiter routing (one table per socket), O(1) per operation."""

    __slots__ = ("_next", "_waiters")

    def __init__(self, start: int = 1) -> None:
        self._waiters: dict[str, object] = {}
        self._next = int(start)

    def next_ref(self) -> str:
        """Returns the next decimal ref ("1", "2", ...); also used for join_refs."""
        r = self._next
        self._next = r + 1
        return str(r)

    def add(self, ref: str, waiter: object) -> None:
        """Routes `ref` to `waiter` (replacing an existing entry)."""
        self._waiters[ref] = waiter

    def register(self, waiter: object) -> str:
        """Allocates the next ref, routes it to `waiter` and returns it."""
        r = self._next
        self._next = r + 1
        ref = str(r)
        self._waiters[ref] = waiter
        return ref

    def pop(self, ref: str | None, default: object = None) -> object:
        """Removes and returns the waiter of `ref`, or `default` (also for a None ref)."""
        if ref is None:
            return default
        return self._waiters.pop(ref, default)

    def get(self, ref: str | None, default: object = None) -> object:
        """Returns the waiter of `ref` without removing it, or `default`."""
        if ref is None:
            return default
        return self._waiters.get(ref, default)

    def __contains__(self, ref: object) -> bool:
        return ref is not None and ref in self._waiters

    def __len__(self) -> int:
        return len(self._waiters)

    def drain(self) -> list[object]:
        """Removes and returns all waiters, in insertion (ref) order."""
        waiters = list(self._waiters.values())
        self._waiters.clear()
        return waiters

    def fail_all(self, exc: BaseException) -> int:
        """Drains the table and sets `exc` on every waiter that is a pending Future-like.

        Returns how many waiters were failed.
        """
        failed = 0
        for w in self.drain():
            set_exception = getattr(w, "set_exception", None)
            if set_exception is None:
                continue
            done = getattr(w, "done", None)
            if done is not None and done():
                continue
            set_exception(exc)
            failed += 1
        return failed

    def clear(self) -> None:
        """Forgets every waiter without failing them."""
        self._waiters.clear()

    def __repr__(self) -> str:
        return f"<RefTable pending={len(self._waiters)} next={self._next}>"

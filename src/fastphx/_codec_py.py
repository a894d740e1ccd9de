"""The fastphx codec: Phoenix V2 text and binary frames, replies and ref routing.

One source, two builds (aiohttp's ``_websocket/reader_py.py`` pattern): this module is the
pure-Python build, and Cython compiles this same file as ``fastphx._codec_c`` through
``_codec_c.pxd``, which types its classes and locals. ``Frame``, ``RefTable``,
``parse_reply``, the binary frame code and the argument checks of ``encode`` exist once,
here. The text-frame kernel is the one part written twice: ``_text.pyx`` (C, with the byte
scanner ``_jsonscan.h``) in the compiled build, ``_text_py.py`` (orjson and a regex) in this
one; the ``.pxd`` cimports the C kernel in place of the Python import below. Both builds
accept and reject the same frames with the same exception types (docs/codec.md); only the
compiled build names the byte offset of every error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ._text_py import load_payload, scan_text, splice

if TYPE_CHECKING:
    from ._cython_shim import cython
else:
    try:
        import cython
    except ImportError:  # the pure-Python build runs without Cython: no-op decorators
        from ._cython_shim import cython
from ._types import UNPARSED, RawJSON, Reply
from .errors import FrameDecodeError

__all__ = [
    "Frame",
    "RefTable",
    "Router",
    "decode",
    "decode_binary",
    "decode_eager",
    "encode",
    "encode_binary",
    "parse_reply",
]

_dumps = orjson.dumps
_tuple_new = tuple.__new__
_JSONDecodeError = orjson.JSONDecodeError
_PHX_REPLY = "phx_reply"
_CONTROL_EVENTS = frozenset({"phx_error", "phx_close", _PHX_REPLY})

# ---------------------------------------------------------------------------------------------
# Frame


# Compiled: an extension type with a free list, untracked by the cycle collector (its fields,
# decoded JSON and bytes, never refer back to a Frame).
@cython.freelist(64)
@cython.no_gc
@cython.cclass
class Frame:
    """One Phoenix V2 message: ``[join_ref, ref, topic, event, payload]``.

    ``raw_payload`` holds the payload's JSON bytes exactly as they stood in a text frame (or
    the binary payload); ``payload`` is ``orjson.loads(raw_payload)``, computed on first
    access and cached (a binary push's payload is the bytes; a binary reply's is
    ``{"status", "response"}``). Attributes are read-only.

    A decoded text frame keeps the message's bytes and where its payload lies in them
    (``_data[_start:_end]``) rather than a copy of the payload: ``payload`` is built from
    the message in place, and ``raw_payload`` is cut on first access (then the message is
    let go of). One allocation and copy less per message than cutting the payload out at
    decode time (callgrind: 243 fewer instructions for ``decode(frame).payload`` of the
    157-byte frame bench/e2e_server.py blasts).
    """

    __slots__ = ("_binary", "_data", "_end", "_event", "_join_ref", "_payload", "_ref",
                 "_start", "_topic")

    _join_ref: str | None
    _ref: str | None
    _topic: str
    _event: str
    _data: bytes
    _start: int
    _end: int
    _binary: bool
    _payload: Any

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
        is_binary = bool(binary)
        _fill(self, join_ref, ref, topic, event, raw, 0, len(raw),
              raw if is_binary else UNPARSED, is_binary)

    @property
    def join_ref(self) -> str | None:
        """The join_ref (None when the frame has none)."""
        return self._join_ref

    @property
    def ref(self) -> str | None:
        """The ref (None for a server push); an integer ref is exposed as its decimal text."""
        return self._ref

    @property
    def topic(self) -> str:
        """The topic, e.g. ``"room:lobby"``."""
        return self._topic

    @property
    def event(self) -> str:
        """The event, e.g. ``"new_msg"`` or ``"phx_reply"``."""
        return self._event

    @property
    def raw_payload(self) -> bytes:
        """The payload's bytes as they stood in the frame."""
        data = self._data
        if self._start != 0 or self._end != len(data):
            data = data[self._start : self._end]
            self._data = data  # keep the payload's bytes, not the whole message's
            self._start = 0
            self._end = len(data)
        return data

    @property
    def binary(self) -> bool:
        """True for a frame of the binary serializer."""
        return self._binary

    @property
    def payload(self) -> Any:
        """The decoded payload (text: ``orjson.loads(raw_payload)``, cached; binary: bytes).

        Raises orjson.JSONDecodeError only for a Frame built by hand with invalid JSON.
        """
        value = self._payload
        if value is UNPARSED:
            value = load_payload(self._data, self._start, self._end)
            self._payload = value
        return value

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

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        raw = self.raw_payload
        shown = repr(raw[:80]) + ("..." if len(raw) > 80 else "")
        return (
            f"Frame(join_ref={self.join_ref!r}, ref={self.ref!r}, topic={self.topic!r}, "
            f"event={self.event!r}, raw_payload={shown}, binary={self.binary!r})"
        )


def _fill(
    f: Frame,
    join_ref: str | None,
    ref: str | None,
    topic: str,
    event: str,
    data: bytes,
    start: int,
    end: int,
    payload: Any,
    binary: bool,
) -> Frame:
    """Sets every field of ``f`` (a new ``Frame.__new__(Frame)``, or ``self`` in __init__):
    the payload is ``data[start:end]``, ``payload`` UNPARSED until first read."""
    f._join_ref = join_ref
    f._ref = ref
    f._topic = topic
    f._event = event
    f._data = data
    f._start = start
    f._end = end
    f._payload = payload
    f._binary = binary
    return f


# ---------------------------------------------------------------------------------------------
# Text frames (the kernel: _text.pyx or _text_py.py)


def decode(data: bytes | bytearray | memoryview | str) -> Frame:
    """Decodes a V2 text frame ``[join_ref, ref, topic, event, payload]`` into a Frame.

    The header is parsed and the payload validated (exactly what orjson accepts); the
    compiled build creates no payload objects until ``Frame.payload`` is read. Raises
    FrameDecodeError for a malformed frame, TypeError for an input that is not bytes,
    bytearray, memoryview or str.
    """
    join_ref, ref, topic, event, b, start, end, payload = scan_text(data, False)
    return _fill(Frame.__new__(Frame), join_ref, ref, topic, event, b, start, end, payload,
                 False)


def decode_eager(data: bytes | bytearray | memoryview | str) -> Frame:
    """Decodes like decode() (same results, same errors) with the payload parsed right away.

    For consumers who read every payload: one parse replaces a validating scan plus a later
    parse. Raises FrameDecodeError (chained from orjson's error when orjson rejected the
    payload) or TypeError, like decode().
    """
    join_ref, ref, topic, event, b, start, end, payload = scan_text(data, True)
    return _fill(Frame.__new__(Frame), join_ref, ref, topic, event, b, start, end, payload,
                 False)


def _check_str(value: object, what: str, nullable: bool) -> None:
    if isinstance(value, str) or (nullable and value is None):
        return
    kind = "a str or None" if nullable else "a str"
    raise TypeError(f"{what} must be {kind}, not {type(value).__name__}")


def encode(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes:
    """Encodes ``[join_ref, ref, topic, event, payload]`` as compact JSON text bytes.

    Byte-identical to the official JS client's ``JSON.stringify`` and to ``orjson.dumps`` of
    the five values (which is how a payload is encoded: one orjson call, measured faster
    than encoding the payload alone and splicing it behind a cached header). A RawJSON
    payload is spliced verbatim behind the header, unparsed. Raises TypeError for a wrong
    argument type, an unserialisable payload or a str holding a lone surrogate
    (orjson.JSONEncodeError).
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
    kind = type(payload)
    if kind is RawJSON or (kind is not dict and isinstance(payload, RawJSON)):
        body = payload.data
        if type(body) is not bytes:
            raise TypeError("RawJSON.data must be bytes")
        return splice(join_ref, ref, topic, event, body)
    return _dumps((join_ref, ref, topic, event, payload))


# ---------------------------------------------------------------------------------------------
# Binary frames (Phoenix binary serializer: server -> client kinds 0, 1, 2; client push 0)

_KIND_FIELDS = {0: 3, 1: 4, 2: 2}  # kind -> number of length-prefixed header fields


def _binary_fields(b: bytes, nf: int) -> tuple[list[str], int]:
    """Reads `nf` length-prefixed UTF-8 header fields; returns them and the payload start."""
    n = len(b)
    if n < 1 + nf:
        raise FrameDecodeError("unexpected end of frame", n)
    pos = 1 + nf
    if n < pos + sum(b[1 : 1 + nf]):
        raise FrameDecodeError("unexpected end of frame", n)
    fields = []
    for k in range(1, 1 + nf):
        size = b[k]
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
    n = len(raw)
    f = Frame.__new__(Frame)
    if kind == 0:
        return _fill(f, fields[0], None, fields[1], fields[2], raw, 0, n, raw, True)
    if kind == 1:
        reply = {"status": fields[3], "response": raw}
        return _fill(f, fields[0], fields[1], fields[2], _PHX_REPLY, raw, 0, n, reply, True)
    return _fill(f, None, None, fields[0], fields[1], raw, 0, n, raw, True)


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
    head = bytes((0, len(fields[0]), len(fields[1]), len(fields[2]), len(fields[3])))
    return b"".join((head, fields[0], fields[1], fields[2], fields[3], payload))


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
    # tuple.__new__ is what Reply's generated __new__ calls; calling it directly skips that
    # Python frame (about 3,500 of the 7,500 instructions a reply cost: callgrind,
    # bench/e2e_roundtrip.py --instructions).
    return _tuple_new(Reply, (status, payload.get("response")))


@cython.cclass
class Router:
    """The client's per-message routing, compiled: ``route(frame, data)`` counts a received
    message and gives the channel ``frame`` is a current push for, or None.

    A push is a frame with no ref, on a topic of ``channels`` (the protocol's topic ->
    channel dict, held by reference; a channel is anything with a ``join_ref``), whose
    join_ref is null or that channel's current one, and whose event is not phx_error,
    phx_close or phx_reply; everything else goes to the protocol. ``frames`` and ``nbytes``
    count what ``route`` saw (C integers in the compiled build: no int object per message).
    One call replaces four attribute reads, three tests and two counter updates in Python
    (callgrind, bench/e2e_client.py picows_read: 19,013 -> 17,726 instructions per push).
    """

    __slots__ = ("_channels", "frames", "nbytes")

    _channels: dict[str, Any]
    frames: int
    nbytes: int

    def __init__(self, channels: dict[str, Any]) -> None:
        self._channels = channels
        self.frames = 0
        self.nbytes = 0

    def route(self, frame: Frame, data: Any) -> Any:
        """Counts ``data`` (the message ``frame`` was decoded from) and returns the channel
        ``frame`` is a push for, or None."""
        self.frames += 1
        self.nbytes += len(data)
        if frame._ref is not None:
            return None
        channel = self._channels.get(frame._topic)
        if channel is None:
            return None
        join_ref = frame._join_ref
        if join_ref is not None and join_ref != channel.join_ref:
            return None
        if frame._event in _CONTROL_EVENTS:
            return None
        return channel


class RefTable:
    """Ref allocation and ref -> waiter routing (one table per socket), O(1) per operation."""

    __slots__ = ("_next", "_waiters")

    _waiters: dict[str, object]
    _next: int

    def __init__(self, start: int = 1) -> None:
        self._waiters = {}
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
        ref = self.next_ref()
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

"""Property tests of the codec: round trips, decode_eager == decode, C build == Python build.

Bounded by the ``codec-ci`` Hypothesis profile (tests/unit/conftest.py); set
``FASTPHX_HYPOTHESIS_PROFILE=codec-dev`` for a longer local hunt.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastphx.errors import FrameDecodeError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # any import mode
from jsonresult import PROFILE

# Python cannot UTF-8 encode a lone surrogate, so generated text excludes category Cs.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
REFS = st.none() | TEXT
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(TEXT, inner, max_size=6),
    max_leaves=12,
)

SEEDS = [
    b'["1","1","room:lobby","phx_reply",{"response":{"welcome":"room:lobby"},"status":"ok"}]',
    b'[null,null,"room:lobby","shout",{"m":"hi","n":[1,-2.5e-3,true,false,null]}]',
    b' [ 1 , 2 , "t\\u00e9\\ud83d\\ude00" , "e\\n" , [ {"k" : "\\"v\\\\"} ] ] ',
    '["15",null,"room:\u00e9","presence_state",{"\u65e5":"\U0001f600","x":"\\/"}]'.encode(),
    b'[null,"2","phoenix","heartbeat",{}]',
]
BINARY_SEEDS = [
    bytes.fromhex("00010a0331726f6f6d3a6c6f62627962696e010203ff"),
    bytes.fromhex("0101010a023137726f6f6d3a6c6f6262796f6b000102feff"),
    bytes([2, 4, 3]) + b"roomevt" + b"\x00data",
]
# Bytes that matter to the JSON grammar, UTF-8 and the binary header.
INTERESTING = (
    b'[]{},:"\\ \t\n\r0123456789-+.eEtrufalsn/bu'
    b'\x00\x01\x1f\x7f\x80\xbf\xc3\xe2\xed\xa0\xf0\xf4\xff'
)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed frame with a few byte flips, insertions, deletions or a truncation."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 4))
        pos = draw(st.integers(0, len(data)))
        byte = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        if op == 0 and pos < len(data):
            data[pos] = byte
        elif op == 1:
            data.insert(pos, byte)
        elif op == 2 and pos < len(data):
            del data[pos]
        elif op == 3:
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(max_size=8))
    return bytes(data)


ANY_TEXT_INPUT = mutated(SEEDS) | st.binary(max_size=64) | TEXT.map(str.encode)
ANY_BINARY_INPUT = mutated(BINARY_SEEDS) | st.binary(max_size=64)


def outcome(fn: Any, data: Any) -> tuple[Any, ...]:
    """What fn(data) did: ("ok", fields..., payload) or ("err", type, reason, offset)."""
    try:
        f = fn(data)
    except FrameDecodeError as exc:
        return ("err", type(exc), exc.reason, exc.offset)
    return ("ok", f.join_ref, f.ref, f.topic, f.event, f.raw_payload, f.binary, f.payload)


@PROFILE
@given(jr=REFS, ref=REFS, topic=TEXT, event=TEXT, payload=JSON)
def test_encode_decode_round_trip(
    codec: ModuleType, jr: Any, ref: Any, topic: str, event: str, payload: Any
) -> None:
    """decode(encode(fields, payload)) returns the same fields and an equal payload."""
    data = codec.encode(jr, ref, topic, event, payload)
    assert data == orjson.dumps([jr, ref, topic, event, payload])
    for fn in (codec.decode, codec.decode_eager):
        frame = fn(data)
        assert (frame.join_ref, frame.ref, frame.topic, frame.event) == (jr, ref, topic, event)
        assert frame.payload == payload
        assert frame.raw_payload == orjson.dumps(payload)


@PROFILE
@given(jr=REFS, ref=REFS, topic=TEXT, event=TEXT, payload=JSON)
def test_decode_indented_frames(
    codec: ModuleType, jr: Any, ref: Any, topic: str, event: str, payload: Any
) -> None:
    """A frame pretty-printed with whitespace everywhere decodes to the same values."""
    data = orjson.dumps([jr, ref, topic, event, payload], option=orjson.OPT_INDENT_2)
    frame = codec.decode(b"\r\n " + data + b"\n\t")
    assert (frame.join_ref, frame.ref, frame.topic, frame.event) == (jr, ref, topic, event)
    assert frame.payload == payload
    assert orjson.loads(frame.raw_payload) == payload


@PROFILE
@given(data=ANY_TEXT_INPUT)
def test_decode_eager_agrees_with_decode(codec: ModuleType, data: bytes) -> None:
    """decode_eager and decode accept the same inputs with the same results and errors."""
    assert outcome(codec.decode_eager, data) == outcome(codec.decode, data)


@PROFILE
@given(data=ANY_TEXT_INPUT)
def test_decode_accepts_exactly_what_orjson_accepts_as_a_frame(
    codec: ModuleType, data: bytes
) -> None:
    """decode rejects what orjson rejects; an accepted frame's payload equals orjson's."""
    result = outcome(codec.decode, data)
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError:
        assert result[0] == "err"
        return
    if result[0] == "ok":
        assert whole[4] == result[-1]


@PROFILE
@given(data=ANY_TEXT_INPUT)
def test_twins_agree_on_text_decode(codec_c: ModuleType, codec_py: ModuleType, data: bytes) -> None:
    """The C and Python builds give the same frame, or the same exception type, for any text
    input (only the C build names byte offsets)."""
    for name in ("decode", "decode_eager"):
        c, py = outcome(getattr(codec_c, name), data), outcome(getattr(codec_py, name), data)
        assert c[:2] == py[:2] if c[0] == "err" else c == py


@PROFILE
@given(data=ANY_BINARY_INPUT)
def test_twins_agree_on_binary_decode(
    codec_c: ModuleType, codec_py: ModuleType, data: bytes
) -> None:
    """The C and Python builds give the same binary frame, or the same error."""
    assert outcome(codec_c.decode_binary, data) == outcome(codec_py.decode_binary, data)


DIGITS = st.text("0123456789", min_size=1, max_size=4)
NUMBER = st.tuples(
    st.sampled_from(["", "-", "+"]),
    DIGITS | st.integers(300, 320).map(lambda k: "1" + "7" * k),
    st.sampled_from(["", "."]).flatmap(lambda d: st.just("") if not d else DIGITS.map(d.__add__)),
    st.sampled_from(["", "e", "E", "e+", "e-", "E-"]).flatmap(
        lambda e: st.just("") if not e else st.text("0123456789", max_size=4).map(e.__add__)
    ),
).map(lambda parts: "".join(parts).encode())


@PROFILE
@given(number=NUMBER | st.from_regex(rb"\A[-0-9.eE+]{1,12}\Z"))
def test_numbers_match_orjson(codec: ModuleType, number: bytes) -> None:
    """A payload number is accepted exactly when orjson accepts it, with the same value."""
    data = b'[null,null,"t","e",' + number + b"]"
    try:
        expected = orjson.loads(number)
    except orjson.JSONDecodeError:
        with pytest.raises(FrameDecodeError):
            codec.decode(data)
        return
    assert codec.decode(data).payload == expected
    assert codec.decode_eager(data).payload == expected


ESCAPED = st.lists(
    st.sampled_from(
        [b"a", b"\\n", b"\\u0041", b"\\ud83d", b"\\ude00", b"\\uDBFF", b"\\uDFFF", b"\\u12",
         b"\\x", b"\\", b"\xc3\xa9", b"\xed\xa0\x80", b"\xf0\x9f\x98\x80", b"\xff", b"\x1f"]
    ),
    max_size=6,
).map(b"".join)  # fmt: skip


@PROFILE
@given(body=ESCAPED, where=st.integers(0, 3))
def test_strings_match_orjson(codec: ModuleType, body: bytes, where: int) -> None:
    """A string (escapes, surrogates, UTF-8) is accepted exactly when orjson accepts it."""
    token = b'"' + body + b'"'
    parts = [b'"j"', b'"r"', b'"t"', b'"e"', b"{}"]
    parts[where if where < 3 else 4] = token if where < 3 else b'{"k":' + token + b"}"
    data = b"[" + b",".join(parts) + b"]"
    try:
        expected = orjson.loads(token)
    except orjson.JSONDecodeError:
        with pytest.raises(FrameDecodeError):
            codec.decode(data)
        return
    frame = codec.decode(data)
    got = [frame.join_ref, frame.ref, frame.topic, None, frame.payload]
    assert got[where if where < 3 else 4] == (expected if where < 3 else {"k": expected})


@PROFILE
@given(jr=REFS, ref=REFS, topic=TEXT, event=TEXT, payload=JSON)
def test_twins_agree_on_encode(
    codec_c: ModuleType, codec_py: ModuleType, jr: Any, ref: Any, topic: str, event: str,
    payload: Any,
) -> None:  # fmt: skip
    """The C and Python builds encode the same values to the same bytes."""
    assert codec_c.encode(jr, ref, topic, event, payload) == codec_py.encode(
        jr, ref, topic, event, payload
    )


FIELD = st.none() | st.text(st.characters(blacklist_categories=("Cs",)), max_size=140)


@PROFILE
@given(jr=FIELD, ref=FIELD, topic=FIELD, event=FIELD, payload=st.binary(max_size=40))
def test_twins_agree_on_encode_binary(
    codec_c: ModuleType, codec_py: ModuleType, jr: Any, ref: Any, topic: Any, event: Any,
    payload: bytes,
) -> None:  # fmt: skip
    """The C and Python builds encode binary pushes alike, and reject the same fields."""
    results = []
    for codec in (codec_c, codec_py):
        try:
            results.append(codec.encode_binary(jr, ref, topic, event, payload))
        except (TypeError, ValueError) as exc:
            results.append(type(exc))
    assert results[0] == results[1]


# Payloads for the encoder against orjson itself: every float (nan/inf included), ints
# beyond int64 and u64, str with lone surrogates, str/dict/int subclasses, tuples, non-str
# keys, and nesting deep enough to leave the C writer's fast path (depth 64).
class _Str(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


class _Int(int):
    pass


ANY_TEXT = st.text(max_size=24) | st.text(
    st.sampled_from("a\"\\\x00\x1f\x7f\u00e9\u2028\ud800\udfff\U0001f600"), max_size=24
)
ENC_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**63) - 2, max_value=2**64 + 2)
    | st.floats()
    | st.floats(min_value=1e-3, max_value=1e15)
    | st.decimals(places=4, min_value=-(10**6), max_value=10**6, allow_nan=False).map(float)
    | ANY_TEXT
    | ANY_TEXT.map(_Str)
    | st.integers(-5, 5).map(_Int)
)
ENC_KEYS = ANY_TEXT | ANY_TEXT.map(_Str) | st.integers(-3, 3) | st.none() | st.floats()
ENC_JSON = st.recursive(
    ENC_SCALARS,
    lambda inner: st.lists(inner, max_size=6)
    | st.lists(inner, max_size=6).map(tuple)
    | st.dictionaries(ANY_TEXT, inner, max_size=6)
    | st.dictionaries(ENC_KEYS, inner, max_size=4)
    | st.dictionaries(ANY_TEXT, inner, max_size=4).map(_Dict),
    max_leaves=16,
)


def nested(value: Any, depth: int, as_dict: bool) -> Any:
    """`value` wrapped in `depth` one-element lists or one-key dicts."""
    for _ in range(depth):
        value = {"k": value} if as_dict else [value]
    return value


def encode_outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    """("ok", bytes) or ("err", exception type)."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the type is the outcome
        return ("err", type(exc))


@PROFILE
@given(jr=REFS, ref=REFS, topic=TEXT, event=TEXT, payload=ENC_JSON)
def test_encode_matches_orjson(
    codec: ModuleType, jr: Any, ref: Any, topic: str, event: str, payload: Any
) -> None:
    """encode() writes orjson.dumps([...])'s bytes, or raises the same error type."""
    got = encode_outcome(codec.encode, jr, ref, topic, event, payload)
    assert got == encode_outcome(orjson.dumps, [jr, ref, topic, event, payload])


@PROFILE
@given(payload=ENC_JSON, depth=st.sampled_from([0, 1, 62, 63, 64, 65, 200, 252, 253, 254]),
       as_dict=st.booleans())
def test_encode_deep_payloads_match_orjson(
    codec: ModuleType, payload: Any, depth: int, as_dict: bool
) -> None:
    """Deep payloads (up to and past orjson's own nesting limit) agree with orjson."""
    value = nested(payload, depth, as_dict)
    got = encode_outcome(codec.encode, "1", None, "t", "e", value)
    assert got == encode_outcome(orjson.dumps, ["1", None, "t", "e", value])


@PROFILE
@given(x=st.floats() | st.floats(min_value=1e-3, max_value=1e15)
       | st.floats(min_value=-1e15, max_value=-1e-3))
def test_encode_floats_match_orjson(codec: ModuleType, x: float) -> None:
    """Every float is written as orjson writes it (shortest round-trip digits)."""
    assert codec.encode(None, None, "t", "e", {"x": x, "l": [x, -x]}) == orjson.dumps(
        [None, None, "t", "e", {"x": x, "l": [x, -x]}]
    )

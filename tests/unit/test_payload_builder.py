"""Differential tests of payload parsing: ``Frame.payload`` is exactly ``orjson.loads``.

The C build parses text payloads with its own one-pass builder (``_jsonbuild.h``) and hands
anything unusual to orjson; the pure-Python build calls orjson directly. Both must give the
very same objects as ``orjson.loads(raw_payload)``: same types (int vs float, bool), same
float bits (-0.0), same dict key order (a duplicate key keeps its first position and its
last value), or raise orjson's error for a hand-built Frame. ``same()`` compares that
strictly (``==`` would let 1 == 1.0 == True and 0.0 == -0.0 pass).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fastphx.errors import FrameDecodeError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # any import mode
from jsonresult import PROFILE, tagged


def same(a: Any, b: Any) -> bool:
    return bool(tagged(a) == tagged(b))


def frame_bytes(payload: bytes) -> bytes:
    return b'[null,"1","room:lobby","new_msg",' + payload + b"]"


def check_payload(codec: ModuleType, payload: bytes) -> None:
    """decode/decode_eager/hand-built Frame read `payload` exactly like orjson.loads."""
    try:
        expected = orjson.loads(payload)
    except orjson.JSONDecodeError:
        with pytest.raises(FrameDecodeError):
            codec.decode(frame_bytes(payload))
        with pytest.raises(FrameDecodeError):
            codec.decode_eager(frame_bytes(payload))
        with pytest.raises(orjson.JSONDecodeError):
            _ = codec.Frame(None, None, "t", "e", payload).payload
        return
    data = frame_bytes(payload)
    lazy = codec.decode(data)
    eager = codec.decode_eager(data)
    assert lazy.raw_payload == eager.raw_payload == payload.strip(b" \t\r\n")
    assert same(lazy.payload, expected), (payload, lazy.payload, expected)
    assert same(eager.payload, expected), (payload, eager.payload, expected)
    assert same(codec.Frame(None, None, "t", "e", payload).payload, expected)
    # whitespace around the payload inside the frame
    spaced = codec.decode_eager(b'[null,"1","t","e", \n' + payload + b" \t]\r\n")
    assert same(spaced.payload, expected)


# --- strategies: JSON text with varied number formats, escapes and whitespace -------------

WS = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n  ", "  "])
LIMITS = [0, 1, 9, 10, 255, 256, 257, 2**31, 2**53, 2**53 + 1, 10**17, 10**18 - 1,
          10**18, 10**19, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 10**20, 10**25,
          10**300]  # fmt: skip
INTS = st.integers() | st.sampled_from(LIMITS).flatmap(
    lambda n: st.sampled_from([n, -n, n - 1, -n + 1, n + 1, -n - 1])
)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def float_token(draw: st.DrawFn) -> str:
    x = draw(FLOATS)
    fmt = draw(st.sampled_from(["repr", ".17g", ".15g", "e", "E+", ".3e", ".20f", ".1f"]))
    if fmt == "repr":
        return repr(x)
    if fmt == "E+":
        return f"{x:.6E}"
    s = format(x, fmt)
    return s if any(ch.isdigit() for ch in s) else repr(x)


@st.composite
def number_token(draw: st.DrawFn) -> str:
    """Any JSON number grammar: long mantissas, leading fraction zeros, huge exponents."""
    sign = draw(st.sampled_from(["", "-"]))
    digits = st.text("0123456789", min_size=0, max_size=25)
    whole = draw(st.sampled_from(["0", "1", "9"]) | digits.map(lambda d: "1" + d))
    frac = draw(st.none() | st.text("0123456789", min_size=1, max_size=25))
    exp = draw(
        st.none()
        | st.tuples(
            st.sampled_from("eE"),
            st.sampled_from(["", "+", "-"]),
            st.integers(0, 400).map(str) | st.sampled_from(["0000", "99999999999"]),
        ).map("".join)
    )
    return sign + whole + ("." + frac if frac is not None else "") + (exp or "")


def encode_char(ch: str, how: int) -> str:
    """ch raw (UTF-8), as \\uXXXX (a surrogate pair for astral), or a short escape."""
    if how == 0 and ch not in '"\\' and ord(ch) >= 0x20:
        return ch
    if ch in "\b\f\n\r\t\"\\/" and how == 1:
        return json.dumps(ch)[1:-1] if ch != "/" else "\\/"
    return json.dumps(ch, ensure_ascii=True)[1:-1] if ord(ch) > 0x7F or ord(ch) < 0x20 or \
        ch in '"\\' else f"\\u{ord(ch):04x}"  # fmt: skip


CHARS = st.characters(blacklist_categories=("Cs",)) | st.sampled_from(
    ["a", "é", "\u20ac", "\U0001f600", "\x00", "\n", '"', "\\", "/", "\x7f"]
)


@st.composite
def string_token(draw: st.DrawFn) -> str:
    chars = draw(st.lists(CHARS, max_size=12))
    if draw(st.booleans()):  # plain ASCII: the fast path and the key cache
        return '"' + "".join(c for c in chars if c.isascii() and c.isalnum()) + '"'
    return '"' + "".join(encode_char(c, draw(st.integers(0, 2))) for c in chars) + '"'


KEYS = st.sampled_from(['"id"', '"name"', '"a"', '""', '"k\\u0065y"', '"\u00e9t\u00e9"']) | (
    string_token()
)
SCALAR_TOKENS = (
    st.sampled_from(["null", "true", "false", "0", "-0", "-0.0", "0.0", "1E+3", "1e-7",
                     "0.1e-400", "1e400", "-1e400", "1.5E+3", "12.5", "1e22", "1e23"])
    | INTS.map(str)
    | float_token()
    | number_token()
    | string_token()
)  # fmt: skip


def _join(ws: list[str], parts: list[str]) -> str:
    return "".join(w + p for w, p in zip(ws, parts, strict=True))


@st.composite
def array_token(draw: st.DrawFn, inner: st.SearchStrategy[str]) -> str:
    items = draw(st.lists(inner, max_size=40 if draw(st.booleans()) else 5))
    ws = draw(st.lists(WS, min_size=len(items) + 1, max_size=len(items) + 1))
    return "[" + ",".join(w + i for w, i in zip(ws, items, strict=False)) + ws[-1] + "]"


@st.composite
def object_token(draw: st.DrawFn, inner: st.SearchStrategy[str]) -> str:
    pairs = draw(st.lists(st.tuples(KEYS, inner), max_size=7))
    parts = [
        draw(WS) + k + draw(WS) + ":" + draw(WS) + v + draw(WS) for k, v in pairs
    ]
    return "{" + ",".join(parts) + ("" if parts else draw(WS)) + "}"


JSON_TEXT = st.recursive(
    SCALAR_TOKENS,
    lambda inner: array_token(inner) | object_token(inner),
    max_leaves=25,
)


@PROFILE
@given(text=JSON_TEXT, ws=st.tuples(WS, WS))
@example(text='{"seq":1,"user":{"id":42,"name":"alice"},"tags":["a","b"],"price":12.5,"ok":true}',
         ws=("", ""))  # fmt: skip
@example(text='{"a":1,"b":2,"a":3.0}', ws=("", ""))
@example(text="[123456789012345678901,18446744073709551616,-9223372036854775809]", ws=("", ""))
@example(text='"\\ud83d\\ude00\\u00e9\\/"', ws=(" ", "\n"))
def test_payload_matches_orjson(codec: ModuleType, text: str, ws: tuple[str, str]) -> None:
    """Arbitrary JSON text: every way to read the payload gives orjson.loads' exact result."""
    check_payload(codec, (ws[0] + text + ws[1]).encode())


@PROFILE
@given(token=number_token() | float_token() | INTS.map(str))
def test_number_payloads_match_orjson(codec: ModuleType, token: str) -> None:
    """Numbers alone and inside containers: int vs float, float bits, overflow errors."""
    check_payload(codec, token.encode())
    check_payload(codec, f'[{token},{{"n":{token}}}]'.encode())


@PROFILE
@given(x=FLOATS)
def test_float_repr_round_trips(codec: ModuleType, x: float) -> None:
    """repr of any finite float reads back with the same bits."""
    frame = codec.decode(frame_bytes(repr(x).encode()))
    assert struct.pack("<d", frame.payload) == struct.pack("<d", x)


PAYLOAD_BYTES = b'[]{},:"\\ \t\n\r0123456789-+.eEtrufalsn/u\x00\x1f\x7f\x80\xbf\xc3\xed\xa0\xf0\xff'


@PROFILE
@given(text=JSON_TEXT, edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3),
                                                 st.sampled_from(PAYLOAD_BYTES)), max_size=3))
def test_hand_built_frame_payload_matches_orjson(
    codec: ModuleType, text: str, edits: list[tuple[int, int, int]]
) -> None:  # fmt: skip
    """A Frame built by hand with any bytes: the same value as orjson or the same error."""
    raw = bytearray(text.encode())
    for pos, op, byte in edits:
        pos %= len(raw) + 1
        if op == 0 and pos < len(raw):
            raw[pos] = byte
        elif op == 1:
            raw.insert(pos, byte)
        elif op == 2 and pos < len(raw):
            del raw[pos]
        else:
            del raw[pos:]
    check_payload(codec, bytes(raw))


# --- targeted cases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"0", b"-0", b"-0.0", b"0.0", b"-0e5", b"0e999999999999", b"1e-400", b"0.1e-400",
        b"1e-99999999999999", b"4.9e-324", b"2.4703282292062328e-324", b"1.7976931348623157e308",
        b"1.7976931348623159e308", b"1e308", b"1e309", b"9007199254740993", b"9007199254740993.0",
        b"9007199254740992.0", b"0.30000000000000004", b"123456789012345678",
        b"1234567890123456789",
        b"-999999999999999999", b"9223372036854775807", b"-9223372036854775808",
        b"-9223372036854775809", b"18446744073709551615", b"18446744073709551616",
        b"123456789012345678901", b"1" * 400, b"01", b"-", b"1.", b".5", b"1e", b"1e+", b"+1",
        b"1.5e3.0", b"2.", b"-01.5", b"1E22", b"1E23", b"1e-22", b"1e-23", b"12345678901234567e5",
        b"0.000000000000000000000000000001", b"00", b"-a", b"1_000",
    ],
)  # fmt: skip
def test_number_edge_cases(codec: ModuleType, payload: bytes) -> None:
    check_payload(codec, payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'""', b'"a"', b'"\\u0000"', b'"\\ud83d\\ude00"', b'"\\ud83d"', b'"\\ude00"',
        b'"\\ud83dx"', b'"\\ud83d\\u0041"', b'"\xed\xa0\x80"', b'"\xc3"', b'"\xff"',
        b'"\x1f"', b'"\x7f"', b'"\\x"', b'"\\u12"', b'"abc', b'"\\"',
        "\"\u20ac\U0001f600\"".encode(),
        b'"' + b"x" * 300 + b'\\n"', b'"' + b"\\u00e9" * 100 + b'"', b'"\\/\\b\\f\\n\\r\\t"',
        b"true", b"false", b"null", b"tru", b"nul", b"falsey", b"True", b"[true,false,null]",
        b"", b" ", b"[", b"]", b"{", b"{}", b"[]", b"[1,]", b"[,1]", b'{"a"}', b'{"a":}',
        b'{"a":1,}', b'{,"a":1}', b"{1:2}", b'{"a" : 1 , "b" : [ ] }', b"[1] x", b"[1]]",
        b"1 2", b"\xef\xbb\xbf1", b"\x0c1", b"[1,\x0b2]",
    ],
)  # fmt: skip
def test_string_literal_and_grammar_edge_cases(codec: ModuleType, payload: bytes) -> None:
    check_payload(codec, payload)


def test_duplicate_keys_keep_first_position_last_value(codec: ModuleType) -> None:
    frame = codec.decode(frame_bytes(b'{"a":1,"b":2,"a":{"x":[]},"c":3,"b":4.0}'))
    assert list(frame.payload.items()) == [("a", {"x": []}), ("b", 4.0), ("c", 3)]
    assert same(frame.payload, orjson.loads(frame.raw_payload))


@pytest.mark.parametrize("depth", [1, 127, 128, 129, 200, 1024, 1025])
def test_nesting_depth(codec: ModuleType, depth: int) -> None:
    """Deep payloads: the builder hands very deep ones to orjson (its limit is 1024)."""
    check_payload(codec, b"[" * depth + b"]" * depth)
    check_payload(codec, b'{"k":' * depth + b"1" + b"}" * depth)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 32, 33, 1000])
def test_arrays_of_any_length(codec: ModuleType, n: int) -> None:
    check_payload(codec, b"[" + b",".join(b'"%d"' % i for i in range(n)) + b"]")
    check_payload(codec, b"[" + b",".join(b"[%d,{}]" % i for i in range(n)) + b"]")
    check_payload(codec, b"[" + b",".join(b"%d" % i for i in range(n)) + b",x]")


def test_repeated_and_colliding_keys(codec: ModuleType) -> None:
    """Many distinct keys (cache collisions and evictions), read twice, and long keys."""
    keys = [f"key{i}" for i in range(3000)] + ["k" * 64, "k" * 65, "é", "", "a\"b"]
    payload = orjson.dumps({k: i for i, k in enumerate(keys)})
    for _ in range(2):
        check_payload(codec, payload)
    frame = codec.decode(frame_bytes(payload))
    assert list(frame.payload) == keys
    check_payload(codec, b'{"k\\u0065y":1,"key":2}')


def test_key_cache_hits_are_equal_strs(codec: ModuleType) -> None:
    """Keys from the cache behave like fresh strs (hash, equality, identity-free semantics)."""
    one = codec.decode(frame_bytes(b'{"status":"ok","response":{}}')).payload
    two = codec.decode(frame_bytes(b'{"status":"ok","response":{"status":1}}')).payload
    assert one == {"status": "ok", "response": {}}
    assert two["response"] == {"status": 1}
    assert {k: hash(k) for k in one} == {k: hash(str(k)) for k in one}


def test_payload_is_cached_and_reply_parses(codec: ModuleType) -> None:
    frame = codec.decode(b'["1","2","t","phx_reply",{"status":"ok","response":{"x":1.5}}]')
    assert frame.payload is frame.payload
    assert codec.parse_reply(frame) == ("ok", {"x": 1.5})

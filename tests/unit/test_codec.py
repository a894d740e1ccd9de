"""Golden-vector tests of the codec contract; every test runs on both builds (c and py)."""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType
from typing import Any

import orjson
import pytest

from fastphx._types import RawJSON, Reply
from fastphx.errors import FrameDecodeError

CONTRACT = [
    "Frame",
    "RefTable",
    "decode",
    "decode_eager",
    "decode_binary",
    "encode",
    "encode_binary",
    "parse_reply",
    "Router",
]

# (frame bytes, join_ref, ref, topic, event, raw_payload): frames a real Phoenix server sent.
GOLDEN_TEXT = [
    (
        b'["1","1","room:lobby","phx_reply",{"response":{"welcome":"room:lobby"},"status":"ok"}]',
        "1", "1", "room:lobby", "phx_reply",
        b'{"response":{"welcome":"room:lobby"},"status":"ok"}',
    ),
    (
        b'[null,"2","phoenix","phx_reply",{"response":{},"status":"ok"}]',
        None, "2", "phoenix", "phx_reply", b'{"response":{},"status":"ok"}',
    ),
    (
        b'["1","4","room:lobby","phx_reply",{"response":{"code":"forbidden","message":"nope"},'
        b'"status":"error"}]',
        "1", "4", "room:lobby", "phx_reply",
        b'{"response":{"code":"forbidden","message":"nope"},"status":"error"}',
    ),
    (b'[null,null,"room:lobby","shout",{"m":"hi"}]', None, None, "room:lobby", "shout",
     b'{"m":"hi"}'),
    (b'["1",null,"room:lobby","stream",{"data":"xxx","i":1}]', "1", None, "room:lobby",
     "stream", b'{"data":"xxx","i":1}'),
    (b'["1","1","room:lobby","phx_error",{}]', "1", "1", "room:lobby", "phx_error", b"{}"),
    (b'["11","11","room:closer","phx_close",{}]', "11", "11", "room:closer", "phx_close",
     b"{}"),
    (
        b'["13","13","room:forbidden","phx_reply",{"response":{"reason":"unauthorized"},'
        b'"status":"error"}]',
        "13", "13", "room:forbidden", "phx_reply",
        b'{"response":{"reason":"unauthorized"},"status":"error"}',
    ),
    (
        b'[null,"14","room:notjoined","phx_reply",{"response":{"reason":"unmatched topic"},'
        b'"status":"error"}]',
        None, "14", "room:notjoined", "phx_reply",
        b'{"response":{"reason":"unmatched topic"},"status":"error"}',
    ),
    (
        b'["15",null,"room:presence:x","presence_state",{"carol":{"metas":[{"phx_ref":'
        b'"GOw5IObhCVVV4AOx","device":"cli","id":"carol"}]}}]',
        "15", None, "room:presence:x", "presence_state",
        b'{"carol":{"metas":[{"phx_ref":"GOw5IObhCVVV4AOx","device":"cli","id":"carol"}]}}',
    ),
    (
        b'[null,null,"room:presence:x","presence_diff",{"joins":{"bob":{"metas":[{"phx_ref":'
        b'"F1"}]}},"leaves":{}}]',
        None, None, "room:presence:x", "presence_diff",
        b'{"joins":{"bob":{"metas":[{"phx_ref":"F1"}]}},"leaves":{}}',
    ),
    (b'["1",2,"room:lobby","phx_reply",{"response":{},"status":"ok"}]', "1", "2",
     "room:lobby", "phx_reply", b'{"response":{},"status":"ok"}'),
    (b'[null,"3","phoenix","heartbeat",{}]', None, "3", "phoenix", "heartbeat", b"{}"),
]  # fmt: skip

VALID_FRAMES = [g[0] for g in GOLDEN_TEXT]

PUSH_HEX = "00010a0331726f6f6d3a6c6f62627962696e010203ff"
CLIENT_PUSH_HEX = "0001010a083137726f6f6d3a6c6f6262796563686f5f62696e000102feff"
REPLY_HEX = "0101010a023137726f6f6d3a6c6f6262796f6b000102feff"


def fields(frame: Any) -> tuple[Any, ...]:
    """The frame's observable fields, payload included."""
    return (frame.join_ref, frame.ref, frame.topic, frame.event, frame.raw_payload,
            frame.binary, frame.payload)  # fmt: skip


def decode_error(fn: Any, data: Any) -> FrameDecodeError:
    """Calls fn(data) and returns the FrameDecodeError it must raise."""
    with pytest.raises(FrameDecodeError) as info:
        fn(data)
    return info.value


def names_offsets(codec: ModuleType) -> bool:
    """True for the compiled build, whose text errors name a reason and byte offset from the
    documented list; the pure build only promises the same exception type."""
    return codec.__name__ == "fastphx._codec_c"


# ---------------------------------------------------------------------------------------------
# Module surface


def test_module_exports_contract(codec: ModuleType) -> None:
    """Each build exports exactly the contract's names."""
    assert sorted(codec.__all__) == sorted(CONTRACT)
    for name in CONTRACT:
        assert hasattr(codec, name)


# ---------------------------------------------------------------------------------------------
# Text decode: golden frames


@pytest.mark.parametrize("golden", GOLDEN_TEXT, ids=lambda g: g[4] + ":" + str(g[1]))
def test_decode_golden_frames(codec: ModuleType, golden: tuple[Any, ...]) -> None:
    """A real server frame decodes to its exact fields, raw_payload being the exact slice."""
    data, join_ref, ref, topic, event, raw = golden
    frame = codec.decode(data)
    assert (frame.join_ref, frame.ref, frame.topic, frame.event) == (join_ref, ref, topic, event)
    assert frame.raw_payload == raw
    assert type(frame.raw_payload) is bytes
    assert frame.binary is False
    assert frame.payload == orjson.loads(raw)


@pytest.mark.parametrize("data", VALID_FRAMES)
def test_decode_eager_matches_decode_on_golden_frames(codec: ModuleType, data: bytes) -> None:
    """decode_eager yields the same frame and payload as decode."""
    assert fields(codec.decode_eager(data)) == fields(codec.decode(data))
    assert codec.decode_eager(data) == codec.decode(data)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, "str"])
def test_decode_accepts_every_input_type(codec: ModuleType, kind: Any) -> None:
    """bytes, bytearray, memoryview and str inputs decode to the same frame."""
    data = GOLDEN_TEXT[0][0]
    value = data.decode() if kind == "str" else kind(data)
    assert codec.decode(value) == codec.decode(data)
    assert codec.decode_eager(value) == codec.decode(data)


def test_decode_non_contiguous_memoryview(codec: ModuleType) -> None:
    """A strided memoryview decodes like the bytes it views."""
    data = GOLDEN_TEXT[3][0]
    doubled = bytes(b for c in data for b in (c, 0))
    view = memoryview(doubled)[::2]
    assert codec.decode(view) == codec.decode(data)


@pytest.mark.parametrize("bad", [None, 5, 1.5, ["a"], {"a": 1}, object()])
def test_decode_rejects_wrong_input_type_with_type_error(codec: ModuleType, bad: Any) -> None:
    """A non-bytes, non-str input raises TypeError, not FrameDecodeError."""
    for fn in (codec.decode, codec.decode_eager):
        with pytest.raises(TypeError) as info:
            fn(bad)
        assert not isinstance(info.value, FrameDecodeError)


def test_decode_whitespace_everywhere(codec: ModuleType) -> None:
    """RFC 8259 whitespace around every token is accepted and excluded from raw_payload."""
    data = (b' \t\r\n[ \n"1" \t,\r null\n,\t"room:lobby"  ,  "ev"\r\n, \t'
            b'{ "a" : [ 1 , 2 ] } \n] \r\n\t')  # fmt: skip
    for fn in (codec.decode, codec.decode_eager):
        frame = fn(data)
        header = (frame.join_ref, frame.ref, frame.topic, frame.event)
        assert header == ("1", None, "room:lobby", "ev")
        assert frame.raw_payload == b'{ "a" : [ 1 , 2 ] }'
        assert frame.payload == {"a": [1, 2]}


def test_decode_unicode_escapes_and_surrogate_pairs(codec: ModuleType) -> None:
    """Header strings resolve every escape; a surrogate pair becomes one code point."""
    data = (b'["\\u0041\\u00e9","r\\"\\\\\\/\\b\\f\\n\\r\\t","t\\ud83d\\ude00x",'
            b'"\\u20AC\\u20ac","\\ud83d\\ude00"]')  # fmt: skip
    for fn in (codec.decode, codec.decode_eager):
        frame = fn(data)
        assert frame.join_ref == "A\u00e9"
        assert frame.ref == 'r"\\/\b\f\n\r\t'
        assert frame.topic == "t\U0001f600x"
        assert frame.event == "\u20ac\u20ac"
        assert frame.raw_payload == b'"\\ud83d\\ude00"'
        assert frame.payload == "\U0001f600"


def test_decode_raw_utf8_in_header_and_payload(codec: ModuleType) -> None:
    """Raw non-ASCII UTF-8 decodes in header strings and is kept verbatim in raw_payload."""
    data = '["j\u00f6in","\u20ac","room:\u65e5\u672c","\U0001f600",{"k":"\u00e9\U0001f600"}]'
    for fn in (codec.decode, codec.decode_eager):
        frame = fn(data.encode())
        assert (frame.join_ref, frame.ref, frame.topic, frame.event) == (
            "j\u00f6in", "\u20ac", "room:\u65e5\u672c", "\U0001f600")  # fmt: skip
        assert frame.raw_payload == '{"k":"\u00e9\U0001f600"}'.encode()
        assert frame.payload == {"k": "\u00e9\U0001f600"}


@pytest.mark.parametrize(
    ("wire", "exposed"),
    [(b"0", "0"), (b"2", "2"), (b"-7", "-7"), (b"-0", "-0"), (b"18446744073709551616",
     "18446744073709551616"), (b"null", None), (b'"x"', "x"), (b'""', "")],
)  # fmt: skip
def test_decode_refs_integer_string_null(codec: ModuleType, wire: bytes, exposed: Any) -> None:
    """join_ref and ref accept a string, null, or an integer exposed as its decimal text."""
    data = b"[" + wire + b"," + wire + b',"t","e",{}]'
    for fn in (codec.decode, codec.decode_eager):
        frame = fn(data)
        assert frame.join_ref == exposed
        assert frame.ref == exposed


def test_decode_integer_ref_reply_like_phoenix_echo(codec: ModuleType) -> None:
    """The server's echo of an integer ref (`["1",2,...]`) exposes ref "2"."""
    frame = codec.decode(b'["1",2,"room:lobby","phx_reply",{"response":{},"status":"ok"}]')
    assert (frame.join_ref, frame.ref) == ("1", "2")


def test_decode_empty_object_and_scalar_payloads(codec: ModuleType) -> None:
    """Any JSON value is a payload: {}, [], strings, numbers, literals."""
    for raw in [b"{}", b"[]", b'"s"', b"0", b"-1.5e3", b"true", b"false", b"null"]:
        frame = codec.decode(b'[null,null,"t","e",' + raw + b"]")
        assert frame.raw_payload == raw
        assert frame.payload == orjson.loads(raw)


def test_decode_duplicate_keys_allowed(codec: ModuleType) -> None:
    """Duplicate object keys are accepted, as orjson does (last wins)."""
    frame = codec.decode(b'[null,null,"t","e",{"a":1,"a":2}]')
    assert frame.payload == {"a": 2}


def test_payload_is_cached(codec: ModuleType) -> None:
    """Reading payload twice returns the same object (parsed once)."""
    frame = codec.decode(GOLDEN_TEXT[0][0])
    assert frame.payload is frame.payload


# ---------------------------------------------------------------------------------------------
# Text decode: errors

H = b'[null,null,"t","e",'  # 19 bytes: a valid header up to the payload

ERRORS = [
    (b"", "empty frame", 0),
    (b"   ", "expected '['", 3),
    (b'{"a":1}', "expected '['", 0),
    (b'"x"', "expected '['", 0),
    (b"\xef\xbb\xbf[null,null,\"t\",\"e\",{}]", "expected '['", 0),
    (b"[]", "expected 5 elements, got 0", 1),
    (b'["a"]', "expected 5 elements, got 1", 4),
    (b'["a","b","c","d"]', "expected 5 elements, got 4", 16),
    (b'["a","b","c","d",1,2]', "expected 5 elements, got more", 18),
    (b'["a","b","c","d",1,2,3]', "expected 5 elements, got more", 18),
    (b'["a" "b","c","d",1]', "expected ',' or ']'", 5),
    (b'["a","b","c","d",1 2]', "expected ',' or ']'", 19),
    (b'[1.5,null,"t","e",{}]', "join_ref must be a string, integer or null", 1),
    (b'[1e3,null,"t","e",{}]', "join_ref must be a string, integer or null", 1),
    (b'[01,null,"t","e",{}]', "join_ref must be a string, integer or null", 1),
    (b'[-,null,"t","e",{}]', "join_ref must be a string, integer or null", 1),
    (b'[true,null,"t","e",{}]', "join_ref must be a string, integer or null", 1),
    (b'[{},null,"t","e",{}]', "join_ref must be a string, integer or null", 1),
    (b'[[],null,"t","e",{}]', "join_ref must be a string, integer or null", 1),
    (b'[nul,null,"t","e",{}]', "join_ref must be a string, integer or null", 1),
    (b'[null,2.0,"t","e",{}]', "ref must be a string, integer or null", 6),
    (b'[null,false,"t","e",{}]', "ref must be a string, integer or null", 6),
    (b'[null,null,1,"e",{}]', "topic must be a string", 11),
    (b'[null,null,null,"e",{}]', "topic must be a string", 11),
    (b'[null,null,"t",1,{}]', "event must be a string", 15),
    (b'[null,null,"t",["e"],{}]', "event must be a string", 15),
    (H + b"{]", "invalid JSON in payload", 20),
    (H + b"{,}]", "invalid JSON in payload", 20),
    (H + b'{"a"}]', "invalid JSON in payload", 23),
    (H + b'{"a":1,}]', "invalid JSON in payload", 26),
    (H + b"[1,]]", "invalid JSON in payload", 22),
    (H + b"tru]", "invalid JSON in payload", 19),
    (H + b"nulL]", "invalid JSON in payload", 19),
    (H + b"NaN]", "invalid JSON in payload", 19),
    (H + b"Infinity]", "invalid JSON in payload", 19),
    (H + b"undefined]", "invalid JSON in payload", 19),
    (H + b"'s']", "invalid JSON in payload", 19),
    (H + b"]", "invalid JSON in payload", 19),
    (H + b"01]", "expected ',' or ']'", 20),
    (H + b"1.]", "invalid number", 21),
    (H + b"-]", "invalid number", 20),
    (H + b"1e]", "invalid number", 21),
    (H + b"1e+]", "invalid number", 22),
    (H + b".5]", "invalid JSON in payload", 19),
    (H + b"+1]", "invalid JSON in payload", 19),
    (H + b"1e400]", "number is infinity when parsed as double", 19),
    (H + b"-1e400]", "number is infinity when parsed as double", 19),
    (H + b"1" * 400 + b"]", "number is infinity when parsed as double", 19),
    (b'["\\x",null,"t","e",{}]', "invalid escape", 2),
    (b'[null,null,"\\u12G4","e",{}]', "invalid escape", 12),
    (H + b'"\\a"]', "invalid escape", 20),
    (H + b'"\\U00e9"]', "invalid escape", 20),
    (b'[null,null,"\\ud800","e",{}]', "lone surrogate escape", 12),
    (b'[null,null,"t","\\udc00",{}]', "lone surrogate escape", 16),
    (H + b'"\\ud83d"]', "lone surrogate escape", 20),
    (H + b'"\\ud83dx"]', "lone surrogate escape", 20),
    (H + b'"\\ud83d\\u0041"]', "lone surrogate escape", 20),
    (H + b'"\\ud83d\\ud83d"]', "lone surrogate escape", 20),
    (H + b'"\\ude00\\ud83d"]', "lone surrogate escape", 20),
    (b'["a\x01",null,"t","e",{}]', "control character in string", 3),
    (b'[null,null,"t\n","e",{}]', "control character in string", 13),
    (H + b'"\x00"]', "control character in string", 20),
    (H + b'{"k\x1f":1}]', "control character in string", 22),
    (b'["\xff",null,"t","e",{}]', "invalid UTF-8", 2),
    (b'[null,null,"\xc3","e",{}]', "invalid UTF-8", 12),
    (b'[null,null,"t","\xed\xa0\x80",{}]', "invalid UTF-8", 16),
    (b'[null,null,"t","\xc0\xaf",{}]', "invalid UTF-8", 16),
    (H + b'"\xf4\x90\x80\x80"]', "invalid UTF-8", 20),
    (H + b'"\xe2\x82"]', "invalid UTF-8", 20),
    (H + b'{"\x80":1}]', "invalid UTF-8", 21),
    (H + b"{}] x", "trailing bytes after frame", 23),
    (H + b"{}]]", "trailing bytes after frame", 22),
    (H + b"{}]\x00", "trailing bytes after frame", 22),
    (H + b"{}", "unexpected end of frame", 21),
    (H + b"{} ", "unexpected end of frame", 22),
    (H, "unexpected end of frame", 19),
    (b"[", "unexpected end of frame", 1),
    (b'["a', "unexpected end of frame", 3),
]


@pytest.mark.parametrize(("data", "reason", "offset"), ERRORS, ids=lambda v: repr(v)[:40])
def test_decode_errors_reason_and_offset(
    codec: ModuleType, data: bytes, reason: str, offset: int
) -> None:
    """A malformed frame raises FrameDecodeError; the compiled build names the documented
    reason and byte offset (the pure build need not)."""
    for fn in (codec.decode, codec.decode_eager):
        err = decode_error(fn, data)
        if names_offsets(codec):
            assert (err.reason, err.offset) == (reason, offset)
        assert isinstance(err, ValueError)


def test_decode_str_with_lone_surrogate_is_invalid_utf8(codec: ModuleType) -> None:
    """A str input that cannot be UTF-8 encoded raises FrameDecodeError at its byte offset."""
    for fn in (codec.decode, codec.decode_eager):
        err = decode_error(fn, '["\u00e9\ud800",null,"t","e",{}]')
        assert (err.reason, err.offset) == ("invalid UTF-8", 4)


def test_decode_str_offsets_are_utf8_byte_offsets(codec_c: ModuleType) -> None:
    """Error offsets for str input index the UTF-8 bytes, not the characters."""
    err = decode_error(codec_c.decode, '["\u20ac",null,"t","e",{}] x')
    assert err.offset == len('["\u20ac",null,"t","e",{}] '.encode())


def test_decode_eager_chains_orjson_error(codec: ModuleType) -> None:
    """decode_eager's FrameDecodeError for JSON orjson rejects is chained from orjson's error."""
    err = decode_error(codec.decode_eager, H + b"{]")
    assert isinstance(err.__cause__, orjson.JSONDecodeError)


def test_decode_eager_rejects_float_ref_orjson_accepts(codec: ModuleType) -> None:
    """A frame orjson accepts but the contract rejects (a float ref) raises in decode_eager."""
    data = b'[null,1.0,"t","e",{}]'
    orjson.loads(data)
    err = decode_error(codec.decode_eager, data)
    assert err.reason.startswith("ref must be") or not names_offsets(codec)


@pytest.mark.parametrize("data", [*VALID_FRAMES[:6], b' [ 1 , "2" , "t" , "e" , [ ] ] '])
def test_decode_truncated_at_every_offset(codec: ModuleType, data: bytes) -> None:
    """Every strict prefix of a valid frame raises FrameDecodeError in both decoders."""
    for cut in range(len(data.rstrip())):
        for fn in (codec.decode, codec.decode_eager):
            with pytest.raises(FrameDecodeError):
                fn(data[:cut])


def test_decode_nesting_depth_limit(codec: ModuleType) -> None:
    """A payload nested 1024 deep decodes; 1025 deep raises 'nesting too deep'."""
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        ok = H + opener * 1024 + b"1" * (opener == b'{"a":') + closer * 1024 + b"]"
        assert codec.decode(ok).raw_payload.startswith(opener * 1024)
        assert codec.decode_eager(ok) == codec.decode(ok)
        bad = H + opener * 1025 + b"1" + closer * 1025 + b"]"
        for fn in (codec.decode, codec.decode_eager):
            err = decode_error(fn, bad)
            if names_offsets(codec):
                assert (err.reason, err.offset) == ("nesting too deep", 19 + 1024 * len(opener))


NUMBERS = [
    b"0", b"-0", b"1", b"-1", b"0.0", b"-0.0", b"1.5", b"1e5", b"1E5", b"1e+5", b"1e-5", b"1.5e-7",
    b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
    b"18446744073709551615", b"18446744073709551616", b"-9223372036854775809",
    b"1" + b"0" * 30, b"1" + b"0" * 308, b"1" + b"0" * 309, b"1.7976931348623157e308",
    b"1.7976931348623158e308", b"1.7976931348623159e308", b"1.8e308", b"-1.8e308",
    b"4.9e-324", b"2e-324", b"1e-400", b"0e400", b"0.000e999", b"1e308", b"10e307",
    b"0.1e309", b"0.01e310", b"123456789012345678901234567890e280", b"0." + b"0" * 400 + b"1",
    b"1" * 309, b"1" * 308 + b".5", b"1e00000000000000000000000001", b"01", b"1.", b"-", b"+1",
    b"1e", b"1e+", b".1", b"00", b"-01", b"1.e5", b"0x10", b"1_000", b"--1", b"1ee5",
]  # fmt: skip


@pytest.mark.parametrize("number", NUMBERS, ids=lambda n: repr(n)[:30])
def test_decode_numbers_agree_with_orjson(codec: ModuleType, number: bytes) -> None:
    """A payload number is accepted exactly when orjson.loads accepts it, with orjson's value."""
    data = H + number + b"]"
    try:
        expected = orjson.loads(number)
    except orjson.JSONDecodeError:
        for fn in (codec.decode, codec.decode_eager):
            decode_error(fn, data)
        return
    for fn in (codec.decode, codec.decode_eager):
        frame = fn(data)
        assert frame.raw_payload == number
        assert frame.payload == expected


# ---------------------------------------------------------------------------------------------
# Frame


def test_frame_constructor_equality_and_repr(codec: ModuleType) -> None:
    """Frame() builds a frame equal to the decoded one; repr shows the fields."""
    built = codec.Frame("1", None, "room:lobby", "stream", b'{"data":"xxx","i":1}')
    assert built == codec.decode(GOLDEN_TEXT[4][0])
    assert not (built != codec.decode(GOLDEN_TEXT[4][0]))
    assert built.payload == {"data": "xxx", "i": 1}
    assert built.binary is False
    text = repr(built)
    assert "room:lobby" in text and "stream" in text and "'1'" in text


def test_frame_equality_covers_every_field(codec: ModuleType) -> None:
    """Frames differing in any one field compare unequal."""
    base = ("1", "2", "t", "e", b"{}", False)
    frame = codec.Frame(*base)
    for i, other in enumerate([None, None, "u", "f", b"[]", True]):
        changed = list(base)
        changed[i] = other
        assert frame != codec.Frame(*changed)
    assert frame != object()
    assert frame == codec.Frame(*base)


def test_frame_repr_truncates_long_payload(codec: ModuleType) -> None:
    """repr shows at most about 80 bytes of the payload."""
    frame = codec.Frame(None, None, "t", "e", b'"' + b"x" * 1000 + b'"')
    assert len(repr(frame)) < 250
    assert "..." in repr(frame)


def test_frame_is_read_only_and_unhashable(codec: ModuleType) -> None:
    """Frame attributes cannot be assigned and a Frame is not hashable."""
    frame = codec.decode(GOLDEN_TEXT[0][0])
    for name in ("join_ref", "ref", "topic", "event", "raw_payload", "binary", "payload"):
        with pytest.raises(AttributeError):
            setattr(frame, name, "x")
    with pytest.raises(TypeError):
        hash(frame)


def test_frame_constructor_type_checks(codec: ModuleType) -> None:
    """Frame() rejects non-str refs/topic/event and a str raw_payload with TypeError."""
    for args in [(1, None, "t", "e", b"{}"), (None, 2, "t", "e", b"{}"),
                 (None, None, b"t", "e", b"{}"), (None, None, "t", None, b"{}"),
                 (None, None, "t", "e", "{}")]:  # fmt: skip
        with pytest.raises(TypeError):
            codec.Frame(*args)


def test_frame_constructor_copies_bytes_like_payload(codec: ModuleType) -> None:
    """A bytearray or memoryview raw_payload is stored as bytes."""
    for raw in (bytearray(b"[1]"), memoryview(b"[1]")):
        frame = codec.Frame(None, None, "t", "e", raw)
        assert type(frame.raw_payload) is bytes
        assert frame.payload == [1]


def test_frame_binary_payload_is_raw_bytes(codec: ModuleType) -> None:
    """A Frame built with binary=True has payload == raw_payload bytes."""
    frame = codec.Frame("1", None, "t", "e", b"\x00\xff", binary=True)
    assert frame.payload == b"\x00\xff"
    assert frame.binary is True


# ---------------------------------------------------------------------------------------------
# Binary decode


def test_decode_binary_golden_push(codec: ModuleType) -> None:
    """The server's binary push decodes to join_ref "1", topic, event, payload bytes."""
    frame = codec.decode_binary(bytes.fromhex(PUSH_HEX))
    assert (frame.join_ref, frame.ref, frame.topic, frame.event) == ("1", None, "room:lobby", "bin")
    assert frame.raw_payload == b"\x01\x02\x03\xff"
    assert frame.payload == b"\x01\x02\x03\xff"
    assert frame.binary is True


def test_decode_binary_golden_reply(codec: ModuleType) -> None:
    """The server's binary reply decodes to a phx_reply with status and response bytes."""
    frame = codec.decode_binary(bytes.fromhex(REPLY_HEX))
    assert (frame.join_ref, frame.ref, frame.topic, frame.event) == (
        "1", "7", "room:lobby", "phx_reply")  # fmt: skip
    assert frame.raw_payload == b"\x00\x01\x02\xfe\xff"
    assert frame.payload == {"status": "ok", "response": b"\x00\x01\x02\xfe\xff"}
    assert codec.parse_reply(frame) == Reply("ok", b"\x00\x01\x02\xfe\xff")


def test_decode_binary_broadcast(codec: ModuleType) -> None:
    """A kind 2 broadcast has no join_ref and no ref."""
    data = bytes([2, 4, 3]) + b"roomevt" + b"\x00data"
    frame = codec.decode_binary(data)
    assert (frame.join_ref, frame.ref, frame.topic, frame.event) == (None, None, "room", "evt")
    assert frame.payload == b"\x00data"


def test_decode_binary_push_empty_join_ref_is_empty_string(codec: ModuleType) -> None:
    """A kind 0 push with jr_len 0 yields join_ref "" (as phoenix.js decodes it)."""
    frame = codec.decode_binary(bytes([0, 0, 1, 1]) + b"te")
    assert frame.join_ref == ""
    assert frame.raw_payload == b""


def test_decode_binary_utf8_header_and_input_types(codec: ModuleType) -> None:
    """Header fields are UTF-8; bytearray and memoryview inputs decode like bytes."""
    topic = "r\u00e9\U0001f600".encode()
    data = bytes([2, len(topic), 1]) + topic + b"e" + b"p"
    for value in (data, bytearray(data), memoryview(data)):
        assert codec.decode_binary(value).topic == "r\u00e9\U0001f600"


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        (b"", "empty frame", 0),
        (b"\x03", "unknown binary frame kind 3", 0),
        (b"\xff\x00\x00", "unknown binary frame kind 255", 0),
        (b"[", "unknown binary frame kind 91", 0),
        (b"\x00\x01\x01", "unexpected end of frame", 3),
        (b"\x00\x01\x01\x01ab", "unexpected end of frame", 6),
        (b"\x01\x00\x00\x00", "unexpected end of frame", 4),
        (b"\x02\x05\x00abc", "unexpected end of frame", 6),
        (b"\x02\x01\x01\xffe", "invalid UTF-8", 3),
        (b"\x00\x00\x01\x02t\xc3(", "invalid UTF-8", 5),
        (b"\x01\x00\x01\x01\x01\xed\xa0", "unexpected end of frame", 7),
        (b"\x01\x00\x03\x01\x02\xed\xa0\x80tok", "invalid UTF-8", 5),
    ],
)
def test_decode_binary_errors(codec: ModuleType, data: bytes, reason: str, offset: int) -> None:
    """Empty, unknown-kind, truncated and non-UTF-8 binary frames raise FrameDecodeError."""
    err = decode_error(codec.decode_binary, data)
    assert (err.reason, err.offset) == (reason, offset)


@pytest.mark.parametrize("hexdata", [PUSH_HEX, REPLY_HEX, "020403726f6f6d657674"])
def test_decode_binary_truncated_header_at_every_offset(codec: ModuleType, hexdata: str) -> None:
    """Every prefix shorter than the header raises FrameDecodeError."""
    data = bytes.fromhex(hexdata)
    kind = data[0]
    header = 1 + {0: 3, 1: 4, 2: 2}[kind] + sum(data[1 : 1 + {0: 3, 1: 4, 2: 2}[kind]])
    for cut in range(header):
        with pytest.raises(FrameDecodeError):
            codec.decode_binary(data[:cut])
    assert codec.decode_binary(data[:header]).raw_payload == b""


@pytest.mark.parametrize("bad", ["00", None, 0, [0, 1]])
def test_decode_binary_rejects_non_bytes(codec: ModuleType, bad: Any) -> None:
    """A str or non-buffer input raises TypeError."""
    with pytest.raises(TypeError):
        codec.decode_binary(bad)


# ---------------------------------------------------------------------------------------------
# Encode


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("1", "1", "room:lobby", "phx_join", {}), b'["1","1","room:lobby","phx_join",{}]'),
        ((None, "2", "phoenix", "heartbeat", {}), b'[null,"2","phoenix","heartbeat",{}]'),
        (("3", "4", "room:lobby", "new_msg", {"body": "hi", "n": [1, 2.5, None, True]}),
         b'["3","4","room:lobby","new_msg",{"body":"hi","n":[1,2.5,null,true]}]'),
        ((None, None, "t", "e", []), b'[null,null,"t","e",[]]'),
        ((None, None, "t", "e", "s"), b'[null,null,"t","e","s"]'),
        ((None, None, "t", "e", None), b'[null,null,"t","e",null]'),
        ((None, None, "", "", 0), b'[null,null,"","",0]'),
    ],
)  # fmt: skip
def test_encode_golden(codec: ModuleType, args: tuple[Any, ...], expected: bytes) -> None:
    """encode() produces compact JSON text identical to JSON.stringify's output."""
    out = codec.encode(*args)
    assert out == expected
    assert type(out) is bytes


def test_encode_escapes_like_json_stringify(codec: ModuleType) -> None:
    """Quotes, backslashes and controls are escaped; non-ASCII, DEL and U+2028 stay raw."""
    text = '"\\/\b\f\n\r\t\x00\x01\x1f\x7f\u00e9\u2028\U0001f600'
    expected = (b'"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\x7f'
                + "\u00e9\u2028\U0001f600".encode() + b'"')  # fmt: skip
    out = codec.encode(text, text, text, text, text)
    assert out == b"[" + b",".join([expected] * 5) + b"]"


def test_encode_raw_json_is_spliced_verbatim(codec: ModuleType) -> None:
    """A RawJSON payload's bytes are written as they are, unparsed."""
    out = codec.encode("1", "2", "t", "e", RawJSON(b'{ "a" : 1 }'))
    assert out == b'["1","2","t","e",{ "a" : 1 }]'
    assert codec.encode(None, None, "t", "e", RawJSON('{"\u00e9":1}')) == (
        b'[null,null,"t","e",' + '{"\u00e9":1}'.encode() + b"]")  # fmt: skip


def test_encode_decode_round_trip_raw_payload(codec: ModuleType) -> None:
    """decode(encode(...)) returns the same fields and the encoded payload bytes."""
    data = codec.encode("5", "6", "room:x", "ev", {"k": ["v", 1]})
    frame = codec.decode(data)
    assert (frame.join_ref, frame.ref, frame.topic, frame.event) == ("5", "6", "room:x", "ev")
    assert frame.raw_payload == orjson.dumps({"k": ["v", 1]})


@pytest.mark.parametrize(
    "args",
    [
        (1, "1", "t", "e", {}),
        ("1", 1, "t", "e", {}),
        ("1", "1", None, "e", {}),
        ("1", "1", "t", None, {}),
        ("1", "1", b"t", "e", {}),
        ("1", "1", "t", 5, {}),
        ("1", "1", "t", "e", object()),
        ("1", "1", "t", "e", {1j: 1}),
        ("1", "1", "t", "e", {"a": {1, 2}}),
        ("1", "1", "t", "e", b"bytes"),
    ],
)
def test_encode_wrong_types_raise_type_error(codec: ModuleType, args: tuple[Any, ...]) -> None:
    """A wrong argument type or an unserialisable payload raises TypeError."""
    with pytest.raises(TypeError):
        codec.encode(*args)


@pytest.mark.parametrize("where", range(5))
def test_encode_lone_surrogate_raises(codec: ModuleType, where: int) -> None:
    """A str holding a lone surrogate raises TypeError or ValueError, not a crash."""
    args: list[Any] = ["1", "2", "t", "e", {"k": "v"}]
    args[where] = "a\ud800" if where < 4 else {"k": "a\ud800"}
    with pytest.raises((TypeError, ValueError)):
        codec.encode(*args)


def _same_as_orjson(codec: ModuleType, payload: Any, head: tuple[Any, ...] = ("1", "2", "t", "e")
                    ) -> None:
    """encode() gives orjson.dumps([...])'s bytes, or raises the same error type."""
    try:
        expected: Any = orjson.dumps([*head, payload])
    except TypeError as exc:
        with pytest.raises(type(exc)):
            codec.encode(*head, payload)
        return
    assert codec.encode(*head, payload) == expected


FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 0.2 + 0.1, 1e-3, 0.00099999, 1e-5, 1e-6, 1e-7, 100.0,
          1234.5, -1234.5, 123456789012345.6, 999999999999999.9, 1e15, 1e15 - 1, 1e16, 1e21,
          1e22, 1e300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 2.0**50,
          2.0**53, 2.0**60, 1 / 3, 2 / 3, 9.5, 0.001953125, float("nan"), float("inf"),
          float("-inf")]  # fmt: skip
INTS = [0, 1, -1, 9, 10, 99, 100, 2**30, 2**31, 2**60, 2**63 - 1, -(2**63), 2**63, 2**64 - 1,
        2**64, -(2**63) - 1, 10**30, -(10**30)]  # fmt: skip


@pytest.mark.parametrize("x", FLOATS, ids=repr)
def test_encode_floats_like_orjson(codec: ModuleType, x: float) -> None:
    """Floats are written with orjson's digits: shortest round trip, its own cut-offs."""
    _same_as_orjson(codec, {"x": x, "l": [x, -x, (x,)]})


@pytest.mark.parametrize("n", INTS, ids=repr)
def test_encode_ints_like_orjson(codec: ModuleType, n: int) -> None:
    """Ints up to u64 are written; beyond, orjson's error is raised."""
    _same_as_orjson(codec, {"n": n, "l": [n, -n]})


@pytest.mark.parametrize("special", ["\"", "\\", "\n", "\x00", "\x1f", "\x7f", "\u00e9", "\u2028",
                                     "\U0001f600", "\ud800"])
@pytest.mark.parametrize("base", ["a", "\u00e9", "\u0101", "\U0001f600"])
def test_encode_strings_like_orjson(codec: ModuleType, special: str, base: str) -> None:
    """Strings of every storage width and length 0..40, one special char at each position
    (the writer's bulk steps are 4, 8 and 16 chars wide), as keys and values."""
    for n in range(41):
        for at in sorted({0, n // 2, max(n - 1, 0)}):
            text = "x" * n if base == "a" else base + "x" * max(n - 1, 0)
            text = text[:at] + special + text[at + 1:]
            _same_as_orjson(codec, {text: [text, text[:n]]})


@pytest.mark.parametrize(
    "payload",
    [
        {}, [], (), "", "plain", 0, -7, 2.5, True, False, None, [[], {}, ()], {"a": {"b": {}}},
        (1, "two", (3.0, [None])), {"k": (True, False)},
    ],
    ids=repr,
)  # fmt: skip
def test_encode_shapes_like_orjson(codec: ModuleType, payload: Any) -> None:
    """Top-level scalars, empty and nested containers, tuples as arrays."""
    _same_as_orjson(codec, payload)


class _StrSub(str):
    pass


class _DictSub(dict):  # type: ignore[type-arg]
    pass


def test_encode_values_orjson_handles_itself(codec: ModuleType) -> None:
    """Types the C writer leaves to orjson (subclasses, datetimes, big ints, non-str keys)
    are written by orjson or raise its error, wherever they sit."""
    import datetime
    import enum

    class Color(enum.Enum):
        RED = "red"

    for odd in [_StrSub("s"), _DictSub(a=1), datetime.date(2024, 1, 2), Color.RED, 2**64,
                {1: 2}, {None: 1}, {_StrSub("k"): 1}, "a\ud800", {"a\udfff": 1}, object(),
                {1, 2}, b"bytes"]:  # fmt: skip
        for payload in (odd, [1, odd], {"a": "b", "c": [2.5, {"d": odd}]}, ("t", odd)):
            _same_as_orjson(codec, payload)
        _same_as_orjson(codec, {"x": 1}, head=(None, "2", "room:\u00e9", "ev"))


def test_encode_circular_payloads_raise_like_orjson(codec: ModuleType) -> None:
    """A payload that contains itself raises orjson's error (TypeError), no crash."""
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    lst: list[Any] = [1]
    lst.append(lst)
    for payload in (d, lst, {"x": [d]}):
        _same_as_orjson(codec, payload)


def test_encode_big_payloads_and_back(codec: ModuleType) -> None:
    """Payloads around and over the C writer's 1 MiB budget and its 256 KiB kept buffer,
    alternating with small ones (switching ways and buffer sizes), all as orjson writes."""
    def sized(n: int) -> dict[str, Any]:
        return {"items": [{"id": i, "s": "caf\u00e9 \"q\"", "f": i + 0.5} for i in range(n)]}

    for n in (10, 8_000, 10, 40_000, 40_000, 10, 3, 40_000, 400, 10):
        _same_as_orjson(codec, sized(n))
    _same_as_orjson(codec, {"big": "x" * 2_000_000})
    _same_as_orjson(codec, {"big": "\u00e9" * 600_000})
    _same_as_orjson(codec, {"small": 1})


# ---------------------------------------------------------------------------------------------
# Binary encode


def test_encode_binary_golden(codec: ModuleType) -> None:
    """The official client's binary push bytes are reproduced exactly."""
    out = codec.encode_binary("1", "7", "room:lobby", "echo_bin", bytes.fromhex("000102feff"))
    assert out.hex() == CLIENT_PUSH_HEX
    assert type(out) is bytes


def test_encode_binary_payload_types(codec: ModuleType) -> None:
    """bytes, bytearray and memoryview payloads encode identically."""
    payload = bytes.fromhex("000102feff")
    for value in (bytearray(payload), memoryview(payload)):
        out = codec.encode_binary("1", "7", "room:lobby", "echo_bin", value)
        assert out.hex() == CLIENT_PUSH_HEX


def test_encode_binary_none_refs_are_empty_fields(codec: ModuleType) -> None:
    """A None join_ref or ref is written as an empty field."""
    out = codec.encode_binary(None, None, "t", "e", b"p")
    assert out == bytes([0, 0, 0, 1, 1]) + b"tep"


def test_encode_binary_utf8_field_lengths(codec: ModuleType) -> None:
    """Field lengths count UTF-8 bytes, and 255 bytes is the largest accepted field."""
    out = codec.encode_binary("\u00e9", "r", "x" * 255, "e", b"")
    assert out[:5] == bytes([0, 2, 1, 255, 1])
    assert out[5:7] == "\u00e9".encode()


@pytest.mark.parametrize("where", range(4))
def test_encode_binary_field_over_255_bytes(codec: ModuleType, where: int) -> None:
    """A header field of 256 UTF-8 bytes (even 128 two-byte chars) raises ValueError."""
    for big in ("x" * 256, "\u00e9" * 128):
        args: list[Any] = ["1", "2", "t", "e", b""]
        args[where] = big
        with pytest.raises(ValueError):
            codec.encode_binary(*args)


@pytest.mark.parametrize(
    "args",
    [
        ("1", "2", "t", "e", "str payload"),
        ("1", "2", "t", "e", None),
        ("1", "2", "t", "e", [1]),
        (1, "2", "t", "e", b""),
        ("1", 2, "t", "e", b""),
        ("1", "2", None, "e", b""),
        ("1", "2", "t", b"e", b""),
    ],
)
def test_encode_binary_wrong_types(codec: ModuleType, args: tuple[Any, ...]) -> None:
    """A non-bytes-like payload or a non-str field raises TypeError."""
    with pytest.raises(TypeError):
        codec.encode_binary(*args)


def test_encode_binary_round_trips_through_server_push_layout(codec: ModuleType) -> None:
    """A broadcast built from encoded fields decodes back to the same topic, event, payload."""
    out = codec.encode_binary("12", "34", "room:\u00e9", "ev", b"\x00\x01")
    jl, rl, tl, el = out[1:5]
    fields_ = out[5:]
    topic = fields_[jl + rl : jl + rl + tl]
    event = fields_[jl + rl + tl : jl + rl + tl + el]
    frame = codec.decode_binary(bytes([2, tl, el]) + topic + event + fields_[jl + rl + tl + el :])
    assert (frame.topic, frame.event, frame.payload) == ("room:\u00e9", "ev", b"\x00\x01")


# ---------------------------------------------------------------------------------------------
# parse_reply


def test_parse_reply_ok_and_error(codec: ModuleType) -> None:
    """A text phx_reply gives Reply(status, response) for ok and error."""
    ok = codec.parse_reply(codec.decode(GOLDEN_TEXT[0][0]))
    assert ok == Reply("ok", {"welcome": "room:lobby"})
    assert isinstance(ok, Reply)
    error = codec.parse_reply(codec.decode(GOLDEN_TEXT[2][0]))
    assert error == Reply("error", {"code": "forbidden", "message": "nope"})


def test_parse_reply_missing_response_is_none(codec: ModuleType) -> None:
    """A reply without "response" gives response None."""
    frame = codec.decode(b'[null,"1","t","phx_reply",{"status":"ok"}]')
    assert codec.parse_reply(frame) == Reply("ok", None)


def test_parse_reply_non_reply_event(codec: ModuleType) -> None:
    """A frame whose event is not phx_reply raises FrameDecodeError naming the event."""
    err = decode_error(codec.parse_reply, codec.decode(GOLDEN_TEXT[3][0]))
    assert err.reason == "not a phx_reply frame: event 'shout'"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[]", "phx_reply payload has no status"),
        (b'"ok"', "phx_reply payload has no status"),
        (b"{}", "phx_reply payload has no status"),
        (b'{"response":{}}', "phx_reply payload has no status"),
        (b'{"status":1}', "phx_reply status must be a string"),
        (b'{"status":null}', "phx_reply status must be a string"),
    ],
)
def test_parse_reply_malformed(codec: ModuleType, payload: bytes, reason: str) -> None:
    """A phx_reply without a string status raises FrameDecodeError."""
    frame = codec.decode(b'[null,"1","t","phx_reply",' + payload + b"]")
    assert decode_error(codec.parse_reply, frame).reason == reason


def test_parse_reply_hand_built_invalid_json(codec: ModuleType) -> None:
    """A hand-built reply frame holding invalid JSON raises FrameDecodeError."""
    frame = codec.Frame(None, "1", "t", "phx_reply", b"{nope")
    assert decode_error(codec.parse_reply, frame).reason == "invalid JSON in payload"


def test_parse_reply_binary(codec: ModuleType) -> None:
    """A binary reply gives Reply(status, response bytes)."""
    frame = codec.decode_binary(bytes([1, 1, 1, 1, 5]) + b"12t" + b"error" + b"\xfe")
    assert codec.parse_reply(frame) == Reply("error", b"\xfe")


class _Channel:
    __slots__ = ("join_ref",)

    def __init__(self, join_ref: str | None) -> None:
        self.join_ref = join_ref


@pytest.mark.parametrize(
    ("frame", "routed"),
    [
        (b'["3",null,"room:1","new",{}]', True),  # a push with the current join_ref
        (b'[null,null,"room:1","new",{}]', True),  # a broadcast without a join_ref
        (b'["2",null,"room:1","new",{}]', False),  # a stale join_ref (an older join)
        (b'["3","7","room:1","new",{}]', False),  # a ref: a reply, not a push
        (b'["3",null,"room:2","new",{}]', False),  # an unknown topic
        (b'["3","3","room:1","phx_reply",{"status":"ok"}]', False),
        (b'["3",null,"room:1","phx_reply",{}]', False),
        (b'["3","3","room:1","phx_error",{}]', False),
        (b'["3",null,"room:1","phx_error",{}]', False),
        (b'["3",null,"room:1","phx_close",{}]', False),
    ],
)
def test_router_routes_only_current_pushes(codec: ModuleType, frame: bytes, routed: bool) -> None:
    """Router.route gives the channel of a push with no ref on a known topic whose join_ref
    is null or current, and None for everything receive_frame must see; it counts every
    frame and its bytes either way."""
    channel = _Channel("3")
    router = codec.Router({"room:1": channel})
    assert router.route(codec.decode(frame), frame) is (channel if routed else None)
    assert router.route(codec.decode(frame), bytearray(frame)) is (channel if routed else None)
    assert (router.frames, router.nbytes) == (2, 2 * len(frame))


def test_router_sees_the_channels_dict_change(codec: ModuleType) -> None:
    """The router holds the protocol's dict by reference: topics joined and left later
    (and a new join_ref) count at once."""
    channels: dict[str, Any] = {}
    router = codec.Router(channels)
    frame = codec.decode(b'["3",null,"room:1","new",{}]')
    assert router.route(frame, b"") is None
    channels["room:1"] = channel = _Channel("3")
    assert router.route(frame, b"") is channel
    channel.join_ref = "4"
    assert router.route(frame, b"") is None
    del channels["room:1"]
    assert router.route(frame, b"") is None


def test_router_argument_types(codec: ModuleType) -> None:
    """A non-Frame raises in both builds (TypeError in the compiled one, which checks)."""
    router = codec.Router({})
    with pytest.raises((TypeError, AttributeError)):
        router.route(b'[null,null,"t","e",{}]', b"")


# ---------------------------------------------------------------------------------------------
# Where a decoded payload lives


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, str])
def test_raw_payload_is_cut_from_the_message(codec: ModuleType, kind: type) -> None:
    """A decoded frame keeps the message and the payload's place in it: raw_payload is the
    payload's bytes exactly (whitespace around it excluded), payload parses them, and the
    two agree in any order of reading, for every input type."""
    text = b'  [ "1" , null , "t" , "e" ,  {"a": [1, 2.5, "x"]}  ]  '
    data = text.decode() if kind is str else kind(text)
    for fn in (codec.decode, codec.decode_eager):
        first, second = fn(data), fn(data)
        assert first.raw_payload == b'{"a": [1, 2.5, "x"]}'
        assert first.payload == {"a": [1, 2.5, "x"]}
        assert second.payload == {"a": [1, 2.5, "x"]}
        assert second.raw_payload == b'{"a": [1, 2.5, "x"]}'
        assert first == second
        assert type(first.raw_payload) is bytes


def test_raw_payload_does_not_keep_the_message(codec: ModuleType) -> None:
    """Once raw_payload has been read, the frame holds the payload's bytes, not the whole
    message's (a repeated read gives the same object)."""
    frame = codec.decode(b'["1",null,"t","e",' + b'{"k":"' + b"v" * 1000 + b'"}]')
    raw = frame.raw_payload
    assert frame.raw_payload is raw
    assert raw == b'{"k":"' + b"v" * 1000 + b'"}'


def test_load_payload_refuses_a_range_outside_the_message() -> None:
    """The kernels' load_payload checks its range (it reads C memory in the compiled one)."""
    import fastphx._text_py as text_py

    kernels = [text_py]
    try:
        import fastphx._text as text_c

        kernels.append(text_c)
    except ImportError:  # the extension is not built: the pure kernel alone
        pass
    for kernel in kernels:
        assert kernel.load_payload(b'xx{"a":1}yy', 2, 9) == {"a": 1}
        assert kernel.load_payload(b"[1]", 0, 3) == [1]
        for start, end in ((-1, 3), (0, 4), (3, 2), (4, 4), (-5, -1)):
            with pytest.raises(ValueError, match="range"):
                kernel.load_payload(b"[1]", start, end)


# ---------------------------------------------------------------------------------------------
# The selector (fastphx.codec)


@pytest.mark.parametrize(("env", "expected"), [("1", "py"), ("", "c")])
def test_selector_honours_no_extensions(codec_c: ModuleType, env: str, expected: str) -> None:
    """FASTPHX_NO_EXTENSIONS=1 selects the pure-Python build; otherwise the built extension wins."""
    code = (
        "import fastphx.codec as s, fastphx._codec_py as py;"
        "print(s.IMPLEMENTATION, s.decode is py.decode, s.Frame is py.Frame)"
    )
    environ = {**os.environ, "FASTPHX_NO_EXTENSIONS": env}
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [expected, str(expected == "py"), str(expected == "py")]


@pytest.mark.parametrize(
    "rest", [b'{"a":1}]]', b'{"a":1}', b"1] [2]", b" ]", b'{"a":1}],', b"", b"1]x", b"\xff]"]
)
def test_repeated_header_does_not_admit_a_bad_rest(codec: ModuleType, rest: bytes) -> None:
    """After a valid frame, a frame that repeats its header bytes (both builds cache the last
    header) with a malformed rest is still refused by both decoders."""
    for fn in (codec.decode, codec.decode_eager):
        assert fn(H + b'{"a":1}]').payload == {"a": 1}
        decode_error(fn, H + rest)

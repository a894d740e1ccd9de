"""Atheris fuzz harness for the codec: the C build against the pure-Python build and orjson.

Run manually (not collected by pytest), e.g. for five minutes:

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz/fuzz_codec.py -max_total_time=300 -dict=tests/fuzz/json.dict \\
        tests/fuzz/corpus

Each input is fed to ``decode``, ``decode_eager`` and ``decode_binary`` of both builds, or
parsed as a payload for ``encode`` (one input byte picks which one leads). Checked
properties: nothing but FrameDecodeError (or a documented TypeError) escapes; both builds
accept exactly the same inputs and produce equal frames; an accepted text frame's
``raw_payload`` is what ``orjson.loads`` accepts, with the very same value (types, float
bits, key order: the C build parses payloads with its own builder); ``decode_eager`` agrees
with ``decode``; a Frame built by hand around any payload bytes reads them exactly like
``orjson.loads`` (same value or orjson's error); ``encode`` writes ``orjson.dumps([...])``'s
bytes or raises the same error type, in both builds. Python
coverage of the pure build (``_codec_py``, ``_text_py``) guides the search.

To catch memory errors in the C code, run it against an AddressSanitizer build of the
extension (see ``tests/fuzz/README.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
import orjson

with atheris.instrument_imports(include=["fastphx._codec_py", "fastphx._text_py"]):
    from fastphx import _codec_py as codec_py

from fastphx import _codec_c as codec_c
from fastphx.errors import FrameDecodeError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from jsonresult import tagged

if codec_c is codec_py:  # pragma: no cover - guard against a broken install
    raise SystemExit("the C build is not loaded")


def _check_payload_bytes(raw: bytes) -> None:
    """Frame(...).payload of any bytes: orjson.loads' exact value, or its error."""
    try:
        expected = tagged(orjson.loads(raw))
    except orjson.JSONDecodeError:
        expected = None
    for codec in (codec_c, codec_py):
        try:
            got = tagged(codec.Frame(None, None, "t", "e", raw).payload)
        except orjson.JSONDecodeError:
            got = None
        assert got == expected, (codec.__name__, raw)


def _outcome(fn: Any, data: Any) -> Any:
    """A comparable outcome: the frame's fields and payload, or the error type."""
    try:
        frame = fn(data)
    except FrameDecodeError as err:
        assert isinstance(err.reason, str) and err.reason, err
        return FrameDecodeError
    fields = (frame.join_ref, frame.ref, frame.topic, frame.event, frame.raw_payload,
              frame.binary)
    return fields, frame.payload


def _check_text(data: bytes) -> None:
    c = _outcome(codec_c.decode, data)
    py = _outcome(codec_py.decode, data)
    assert c == py, (data, c, py)
    assert _outcome(codec_c.decode_eager, data) == c, data
    assert _outcome(codec_py.decode_eager, data) == c, data
    if c is not FrameDecodeError:
        fields, value = c
        assert tagged(orjson.loads(fields[4])) == tagged(value), data
        assert tagged(codec_c.decode_eager(data).payload) == tagged(value), data
    for kind in (bytearray, memoryview):
        assert _outcome(codec_c.decode, kind(data)) == c, data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert _outcome(codec_c.decode, text) == c, data


def _check_binary(data: bytes) -> None:
    c = _outcome(codec_c.decode_binary, data)
    assert c == _outcome(codec_py.decode_binary, data), data


def _wrap_as_frame(payload: bytes) -> bytes:
    """Embeds arbitrary bytes as a payload so the fuzzer reaches the payload validator."""
    return b'["1",null,"room:lobby","ev",' + payload + b"]"


def _encode_outcome(fn: Any, payload: Any) -> Any:
    try:
        return fn("1", None, "room:lobby", "ev", payload)
    except TypeError as err:  # orjson.JSONEncodeError is a TypeError
        return type(err)


def _check_encode(body: bytes) -> None:
    """A payload parsed from the input (and variants with tuples, big numbers and raw
    text) encodes to orjson.dumps([...])'s bytes in both builds, or raises the same type."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = body.decode("utf-8", "surrogateescape") if len(body) % 2 else list(body)
    for payload in (value, [value, (value,)], {"k": value, "n": len(body) * 1.1 - 7.3}):
        try:
            expected: Any = orjson.dumps(["1", None, "room:lobby", "ev", payload])
        except TypeError as err:
            expected = type(err)
        assert _encode_outcome(codec_c.encode, payload) == expected, (body, payload)
        assert _encode_outcome(codec_py.encode, payload) == expected, (body, payload)


def test_one_input(data: bytes) -> None:
    """One fuzz iteration."""
    if not data:
        _check_text(data)
        _check_binary(data)
        return
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        _check_text(body)
    elif mode == 1:
        _check_text(_wrap_as_frame(body))
        _check_payload_bytes(body)
    elif mode == 2:
        _check_binary(body)
    else:
        _check_encode(body)


def main(argv: list[str]) -> None:
    """Starts libFuzzer with the given arguments."""
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

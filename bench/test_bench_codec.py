"""Codec benchmarks (pytest-benchmark), one group per operation and frame size.

Run: ``.venv/bin/python -m pytest bench/test_bench_codec.py --benchmark-only``. Decode groups
compare fastphx (C and pure-Python builds) with orjson.loads and json.loads of the whole frame
and with msgspec's array-like Struct whose payload field is ``msgspec.Raw`` (the strongest
existing envelope decoder). Encode groups compare with ``orjson.dumps([...])``.
``bench/codec_ratios.py`` prints the same comparison as a ratio table.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import msgspec
import orjson
import pytest

from fastphx._types import RawJSON
from frames import SIZES, Envelope, frame, payload


def _codec(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


CODEC_C = _codec("fastphx._codec_c")
CODEC_PY = _codec("fastphx._codec_py")
MSGSPEC_DECODE = msgspec.json.Decoder(Envelope).decode

Decoder = Callable[[bytes], Any]


def _decoders() -> dict[str, Decoder | None]:
    return {
        "fastphx-c-decode": CODEC_C.decode if CODEC_C else None,
        "fastphx-c-decode_eager": CODEC_C.decode_eager if CODEC_C else None,
        "fastphx-py-decode": CODEC_PY.decode if CODEC_PY else None,
        "orjson.loads": orjson.loads,
        "json.loads": json.loads,
        "msgspec-Raw": MSGSPEC_DECODE,
    }


DECODERS = _decoders()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(DECODERS))
def test_decode(benchmark: Any, size: str, name: str) -> None:
    """Decodes one frame of the size class; every decoder yields the same topic."""
    fn = DECODERS[name]
    if fn is None:
        pytest.skip(f"{name}: build not available")
    data = frame(size)
    benchmark.group = f"decode {size}"
    result = benchmark(fn, data)
    topic = result[2] if isinstance(result, list) else result.topic
    assert topic == "room:lobby"


def _encoders(size: str) -> dict[str, tuple[Callable[..., bytes], tuple[Any, ...]] | None]:
    body = payload(size)
    raw = RawJSON(orjson.dumps(body))
    head = ("3", "7", "room:lobby", "new_msg")
    return {
        "fastphx-c-encode": (CODEC_C.encode, (*head, body)) if CODEC_C else None,
        "fastphx-c-encode-RawJSON": (CODEC_C.encode, (*head, raw)) if CODEC_C else None,
        "fastphx-py-encode": (CODEC_PY.encode, (*head, body)) if CODEC_PY else None,
        "fastphx-py-encode-RawJSON": (CODEC_PY.encode, (*head, raw)) if CODEC_PY else None,
        "orjson.dumps-list": (lambda *a: orjson.dumps(list(a)), (*head, body)),
    }


ENCODER_NAMES = list(_encoders("small"))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_encode(benchmark: Any, size: str, name: str) -> None:
    """Encodes one push of the size class; every encoder yields the same bytes."""
    entry = _encoders(size)[name]
    if entry is None:
        pytest.skip(f"{name}: build not available")
    fn, args = entry
    benchmark.group = f"encode {size}"
    if name == "orjson.dumps-list":
        body = args[4]
        out = benchmark(orjson.dumps, ["3", "7", "room:lobby", "new_msg", body])
    else:
        out = benchmark(fn, *args)
    assert out == orjson.dumps(["3", "7", "room:lobby", "new_msg", payload(size)])

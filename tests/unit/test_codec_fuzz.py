"""Bounded, deterministic fuzzing of the C codec in a subprocess (a crash fails the test).

Run directly for a longer hunt: ``python tests/unit/test_codec_fuzz.py --rounds 2000000 --seed 7``.
The child decodes random and mutated inputs with the C build's decode, decode_eager and
decode_binary (and fuzzes encode/encode_binary with odd arguments). The only exception
a decoder may raise is FrameDecodeError; an accepted frame's payload, raw_payload and repr
must work, and be exactly ``orjson.loads(raw_payload)`` (types, float bits, key order); a
Frame built by hand around random payload bytes must read like orjson (same value or
orjson's error); every 4th text input is also checked against the pure-Python twin. The child
exits 0 and prints its execution count as JSON on the last line; a segfault shows as a
negative return code instead of killing the test runner.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import subprocess
import sys
import traceback
from types import ModuleType
from typing import Any

import orjson
import pytest

SEED = 20261128
ROUNDS = 80_000  # ~15 s in the child on one core of a shared 2-core machine

TEXT_SEEDS = [
    b'["1","1","room:lobby","phx_reply",{"response":{"welcome":"room:lobby"},"status":"ok"}]',
    b'[null,null,"room:lobby","shout",{"m":"hi","n":[1,-2.5e-3,true,false,null,1e308]}]',
    b' [ 1 , 2 , "t\\u00e9\\ud83d\\ude00" , "e\\n\\/\\b" , [ {"k" : "\\"v\\\\"} ] ] ',
    '["15",null,"room:\u00e9","presence_state",{"\u65e5":"\U0001f600","x":"\\/"}]'.encode(),
    b'[null,"2","phoenix","heartbeat",{}]',
    b'[null,null,"t","e",' + b"[" * 1023 + b"{}" + b"]" * 1023 + b"]",
    b'[null,null,"t","e",' + b'{"a":' * 300 + b"0" + b"}" * 300 + b"]",
    b'[null,null,"t","e","' + b"x\\n\\u20ac" * 2000 + b'"]',
    b'["a","b","c","d",[' + b",".join(b"%d.%de%d" % (i, i * 7, i % 40) for i in range(500)) + b"]]",
]
BINARY_SEEDS = [
    bytes.fromhex("00010a0331726f6f6d3a6c6f62627962696e010203ff"),
    bytes.fromhex("0101010a023137726f6f6d3a6c6f6262796f6b000102feff"),
    bytes([2, 4, 3]) + b"roomevt" + b"\x00data",
    bytes([1, 255, 255, 255, 255]) + b"j" * 255 + b"r" * 255 + b"t" * 255 + b"s" * 255,
]
TOKENS = [
    b"[", b"]", b"{", b"}", b",", b":", b'"', b"\\", b" ", b"\n", b"null", b"true", b"false",
    b"-", b"0", b"1", b"9", b".", b"e", b"E", b"+", b'"a"', b'"\\u', b"d83d", b"de00", b"\\u",
    b"\x00", b"\x1f", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90", b"\xff",
    b'"t"', b'"phx_reply"', b"123456789012345678901234567890", b"1e400",
]  # fmt: skip
INTERESTING = b'[]{},:"\\ \t\n\r0123456789-+.eEnul\x00\x1f\x7f\x80\xbf\xc3\xed\xf4\xff'


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(buf))
        if op == 0 and pos < len(buf):
            buf[pos] = rng.choice(INTERESTING) if rng.random() < 0.7 else rng.randrange(256)
        elif op == 1:
            buf.insert(pos, rng.choice(INTERESTING))
        elif op == 2 and pos < len(buf):
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3:
            del buf[pos:]
        elif op == 4:
            buf[pos:pos] = rng.choice(TOKENS)
        else:
            j = rng.randint(0, len(buf))
            buf[pos:pos] = buf[min(pos, j) : max(pos, j)][:64]
    return bytes(buf)


def _text_input(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.6:
        return _mutate(rng, rng.choice(TEXT_SEEDS))
    if r < 0.8:
        return b"".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 40)))
    if r < 0.9:
        header = b'[null,"1","t","e",'
        return header + b"".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 30))) + b"]"
    return rng.randbytes(rng.randint(0, 200))


def _binary_input(rng: random.Random) -> bytes:
    if rng.random() < 0.7:
        return _mutate(rng, rng.choice(BINARY_SEEDS))
    return bytes([rng.randrange(4)]) + rng.randbytes(rng.randint(0, 40))


def _tagged(v: Any) -> list[Any]:
    """Flat, strictly comparable form of a JSON result (type, float bits and key order count)."""
    out: list[Any] = []
    stack = [v]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is float:
            out.append(("f", struct.pack("<d", x)))
        elif t is dict:
            out.append(("d", len(x)))
            for k, item in reversed(list(x.items())):
                stack.extend((item, k))
        elif t is list:
            out.append(("l", len(x)))
            stack.extend(reversed(x))
        else:
            out.append((t.__name__, x))
    return out


def _loads_outcome(fn: Any, raw: bytes) -> Any:
    try:
        return _tagged(fn(raw))
    except orjson.JSONDecodeError:
        return "JSONDecodeError"


def _outcome(fn: Any, data: Any, error: type[BaseException]) -> tuple[Any, ...]:
    try:
        f = fn(data)
    except error as exc:
        return ("err", getattr(exc, "reason", None), getattr(exc, "offset", None))
    payload = f.payload  # an accepted frame's payload must never raise
    repr(f)
    return ("ok", f.join_ref, f.ref, f.topic, f.event, f.raw_payload, f.binary, payload)


ODD_VALUES: list[Any] = [
    None, 0, -1, 2**70, 1.5, float("nan"), "", "x" * 300, "\u00e9" * 200, "a\ud800", b"b",
    bytearray(b"c"), memoryview(b"d"), [], {}, {"k": [1, {"z": None}]}, object(), ("t",),
]  # fmt: skip


def _fuzz_encoders(rng: random.Random, c: ModuleType, raw_json: Any) -> int:
    """Calls encode/encode_binary with odd arguments; only TypeError/ValueError may escape."""
    runs = 0
    values = [*ODD_VALUES, raw_json(b"{}"), raw_json(rng.randbytes(5))]
    for _ in range(2000):
        args = [rng.choice(values) for _ in range(5)]
        for fn in (c.encode, c.encode_binary):
            runs += 1
            try:
                fn(*args)
            except (TypeError, ValueError):
                pass
    return runs


def child(rounds: int, seed: int) -> int:
    """The fuzz loop (runs in the subprocess); returns the exit code."""
    from fastphx import _codec as c
    from fastphx import _codec_py as py
    from fastphx._types import RawJSON
    from fastphx.errors import FrameDecodeError

    sys.setrecursionlimit(20_000)  # comparing payloads nested 1024 deep
    rng = random.Random(seed)
    executions = 0
    for i in range(rounds):
        data = _text_input(rng)
        kind = rng.random()
        value: Any = data if kind < 0.8 else bytearray(data) if kind < 0.9 else memoryview(data)
        res = [_outcome(c.decode, value, FrameDecodeError),
               _outcome(c.decode_eager, value, FrameDecodeError)]  # fmt: skip
        if res[0] != res[1]:
            print(f"decode != decode_eager for {data!r}: {res}", file=sys.stderr)
            return 3
        if res[0][0] == "ok" and _tagged(res[0][-1]) != _tagged(orjson.loads(res[0][5])):
            print(f"payload != orjson.loads(raw_payload) for {data!r}", file=sys.stderr)
            return 3
        if i % 2 == 0:  # the payload builder on arbitrary bytes, through a hand-built Frame
            raw = data[rng.randint(0, 20) :] if rng.random() < 0.5 else data
            got = _loads_outcome(lambda b: c.Frame(None, None, "t", "e", b).payload, raw)
            if got != _loads_outcome(orjson.loads, raw):
                print(f"Frame(...).payload != orjson.loads for {raw!r}", file=sys.stderr)
                return 3
            executions += 1
        if i % 4 == 0 and _outcome(py.decode, data, FrameDecodeError) != res[0]:
            print(f"C and Python twins disagree on {data!r}", file=sys.stderr)
            return 3
        if i % 16 == 0:
            _outcome(c.decode, data.decode("utf-8", "surrogateescape"), FrameDecodeError)
            executions += 1
        bdata = _binary_input(rng)
        _outcome(c.decode_binary, bdata, FrameDecodeError)
        executions += 3
    executions += _fuzz_encoders(rng, c, RawJSON)
    print(json.dumps({"executions": executions, "rounds": rounds, "seed": seed}))
    return 0


@pytest.mark.fuzz
def test_fuzz_c_codec_in_subprocess(
    codec_c: ModuleType, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Random and mutated inputs never crash the C codec nor raise anything but FrameDecodeError."""
    proc = subprocess.run(
        [sys.executable, __file__, "--rounds", str(ROUNDS), "--seed", str(SEED)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode >= 0, f"fuzz child crashed with signal {-proc.returncode}"
    assert proc.returncode == 0, f"fuzz child failed:\n{proc.stderr[-4000:]}"
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["executions"] >= 3 * ROUNDS
    record_property("fuzz_executions", stats["executions"])
    with capsys.disabled():
        print(f"\n[codec fuzz] {stats['executions']} executions (seed {SEED}) ", end="")


def main() -> int:
    """Entry point of the fuzz child: ``python test_codec_fuzz.py --rounds N --seed S``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    try:
        return child(args.rounds, args.seed)
    except BaseException:  # anything but FrameDecodeError escaping a decoder is a finding
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Bounded, deterministic fuzzing of the C codec in a subprocess (a crash fails the test).

Run directly for a longer hunt: ``python tests/unit/test_codec_fuzz.py --rounds 2000000 --seed 7``.
The child decodes random and mutated inputs with the C build's decode, decode_eager and
decode_binary (and fuzzes encode/encode_binary with odd arguments, and encode with random
payloads against orjson.dumps of the whole array). The only exception
a decoder may raise is FrameDecodeError; an accepted frame's payload, raw_payload and repr
must work, and be exactly ``orjson.loads(raw_payload)`` (types, float bits, key order); a
Frame built by hand around random payload bytes must read like orjson (same value or
orjson's error); every 4th text input is also checked against the pure-Python build (same
frame, or an error of the same type). The child
exits 0 and prints its execution count as JSON on the last line; a segfault shows as a
negative return code instead of killing the test runner.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import traceback
from types import ModuleType
from typing import Any

import orjson
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # any import mode
from jsonresult import tagged

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


def _loads_outcome(fn: Any, raw: bytes) -> Any:
    try:
        return tagged(fn(raw))
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


def _contract(outcome: tuple[Any, ...]) -> tuple[Any, ...]:
    """What both builds must agree on: an accepted frame whole, an error by its type (only the
    C build names byte offsets)."""
    return outcome if outcome[0] == "ok" else ("err",)


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


class _Str(str):
    pass


_ALPHABET = 'ax"\\/\x00\x08\x1f\x7f\u00e9\u00ff\u0101\u2028\uffff\U0001f600\U0010ffff'


def _random_text(rng: random.Random) -> str:
    n = rng.choice((0, 1, 3, 7, 8, 15, 16, 17, rng.randint(0, 80)))
    text = "".join(rng.choice(_ALPHABET) if rng.random() < 0.3 else "y" for _ in range(n))
    if rng.random() < 0.01:
        text += rng.choice("\ud800\udfff")  # a lone surrogate: orjson's error
    return _Str(text) if rng.random() < 0.02 else text


def _random_scalar(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.1:
        return rng.choice((None, True, False))
    if r < 0.3:
        return rng.choice((rng.randint(-100, 100), rng.randint(-(2**63), 2**64 - 1),
                           rng.choice((2**63, 2**64, -(2**63) - 1, 2**70))))  # fmt: skip
    if r < 0.55:
        k = rng.random()
        if k < 0.3:
            return struct.unpack("<d", rng.randbytes(8))[0]  # any double, nan/inf included
        if k < 0.7:
            return rng.randint(-(10**8), 10**8) / 10 ** rng.randint(0, 8)
        return 10 ** rng.uniform(-4, 16) * rng.choice((1, -1))
    return _random_text(rng)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    """A random payload: mostly the types the C writer handles, now and then one it leaves
    to orjson (subclasses, big ints, non-str keys, surrogates, deep or circular nesting)."""
    r = rng.random()
    if depth > 3 or r < 0.4:
        return _random_scalar(rng)
    n = rng.randint(0, 6)
    if r < 0.6:
        return [_random_value(rng, depth + 1) for _ in range(n)]
    if r < 0.65:
        return tuple(_random_value(rng, depth + 1) for _ in range(n))
    if r < 0.97:
        d = {_random_text(rng): _random_value(rng, depth + 1) for _ in range(n)}
        if rng.random() < 0.02:
            d[rng.choice((1, None, 2.5))] = 0  # type: ignore[index]
        return d
    v: Any = _random_scalar(rng)
    if r < 0.99:
        for _ in range(rng.choice((63, 64, 65, 253, 254))):
            v = [v] if rng.random() < 0.5 else {"k": v}
        return v
    d = {"a": [1]}
    d["a"].append(d)  # type: ignore[arg-type]
    return d


def _fuzz_encode_values(rng: random.Random, c: ModuleType, rounds: int) -> int:
    """encode() of random payloads: orjson.dumps([...])'s bytes or its error type."""
    import orjson

    for _ in range(rounds):
        payload = _random_value(rng)
        head = (rng.choice((None, "1", "r\u00e9f")), rng.choice((None, "2")), "room:lobby", "ev")
        try:
            expected: Any = orjson.dumps([*head, payload])
        except TypeError as exc:
            expected = type(exc)
        try:
            got: Any = c.encode(*head, payload)
        except TypeError as exc:
            got = type(exc)
        if got != expected:
            print(f"encode != orjson.dumps for {payload!r}: {got!r} {expected!r}", file=sys.stderr)
            raise SystemExit(3)
    return rounds


def child(rounds: int, seed: int) -> int:
    """The fuzz loop (runs in the subprocess); returns the exit code."""
    from fastphx import _codec_c as c
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
        if res[0][0] == "ok" and tagged(res[0][-1]) != tagged(orjson.loads(res[0][5])):
            print(f"payload != orjson.loads(raw_payload) for {data!r}", file=sys.stderr)
            return 3
        if i % 2 == 0:  # the payload builder on arbitrary bytes, through a hand-built Frame
            raw = data[rng.randint(0, 20) :] if rng.random() < 0.5 else data
            got = _loads_outcome(lambda b: c.Frame(None, None, "t", "e", b).payload, raw)
            if got != _loads_outcome(orjson.loads, raw):
                print(f"Frame(...).payload != orjson.loads for {raw!r}", file=sys.stderr)
                return 3
            executions += 1
        if i % 4 == 0 and _contract(_outcome(py.decode, data, FrameDecodeError)) != _contract(
            res[0]
        ):
            print(f"C and Python builds disagree on {data!r}", file=sys.stderr)
            return 3
        if i % 16 == 0:
            _outcome(c.decode, data.decode("utf-8", "surrogateescape"), FrameDecodeError)
            executions += 1
        bdata = _binary_input(rng)
        _outcome(c.decode_binary, bdata, FrameDecodeError)
        executions += 3
    executions += _fuzz_encoders(rng, c, RawJSON)
    executions += _fuzz_encode_values(rng, c, max(rounds // 8, 100))
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

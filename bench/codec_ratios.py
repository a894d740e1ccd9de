"""Codec speed in one run: ns/op of fastphx decode/encode against orjson, json and msgspec.

Run: ``.venv/bin/python bench/codec_ratios.py [--rounds N]``. Prints markdown tables of ns/op
and the speed ratio against ``orjson.loads`` of the whole frame (decode),
``orjson.dumps([...])`` (encode) or ``orjson.loads(raw_payload)`` (payload read: decoding a
frame and reading its payload, against parsing the payload bytes alone); a ratio above 1
means faster than orjson. Candidates are
timed (process CPU time) in interleaved rounds and the best round is kept, so a busy machine
slows them alike.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import timeit
from collections.abc import Callable
from types import ModuleType
from typing import Any

import msgspec
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_server import BLAST_PAYLOAD
from fastphx import _codec_c as codec_c
from fastphx._types import RawJSON
from frames import SIZES, Envelope, frame, payload

codec_py: ModuleType | None
try:
    codec_py = importlib.import_module("fastphx._codec_py")
except ImportError:  # the pure-Python twin is not written yet
    codec_py = None



Candidate = tuple[str, Callable[[], Any]]

# CPU time of this process, not wall time: the numbers hold on a machine shared with other
# jobs (a descheduled process does not accrue CPU time).
CLOCK = time.process_time


def decode_candidates(data: bytes) -> list[Candidate]:
    """Decoders of one frame; the first entry is the baseline."""
    msgspec_decode = msgspec.json.Decoder(Envelope).decode
    out: list[Candidate] = [
        ("orjson.loads(frame)", lambda: orjson.loads(data)),
        ("fastphx c decode", lambda: codec_c.decode(data)),
        ("fastphx c decode_eager", lambda: codec_c.decode_eager(data)),
        ("msgspec Struct + Raw", lambda: msgspec_decode(data)),
        ("json.loads(frame)", lambda: json.loads(data)),
    ]
    if codec_py is not None:
        out.append(("fastphx py decode", lambda: codec_py.decode(data)))
    return out


def payload_candidates(data: bytes) -> list[Candidate]:
    """Reading the payload of one frame; the first entry (the payload bytes alone) is the
    baseline."""
    raw = codec_c.decode(data).raw_payload
    decode_c, eager_c = codec_c.decode, codec_c.decode_eager
    frame_c = codec_c.Frame
    out: list[Candidate] = [
        ("orjson.loads(raw_payload)", lambda: orjson.loads(raw)),
        ("fastphx c decode(frame).payload", lambda: decode_c(data).payload),
        ("fastphx c decode_eager(frame).payload", lambda: eager_c(data).payload),
        ("fastphx c Frame(raw_payload).payload",
         lambda: frame_c(None, None, "t", "e", raw).payload),
        ("decode(frame) + orjson.loads(raw_payload)",
         lambda: orjson.loads(decode_c(data).raw_payload)),
    ]
    if codec_py is not None:
        decode_py = codec_py.decode
        out.append(("fastphx py decode(frame).payload", lambda: decode_py(data).payload))
    return out


def encode_candidates(size: str) -> list[Candidate]:
    """Encoders of one push; the first entry is the baseline."""
    body = payload(size)
    raw = RawJSON(orjson.dumps(body))
    out: list[Candidate] = [
        ("orjson.dumps([...])", lambda: orjson.dumps(["3", "7", "room:lobby", "new_msg", body])),
        ("fastphx c encode", lambda: codec_c.encode("3", "7", "room:lobby", "new_msg", body)),
        ("fastphx c encode RawJSON",
         lambda: codec_c.encode("3", "7", "room:lobby", "new_msg", raw)),
        ("json.dumps([...])",
         lambda: json.dumps(["3", "7", "room:lobby", "new_msg", body], separators=(",", ":"))),
    ]
    if codec_py is not None:
        out.append(("fastphx py encode",
                    lambda: codec_py.encode("3", "7", "room:lobby", "new_msg", body)))
    return out


def best_ns(candidates: list[Candidate], rounds: int, budget_s: float = 0.02) -> list[float]:
    """Best ns/op of each candidate over interleaved rounds."""
    numbers = []
    for _, fn in candidates:
        n, _t = timeit.Timer(fn, timer=CLOCK).autorange()
        t1 = timeit.Timer(fn, timer=CLOCK).timeit(n) / n
        numbers.append(max(1, int(budget_s / max(t1, 1e-9))))
    best = [float("inf")] * len(candidates)
    for _ in range(rounds):
        for i, (_, fn) in enumerate(candidates):
            t = timeit.Timer(fn, timer=CLOCK).timeit(numbers[i]) / numbers[i]
            best[i] = min(best[i], t)
    # subtract the cost of calling an empty lambda, which every candidate pays
    empty = min(timeit.Timer(lambda: None, timer=CLOCK).repeat(5, 200_000)) / 200_000
    return [(b - empty) * 1e9 for b in best]


def table(title: str, rows: list[tuple[str, str, float, float]]) -> str:
    """Markdown table: size, candidate, ns/op, ratio vs the baseline."""
    lines = [f"### {title}", "", "| size | candidate | ns/op | vs orjson |", "|---|---|---:|---:|"]
    lines += [f"| {s} | {name} | {ns:,.0f} | {ratio:.2f}x |" for s, name, ns, ratio in rows]
    return "\n".join(lines)


def main() -> None:
    """Measures every candidate per size and prints the two tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    dec_rows: list[tuple[str, str, float, float]] = []
    enc_rows: list[tuple[str, str, float, float]] = []
    pay_rows: list[tuple[str, str, float, float]] = []
    e2e = orjson.dumps(["3", None, "room:lobby", "stream", BLAST_PAYLOAD])
    for label, data in [("e2e push", e2e)] + [(size, frame(size)) for size in SIZES]:
        cands = payload_candidates(data)
        ns = best_ns(cands, args.rounds)
        label = f"{label} ({len(data):,} B)"
        pay_rows += [(label, name, t, ns[0] / t) for (name, _), t in zip(cands, ns, strict=True)]
    for size in SIZES:
        data = frame(size)
        label = f"{size} ({len(data):,} B)"
        for rows, cands in ((dec_rows, decode_candidates(data)),
                            (enc_rows, encode_candidates(size))):
            ns = best_ns(cands, args.rounds)
            rows += [(label, name, t, ns[0] / t) for (name, _), t in zip(cands, ns, strict=True)]
    print(table("Decode (ratio = orjson.loads(frame) time / candidate time)", dec_rows))
    print()
    print(table("Encode (ratio = orjson.dumps([...]) time / candidate time)", enc_rows))
    print()
    print(table("Payload read (ratio = orjson.loads(raw_payload) time / candidate time)",
                pay_rows))


if __name__ == "__main__":
    main()

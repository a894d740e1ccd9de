"""Codec speed in one run: ns/op of fastphx decode/encode against orjson, json and msgspec.

Run: ``.venv/bin/python bench/codec_ratios.py [--rounds N]``. Prints markdown tables of ns/op
and the speed ratio against ``orjson.loads`` of the whole frame (decode),
``orjson.dumps([...])`` (encode) or ``orjson.loads(raw_payload)`` (payload read: decoding a
frame and reading its payload, against parsing the payload bytes alone); a ratio above 1
means faster than orjson. Candidates are timed (process CPU time) in interleaved rounds and
the best round is kept, so a busy machine slows them alike. Then the targets (``TARGETS``),
checked on those numbers: exit status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_server import BLAST_PAYLOAD
from fastphx import _codec_c as codec_c
from fastphx import _codec_py as codec_py
from fastphx._types import RawJSON
from frames import SIZES, Envelope, frame, payload

__all__ = ["TARGETS", "check_targets", "measure", "table", "targets_table"]

# (table, size, candidate, baseline, at least): the candidate's speed over the baseline's.
TARGETS: list[tuple[str, str, str, str, float]] = [
    ("decode", "small", "fastphx c decode", "orjson.loads(frame)", 1.7),
    ("decode", "1KB", "fastphx c decode", "orjson.loads(frame)", 3.5),
    ("decode", "64KB", "fastphx c decode", "orjson.loads(frame)", 4.0),
    *[("decode", size, "fastphx c decode", "msgspec Struct + Raw", 1.0) for size in SIZES],
    *[("encode", size, "fastphx c encode", "orjson.dumps([...])", 0.85) for size in SIZES],
    *[("encode", size, "fastphx c encode RawJSON", "orjson.dumps([...])", 1.5) for size in SIZES],
]


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


Row = tuple[str, str, float, float]  # size label, candidate, ns/op, ratio to the baseline


def measure(rounds: int) -> dict[str, list[Row]]:
    """Every candidate per size, in one run: {"decode" | "encode" | "payload": rows}."""
    rows: dict[str, list[Row]] = {"decode": [], "encode": [], "payload": []}
    e2e = orjson.dumps(["3", None, "room:lobby", "stream", BLAST_PAYLOAD])
    for label, data in [("e2e push", e2e)] + [(size, frame(size)) for size in SIZES]:
        cands = payload_candidates(data)
        ns = best_ns(cands, rounds)
        label = f"{label} ({len(data):,} B)"
        rows["payload"] += [(label, name, t, ns[0] / t)
                            for (name, _), t in zip(cands, ns, strict=True)]
    for size in SIZES:
        label = f"{size} ({len(frame(size)):,} B)"
        for kind, cands in (("decode", decode_candidates(frame(size))),
                            ("encode", encode_candidates(size))):
            ns = best_ns(cands, rounds)
            rows[kind] += [(label, name, t, ns[0] / t)
                           for (name, _), t in zip(cands, ns, strict=True)]
    return rows


def check_targets(rows: dict[str, list[Row]]) -> list[tuple[str, float, float, bool]]:
    """Each target: (description, measured speed ratio, target, met)."""
    out = []
    for kind, size, cand, base, least in TARGETS:
        ns = {name: t for label, name, t, _ in rows[kind] if label.startswith(size + " ")}
        ratio = ns[base] / ns[cand]
        out.append((f"{kind} {size}: {cand} vs {base}", ratio, least, ratio >= least))
    return out


def targets_table(results: list[tuple[str, float, float, bool]]) -> str:
    """Markdown table of the targets."""
    lines = ["| target | measured | at least | |", "|---|---:|---:|---|"]
    lines += [f"| {what} | {ratio:.2f}x | {least:.2f}x | {'met' if ok else 'MISSED'} |"
              for what, ratio, least, ok in results]
    return "\n".join(lines)


def main() -> int:
    """Measures every candidate per size, prints the tables and the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rows = measure(args.rounds)
    print(table("Decode (ratio = orjson.loads(frame) time / candidate time)", rows["decode"]))
    print()
    print(table("Encode (ratio = orjson.dumps([...]) time / candidate time)", rows["encode"]))
    print()
    print(table("Payload read (ratio = orjson.loads(raw_payload) time / candidate time)",
                rows["payload"]))
    print()
    results = check_targets(rows)
    print(targets_table(results))
    return 0 if all(ok for *_, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Round trip: push -> reply latency and pipelined pushes with replies, against a bare echo.

``python bench/e2e_roundtrip.py [--count 20000] [--window 256] [--repeat 3] [--modes ...]
[--instructions [--phase latency|pipelined|both]]``

The raw server (``bench/e2e_server.py --impl raw``) answers every frame with an ok reply.
Each client runs in its own process (``python bench/e2e_roundtrip.py --client MODE URL``):

- ``bare``: a bare aiohttp WebSocket sending V2 push frames and reading the replies (the
  floor: no reply matching, no futures).
- ``fastphx`` / ``fastphx_picows``: ``client.push(topic, "echo", {"n": i})`` on each
  transport.

Two measures per client: latency, ``--count`` pushes one after another (p50 and p99 of each
push -> reply); pipelined, ``--count`` pushes with ``--window`` in flight (fastphx: that many
coroutines each awaiting its pushes in turn; replies per second, client CPU per reply).
Best of ``--repeat`` alternating runs (p50/p99: the run with the least p50); ratios to the
bare loop of the same run.

``--instructions`` counts instead of timing (a measure immune to the VM's speed drift):
each client runs one phase (``--phase``, default ``pipelined``) under ``valgrind
--tool=callgrind`` for ``--count`` and for 3x ``--count`` pushes, and the difference divided
by 2x ``--count`` is the instructions one more push -> reply costs (start-up, imports, the
join cancelled out); the ratio is the bare loop's over the client's. Needs valgrind; about a
minute per client and phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e

__all__ = ["main"]

MODES = ("bare", "fastphx", "fastphx_picows")
PHASES = ("both", "latency", "pipelined")
LABELS = {"bare": "bare aiohttp echo loop", "fastphx": "fastphx, aiohttp",
          "fastphx_picows": "fastphx, picows"}


def _frame(ref: int, topic: str) -> str:
    return json.dumps(["1", str(ref), topic, "echo", {"n": ref}])


async def _bare(url: str, count: int, window: int, topic: str, phase: str) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url + "?vsn=2.0.0", decode_text=False) as ws:
        await ws.send_str(json.dumps(["1", "1", topic, "phx_join", {}]))
        await ws.receive()
        lat = []
        for i in range(count if phase != "pipelined" else 0):
            t = time.perf_counter()
            await ws.send_str(_frame(i + 2, topic))
            await ws.receive()
            lat.append(time.perf_counter() - t)
        t0, c0 = time.perf_counter(), time.process_time()
        sent = received = 0
        while received < count and phase != "latency":
            while sent < count and sent - received < window:
                await ws.send_str(_frame(sent + count + 2, topic))
                sent += 1
            await ws.receive()
            received += 1
        return {"lat": lat, "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}


async def _fastphx(url: str, count: int, window: int, topic: str,
                   transport: str, phase: str) -> dict[str, Any]:
    import fastphx

    async with fastphx.Client(url, topic=topic, transport=transport) as client:  # type: ignore[arg-type]
        lat = []
        for i in range(count if phase != "pipelined" else 0):
            t = time.perf_counter()
            await client.push(topic, "echo", {"n": i})
            lat.append(time.perf_counter() - t)
        t0, c0 = time.perf_counter(), time.process_time()

        async def worker(first: int) -> None:  # ``window`` of these: that many in flight
            for i in range(first, count, window):
                await client.push(topic, "echo", {"n": i})

        if phase != "latency":
            await asyncio.gather(*(worker(w) for w in range(window)))
        return {"lat": lat, "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def client_main(mode: str, url: str, count: int, window: int, phase: str = "both") -> None:
    """One client run; print its JSON line (p50, p99 in µs; pipelined rate and CPU)."""
    topic = f"room:rt:{os.getpid()}"
    if mode == "bare":
        coro = _bare(url, count, window, topic, phase)
    else:
        coro = _fastphx(url, count, window, topic,
                        "picows" if mode == "fastphx_picows" else "aiohttp", phase)
    r = asyncio.run(coro)
    lat = sorted(r["lat"]) or [0.0]
    print(json.dumps({"mode": mode, "p50": lat[len(lat) // 2] * 1e6,
                      "p99": lat[int(len(lat) * 0.99)] * 1e6,
                      "rate": count / r["seconds"], "cpu_us": r["cpu"] / count * 1e6}),
          flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run every mode ``--repeat`` times alternating; print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--client", nargs=2, metavar=("MODE", "URL"))
    parser.add_argument("--phase", choices=PHASES, default=None,
                        help="the measures a client runs (default: both; with "
                             "--instructions: pipelined)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per push -> reply under callgrind")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args(argv)
    if args.client:
        client_main(args.client[0], args.client[1], args.count, args.window,
                    args.phase or "both")
        return 0
    if args.instructions:
        return _instructions(args.modes, args.count, args.window, args.phase or "pipelined")
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in args.modes}
    proc, url = e2e.start_server("raw")
    try:
        for _ in range(args.repeat):
            for mode in args.modes:
                out = subprocess.run(
                    [sys.executable, __file__, "--count", str(args.count), "--window",
                     str(args.window), "--client", mode, url],
                    capture_output=True, text=True, timeout=600)
                if out.returncode != 0:
                    print(f"  {mode}: failed: {out.stderr.strip()[-300:]}", file=sys.stderr)
                    continue
                runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"  {mode}: {runs[mode][-1]}", file=sys.stderr)
    finally:
        e2e.stop_server(proc)
    best = {m: min(r, key=lambda x: x["p50"]) for m, r in runs.items() if r}
    rate = {m: max(x["rate"] for x in r) for m, r in runs.items() if r}
    cpu = {m: min(x["cpu_us"] for x in r) for m, r in runs.items() if r}
    base = "bare"
    if base not in best:
        raise SystemExit("the bare loop did not run: no baseline")
    print(f"raw server, {args.count:,} pushes, window {args.window}, best of {args.repeat}, "
          f"python {sys.version.split()[0]}")
    print("| client | p50 µs | p99 µs | vs bare (p50) | pipelined replies/s | vs bare | "
          "CPU µs/reply | vs bare (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m in best:
        print(f"| {LABELS[m]} | {best[m]['p50']:.0f} | {best[m]['p99']:.0f} | "
              f"{best[base]['p50'] / best[m]['p50']:.2f}x | {rate[m]:,.0f} | "
              f"{rate[m] / rate[base]:.2f}x | {cpu[m]:.1f} | {cpu[base] / cpu[m]:.2f}x |")
    return 0


def _instructions(modes: list[str], count: int, window: int, phase: str) -> int:
    """Instructions per push -> reply of each mode (see the module docstring); print a table."""
    import e2e_instructions

    per_reply: dict[str, float] = {}
    proc, url = e2e.start_server("raw")
    try:
        for mode in modes:
            totals = [e2e_instructions.callgrind_total(
                [__file__, "--count", str(n), "--window", str(window), "--phase", phase,
                 "--client", mode, url]) for n in (count, 3 * count)]
            pushes = 2 * count * (2 if phase == "both" else 1)
            per_reply[mode] = (totals[1] - totals[0]) / pushes
            print(f"  {mode}: {per_reply[mode]:,.0f} instructions/reply", file=sys.stderr)
    finally:
        e2e.stop_server(proc)
    base = per_reply.get("bare")
    print(f"raw server, {phase}, {count:,} and {3 * count:,} pushes, window {window}, "
          f"python {sys.version.split()[0]}")
    print("| client | instructions per push -> reply | vs bare (instructions) |")
    print("|---|---:|---:|")
    for mode, n in per_reply.items():
        print(f"| {LABELS[mode]} | {n:,.0f} | {f'{base / n:.2f}x' if base else '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

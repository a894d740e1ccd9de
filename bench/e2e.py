"""End-to-end throughput benchmark: server push -> loopback -> client delivery.

``python bench/e2e.py [--count 200000] [--repeat 3] [--server testing|raw]``

A blast server runs in its own process (``bench/e2e_server.py``) and writes N pre-encoded
~100-byte pushes over loopback. Each client variant runs in its own fresh process
(``bench/e2e_client.py``) so its rate and CPU time (``time.process_time``) are its own. The
variants alternate within each repeat; the markdown table gives, per variant, the best and the
median rate with their ratios to the bare aiohttp receive loop (the floor), and the least
client CPU time (the machine is shared: the best run is the least disturbed one):

- bare aiohttp loop (``async for msg in ws``, counting messages)
- fastphx, lazy payloads (every push through ``client.pushes()``, payload never read)
- fastphx, lazy payloads, every ``push.payload`` read by the consumer (the default client
  reading everything: the "every payload read" target)
- fastphx, ``eager_payloads=True``, every ``push.payload`` read (parsed in the reader)
- fastphx, pure-Python codec (``FASTPHX_NO_EXTENSIONS=1``), lazy payloads, for information
- fastphx on ``transport="picows"`` (lazy, every payload read), the batch API
  (``pushes().batches(1024)``) on both transports, bare picows, and any variant under
  uvloop (keys ending ``_uvloop``): ``--variants transports`` runs that set
  (docs/performance-transports.md).

Targets: fastphx >= 0.75x the bare loop with lazy payloads, >= 0.6x with every payload read;
on picows >= 1.2x lazy, >= 0.9x with every payload read.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VARIANTS", "Variant", "main", "render_table", "run_variant", "summarize",
           "write_chart_group"]

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Variant:
    """One client variant: its label, the e2e_client mode, extra environment, target ratio."""

    key: str
    label: str
    mode: str
    env: dict[str, str] = field(default_factory=dict)
    target: float | None = None
    needs_fastphx: bool = True


VARIANTS: tuple[Variant, ...] = (
    Variant("bare", "bare aiohttp loop (floor)", "bare", needs_fastphx=False),
    Variant("lazy", "fastphx, lazy payloads", "lazy", target=0.75),
    Variant("read", "fastphx, every payload read by the consumer", "read", target=0.6),
    Variant("eager", "fastphx, eager_payloads=True, every payload read", "eager", target=0.6),
    Variant("lazy_receive", "fastphx, lazy, every message via ws.receive()", "lazy_receive"),
    Variant("read_receive", "fastphx, every payload read, every message via ws.receive()",
            "read_receive"),
    Variant("py", "fastphx, pure-Python codec, lazy", "lazy", {"FASTPHX_NO_EXTENSIONS": "1"}),
    Variant("bare_decode", "bare loop + fastphx.codec.decode (no delivery)", "bare_decode"),
    Variant("bare_queue", "bare loop on aiohttp's reader queue (no receive())", "bare_queue",
            needs_fastphx=False),
    Variant("bare_orjson", "bare loop + orjson.loads of every frame", "bare_orjson",
            needs_fastphx=False),
    Variant("bare_str", "bare aiohttp loop, decode_text=True", "bare_str", needs_fastphx=False),
    Variant("scale", "phoenix-channels-python-client 0.4.1 (PyPI), once", "scale",
            needs_fastphx=False),
    Variant("bare_picows", "bare picows loop (frame callback, counting)", "bare_picows",
            needs_fastphx=False),
    Variant("picows_lazy", "fastphx on picows, lazy payloads", "picows_lazy", target=1.2),
    Variant("picows_read", "fastphx on picows, every payload read", "picows_read",
            target=0.9),
    Variant("picows_eager", "fastphx on picows, eager_payloads=True, every payload read",
            "picows_eager"),
    Variant("lazy_batch", "fastphx, lazy, batches(1024)", "lazy_batch"),
    Variant("read_batch", "fastphx, every payload read, batches(1024)", "read_batch"),
    Variant("picows_lazy_batch", "fastphx on picows, lazy, batches(1024)", "picows_lazy_batch"),
    Variant("picows_read_batch", "fastphx on picows, every payload read, batches(1024)",
            "picows_read_batch"),
    *(Variant(f"{key}_uvloop", f"{label}, uvloop", key, {"FASTPHX_BENCH_UVLOOP": "1"})
      for key, label in (("bare", "bare aiohttp loop"), ("lazy", "fastphx, lazy payloads"),
                         ("read", "fastphx, every payload read"),
                         ("picows_lazy", "fastphx on picows, lazy payloads"),
                         ("picows_read", "fastphx on picows, every payload read"))),
)
#: ``--variants transports``: the set in docs/performance-transports.md.
TRANSPORT_SET = ("bare,bare_picows,lazy,read,eager,picows_lazy,picows_read,picows_eager,lazy_batch,"
                 "read_batch,"
                 "picows_lazy_batch,picows_read_batch,bare_uvloop,lazy_uvloop,read_uvloop,"
                 "picows_lazy_uvloop,picows_read_uvloop")


def start_server(impl: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start the blast server process (``extra``: more e2e_server.py arguments); return it
    and the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "e2e_server.py"), "--impl", impl, *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("ws://"):
        proc.kill()
        raise SystemExit(f"blast server did not start (printed {url!r})")
    return proc, url


def stop_server(proc: subprocess.Popen[str]) -> None:
    """Stop the blast server: close its stdin, then wait (kill after 10 s)."""
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_variant(variant: Variant, url: str, count: int,
                python: str = sys.executable) -> dict[str, float] | None:
    """Run one variant in a fresh process; return its result, or None if it failed."""
    env = {**os.environ, **variant.env}
    if variant.key == "scale":
        argv = [python, str(HERE / "e2e_scale_client.py"), url, str(count)]
    else:
        argv = [python, str(HERE / "e2e_client.py"), variant.mode, url, str(count)]
    proc = subprocess.run(
        argv,
        env=env, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  {variant.key}: failed: {tail}", file=sys.stderr)
        return None
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def fastphx_client_available(attr: str = "Client") -> bool:
    """Return True when ``fastphx.<attr>`` imports (the client may not be built yet)."""
    probe = f"import fastphx.codec; import fastphx; fastphx.{attr}"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def summarize(runs: list[dict[str, float]]) -> dict[str, float]:
    """Best and median rate, and the least CPU time, over the runs of one variant."""
    rates = sorted(r["rate"] for r in runs)
    return {"best": rates[-1], "median": statistics.median(rates),
            "cpu": min(r["cpu"] for r in runs), "runs": len(runs)}


def render_table(results: dict[str, list[dict[str, float]]], variants: tuple[Variant, ...],
                 count: int) -> str:
    """Return the markdown table (best-of rates, medians, least CPU) with ratios to bare."""
    summary = {key: summarize(runs) for key, runs in results.items() if runs}
    floor = summary.get("bare")
    lines = [
        f"| client ({count:,} pushes, ~100 B payload) | msgs/s (best) | vs bare | "
        "msgs/s (median) | vs bare | client CPU s (least) | CPU µs/msg | vs bare (CPU) | "
        "target (best rate; CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in variants:
        r = summary.get(v.key)
        if r is None:
            continue
        ratio = r["best"] / floor["best"] if floor else float("nan")
        median_ratio = r["median"] / floor["median"] if floor else float("nan")
        cpu_ratio = floor["cpu"] / r["cpu"] if floor else float("nan")
        target = "" if v.target is None else (
            f">= {v.target}x: {'met' if ratio >= v.target else 'MISSED'}; "
            f"{'met' if cpu_ratio >= v.target else 'MISSED'}")
        lines.append(
            f"| {v.label} | {r['best']:,.0f} | {ratio:.2f}x | {r['median']:,.0f} | "
            f"{median_ratio:.2f}x | {r['cpu']:.2f} | {r['cpu'] / count * 1e6:.2f} | "
            f"{cpu_ratio:.2f}x | {target} |")
    return "\n".join(lines)


def write_chart_group(path: Path, results: dict[str, list[dict[str, float]]],
                      variants: tuple[Variant, ...], count: int) -> None:
    """Write the best rates as one chart group in the format of ``docs/benchmarks.json``."""
    bars = [{"label": ("fastphx " if v.key in ("lazy", "eager", "read", "py") else "") + v.label
             .removeprefix("fastphx, "), "value": round(summarize(results[v.key])["best"])}
            for v in variants if results.get(v.key)]
    group = {"name": f"end to end: {count:,} pushes over loopback", "unit": "msgs/s (best run)",
             "lower_is_better": False, "bars": bars}
    path.write_text(json.dumps(group, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def run_scale(python: str, count: int,
              results: dict[str, list[dict[str, float]]]) -> tuple[Variant, ...]:
    """Run the PyPI client once against a raw server; record it in ``results``."""
    variant = next(v for v in VARIANTS if v.key == "scale")
    proc, url = start_server("raw")
    try:
        r = run_variant(variant, url, count, python)
    finally:
        stop_server(proc)
    if r is None:
        return ()
    print(f"  scale: {r['rate']:,.0f} msgs/s, cpu {r['cpu']:.2f} s", file=sys.stderr)
    results["scale"] = [r]
    return (variant,)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the markdown table; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", choices=("testing", "raw"), default="testing")
    parser.add_argument("--variants", default="bare,lazy,read,eager,py",
                        help="comma-separated keys among " + ",".join(v.key for v in VARIANTS)
                        + ", or 'transports'")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the best rates as a docs/benchmarks.json chart group")
    parser.add_argument("--scale-python", metavar="PYTHON",
                        help="an interpreter with phoenix-channels-python-client installed: "
                             "also run that client once, against the raw server, for scale")
    args = parser.parse_args(argv)
    keys = (TRANSPORT_SET if args.variants == "transports" else args.variants).split(",")
    variants = tuple(v for v in VARIANTS if v.key in keys and v.key != "scale")
    if not fastphx_client_available():
        print("fastphx.Client not importable: measuring the bare loops only", file=sys.stderr)
        variants = tuple(v for v in variants if not v.needs_fastphx or v.key == "bare_decode")
    proc, url = start_server(args.server)
    results: dict[str, list[dict[str, float]]] = {v.key: [] for v in variants}
    try:
        for i in range(args.repeat):
            for v in variants:
                r = run_variant(v, url, args.count)
                if r is None:
                    continue
                print(f"  run {i + 1} {v.key}: {r['rate']:,.0f} msgs/s, cpu {r['cpu']:.2f} s",
                      file=sys.stderr)
                results[v.key].append(r)
    finally:
        stop_server(proc)
    if args.scale_python:
        variants += run_scale(args.scale_python, args.count, results)
    print(f"server: {args.server}, {args.repeat} alternating runs per variant, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(render_table(results, variants, args.count))
    if args.json:
        write_chart_group(Path(args.json), results, variants, args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())

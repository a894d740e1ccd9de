"""End-to-end cost per message in CPU instructions (callgrind): a ratio immune to VM drift.

``python bench/e2e_instructions.py [MODE ...]`` (default: bare lazy read eager bare_orjson)
starts the blast server (``bench/e2e_server.py``), runs ``bench/e2e_client.py MODE`` under
``valgrind --tool=callgrind`` for 10,000 and for 30,000 pushes, and reports the difference
divided by 20,000: the instructions one more push costs, start-up and imports cancelled
out. The ratio column is the bare loop's instructions per push over the variant's (above
1.00x: fewer instructions than the bare aiohttp loop). Instructions are not time (cache
misses and IPC differ), but on a VM whose speed drifts between runs they are the
reproducible measure. Needs valgrind; takes about a minute per mode.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e

__all__ = ["callgrind_total", "instructions", "main"]

CLIENT = Path(__file__).resolve().parent / "e2e_client.py"
SMALL, LARGE = 10_000, 30_000


def callgrind_total(argv: list[str]) -> int:
    """Instructions callgrind counts for one Python process running ``argv`` (a script
    and its arguments)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         *argv],
        capture_output=True, text=True, timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed under callgrind:\n{proc.stderr[-2000:]}")
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no total for {argv}:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def instructions(mode: str, url: str, count: int) -> int:
    """Instructions callgrind counts for one client process receiving ``count`` pushes."""
    return callgrind_total([str(CLIENT), mode, url, str(count)])


def main(argv: list[str] | None = None) -> None:
    """Measure each mode and print a markdown table."""
    modes = (argv if argv is not None else sys.argv[1:]) or [
        "bare", "lazy", "read", "eager", "bare_orjson"]
    server, url = e2e.start_server("testing")
    try:
        per_push = {}
        for mode in modes:
            small, large = instructions(mode, url, SMALL), instructions(mode, url, LARGE)
            per_push[mode] = (large - small) / (LARGE - SMALL)
            print(f"  {mode}: {per_push[mode]:,.0f} instructions/push", file=sys.stderr)
    finally:
        e2e.stop_server(server)
    base = per_push.get("bare")
    print("| client mode | instructions per push | vs bare (instructions) |")
    print("|---|---:|---:|")
    for mode, n in per_push.items():
        ratio = f"{base / n:.2f}x" if base else "-"
        print(f"| {mode} | {n:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()

"""Peers, same server, same run: fastphx (each transport) against the other Phoenix clients.

``python bench/e2e_peers.py [--count 200000] [--repeat 3] [--peer-python PYTHON]``

One raw blast server process (``bench/e2e_server.py --impl raw``) serves every client; each
client runs in its own fresh process (``bench/e2e_peer_client.py``, or node for
``bench/e2e_peer_phoenix.mjs``), the peers alternating within each repeat. The join of
``room:blast:N:*`` is answered, then N ~100-byte pushes are written as fast as the socket
takes them. The table gives per client: the best rate, the least CPU per delivered push,
the ratio of both to the official phoenix.js client under node (the reference point) in
the same run, and how many pushes arrived of those sent (a client with defaults that drops
shows it here; its rate is then not comparable and left out).

``--peer-python``: an interpreter with PyPI ``phoenix-channels-python-client`` and
``realtime`` installed (their dependencies clash with fastphx's dev tools):
``python -m venv /tmp/peers && /tmp/peers/bin/pip install phoenix-channels-python-client==0.4.1
realtime``. Without it those two rows are skipped; without node (or
``tests/conformance/js/node_modules``: ``make js``) the phoenix.js row is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e

__all__ = ["PEERS", "main", "render"]

HERE = Path(__file__).resolve().parent
#: key -> (label, runs on the peer interpreter)
PEERS: dict[str, tuple[str, bool]] = {
    "phoenix.js": ("phoenix.js 1.8 (node, ws), reference", False),
    "fastphx": ("fastphx, aiohttp, lazy payloads", False),
    "fastphx_read": ("fastphx, aiohttp, every payload read", False),
    "fastphx_picows": ("fastphx, picows, lazy payloads", False),
    "fastphx_picows_read": ("fastphx, picows, every payload read", False),
    "pcpc": ("phoenix-channels-python-client 0.4.1 (defaults)", True),
    "pcpc_sized": ("phoenix-channels-python-client 0.4.1 (queue sized to the blast)", True),
    "realtime": ("supabase realtime (V1 JSON, broadcast)", True),
}


def run_peer(key: str, url: str, count: int, peer_python: str | None) -> dict[str, float] | None:
    """One run of one peer in its own process; None when it cannot run here or failed."""
    if key == "phoenix.js":
        node = shutil.which("node")
        if node is None or not (HERE.parent / "tests/conformance/js/node_modules").exists():
            return None
        argv = [node, str(HERE / "e2e_peer_phoenix.mjs"), url, str(count)]
    else:
        python = peer_python if PEERS[key][1] else sys.executable
        if python is None:
            return None
        argv = [python, str(HERE / "e2e_peer_client.py"), key, url, str(count)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  {key}: failed: {tail}", file=sys.stderr)
        return None
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def render(results: dict[str, list[dict[str, float]]], count: int) -> str:
    """The markdown table: best rate, least CPU per push, ratios to phoenix.js, delivered."""
    lines = [f"| client ({count:,} pushes, same server) | msgs/s (best) | vs phoenix.js | "
             "CPU µs/push (least) | vs phoenix.js (CPU) | delivered / sent (worst run) |",
             "|---|---:|---:|---:|---:|---:|"]
    ref = results.get("phoenix.js") or []
    ref_rate = max((r["rate"] for r in ref), default=0.0)
    ref_cpu = min((r["cpu"] / r["delivered"] for r in ref if r["delivered"]), default=0.0)
    for key, (label, _) in PEERS.items():
        runs = results.get(key)
        if not runs:
            continue
        worst = min(int(r["delivered"]) for r in runs)
        complete = [r for r in runs if r["delivered"] == count]
        if complete:
            rate = max(r["rate"] for r in complete)
            cpu = min(r["cpu"] / count for r in complete)
            rate_text = f"{rate:,.0f}"
            vs_rate = f"{rate / ref_rate:.2f}x" if ref_rate else "-"
            cpu_text = f"{cpu * 1e6:.2f}"
            vs_cpu = f"{ref_cpu / cpu:.2f}x" if ref_cpu else "-"
        else:
            rate_text = vs_rate = cpu_text = vs_cpu = "n/a (dropped)"
        lines.append(f"| {label} | {rate_text} | {vs_rate} | {cpu_text} | {vs_cpu} | "
                     f"{worst:,} / {count:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every peer ``--repeat`` times, alternating; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-python", metavar="PYTHON")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--json", metavar="PATH", help="also write every run as JSON")
    args = parser.parse_args(argv)
    keys = [k for k in args.peers.split(",") if k in PEERS]
    results: dict[str, list[dict[str, float]]] = {k: [] for k in keys}
    proc, url = e2e.start_server("raw")
    try:
        for i in range(args.repeat):
            for key in keys:
                r = run_peer(key, url, args.count, args.peer_python)
                if r is None:
                    continue
                print(f"  run {i + 1} {key}: {r['delivered']:,} delivered, "
                      f"{r['rate']:,.0f} msgs/s, cpu {r['cpu']:.2f} s", file=sys.stderr)
                results[key].append(r)
    finally:
        e2e.stop_server(proc)
    print(f"raw blast server, {args.repeat} alternating runs per client, "
          f"python {sys.version.split()[0]}")
    print(render(results, args.count))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

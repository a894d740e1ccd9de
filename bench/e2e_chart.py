"""Chart data for docs/performance-transports.md from one run of each benchmark.

``python bench/e2e_chart.py E2E_GROUP.json PEERS.json [--out docs/performance-transports.json]``

``E2E_GROUP.json`` is what ``bench/e2e.py --variants transports --json`` writes (one chart
group), ``PEERS.json`` what ``bench/e2e_peers.py --json`` writes (every run). The output is
in ``scripts/plot_bench.py``'s format; then
``python scripts/plot_bench.py --data docs/performance-transports.json
--out docs/img/transports.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]

#: e2e.py labels kept in the chart (the rest stay in the tables).
E2E_KEEP = ("bare aiohttp loop (floor)", "bare picows loop (frame callback, counting)",
            "fastphx lazy payloads", "fastphx on picows, lazy payloads",
            "fastphx, lazy, batches(1024)", "fastphx on picows, lazy, batches(1024)",
            "fastphx on picows, lazy payloads, uvloop")


def main(argv: list[str] | None = None) -> int:
    """Write the chart data file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("e2e", type=Path)
    parser.add_argument("peers", type=Path)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1]
                        / "docs/performance-transports.json")
    parser.add_argument("--measured", default="")
    args = parser.parse_args(argv)
    e2e = json.loads(args.e2e.read_text(encoding="utf-8"))
    e2e["bars"] = [b for b in e2e["bars"] if b["label"] in E2E_KEEP]
    e2e["name"] = "end to end, one client"
    runs = json.loads(args.peers.read_text(encoding="utf-8"))
    from e2e_peers import PEERS

    bars = []
    for key, results in runs.items():
        complete = [r for r in results if r["delivered"] == r["count"]]
        if complete:
            bars.append({"label": PEERS[key][0],
                         "value": round(max(r["rate"] for r in complete))})
    count = next(iter(runs.values()))[0]["count"] if runs else 0
    peers = {"name": f"peers, one server, {count:,} pushes",
             "unit": "msgs/s (best run)", "lower_is_better": False, "bars": bars}
    data = {"title": "fastphx transports, batches and peers", "measured": args.measured,
            "groups": [e2e, peers]}
    args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())

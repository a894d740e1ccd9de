"""Memory per idle connection and per joined topic, on each transport.

``python bench/memory.py [--n 1000]``

A test server runs in its own process (``bench/e2e_server.py``). Each measure runs in a
fresh client process (``python bench/memory.py --client MEASURE``) and reports the growth of
Python allocations (``tracemalloc``, allocations made while measuring, divided by N) and of
the resident set (``/proc/self/statm`` RSS, divided by N):

- ``connection``: N clients, each connected with its primary topic joined, then idle.
- ``topic``: one client joining N more topics.
- ``bare``: N bare aiohttp WebSocket connections (one session), for reference.

picows' read buffer starts at 16 KiB and grows to the largest frame seen; aiohttp's reader
buffers are allocated per read. Both stay until the connection closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e

__all__ = ["main"]

MEASURES = (("bare", "aiohttp"), ("connection", "aiohttp"), ("connection", "picows"),
            ("topic", "aiohttp"), ("topic", "picows"))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _measure(measure: str, transport: str, url: str, n: int) -> dict[str, float]:
    import aiohttp

    import fastphx

    held: list[Any] = []
    warm = fastphx.Client(url, topic="room:warm", transport=transport)  # type: ignore[arg-type]
    await warm.connect()  # imports, first-use caches: not counted
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    rss0 = _rss()
    tracemalloc.start()
    if measure == "bare":
        for _ in range(n):
            held.append(await session.ws_connect(url + "?vsn=2.0.0"))
    elif measure == "connection":
        for i in range(n):
            client = fastphx.Client(url, topic=f"room:c{i}",
                                    transport=transport)  # type: ignore[arg-type]
            await client.connect()
            held.append(client)
    else:
        for i in range(n):
            await warm.join_topic(f"room:t{i}")
    await asyncio.sleep(0.5)  # idle: let every reply and timer settle (not synchronisation)
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = _rss() - rss0
    for item in held:
        await item.close()
    await warm.close()
    await session.close()
    return {"traced": traced / n, "rss": rss / n}


def main(argv: list[str] | None = None) -> int:
    """Run each measure in its own process; print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--client", nargs=3, metavar=("MEASURE", "TRANSPORT", "URL"))
    args = parser.parse_args(argv)
    if args.client:
        measure, transport, url = args.client
        print(json.dumps(asyncio.run(_measure(measure, transport, url, args.n))), flush=True)
        return 0
    proc, url = e2e.start_server("testing", "--max-channels", str(args.n + 10))
    rows = []
    try:
        for measure, transport in MEASURES:
            out = subprocess.run([sys.executable, __file__, "--n", str(args.n), "--client",
                                  measure, transport, url],
                                 capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                print(f"  {measure}/{transport}: failed: {out.stderr.strip()[-300:]}",
                      file=sys.stderr)
                continue
            rows.append((measure, transport, json.loads(out.stdout.strip().splitlines()[-1])))
    finally:
        e2e.stop_server(proc)
    labels = {"bare": "bare aiohttp WebSocket, per connection",
              "connection": "fastphx client, per idle connection (primary topic joined)",
              "topic": "fastphx, per joined topic"}
    print(f"N = {args.n:,}, python {sys.version.split()[0]}")
    print("| what | transport | Python allocations (tracemalloc) | RSS |")
    print("|---|---|---:|---:|")
    for measure, transport, r in rows:
        print(f"| {labels[measure]} | {transport} | {r['traced'] / 1024:.1f} KiB | "
              f"{r['rss'] / 1024:.1f} KiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

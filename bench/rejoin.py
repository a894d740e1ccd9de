"""Rejoin cost of many topics: join N topics, drop the connection, time until all rejoined.

``python bench/rejoin.py [N ...]`` (default 1000 5000 10000) runs the test server and one
client in this process over loopback and prints, per N, the seconds (wall and CPU, both
sides together) from the drop until every topic's ``rejoined`` event was delivered. A join
reply costs O(1) in the client (issue #9), so the time grows linearly with N.

Measured 2026-12-01 on the 2-core CI VM (CPython 3.11, C codec), CPU seconds of the
rejoin, client and server together, in one run each:

| topics | before (0.1.x, every join reply rescanned all channels) | after |
|---:|---:|---:|
| 1,000 | 0.07 | 0.03 |
| 5,000 | 1.08 | 0.11 |
| 10,000 | 4.12 | 0.24 |
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import fastphx
from fastphx.testing import ChannelContext, PhoenixTestServer

__all__ = ["main", "rejoin_seconds"]


async def rejoin_seconds(n: int) -> tuple[float, float]:
    """(wall, cpu) seconds for ``n`` topics to be rejoined after a dropped connection."""
    server = PhoenixTestServer(port=0, max_channels=n + 10)

    async def join(ctx: ChannelContext, params: Any) -> Any:
        return {}

    server.add_channel("*", join=join)
    async with server:
        client = fastphx.Client(server.url, topic="t:0", reply_timeout=120.0,
                                reconnect_delay=lambda attempt: 0.0, push_buffer_size=n + 10)
        async with client:
            await asyncio.gather(*(client.join_topic(f"t:{i}") for i in range(1, n)))
            rejoined = client.pushes(events={"rejoined"})
            wall, cpu = time.perf_counter(), time.process_time()
            await server.drop_connections()
            seen = 0
            async for _ in rejoined:
                seen += 1
                if seen == n:
                    break
            return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    """Print a markdown table of rejoin times."""
    sizes = [int(a) for a in (argv if argv is not None else sys.argv[1:])] or [1000, 5000, 10000]
    print("| topics | rejoin wall (s) | rejoin CPU (s) | CPU per topic (µs) |")
    print("|---:|---:|---:|---:|")
    for n in sizes:
        wall, cpu = asyncio.run(rejoin_seconds(n))
        print(f"| {n:,} | {wall:.2f} | {cpu:.2f} | {cpu / n * 1e6:.0f} |")


if __name__ == "__main__":
    main()

"""One peer client run of ``bench/e2e_peers.py``, in its own process.

``python bench/e2e_peer_client.py PEER URL COUNT`` joins ``room:blast:COUNT:<pid>`` on the raw
blast server (``bench/e2e_server.py --impl raw``: the join reply is followed by COUNT pushes
of event ``stream``), counts the pushes its callback or iterator sees, and prints one JSON
line ``{"peer", "count", "delivered", "seconds", "cpu", "rate"}``. The clock runs from the
connect call to the last push delivered; a peer that stops delivering (it dropped pushes)
is stopped after ``IDLE`` seconds without progress, and ``delivered`` says how many
arrived (``seconds`` then ends IDLE seconds before the stop). Each peer runs with its
defaults.

Peers:
- ``fastphx`` / ``fastphx_picows``: ``fastphx.Client(transport=...)``, ``pushes()``, lazy
  payloads; ``fastphx_read`` / ``fastphx_picows_read``: every payload read.
- ``pcpc``: PyPI ``phoenix-channels-python-client`` (its topic callback; payloads decoded);
  ``pcpc_sized``: the same with its per-topic queue sized to hold the whole blast.
- ``realtime``: PyPI supabase ``realtime`` (V1 JSON serializer, ``vsn=1.0.0``: the server
  sends Supabase ``broadcast`` messages wrapping the same payload; ``on_broadcast``).
The last two need an interpreter where they are installed (``--peer-python``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["main"]

IDLE = 3.0


class Tally:
    """Deliveries counted by a peer's callback; ``done`` once all ``count`` arrived."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.delivered = 0
        self.last = time.perf_counter()
        self.done = asyncio.Event()

    def one(self) -> None:
        self.delivered += 1
        if self.delivered == self.count:
            self.last = time.perf_counter()
            self.done.set()

    async def wait(self) -> None:
        """Until every push arrived, or IDLE seconds passed without a new one (then the
        last delivery is taken as IDLE seconds ago: within IDLE of the truth)."""
        seen = -1
        while not self.done.is_set():
            if self.delivered == seen:
                self.last = time.perf_counter() - IDLE
                return
            seen = self.delivered
            try:
                await asyncio.wait_for(self.done.wait(), IDLE)
            except asyncio.TimeoutError:
                pass


async def run_fastphx(url: str, tally: Tally, topic: str, transport: str,
                      read: bool) -> None:
    import fastphx

    client = fastphx.Client(url, topic=topic, transport=transport)  # type: ignore[arg-type]
    stream = client.pushes()

    async def consume() -> None:
        async for push in stream:
            if push.event == "stream":
                if read:
                    push.payload  # noqa: B018  (reading it is what is measured)
                tally.one()

    consumer = asyncio.ensure_future(consume())
    try:
        await client.connect()
        await tally.wait()
    finally:
        consumer.cancel()
        await client.close()


async def run_pcpc(url: str, tally: Tally, topic: str, sized: bool) -> None:
    from phoenix_channels_python_client import PHXChannelsClient  # type: ignore[import-not-found]

    async def on_message(message: Any) -> None:
        if message.event == "stream":
            tally.one()

    # Its per-topic queue drops past max_topic_queue_size (default 1000): ``sized`` holds all.
    options = {"max_topic_queue_size": tally.count + 16} if sized else {}
    async with PHXChannelsClient(url, api_key="bench", **options) as client:
        await client.subscribe_to_topic(topic, on_message)
        await tally.wait()


async def run_realtime(url: str, tally: Tally, topic: str) -> None:
    from realtime import AsyncRealtimeClient  # type: ignore[import-not-found]

    client = AsyncRealtimeClient(url.removesuffix("/websocket"), "bench", auto_reconnect=False)
    await client.connect()
    channel = client.channel(topic)
    channel.on_broadcast("stream", lambda payload: tally.one())
    await channel.subscribe()
    try:
        await tally.wait()
    finally:
        await client.close()


def main() -> None:
    """Run one peer once and print its JSON line."""
    peer, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    topic = f"room:blast:{count}:{os.getpid()}"
    # Imported before the clock starts (node's imports are done before its clock too).
    importlib.import_module({"pcpc": "phoenix_channels_python_client",
                             "pcpc_sized": "phoenix_channels_python_client",
                             "realtime": "realtime"}.get(peer, "fastphx"))

    async def run() -> tuple[Tally, float, float]:
        tally = Tally(count)
        runners: dict[str, Callable[[], Awaitable[None]]] = {
            "fastphx": lambda: run_fastphx(url, tally, topic, "aiohttp", False),
            "fastphx_read": lambda: run_fastphx(url, tally, topic, "aiohttp", True),
            "fastphx_picows": lambda: run_fastphx(url, tally, topic, "picows", False),
            "fastphx_picows_read": lambda: run_fastphx(url, tally, topic, "picows", True),
            "pcpc": lambda: run_pcpc(url, tally, topic, False),
            "pcpc_sized": lambda: run_pcpc(url, tally, topic, True),
            "realtime": lambda: run_realtime(url, tally, topic),
        }
        t0, c0 = time.perf_counter(), time.process_time()
        await runners[peer]()
        return tally, tally.last - t0, time.process_time() - c0

    tally, seconds, cpu = asyncio.run(asyncio.wait_for(run(), 600))
    print(json.dumps({"peer": peer, "count": count, "delivered": tally.delivered,
                      "seconds": seconds, "cpu": cpu, "rate": tally.delivered / seconds}),
          flush=True)


if __name__ == "__main__":
    main()

"""One run of PyPI's ``phoenix-channels-python-client`` against the raw blast server, for scale.

Run with an interpreter that has that package (it is not a fastphx dependency), e.g.
``python -m venv /tmp/scalevenv && /tmp/scalevenv/bin/pip install phoenix-channels-python-client``,
then ``bench/e2e.py --scale-python /tmp/scalevenv/bin/python``. It subscribes to
``room:blast:N:<pid>`` (the raw server blasts N pushes after that join reply: the package has
no push API) and counts ``stream`` messages in its message callback. Prints the same JSON
line as ``e2e_client.py``; the clock starts at the subscribe call, so the join's round trip
is included (a few hundred microseconds).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

__all__ = ["main"]


async def run(url: str, count: int) -> tuple[float, float]:
    """Receive ``count`` pushes through the package's topic callback; return (seconds, cpu)."""
    from phoenix_channels_python_client import PHXChannelsClient  # type: ignore[import-not-found]

    done = asyncio.Event()
    received = 0

    async def on_message(message: Any) -> None:
        nonlocal received
        if message.event == "stream":
            received += 1
            if received == count:
                done.set()

    # Its per-topic queue drops when full (default 1000): size it to hold the whole blast.
    async with PHXChannelsClient(url, api_key="bench", max_topic_queue_size=count + 16) as client:
        t0, c0 = time.perf_counter(), time.process_time()
        await client.subscribe_to_topic(f"room:blast:{count}:{os.getpid()}", on_message)
        await done.wait()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return seconds, cpu


def main() -> None:
    """Run once and print the JSON result line."""
    url, count = sys.argv[1], int(sys.argv[2])
    seconds, cpu = asyncio.run(asyncio.wait_for(run(url, count), 300))
    print(json.dumps({"mode": "scale", "count": count, "seconds": seconds, "cpu": cpu,
                      "rate": count / seconds, "impl": "-"}), flush=True)


if __name__ == "__main__":
    main()

"""Soak: a million pushes (FASTPHX_SOAK_PUSHES for more) arrive lossless and in order, and the
client's resident memory does not grow after warm-up."""

from __future__ import annotations

import asyncio
import os

from relsuite import TIMEOUT, make_client, rss_bytes

import fastphx
from fastphx.testing import PhoenixTestServer

PUSHES = int(os.environ.get("FASTPHX_SOAK_PUSHES", "1000000"))
CHUNK = 25_000  # pushes per server batch, and per RSS sample
WARMUP = 0.2  # the first fifth of the samples is warm-up
RSS_TOLERANCE = 8 << 20  # bytes of growth allowed after warm-up (allocator noise)


async def produce(server: PhoenixTestServer, total: int) -> None:
    """Push ``{"i": k}`` for k = 0..total-1 on room:0, in batches (waiting for drains)."""
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        sent = await server.push_many("room:0", "n", [{"i": i} for i in range(start, stop)])
        assert sent == stop - start


async def consume(stream: fastphx.PushStream, total: int) -> list[int]:
    """Check every push is the next in sequence; sample RSS every CHUNK pushes."""
    samples: list[int] = []
    expected = 0
    async for push in stream:
        assert push.payload["i"] == expected, (push.payload, expected)
        expected += 1
        if expected % CHUNK == 0:
            samples.append(rss_bytes())
        if expected == total:
            return samples
    raise AssertionError(f"stream ended after {expected} of {total} pushes")


async def test_soak_lossless_in_order_flat_rss(server: PhoenixTestServer,
                                               clients: list[fastphx.Client],
                                               transport: str) -> None:
    """PUSHES pushes, each read, all in order, none dropped; RSS flat after warm-up."""
    client = make_client(server.url, transport)
    clients.append(client)
    await client.connect()
    stream = client.pushes(topic="room:0", events={"n"})
    producer = asyncio.ensure_future(produce(server, PUSHES))
    samples = await asyncio.wait_for(consume(stream, PUSHES), TIMEOUT + PUSHES / 20_000)
    await producer
    assert client.dropped == 0 and client.malformed == 0
    base = samples[int(len(samples) * WARMUP)]
    growth = max(samples[int(len(samples) * WARMUP):]) - base
    assert growth <= RSS_TOLERANCE, (
        f"RSS grew {growth / 2**20:.1f} MiB after warm-up "
        f"({[round(s / 2**20, 1) for s in samples]} MiB)")

"""The delivery contract of issue #9 as the suite checks it end to end: nothing lost from the
first push, replies not stuck behind pushes, every buffer bounded, a caller's mistake cannot
wedge the client."""

from __future__ import annotations

from typing import Any

import pytest
from relsuite import TIMEOUT, make_client, wait_until

import fastphx
from fastphx import Status
from fastphx.testing import ChannelContext, PhoenixTestServer

FLOOD = 20_000


def add_flood(server: PhoenixTestServer) -> None:
    """``flood:*``: the join handler pushes ``{"i": k}`` FLOOD times right after its reply
    (what Phoenix apps do with ``send(self(), :after_join)``); ``echo`` replies."""

    async def join(ctx: ChannelContext, params: Any) -> Any:
        for i in range(FLOOD):
            await ctx.push("n", {"i": i})
        return {}

    async def echo(ctx: ChannelContext, payload: Any) -> Any:
        return payload

    server.add_channel("flood:*", join=join, handlers={"echo": echo})


async def test_head_of_stream_not_lost(server: PhoenixTestServer, transport: str) -> None:
    """Used as README shows, every push from the join reply onward reaches the iterator."""
    add_flood(server)
    seen = []
    async with make_client(server.url, transport, topic="flood:1") as client:
        async for push in client.pushes(events={"n"}):
            seen.append(push.payload["i"])
            if len(seen) == FLOOD or push.payload["i"] == FLOOD - 1:
                break
        assert client.dropped == 0
    assert seen == list(range(FLOOD))


async def test_reply_not_stuck_behind_pushes(server: PhoenixTestServer,
                                             clients: list[fastphx.Client], transport: str) -> None:
    """With an iterator not being read, a push's reply still arrives behind FLOOD pushes."""
    add_flood(server)
    client = make_client(server.url, transport)
    clients.append(client)
    await client.connect()
    idle = client.pushes(events={"n"})
    await client.join_topic("flood:1")
    reply = await client.push("flood:1", "echo", {"a": 1}, timeout=2.0)
    assert reply.response == {"a": 1}
    assert len(idle) > 0


async def test_synthetic_events_bounded(server: PhoenixTestServer,
                                        clients: list[fastphx.Client], transport: str) -> None:
    """30 forced reconnects on 10 topics with no iterator stay within the bounds
    (push_buffer_size, plus max_spill_bytes at 128 bytes a synthetic event); the oldest
    past them are dropped and counted."""
    client = make_client(server.url, transport, push_buffer_size=64, max_spill_bytes=4096)
    clients.append(client)
    await client.connect()
    for i in range(1, 10):
        await client.join_topic(f"room:{i}")
    for n in range(30):
        await server.drop_connections()
        await server.wait_for_join("room:9", count=n + 2, timeout=TIMEOUT)
        await wait_until(lambda: client.status is Status.CONNECTED)
    kept = len(client.pushes())
    assert kept <= 64 + 4096 // 128
    # each cycle: disconnected, reconnecting, ten rejoined, connected
    assert kept + client.dropped == 30 * 13


async def test_bad_params_do_not_wedge(server: PhoenixTestServer,
                                       clients: list[fastphx.Client], transport: str) -> None:
    """join_topic with unencodable params raises TypeError and changes nothing: after a drop
    the client is CONNECTED again and pushes are answered."""
    client = make_client(server.url, transport)
    clients.append(client)
    await client.connect()
    with pytest.raises(TypeError):
        await client.join_topic("room:2", params={"bad": {1, 2}})
    assert client.topics == ["room:0"]
    await server.drop_connections()
    await server.wait_for_join("room:0", count=2, timeout=TIMEOUT)
    await wait_until(lambda: client.status is Status.CONNECTED)
    assert (await client.push("room:0", "echo", {"a": 1}, timeout=TIMEOUT)).response == {"a": 1}

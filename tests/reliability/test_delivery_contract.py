"""The delivery contract of issue #9 as the suite checks it end to end: nothing lost from the
first push, replies not stuck behind pushes, every buffer bounded, a caller's mistake cannot
wedge the client. Each is xfail(strict) until the item of #9 it names lands."""

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


@pytest.mark.xfail(strict=True, reason="issue #9 item 1: the head of a stream is lost before "
                                       "the first pushes() iterator exists")
async def test_head_of_stream_not_lost(server: PhoenixTestServer) -> None:
    """Used as README shows, every push from the join reply onward reaches the iterator."""
    add_flood(server)
    seen = []
    async with make_client(server.url, topic="flood:1") as client:
        async for push in client.pushes(events={"n"}):
            seen.append(push.payload["i"])
            if len(seen) == FLOOD or push.payload["i"] == FLOOD - 1:
                break
        assert client.dropped == 0
    assert seen == list(range(FLOOD))


@pytest.mark.xfail(strict=True, reason="issue #9 item 2: a reply is stuck behind pushes a "
                                       "paused reader will not read")
async def test_reply_not_stuck_behind_pushes(server: PhoenixTestServer,
                                             clients: list[fastphx.Client]) -> None:
    """With an iterator not being read, a push's reply still arrives behind FLOOD pushes."""
    add_flood(server)
    client = make_client(server.url)
    clients.append(client)
    await client.connect()
    idle = client.pushes(events={"n"})
    await client.join_topic("flood:1")
    reply = await client.push("flood:1", "echo", {"a": 1}, timeout=2.0)
    assert reply.response == {"a": 1}
    assert len(idle) > 0


@pytest.mark.xfail(strict=True, reason="issue #9 item 3: synthetic events are buffered past "
                                       "push_buffer_size while no iterator exists")
async def test_synthetic_events_bounded(server: PhoenixTestServer,
                                        clients: list[fastphx.Client]) -> None:
    """30 forced reconnects on 10 topics with no iterator keep at most push_buffer_size."""
    client = make_client(server.url, push_buffer_size=64)
    clients.append(client)
    await client.connect()
    for i in range(1, 10):
        await client.join_topic(f"room:{i}")
    for n in range(30):
        await server.drop_connections()
        await server.wait_for_join("room:9", count=n + 2, timeout=TIMEOUT)
        await wait_until(lambda: client.status is Status.CONNECTED)
    assert len(client.pushes()) <= 64


@pytest.mark.xfail(strict=True, reason="issue #9 item 5: bad join params are registered before "
                                       "encoding and wedge the client on the next rejoin")
async def test_bad_params_do_not_wedge(server: PhoenixTestServer,
                                       clients: list[fastphx.Client]) -> None:
    """join_topic with unencodable params raises TypeError and changes nothing: after a drop
    the client is CONNECTED again and pushes are answered."""
    client = make_client(server.url)
    clients.append(client)
    await client.connect()
    with pytest.raises(TypeError):
        await client.join_topic("room:2", params={"bad": {1, 2}})
    assert client.topics == ["room:0"]
    await server.drop_connections()
    await server.wait_for_join("room:0", count=2, timeout=TIMEOUT)
    await wait_until(lambda: client.status is Status.CONNECTED)
    assert (await client.push("room:0", "echo", {"a": 1}, timeout=TIMEOUT)).response == {"a": 1}

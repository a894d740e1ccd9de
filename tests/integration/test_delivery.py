"""The delivery contract over loopback sockets (issue #9): lossless from the first push,
replies never stuck behind pushes, every buffer bounded, a client its caller cannot wedge."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import fastphx
from fastphx import ReplyBlockedError, Status
from fastphx.testing import NO_REPLY, ChannelContext, PhoenixTestServer

TIMEOUT = 5.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))

SettleFn = Callable[..., Awaitable[None]]  # the conftest's settle fixture
pytestmark = pytest.mark.asyncio

FAST: dict[str, Any] = {"heartbeat_interval": 30.0, "reply_timeout": TIMEOUT,
                        "connect_timeout": TIMEOUT, "reconnect_delay": lambda n: 0.01,
                        "rejoin_delay": lambda n: 0.01, "close_timeout": 0.5}
MakeClient = Callable[..., fastphx.Client]


def setup(server: PhoenixTestServer) -> None:
    """room:stream:N pushes N numbered pushes right after its join reply (after_join)."""

    async def join(ctx: ChannelContext, params: Any) -> Any:
        if ctx.topic.startswith("room:stream:"):
            for i in range(int(ctx.topic.rsplit(":", 1)[1])):
                await ctx.push("n", {"i": i})
        return {"joined": ctx.topic}

    async def echo(ctx: ChannelContext, payload: Any) -> Any:
        return payload

    async def never(ctx: ChannelContext, payload: Any) -> Any:
        return NO_REPLY

    async def numbers(ctx: ChannelContext, payload: Any) -> Any:
        await server.push_many(ctx.topic, "n", ({"i": i, "pad": payload.get("pad", "")}
                                                for i in range(payload["count"])))
        return {"count": payload["count"]}

    server.add_channel("*", join=join, handlers={"echo": echo, "never": never,
                                                 "numbers": numbers})


@pytest.fixture
async def server(phx_server: PhoenixTestServer) -> PhoenixTestServer:
    setup(phx_server)
    return phx_server


@pytest.fixture
async def make_client(server: PhoenixTestServer, transport: str) -> AsyncIterator[MakeClient]:
    clients: list[fastphx.Client] = []

    def make(**kwargs: Any) -> fastphx.Client:
        client = fastphx.Client(server.url, **{"transport": transport, **FAST, **kwargs})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def take(stream: fastphx.PushStream, count: int, event: str = "n") -> list[int]:
    """The ``i`` of the next ``count`` pushes named ``event`` on ``stream``."""
    async def run() -> list[int]:
        seen: list[int] = []
        async for push in stream:
            if push.event == event:
                seen.append(push.payload["i"])
                if len(seen) == count:
                    break
        return seen
    return await asyncio.wait_for(run(), TIMEOUT * 4)


# ------------------------------------------------------------------ batch delivery


async def test_batches_lossless_in_order_under_backpressure(make_client: MakeClient) -> None:
    """A batch consumer with a tiny buffer gets every push once, in order, in non-empty
    batches of at most max_size, while the reader pauses and resumes (nothing dropped)."""
    client = make_client(topic="room:b", push_buffer_size=8)
    stream = client.pushes(topic="room:b", events={"n"})
    await client.connect()
    count = 5000
    task = asyncio.ensure_future(client.push("room:b", "numbers", {"count": count},
                                             timeout=TIMEOUT * 4))

    async def run() -> tuple[list[int], int]:
        seen: list[int] = []
        largest = 0
        async for batch in stream.batches(max_size=5):
            assert 1 <= len(batch) <= 5
            largest = max(largest, len(batch))
            seen.extend(p.payload["i"] for p in batch)
            if len(seen) == count:
                break
        return seen, largest

    seen, largest = await asyncio.wait_for(run(), TIMEOUT * 4)
    assert seen == list(range(count)) and largest == 5
    assert (await task).response == {"count": count}
    assert client.dropped == 0 and not stream._sizes and len(stream) == 0


# ------------------------------------------------------------------ lossless from the first push


@pytest.mark.parametrize("count", [5000, 20000])
async def test_readme_usage_gets_the_head_of_a_stream(server: PhoenixTestServer,
                                                      count: int, transport: str) -> None:
    """A join that pushes right after its reply, consumed as README shows: nothing lost."""
    async with fastphx.Client(server.url, topic=f"room:stream:{count}", transport=transport,
                              **FAST) as client:
        assert await take(client.pushes(), count) == list(range(count))
        assert client.dropped == 0


async def test_iterator_made_before_connect_gets_everything(make_client: MakeClient) -> None:
    """An iterator created before connect() receives every push from the join reply on."""
    client = make_client(topic="room:stream:3000")
    stream = client.pushes()
    await client.connect()
    assert await take(stream, 3000) == list(range(3000))


async def test_filtered_iterator_first_then_unfiltered(make_client: MakeClient) -> None:
    """A filtered iterator made first (e.g. a Presence tracker) does not cost a later
    unfiltered iterator the head of the stream."""
    client = make_client(topic="room:stream:2000")
    presence = client.pushes(events={"presence_diff"})
    await client.connect()
    stream = client.pushes()
    assert await take(stream, 2000) == list(range(2000))
    assert len(presence) == 0 and client.dropped == 0


# ------------------------------------------------------------------ replies never stuck


async def test_reply_not_stuck_behind_unread_pushes(make_client: MakeClient) -> None:
    """With an unread iterator and 5,000 pushes queued, a push still gets its reply; every
    push is then read in order."""
    client = make_client(topic="room:stream:5000")
    stream = client.pushes()
    await client.connect()
    reply = await client.push("room:stream:5000", "echo", {"a": 1}, timeout=TIMEOUT)
    assert reply.response == {"a": 1}
    assert await take(stream, 5000) == list(range(5000))
    assert client.dropped == 0


async def test_spill_limit_blocks_typed_then_recovers(make_client: MakeClient) -> None:
    """Past max_spill_bytes an awaited reply fails with ReplyBlockedError (not a timeout),
    new requests are refused typed, nothing is lost, and draining resumes everything."""
    client = make_client(topic="room:a", push_buffer_size=8, max_spill_bytes=20_000)
    stream = client.pushes()
    await client.connect()
    task = asyncio.ensure_future(client.push("room:a", "numbers", {"count": 3000}))
    with pytest.raises(ReplyBlockedError) as info:
        await asyncio.wait_for(task, TIMEOUT)
    assert info.value.event == "numbers" and info.value.limit == 20_000
    assert "drain" in str(info.value)
    with pytest.raises(ReplyBlockedError):
        await client.push("room:a", "echo", {})
    assert await take(stream, 3000) == list(range(3000))
    assert (await client.push("room:a", "echo", {"b": 2})).response == {"b": 2}
    assert client.dropped == 0 and client.status is Status.CONNECTED


async def test_request_reply_only_client_never_stalls(make_client: MakeClient,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A client that never calls pushes() keeps getting replies while the server streams a
    million pushes at it; memory stays within the spill bound and the unsubscribed pushes
    it drops are counted and logged at most once a second."""
    client = make_client(topic="room:a", push_buffer_size=16, max_spill_bytes=50_000)
    await client.connect()
    total = 0
    with caplog.at_level(logging.WARNING, logger="fastphx.client"):
        for _ in range(10):
            reply = await client.push("room:a", "numbers", {"count": 100_000})
            total += reply.response["count"]
            assert (await client.push("room:a", "echo", {"x": 1})).response == {"x": 1}
            delivery = client._delivery
            assert delivery.spilled <= 50_000
            assert delivery.backlog is not None and len(delivery.backlog) <= 16 + 50_000 // 64
    assert client.dropped > total // 2
    drop_lines = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert 1 <= len(drop_lines) < 20  # rate-limited: far fewer lines than drops
    stream = client.pushes()
    kept = len(stream)
    assert kept + client.dropped == total


async def test_drop_policies_never_pause(make_client: MakeClient) -> None:
    """drop_oldest never stops the reader: a reply comes while an iterator is full."""
    client = make_client(topic="room:stream:1000", push_buffer_size=10, overflow="drop_oldest")
    stream = client.pushes()
    await client.connect()
    assert (await client.push("room:stream:1000", "echo", {})).response == {}
    assert client.dropped == 990
    assert [p.payload["i"] for p in list(stream._buf)] == list(range(990, 1000))


# ------------------------------------------------------------------ every buffer bounded


async def test_synthetic_events_are_bounded(server: PhoenixTestServer,
                                            make_client: MakeClient,
        settle: SettleFn) -> None:
    """reconnecting/rejoined events with no iterator count against the same bounds."""
    client = make_client(topic="room:a", push_buffer_size=64, max_spill_bytes=4096)
    await client.connect()
    for n in range(9):
        await client.join_topic(f"room:t{n}")
    for cycle in range(30):
        await server.drop_connections()
        await settle(client, server, cycle + 2)
    delivery = client._delivery
    # a cycle: disconnected, reconnecting, ten rejoined, connected
    produced = 30 * 13
    kept = len(client.pushes())
    assert kept <= 64 + 4096 // 128
    assert kept + client.dropped == produced and client.dropped > 0
    assert delivery.spilled <= 4096


async def test_oversize_message_refused_counted_reconnected(server: PhoenixTestServer,
                                                            make_client: MakeClient,
        settle: SettleFn) -> None:
    """A message over max_message_size closes with 1009, is counted, and the client
    reconnects and keeps delivering."""
    client = make_client(topic="room:a", max_message_size=100_000)
    stream = client.pushes(events={"n", "big"})
    await client.connect()
    await server.push("room:a", "big", {"x": "y" * 200_000})
    await settle(client, server, 2)
    assert client.malformed == 1
    await server.push("room:a", "n", {"i": 7})
    assert await take(stream, 1) == [7]


async def test_large_message_released_promptly(server: PhoenixTestServer,
                                               make_client: MakeClient, transport: str) -> None:
    """Once the consumer drops a 20 MB push its memory is freed, without waiting for the
    next message to arrive (picows keeps its read buffer, the size of the largest frame
    seen, for the connection's life: only the push's own memory is asserted there)."""
    client = make_client(topic="room:a")
    stream = client.pushes()
    await client.connect()
    payload = {"x": "z" * 20_000_000}
    tracemalloc.start()
    try:
        await server.push("room:a", "big", payload)
        del payload
        push = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
        assert push.event == "big"
        held, _ = tracemalloc.get_traced_memory()
        del push
        gc.collect()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held - current > 19_000_000
    if transport == "aiohttp":
        assert current < 10_000_000


# ------------------------------------------------------------------ the caller cannot wedge it


@pytest.mark.parametrize("topic, params", [
    ("room:2", {"bad": {1, 2}}),
    ("room:\ud800", {}),
])
async def test_bad_join_raises_before_any_state_change(server: PhoenixTestServer,
                                                       make_client: MakeClient,
                                                       topic: str, params: Any,
        settle: SettleFn) -> None:
    """Unencodable params or topic raise TypeError and change nothing; after a drop the
    client reconnects, and its heartbeat and pushes work."""
    client = make_client(topic="room:a", heartbeat_interval=0.2)
    await client.connect()
    with pytest.raises(TypeError):
        await client.join_topic(topic, params)
    assert client.topics == ["room:a"]
    await server.drop_connections()
    await settle(client, server, 2)
    assert server.total_connections == 2
    await server.wait_for_frame("phoenix", "heartbeat", timeout=TIMEOUT)


async def test_params_mutated_after_join_fail_that_rejoin_only(server: PhoenixTestServer,
                                                               make_client: MakeClient,
        settle: SettleFn) -> None:
    """Join params made unencodable after the join: that topic's rejoin fails (reported
    fatal); the other topics rejoin and the client stays usable."""
    client = make_client(topic="room:a")
    stream = client.pushes(events={"rejoin_failed"})
    await client.connect()
    nested: list[Any] = []
    await client.join_topic("room:b", {"nested": nested})
    nested.append({1, 2})
    await server.drop_connections()
    push = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
    assert push.topic == "room:b" and push.payload["fatal"] is True
    assert client.topics == ["room:a"]
    await settle(client, server, 2)


async def test_push_with_bad_payload_while_rejoining_raises_now(server: PhoenixTestServer,
                                                                make_client: MakeClient) -> None:
    """A push buffered for a rejoin is validated at the call, not when it is flushed."""
    client = make_client(topic="room:a", reconnect_delay=lambda n: 0.5)
    await client.connect()
    await server.drop_connections()
    await server.wait_for(lambda: client.status is Status.RECONNECTING, TIMEOUT)
    with pytest.raises(ConnectionError):  # no socket: fails fast, nothing buffered
        await client.join_topic("room:c")
    assert client.topics == ["room:a"]


async def test_raising_params_callable_is_retried(server: PhoenixTestServer,
                                                  make_client: MakeClient,
        settle: SettleFn) -> None:
    """A params callable that raises on a redial is contained: the client keeps redialing
    and reconnects once it works again."""
    calls = {"n": 0}

    def params() -> dict[str, str]:
        calls["n"] += 1
        if 2 <= calls["n"] <= 4:
            raise RuntimeError("vault unavailable")
        return {"user": "u"}

    client = make_client(topic="room:a", params=params)
    await client.connect()
    await server.drop_connections()
    await settle(client, server, 2)
    assert calls["n"] == 5

"""phoenix.js parity features over loopback (issue #11): ping, compression, live auth,
join params as a callable, stats, and the connected/disconnected lifecycle events."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import fastphx
from fastphx import Status
from fastphx.testing import ChannelContext, FaultProxy, PhoenixTestServer

SettleFn = Callable[..., Awaitable[None]]  # the conftest's settle fixture
pytestmark = pytest.mark.asyncio
TIMEOUT = 5.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))
FAST: dict[str, Any] = {"reply_timeout": TIMEOUT, "connect_timeout": TIMEOUT,
                        "reconnect_delay": lambda n: 0.01, "rejoin_delay": lambda n: 0.01,
                        "close_timeout": 0.5}


@pytest.fixture
async def server(phx_server: PhoenixTestServer) -> PhoenixTestServer:
    async def join(ctx: ChannelContext, params: Any) -> Any:
        return {"params": params}

    async def echo(ctx: ChannelContext, payload: Any) -> Any:
        return payload

    phx_server.add_channel("*", join=join, handlers={"echo": echo})
    return phx_server


async def test_ping_measures_a_round_trip(server: PhoenixTestServer, transport: str) -> None:
    """ping() sends a heartbeat-style message and returns its round trip in seconds."""
    async with fastphx.Client(server.url, transport=transport, topic="room:a", **FAST) as client:
        rtt = await client.ping()
        assert 0 < rtt < TIMEOUT
        frame = await server.wait_for_frame("phoenix", "heartbeat", timeout=TIMEOUT)
        assert frame.ref is not None and frame.join_ref is None
        assert client.stats()["last_ping_rtt"] == rtt


async def test_ping_without_a_socket_fails_fast(server: PhoenixTestServer, transport: str) -> None:
    """During an outage ping() raises ConnectionLostError at once."""
    async with fastphx.Client(server.url, transport=transport, topic="room:a",
                              **{**FAST, "reconnect_delay": lambda n: 30.0}) as client:
        await server.drop_connections()
        stream = client.pushes(events={"disconnected"})
        await asyncio.wait_for(stream.__anext__(), TIMEOUT)
        with pytest.raises(fastphx.ConnectionLostError):
            await client.ping()


async def test_set_auth_is_used_on_the_next_dial(server: PhoenixTestServer, transport: str,
                                                 caplog: pytest.LogCaptureFixture,
        settle: SettleFn) -> None:
    """set_auth() keeps the live socket and sends the new credentials on the next dial;
    neither the old nor the new secret shows in logs."""
    with caplog.at_level(logging.DEBUG):
        async with fastphx.Client(server.url, transport=transport, api_key="key-old-1234",
                                  topic="room:a", params={"v": "1"}, **FAST) as client:
            client.set_auth(api_key="key-new-5678", params={"v": "2"})
            assert server.connection_count == 1
            assert server.connections[0].params["api_key"] == "key-old-1234"
            await server.drop_connections()
            await settle(client, server, 2)
            params = server.connections[0].params
            assert params["api_key"] == "key-new-5678" and params["v"] == "2"
            assert "key-new-5678" not in repr(client)
    assert "key-old-1234" not in caplog.text and "key-new-5678" not in caplog.text


async def test_join_params_callable_evaluated_on_every_join(server: PhoenixTestServer,
                                                            transport: str) -> None:
    """A callable join_params is evaluated for the join and again for each rejoin."""
    calls = {"n": 0}

    def params() -> dict[str, int]:
        calls["n"] += 1
        return {"since": calls["n"]}

    async with fastphx.Client(server.url, transport=transport, topic="room:a",
                              join_params=params, **FAST) as client:
        assert client.welcome == {"params": {"since": 1}}
        assert await client.join_topic("room:b", params) == {"params": {"since": 2}}
        rejoined = client.pushes(events={"rejoined"})
        await server.drop_connections()
        got = [await asyncio.wait_for(rejoined.__anext__(), TIMEOUT) for _ in range(2)]
        assert sorted(p.payload["params"]["since"] for p in got) == [3, 4]


async def test_raising_join_params_callable_retried_on_the_schedule(
        server: PhoenixTestServer, transport: str,
        settle: SettleFn) -> None:
    """A join params callable that raises on a rejoin reports rejoin_failed (not fatal)
    and the topic is rejoined on the schedule once it works."""
    state = {"fail": False}

    def params() -> dict[str, str]:
        if state["fail"]:
            state["fail"] = False
            raise RuntimeError("token service down")
        return {}

    async with fastphx.Client(server.url, transport=transport, topic="room:a", **FAST) as client:
        await client.join_topic("room:b", params)
        events = client.pushes(events={"rejoin_failed", "rejoined"})
        state["fail"] = True
        await server.drop_connections()
        seen: dict[str, Any] = {}
        while "room:b" not in seen or seen["room:b"].event != "rejoined":
            push = await asyncio.wait_for(events.__anext__(), TIMEOUT)
            seen[push.topic] = push
            if push.event == "rejoin_failed":
                assert push.payload["fatal"] is False
                assert "token service down" in push.payload["message"]
        await settle(client, server, 2)


async def test_lifecycle_events_disconnected_then_connected(server: PhoenixTestServer,
                                                            transport: str) -> None:
    """A drop shows as disconnected (with its close code), then reconnecting, rejoined,
    and connected once every topic is rejoined."""
    async with fastphx.Client(server.url, transport=transport, topic="room:a", **FAST) as client:
        events = client.pushes()
        await server.close_connections(1011, "boom")
        seen = []
        async for push in events:
            seen.append((push.topic, push.event))
            if push.event == "disconnected":
                assert push.payload == {"code": 1011, "error": None}
            if push.event == "connected":
                assert push.payload == {"reconnects": 1}
                break
        assert seen == [("", "disconnected"), ("", "reconnecting"), ("room:a", "rejoined"),
                        ("", "connected")]
        assert client.status is Status.CONNECTED


async def test_stats_counts(server: PhoenixTestServer, transport: str,
        settle: SettleFn) -> None:
    """stats() counts frames and bytes both ways, pushes, reconnects, rejoins, buffers."""
    async with fastphx.Client(server.url, transport=transport, topic="room:a", **FAST) as client:
        before = client.stats()
        await server.push("room:a", "n", {"i": 1})
        await client.push("room:a", "echo", {"x": "y" * 100})
        after = client.stats()
        assert after["frames_sent"] == before["frames_sent"] + 1
        assert after["bytes_sent"] >= before["bytes_sent"] + 100
        assert after["frames_received"] == before["frames_received"] + 2
        assert after["pushes_received"] == before["pushes_received"] + 1
        assert after["buffered_pushes"] == 1 and after["topics"] == 1
        assert after["pending_replies"] == 0 and after["status"] == "connected"
        await server.drop_connections()
        await settle(client, server, 2)
        final = client.stats()
        assert final["reconnects"] == 1 and final["rejoins"] == 1
        assert set(final) == {
            "status", "frames_received", "bytes_received", "frames_sent", "bytes_sent",
            "pushes_received", "dropped", "malformed", "stale_dropped", "reconnects",
            "rejoins", "last_ping_rtt", "buffered_pushes", "buffered_bytes",
            "pending_replies", "topics"}


@pytest.mark.parametrize("compress", [False, True])
async def test_compression_shrinks_frames_on_the_wire(compress: bool) -> None:
    """compress=True negotiates permessage-deflate with a server that offers it, and a
    compressible 200 KB payload crosses the wire in a fraction of its size both ways."""
    server = PhoenixTestServer(port=0, compress=True)
    server.add_channel("room:*", join=lambda ctx, params: {},
                       handlers={"echo": lambda ctx, payload: payload})
    async with server, FaultProxy("127.0.0.1", server.port) as counter:  # counts bytes
        url = counter.url_for(server.url)
        async with fastphx.Client(url, topic="room:a", compress=compress, **FAST) as client:
            payload = {"text": "phoenix channels " * 12_000}
            reply = await client.push("room:a", "echo", payload)
            assert reply.response == payload
            assert bool(server.connections[0].ws.compress) is compress
    if compress:
        assert counter.bytes_up < 20_000 and counter.bytes_down < 20_000
    else:
        assert counter.bytes_up > 200_000 and counter.bytes_down > 200_000


async def test_compression_off_when_the_server_does_not_offer_it(
        server: PhoenixTestServer) -> None:
    """compress=True against a server without compression works uncompressed."""
    async with fastphx.Client(server.url, topic="room:a", compress=True, **FAST) as client:
        assert (await client.push("room:a", "echo", {"a": 1})).response == {"a": 1}
        assert not server.connections[0].ws.compress

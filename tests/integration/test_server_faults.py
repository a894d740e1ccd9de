"""fastphx.testing fault injection, idle timeout and malformed frames, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from fastphx.testing import ChannelContext, PhoenixTestServer

TIMEOUT = 5.0
ConnectPhx = Any  # the raw_phx fixture's factory (tests/integration/conftest.py)
LOBBY = "room:lobby"
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


@pytest.fixture
async def server() -> AsyncIterator[PhoenixTestServer]:
    """A server whose ``room:*`` joins succeed and whose ``echo`` replies its payload."""
    srv = PhoenixTestServer(port=0)

    async def echo(ctx: ChannelContext, payload: Any) -> Any:
        return payload

    srv.add_channel("room:*", join=lambda ctx, params: {}, handlers={"echo": echo})
    async with srv:
        yield srv


async def joined(raw_phx: ConnectPhx, server: PhoenixTestServer, topic: str = LOBBY) -> Any:
    """A raw connection joined to ``topic`` with join_ref "1"."""
    conn = await raw_phx(server.url)
    assert (await conn.join(topic, "1"))[4]["status"] == "ok"
    return conn


# ---------------------------------------------------------------------------- malformed frames


@pytest.mark.parametrize("text", [
    "not json", '["1","1","room:lobby","echo"]', "[]", '{"topic":"room:lobby","event":"x"}',
    '["1","1","room:lobby","echo",{}] trailing', '["1","1","room:lobby","echo",NaN]',
])
async def test_malformed_text_frame_closes_1011(raw_phx: ConnectPhx, server: PhoenixTestServer,
                                                text: str) -> None:
    """A malformed TEXT frame closes the WebSocket with 1011 and no Phoenix message."""
    conn = await joined(raw_phx, server)
    await conn.send_text(text)
    msg = await conn.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1011
    await server.wait_for_connections(0, timeout=TIMEOUT)


@pytest.mark.parametrize("text", [
    '[1.5,"1","room:lobby","echo",{}]', '["1","1","room:lobby","echo",{},"extra"]',
    '["1","1",7,"echo",{}]',
])
async def test_strict_mode_closes_1011_on_what_phoenix_accepts(raw_phx: ConnectPhx,
                                                               text: str) -> None:
    """strict=True closes with 1011 on frames Phoenix accepts (a float ref, 6 elements, a
    number as topic)."""
    async with PhoenixTestServer(strict=True) as srv:
        srv.add_channel("room:*", join=lambda ctx, params: {})
        conn = await joined(raw_phx, srv)
        await conn.send_text(text)
        msg = await conn.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1011


@pytest.mark.parametrize("data", [
    b"", b"\x01\x01\x01\x01\x01abcd", b"\x00\x01\x01", b"\x00\x01\x01\x0a\x04" + b"17room",
    b"\x02\x01\x01ab", b"\x00\x00\x00\x02\x01\xff\xfex",
])
async def test_malformed_binary_frame_closes_1011(raw_phx: ConnectPhx, server: PhoenixTestServer,
                                                  data: bytes) -> None:
    """A garbage, truncated or non-push BINARY frame closes the WebSocket with 1011."""
    conn = await joined(raw_phx, server)
    await conn.ws.send_bytes(data)
    msg = await conn.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1011


async def test_idle_timeout_closes_the_socket(raw_phx: ConnectPhx) -> None:
    """A socket with no inbound frame for idle_timeout is closed with 1002, as Bandit does."""
    async with PhoenixTestServer(idle_timeout=0.2) as srv:
        conn = await raw_phx(srv.url)
        msg = await conn.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1002
        await srv.wait_for_connections(0, timeout=TIMEOUT)


async def test_inbound_frames_reset_the_idle_timer(raw_phx: ConnectPhx) -> None:
    """Heartbeats arriving more often than idle_timeout keep the socket open."""
    async with PhoenixTestServer(idle_timeout=0.5) as srv:
        conn = await raw_phx(srv.url)
        loop = asyncio.get_running_loop()
        start = loop.time()
        ref = 0
        while loop.time() - start < 1.5:  # three idle periods, a heartbeat every 0.05 s
            ref += 1
            await conn.send(None, str(ref), "phoenix", "heartbeat", {})
            assert (await conn.recv())[1] == str(ref)
            await asyncio.sleep(0.05)  # pacing the client, not synchronisation
        assert srv.connection_count == 1


# ---------------------------------------------------------------------------- faults


async def test_drop_connections_aborts_without_close_frame(raw_phx: ConnectPhx,
                                                           server: PhoenixTestServer) -> None:
    """drop_connections aborts TCP: the client sees the socket end with no close frame."""
    conn = await joined(raw_phx, server)
    await server.drop_connections()
    assert server.connection_count == 0
    msg = await conn.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert conn.ws.close_code in (None, 1006)


async def test_close_connections_sends_the_code(raw_phx: ConnectPhx,
                                                server: PhoenixTestServer) -> None:
    """close_connections(code) sends a WebSocket close frame with that code and reason."""
    conn = await joined(raw_phx, server)
    other = await raw_phx(server.url)
    await server.close_connections(code=1012, reason="restart")
    for ws in (conn, other):
        msg = await ws.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1012 and msg.extra == "restart"


async def test_heartbeat_replies_can_be_switched_off(raw_phx: ConnectPhx,
                                                     server: PhoenixTestServer) -> None:
    """heartbeat_replies=False leaves heartbeats unanswered (pushes still are); True resumes."""
    conn = await joined(raw_phx, server)
    server.heartbeat_replies = False
    await conn.send(None, "2", "phoenix", "heartbeat", {})
    await conn.send("1", "3", LOBBY, "echo", {})
    assert (await conn.recv())[1] == "3"
    server.heartbeat_replies = True
    await conn.send(None, "4", "phoenix", "heartbeat", {})
    assert (await conn.recv())[1] == "4"
    assert [f.ref for _, f in server.received if f.event == "heartbeat"] == ["2", "4"]


async def test_reply_delay_delays_every_reply(raw_phx: ConnectPhx,
                                              server: PhoenixTestServer) -> None:
    """reply_delay holds each reply (heartbeats included) for at least that long."""
    conn = await joined(raw_phx, server)
    server.reply_delay = 0.2
    loop = asyncio.get_running_loop()
    frames: list[list[Any]] = [[None, "2", "phoenix", "heartbeat", {}],
                               ["1", "3", LOBBY, "echo", {}]]
    for frame in frames:
        start = loop.time()
        await conn.send(*frame)
        assert (await conn.recv())[1] == frame[1]
        assert loop.time() - start >= 0.2  # a lower bound: the reply cannot come sooner


async def test_refuse_next_refuses_then_accepts(raw_phx: ConnectPhx,
                                                server: PhoenixTestServer) -> None:
    """refuse_next(n, status) answers the next n upgrades with that HTTP status."""
    server.refuse_next(1, status=403)
    server.refuse_next(1, status=500)
    statuses = []
    for _ in range(2):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await raw_phx(server.url)
        statuses.append(info.value.status)
    assert statuses == [403, 500]
    assert server.refusals_pending == 0
    await raw_phx(server.url)
    assert server.connection_count == 1


async def test_send_raw_text_and_binary(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """send_raw writes the bytes verbatim as one TEXT or BINARY frame to every connection."""
    conn = await raw_phx(server.url)
    await server.wait_for_connections(1)
    assert await server.send_raw('["x",null,"t","e",{}]') == 1
    assert await conn.recv_raw() == '["x",null,"t","e",{}]'
    await server.send_raw(b"\xff\x00garbage", binary=True)
    assert await conn.recv_binary() == b"\xff\x00garbage"


async def test_pause_reading_stalls_replies_until_resumed(raw_phx: ConnectPhx,
                                                          server: PhoenixTestServer) -> None:
    """pause_reading stops the server reading; resume_reading answers what was sent."""
    conn = await joined(raw_phx, server)
    server.pause_reading()
    await conn.send(None, "2", "phoenix", "heartbeat", {})
    with pytest.raises(asyncio.TimeoutError):
        await conn.receive(timeout=0.2)  # nothing is read, so nothing is answered
    server.resume_reading()
    assert (await conn.recv())[1] == "2"


async def test_pause_reading_applies_to_new_connections(raw_phx: ConnectPhx,
                                                        server: PhoenixTestServer) -> None:
    """A connection accepted while reads are paused is paused too."""
    server.pause_reading()
    conn = await raw_phx(server.url)
    await conn.send("1", "1", LOBBY, "phx_join", {})
    with pytest.raises(asyncio.TimeoutError):
        await conn.receive(timeout=0.2)
    server.resume_reading()
    assert (await conn.recv())[4]["status"] == "ok"


async def test_blast_writes_count_identical_pushes(raw_phx: ConnectPhx,
                                                   server: PhoenixTestServer) -> None:
    """blast writes count copies of one push to every joiner and returns the total."""
    a = await joined(raw_phx, server)
    b = await joined(raw_phx, server)
    count = 20_000
    sent = await server.blast(LOBBY, "stream", {"i": 1}, count)
    assert sent == 2 * count
    expected = '["1",null,"room:lobby","stream",{"i":1}]'
    for conn in (a, b):
        got = [await conn.recv_raw() for _ in range(count)]
        assert got == [expected] * count
        await conn.send(None, "hb", "phoenix", "heartbeat", {})
        assert (await conn.recv())[1] == "hb"  # nothing beyond count was written


async def test_blast_join_ref_and_broadcast_options(raw_phx: ConnectPhx,
                                                    server: PhoenixTestServer) -> None:
    """blast(join_ref=...) stamps that join_ref; broadcast=True a null one."""
    conn = await joined(raw_phx, server)
    await server.blast(LOBBY, "e", {}, 2, join_ref="77")
    await server.blast(LOBBY, "e", {}, 1, broadcast=True)
    frames = [await conn.recv() for _ in range(3)]
    assert [f[0] for f in frames] == ["77", "77", None]


async def test_blast_to_a_closing_connection_stops_early(raw_phx: ConnectPhx,
                                                         server: PhoenixTestServer) -> None:
    """blast returns fewer than count when the connection goes away mid-way."""
    conn = await joined(raw_phx, server)
    task = asyncio.ensure_future(server.blast(LOBBY, "e", {"pad": "x" * 1000}, 1_000_000))
    await conn.recv_raw()  # the blast has started
    server.connections[0].abort()
    sent = await asyncio.wait_for(task, TIMEOUT)
    assert sent < 1_000_000


async def test_received_records_every_inbound_frame(raw_phx: ConnectPhx,
                                                    server: PhoenixTestServer) -> None:
    """``received`` holds (connection id, Frame) for every inbound frame, in order."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "2", LOBBY, "echo", {"n": 1})
    await conn.recv()
    conn_id = server.connections[0].id
    events = [(cid, f.event, f.ref) for cid, f in server.received]
    assert events == [(conn_id, "phx_join", "1"), (conn_id, "echo", "2")]
    assert orjson.loads(server.received[1][1].raw_payload) == {"n": 1}


async def test_stop_ends_a_connection_that_never_answers_the_close(raw_phx: ConnectPhx) -> None:
    """stop() while the server is not reading (the close handshake cannot finish) still
    returns, and the peer sees the 1012 close frame."""
    srv = PhoenixTestServer()
    await srv.start()
    conn = await raw_phx(srv.url)
    await srv.wait_for_connections(1, timeout=TIMEOUT)
    srv.pause_reading()
    await asyncio.wait_for(srv.stop(), TIMEOUT)
    msg = await conn.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1012
    assert srv.connection_count == 0

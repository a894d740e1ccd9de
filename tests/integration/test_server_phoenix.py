"""Golden transcripts: PhoenixTestServer answers exactly what a real Phoenix sent.

The frames asserted here are the ones a Phoenix 1.7.21 server (Bandit 1.11) was observed to
send (``phoenix-protocol.md``, issue #15) and, for 1.8, what its ``socket.ex`` writes since
the release named in each test. Tests of a behaviour both release lines share run against
both profiles; the others name the profile that applies. Raw aiohttp WebSockets only.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from fastphx.testing import PROFILES, ChannelContext, PhoenixTestServer, ServerReply, StopChannel

TIMEOUT = 5.0
ConnectPhx = Any  # the raw_phx fixture's factory (tests/integration/conftest.py)
RawPhx = Any  # what it returns
LOBBY = "room:lobby"
PHX_REF = re.compile(r'"phx_ref":"[A-Za-z0-9_-]{16}"')


def mask_phx_ref(text: str) -> str:
    """``text`` with every Presence phx_ref (random per run) replaced by a fixed one."""
    return PHX_REF.sub('"phx_ref":"GOw5IObhCVVV4AOx"', text)


def reference_channels(srv: PhoenixTestServer) -> None:
    """The channels of the reference Phoenix app the golden frames came from."""
    def join(ctx: ChannelContext, params: Any) -> Any:
        if ctx.topic == "room:forbidden":
            return ServerReply("error", {"reason": "unauthorized"})
        if ctx.topic.startswith("room:presence:"):
            ctx.track(params["id"], {"device": "cli", "id": params["id"]})
        return {"welcome": ctx.topic}

    def crash(ctx: ChannelContext, payload: Any) -> Any:
        raise RuntimeError("crash requested")

    def stop(ctx: ChannelContext, payload: Any) -> Any:
        raise StopChannel()

    async def stream(ctx: ChannelContext, payload: Any) -> Any:
        await ctx.push("stream", {"i": 1, "data": "xxx"})  # Jason writes small maps sorted
        return {}

    async def bad_broadcast(ctx: ChannelContext, payload: Any) -> Any:
        await ctx.broadcast("shout", [1, 2])  # not a map: the channel crashes
        return {}

    srv.add_channel("room:*", join=join, handlers={
        "echo": lambda ctx, payload: payload,
        "echo_bin": lambda ctx, payload: payload,
        "fail": lambda ctx, payload: ServerReply("error", {"code": "forbidden", "message": "nope"}),
        "crash": crash, "stop": stop, "stream": stream, "bad_broadcast": bad_broadcast,
        "nil": lambda ctx, payload: None,
    })


@pytest.fixture(params=sorted(PROFILES))
def phoenix(request: pytest.FixtureRequest) -> str:
    """The Phoenix profile ("1.7", "1.8")."""
    return str(request.param)


@pytest.fixture
async def server(phoenix: str) -> AsyncIterator[PhoenixTestServer]:
    """A started server of the ``phoenix`` profile with the reference channels."""
    srv = PhoenixTestServer(phoenix=phoenix)
    reference_channels(srv)
    async with srv:
        yield srv


async def joined(raw_phx: ConnectPhx, srv: PhoenixTestServer, topic: str = LOBBY,
                 join_ref: str = "1") -> RawPhx:
    """A raw V2 connection joined to ``topic``."""
    conn = await raw_phx(srv.url)
    assert (await conn.join(topic, join_ref))[4]["status"] == "ok"
    return conn


async def next_is_heartbeat_reply(conn: RawPhx, ref: str = "99") -> None:
    """Send a heartbeat and assert its reply is the next frame (nothing else came first)."""
    await conn.send(None, ref, "phoenix", "heartbeat", {})
    assert await conn.recv_raw() == (
        f'[null,"{ref}","phoenix","phx_reply",{{"response":{{}},"status":"ok"}}]')


# ---------------------------------------------------------------------------- reference session


async def test_reference_transcript(raw_phx: ConnectPhx, server: PhoenixTestServer,
                                    phoenix: str) -> None:
    """The frames of the reference session, byte for byte (phx_error's payload by release)."""
    conn = await raw_phx(server.url)
    await conn.send("1", "1", LOBBY, "phx_join", {})
    assert await conn.recv_raw() == (
        '["1","1","room:lobby","phx_reply",{"response":{"welcome":"room:lobby"},"status":"ok"}]')
    await conn.send(None, "2", "phoenix", "heartbeat", {})
    assert await conn.recv_raw() == '[null,"2","phoenix","phx_reply",{"response":{},"status":"ok"}]'
    await conn.send("1", "4", LOBBY, "fail", {})
    assert await conn.recv_raw() == ('["1","4","room:lobby","phx_reply",{"response":'
                                     '{"code":"forbidden","message":"nope"},"status":"error"}]')
    await server.broadcast(LOBBY, "shout", {"m": "hi"})
    assert await conn.recv_raw() == '[null,null,"room:lobby","shout",{"m":"hi"}]'
    await conn.send("1", "5", LOBBY, "stream", {})
    assert await conn.recv_raw() == '["1",null,"room:lobby","stream",{"data":"xxx","i":1}]'
    assert (await conn.recv())[1] == "5"
    await conn.send("1", "6", LOBBY, "crash", {})
    crash = '{}' if phoenix == "1.7" else '{"reason":"channel_crash"}'
    assert await conn.recv_raw() == f'["1","1","room:lobby","phx_error",{crash}]'
    await conn.send("11", "11", "room:closer", "phx_join", {})
    await conn.recv()
    await conn.send("11", "12", "room:closer", "stop", {})
    assert await conn.recv_raw() == '["11","11","room:closer","phx_close",{}]'
    await conn.send("13", "13", "room:forbidden", "phx_join", {})
    assert await conn.recv_raw() == ('["13","13","room:forbidden","phx_reply",'
                                     '{"response":{"reason":"unauthorized"},"status":"error"}]')
    await conn.send("13", "14", "room:notjoined", "echo", {})
    assert await conn.recv_raw() == ('[null,"14","room:notjoined","phx_reply",'
                                     '{"response":{"reason":"unmatched topic"},"status":"error"}]')


async def test_reference_binary_frames(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """The binary server push and the binary reply to a binary push, byte for byte."""
    conn = await joined(raw_phx, server)
    await server.push_binary(LOBBY, "bin", b"\x01\x02\x03\xff")
    assert (await conn.recv_binary()).hex() == "00010a0331726f6f6d3a6c6f62627962696e010203ff"
    await conn.ws.send_bytes(bytes.fromhex(
        "0001010a083137726f6f6d3a6c6f6262796563686f5f62696e000102feff"))
    assert (await conn.recv_binary()).hex() == "0101010a023137726f6f6d3a6c6f6262796f6b000102feff"


# ---------------------------------------------------------------------------- profile behaviours


async def test_stale_join_ref_push_1_7_delivers_1_8_drops(raw_phx: ConnectPhx,
                                                         server: PhoenixTestServer,
                                                         phoenix: str) -> None:
    """A push with an old join_ref: 1.7.21 delivers it, 1.8.3+ drops it silently."""
    conn = await joined(raw_phx, server)
    await conn.send("5", "5", LOBBY, "phx_join", {})  # rejoin: join_ref "1" is now stale
    assert (await conn.recv())[:4] == ["5", "5", LOBBY, "phx_reply"]
    assert await conn.recv_raw() == '["1","1","room:lobby","phx_close",{}]'
    await conn.send("1", "6", LOBBY, "echo", {"k": 1})
    if phoenix == "1.7":
        assert await conn.recv_raw() == (
            '["5","6","room:lobby","phx_reply",{"response":{"k":1},"status":"ok"}]')
    await next_is_heartbeat_reply(conn)


async def test_leave_with_null_join_ref(raw_phx: ConnectPhx, server: PhoenixTestServer,
                                        phoenix: str) -> None:
    """phx_leave with a null join_ref: 1.7.21 ignores it (no reply, still joined); 1.8.12+
    leaves (ok reply, phx_close)."""
    conn = await joined(raw_phx, server)
    await conn.send(None, "2", LOBBY, "phx_leave", {})
    if phoenix == "1.7":
        await next_is_heartbeat_reply(conn)
        assert server.connections[0].topics == {LOBBY: "1"}
    else:
        assert await conn.recv_raw() == (
            '["1","2","room:lobby","phx_reply",{"response":{},"status":"ok"}]')
        assert await conn.recv_raw() == '["1","1","room:lobby","phx_close",{}]'
        assert server.connections[0].topics == {}


async def test_channel_limit_1_8_only(raw_phx: ConnectPhx, server: PhoenixTestServer,
                                      phoenix: str) -> None:
    """The 101st channel on a socket: accepted by 1.7.21, refused by 1.8.9+ (limit 100)."""
    conn = await raw_phx(server.url)
    for n in range(1, 101):
        await conn.send(str(n), str(n), f"room:{n}", "phx_join", {})
    assert {(await conn.recv())[4]["status"] for _ in range(100)} == {"ok"}
    reply = await conn.join("room:101", "101")
    if phoenix == "1.7":
        assert reply[4]["status"] == "ok" and len(server.connections[0].topics) == 101
    else:
        assert reply == ["101", "101", "room:101", "phx_reply",
                         {"response": {"reason": "too many channels joined"}, "status": "error"}]


async def test_token_subprotocol_by_release(raw_phx: ConnectPhx, phoenix: str) -> None:
    """1.8 reads the token and selects "phoenix"; 1.7 selects no subprotocol and ignores it."""
    seen: list[str | None] = []

    def connect(params: dict[str, str], token: str | None) -> bool:
        seen.append(token)
        return True

    async with PhoenixTestServer(connect=connect, phoenix=phoenix) as srv:
        conn = await raw_phx(srv.url, protocols=("phoenix", "base64url.bearer.phx.c2VjcmV0"))
        if phoenix == "1.7":
            assert conn.ws.protocol is None and seen == [None]
        else:
            assert conn.ws.protocol == "phoenix" and seen == ["secret"]


def test_unknown_profile_is_a_value_error() -> None:
    """phoenix= names a known release line; anything else raises ValueError."""
    with pytest.raises(ValueError, match=r"1\.9"):
        PhoenixTestServer(phoenix="1.9")
    assert PhoenixTestServer().profile is PROFILES["1.8"]
    assert PhoenixTestServer(phoenix="1.7", max_channels=5).max_channels == 5


# ---------------------------------------------------------------------------- presence


async def test_presence_diff_comes_before_state(raw_phx: ConnectPhx,
                                                server: PhoenixTestServer) -> None:
    """The joiner gets its own presence_diff, then presence_state (21 of 21 runs)."""
    conn = await raw_phx(server.url)
    await conn.join("room:presence:x", "15", {"id": "carol"})
    meta = '{"phx_ref":"GOw5IObhCVVV4AOx","device":"cli","id":"carol"}'
    assert mask_phx_ref(await conn.recv_raw()) == (
        '[null,null,"room:presence:x","presence_diff",{"joins":{"carol":{"metas":['
        + meta + ']}},"leaves":{}}]')
    assert mask_phx_ref(await conn.recv_raw()) == (
        '["15",null,"room:presence:x","presence_state",{"carol":{"metas":[' + meta + ']}}]')


@pytest.mark.parametrize("how", ["server", "track"])
async def test_presence_state_first_on_request(raw_phx: ConnectPhx, how: str) -> None:
    """presence_order="state_first" or ctx.track(state_first=True) sends the state first."""
    order = "state_first" if how == "server" else "diff_first"
    async with PhoenixTestServer(presence_order=order) as srv:
        def join(ctx: ChannelContext, params: Any) -> Any:
            ctx.track("dave", {"d": 1}, state_first=True if how == "track" else None)
            return {}

        srv.add_channel("room:*", join=join)
        conn = await raw_phx(srv.url)
        await conn.join("room:p", "1")
        assert [(await conn.recv())[3] for _ in range(2)] == ["presence_state", "presence_diff"]


# ---------------------------------------------------------------------------- transport


async def open_socket(srv: PhoenixTestServer) -> tuple[asyncio.StreamReader,
                                                        asyncio.StreamWriter]:
    """A WebSocket upgraded by hand (to send frame headers without their payload)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {srv.path}?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


def frame_header(length: int, *, fin: bool = True, opcode: int = 1) -> bytes:
    """A masked client frame header announcing ``length`` payload bytes (mask all zero)."""
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | 127)) + length.to_bytes(8, "big") + bytes(4)


async def read_close_code(reader: asyncio.StreamReader) -> int:
    """Read the server's next frame; assert it is a close frame and return its code."""
    first, size = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    assert first == 0x88 and size < 126
    body = await asyncio.wait_for(reader.readexactly(size), TIMEOUT)
    return int.from_bytes(body[:2], "big")


async def test_message_up_to_8_000_000_bytes_is_served(raw_phx: ConnectPhx,
                                                       server: PhoenixTestServer) -> None:
    """A frame of exactly 8,000,000 bytes is within Phoenix's (Bandit's) limit."""
    conn = await joined(raw_phx, server)
    head = b'["1","2","room:lobby","echo",{"x":"'
    await conn.send_text(head + b"x" * (8_000_000 - len(head) - 3) + b'"}]')
    assert (await conn.recv())[4]["status"] == "ok"


@pytest.mark.parametrize("fragmented", [False, True])
async def test_message_over_8_000_000_bytes_closes_1009(server: PhoenixTestServer,
                                                        fragmented: bool) -> None:
    """A frame, or a fragmented message, over 8,000,000 bytes: the socket closes with 1009."""
    reader, writer = await open_socket(server)
    try:
        if fragmented:  # 5,000,000 bytes, then a continuation announcing 3,000,001 more
            writer.write(frame_header(5_000_000, fin=False) + b" " * 5_000_000)
            writer.write(frame_header(3_000_001, opcode=0))
        else:
            writer.write(frame_header(8_000_001))
        assert await read_close_code(reader) == 1009
    finally:
        writer.close()


async def test_frame_limit_is_configurable(raw_phx: ConnectPhx) -> None:
    """max_frame_size sets the limit."""
    async with PhoenixTestServer(max_frame_size=100) as srv:
        conn = await raw_phx(srv.url)
        await conn.send_text('[null,"1","phoenix","heartbeat",{"p":"' + "x" * 100 + '"}]')
        msg = await conn.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1009


async def test_idle_timeout_closes_1002(raw_phx: ConnectPhx, phoenix: str) -> None:
    """An idle socket is closed with 1002, as Bandit does."""
    async with PhoenixTestServer(phoenix=phoenix, idle_timeout=0.1) as srv:
        conn = await raw_phx(srv.url)
        msg = await conn.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1002


async def test_shutdown_closes_1012(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """stop() closes every socket with 1012, as Phoenix does when it shuts down."""
    conn = await joined(raw_phx, server)
    await server.stop()
    msg = await conn.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1012


@pytest.mark.parametrize(("query", "status"), [
    ("vsn=2.0.0&vsn=3.0.0", 403), ("vsn=3.0.0&vsn=2.0.0", 101),
])
async def test_repeated_vsn_the_last_counts(server: PhoenixTestServer, query: str,
                                            status: int) -> None:
    """Two vsn parameters: the last one decides the serializer (or the 403)."""
    async with aiohttp.ClientSession() as session:
        if status == 403:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(f"{server.url}?{query}")
            assert info.value.status == 403
        else:
            async with session.ws_connect(f"{server.url}?{query}") as ws:
                await ws.send_str('[null,"1","phoenix","heartbeat",{}]')
                assert (await ws.receive_str(timeout=TIMEOUT)).startswith('[null,"1"')


async def test_repeated_connect_param_the_last_counts(phoenix: str) -> None:
    """?api_key=a&api_key=b reaches connect as api_key "b"."""
    seen: list[dict[str, str]] = []
    async with PhoenixTestServer(phoenix=phoenix,
                                 connect=lambda params, token: seen.append(params) or True) as srv:
        async with aiohttp.ClientSession() as session, session.ws_connect(
                f"{srv.url}?api_key=a&vsn=2.0.0&api_key=b"):
            pass
    assert seen == [{"api_key": "b"}]


@pytest.mark.parametrize("vsn", [None, "1.0.0"])
async def test_v1_serializer_golden(raw_phx: ConnectPhx, server: PhoenixTestServer,
                                    vsn: str | None) -> None:
    """No vsn or vsn=1.0.0: the V1 object format, as Phoenix serves it."""
    conn = await raw_phx(server.url, vsn=vsn)
    await conn.send_text('{"topic":"room:v1","event":"phx_join","payload":{},"ref":"1"}')
    assert await conn.recv_raw() == (
        '{"event":"phx_reply","payload":{"response":{"welcome":"room:v1"},"status":"ok"},'
        '"ref":"1","topic":"room:v1"}')
    await server.broadcast("room:v1", "shout", {"m": "hi"})
    assert await conn.recv_raw() == (
        '{"event":"shout","payload":{"m":"hi"},"ref":null,"topic":"room:v1"}')
    assert await server.push_binary("room:v1", "bin", b"\x01") == 0  # V1 has no binary frames
    await conn.send_text('{"topic":"room:v1","event":"echo","payload":{"a":1},"ref":"2"}')
    assert orjson.loads(await conn.recv_raw())["payload"] == {"response": {"a": 1},
                                                              "status": "ok"}
    assert server.connections[0].vsn == 1


async def test_v1_message_without_ref_closes_1011(raw_phx: ConnectPhx,
                                                 server: PhoenixTestServer) -> None:
    """A V1 object without one of topic/event/payload/ref crashes the socket: 1011."""
    conn = await raw_phx(server.url, vsn=None)
    await conn.send_text('{"topic":"room:v1","event":"phx_join","payload":{}}')
    msg = await conn.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1011


# ---------------------------------------------------------------------------- lenient input


@pytest.mark.parametrize(("sent", "answer"), [
    ('["1","1","room:lobby","phx_join",{},"extra"]', '["1","1","room:lobby","phx_reply",'),
    ('["1",1.5,"room:lobby","phx_join",{}]', '["1",1.5,"room:lobby","phx_reply",'),
    ('["1",{"r":1},"room:lobby","phx_join",{}]', '["1",{"r":1},"room:lobby","phx_reply",'),
    ('["1",true,"room:lobby","phx_join",{}]', '["1",true,"room:lobby","phx_reply",'),
    ('["1","1",7,"phx_join",{}]', '[null,"1",7,"phx_reply",{"response":{"reason":"unmatched'),
])
async def test_lenient_frames_are_accepted_and_echoed(raw_phx: ConnectPhx,
                                                      server: PhoenixTestServer, sent: str,
                                                      answer: str) -> None:
    """Phoenix accepts 6 elements, float/object/boolean refs and a number as topic, and echoes
    them."""
    conn = await raw_phx(server.url)
    await conn.send_text(sent)
    assert (await conn.recv_raw()).startswith(answer)


async def test_number_as_event_reaches_the_wildcard_handler(raw_phx: ConnectPhx,
                                                            phoenix: str) -> None:
    """A number as event is accepted; a "*" handler gets it in ctx.event and it is echoed."""
    async with PhoenixTestServer(phoenix=phoenix) as srv:
        async def any_event(ctx: ChannelContext, payload: Any) -> Any:
            await ctx.push(ctx.event, {"event": ctx.event})
            return {"event": ctx.event}

        srv.add_channel("room:*", join=lambda ctx, params: {}, handlers={"*": any_event})
        conn = await joined(raw_phx, srv)
        await conn.send_text('["1","2","room:lobby",42,{}]')
        assert await conn.recv_raw() == '["1",null,"room:lobby",42,{"event":42}]'
        assert await conn.recv_raw() == (
            '["1","2","room:lobby","phx_reply",{"response":{"event":42},"status":"ok"}]')
        await conn.send("1", "3", LOBBY, "hello", {})
        assert (await conn.recv())[3:] == ["hello", {"event": "hello"}]


# ---------------------------------------------------------------------------- JSON details


async def test_big_integers_stay_exact(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """Integers beyond 2^64 are echoed exactly."""
    conn = await joined(raw_phx, server)
    await conn.send_text('["1","2","room:lobby","echo",{"n":18446744073709551617}]')
    assert await conn.recv_raw() == (
        '["1","2","room:lobby","phx_reply",{"response":{"n":18446744073709551617},"status":"ok"}]')


async def test_duplicate_keys_the_first_is_kept(raw_phx: ConnectPhx,
                                                server: PhoenixTestServer) -> None:
    """Of duplicate keys in a client payload, the first value is kept."""
    conn = await joined(raw_phx, server)
    await conn.send_text('["1","2","room:lobby","echo",{"a":1,"a":2}]')
    assert await conn.recv_raw() == (
        '["1","2","room:lobby","phx_reply",{"response":{"a":1},"status":"ok"}]')


async def test_map_keys_are_written_sorted(raw_phx: ConnectPhx,
                                          server: PhoenixTestServer) -> None:
    """Map keys come out sorted, as Jason writes maps of at most 32 entries (a larger map
    is in hash order in Phoenix: sorted here too, never the order it was built in)."""
    conn = await joined(raw_phx, server)
    await conn.send_text('["1","2","room:lobby","echo",{"b":{"z":1,"y":2},"a":1}]')
    assert await conn.recv_raw() == (
        '["1","2","room:lobby","phx_reply",{"response":{"a":1,"b":{"y":2,"z":1}},"status":"ok"}]')
    big = {f"k{n:02d}": n for n in range(33, 0, -1)}
    await conn.send("1", "3", LOBBY, "echo", big)
    assert list((await conn.recv())[4]["response"]) == sorted(big)


async def test_nil_reply_is_null_when_asked(raw_phx: ConnectPhx, phoenix: str) -> None:
    """none_reply="null": a handler's None goes out as "response":null, as Phoenix's nil
    reply; the default keeps {} (Phoenix's {:reply, :ok, socket})."""
    for none_reply, response in (("null", "null"), ("{}", "{}")):
        async with PhoenixTestServer(phoenix=phoenix, none_reply=none_reply) as srv:
            reference_channels(srv)
            conn = await joined(raw_phx, srv)
            await conn.send("1", "2", LOBBY, "nil", {})
            assert await conn.recv_raw() == (
                f'["1","2","room:lobby","phx_reply",{{"response":{response},"status":"ok"}}]')


async def test_broadcast_of_a_non_map_crashes_the_channel(raw_phx: ConnectPhx,
                                                          server: PhoenixTestServer,
                                                          phoenix: str) -> None:
    """ctx.broadcast of a non-map payload crashes the channel (phx_error)."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "2", LOBBY, "bad_broadcast", {})
    assert (await conn.recv())[3:] == ["phx_error", PROFILES[phoenix].crash_payload]


async def test_server_push_and_broadcast_reject_non_maps(server: PhoenixTestServer) -> None:
    """server.push/broadcast/blast/push_many raise TypeError for a non-map payload."""
    for send in (server.push(LOBBY, "e", [1]), server.broadcast(LOBBY, "e", "x"),
                 server.blast(LOBBY, "e", 1, 5), server.push_many(LOBBY, "e", [{}, [2]])):
        with pytest.raises(TypeError, match="dict"):
            await send


async def test_handlers_see_the_event(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """ctx.event is the event being handled ("phx_join" in a join handler)."""
    events: asyncio.Queue[Any] = asyncio.Queue()

    def record(ctx: ChannelContext, payload: Any) -> Any:
        events.put_nowait(ctx.event)
        return {}

    server.add_channel("ev:*", join=record, handlers={"*": record})
    conn = await joined(raw_phx, server, "ev:1")
    await conn.send("1", "2", "ev:1", "anything", {})
    await conn.recv()
    assert [events.get_nowait(), events.get_nowait()] == ["phx_join", "anything"]


@pytest.mark.parametrize("phx_server_options", [{"phoenix": "1.7"}, {}], ids=["1.7", "default"])
async def test_phx_server_fixture_takes_a_profile(phx_server: PhoenixTestServer,
                                                  phx_server_options: dict[str, Any]) -> None:
    """The plugin's phx_server is built with phx_server_options (e.g. a Phoenix profile)."""
    assert phx_server.profile.name == phx_server_options.get("phoenix", "1.8")

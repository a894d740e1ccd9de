"""fastphx.testing.PhoenixTestServer protocol semantics, over real loopback sockets.

Every test talks to the server with a raw aiohttp WebSocket (``raw_phx``), never the fastphx
client, and asserts frames byte for byte where the protocol notes have golden frames.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from fastphx import RawJSON
from fastphx.testing import (
    NO_REPLY,
    ChannelContext,
    PhoenixTestServer,
    ServerReply,
    StopChannel,
    demo_server,
)

TIMEOUT = 5.0
ConnectPhx = Any  # the raw_phx fixture's factory (tests/integration/conftest.py)

LOBBY = "room:lobby"


@pytest.fixture
async def server() -> AsyncIterator[PhoenixTestServer]:
    """A server with ``room:*`` (echo, fail, crash, stop, stop_reply, later) and refused joins."""
    srv = PhoenixTestServer(port=0)
    later: asyncio.Queue[ChannelContext] = asyncio.Queue()
    srv.later = later  # type: ignore[attr-defined]

    @srv.join("room:*")
    def join(ctx: ChannelContext, params: Any) -> Any:
        if ctx.topic == "room:forbidden":
            return ServerReply("error", {"reason": "unauthorized"})
        if ctx.topic == "room:boom":
            raise RuntimeError("join blew up")
        return {"welcome": ctx.topic}

    @srv.handle_in("room:*", "echo")
    async def echo(ctx: ChannelContext, payload: Any) -> Any:
        return payload

    @srv.handle_in("room:*", "fail")
    def fail(ctx: ChannelContext, payload: Any) -> Any:
        return ServerReply("error", {"code": "forbidden", "message": "nope"})

    @srv.handle_in("room:*", "crash")
    def crash(ctx: ChannelContext, payload: Any) -> Any:
        raise ValueError("handler crashed")

    @srv.handle_in("room:*", "stop")
    def stop(ctx: ChannelContext, payload: Any) -> Any:
        raise StopChannel()

    @srv.handle_in("room:*", "stop_reply")
    def stop_reply(ctx: ChannelContext, payload: Any) -> Any:
        raise StopChannel({"bye": True})

    @srv.handle_in("room:*", "later")
    def later_handler(ctx: ChannelContext, payload: Any) -> Any:
        later.put_nowait(ctx)
        return NO_REPLY

    async with srv:
        yield srv


async def joined(raw_phx: ConnectPhx, server: PhoenixTestServer, topic: str = LOBBY) -> Any:
    """A raw connection joined to ``topic`` with join_ref "1"."""
    conn = await raw_phx(server.url)
    reply = await conn.join(topic, "1")
    assert reply[4]["status"] == "ok"
    return conn


# ---------------------------------------------------------------------------- connect


@pytest.mark.parametrize("vsn", ["2.1.0", "3.0.0", "abc", "2.0"])
async def test_unsupported_vsn_is_refused_with_403(server: PhoenixTestServer, vsn: str) -> None:
    """An upgrade asking for a serializer version Phoenix has not (not ~> 1.0.0 or ~> 2.0.0)
    is answered HTTP 403."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(server.url, params={"vsn": vsn})
    assert info.value.status == 403
    assert server.total_connections == 0


async def test_connect_callback_gets_params_without_vsn(raw_phx: ConnectPhx) -> None:
    """The connect callback and the connection see the query params minus vsn."""
    seen: list[Any] = []

    async def connect(params: dict[str, str], token: str | None) -> bool:
        seen.append((params, token))
        return True

    async with PhoenixTestServer(connect=connect) as srv:
        await raw_phx(srv.url, params={"api_key": "k1", "device": "cli"})
        await srv.wait_for_connections(1, timeout=TIMEOUT)
        assert seen == [({"api_key": "k1", "device": "cli"}, None)]
        assert srv.connections[0].params == {"api_key": "k1", "device": "cli"}


async def test_refused_connect_answers_403(raw_phx: ConnectPhx) -> None:
    """A connect callback returning False answers the upgrade with HTTP 403."""
    async with PhoenixTestServer(connect=lambda params, token: params.get("k") == "ok") as srv:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await raw_phx(srv.url, params={"k": "bad"})
        assert info.value.status == 403
        await raw_phx(srv.url, params={"k": "ok"})
        assert srv.connection_count == 1


async def test_connect_callback_raising_answers_500(raw_phx: ConnectPhx) -> None:
    """A connect callback that raises answers HTTP 500 (Phoenix's crashed connect)."""
    def connect(params: dict[str, str], token: str | None) -> bool:
        raise RuntimeError("boom")

    async with PhoenixTestServer(connect=connect) as srv:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await raw_phx(srv.url)
        assert info.value.status == 500


@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
async def test_token_subprotocol_is_decoded_and_phoenix_selected(
        raw_phx: ConnectPhx, alphabet: str) -> None:
    """A ``base64url.bearer.phx.`` token (either alphabet, no padding) reaches connect and
    the server selects the ``phoenix`` subprotocol."""
    token = "tok?>>en~~1"  # encodes to text with '/' and '+' in the standard alphabet
    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    encoded = encode(token.encode()).decode().rstrip("=")
    seen: list[str | None] = []

    def connect(params: dict[str, str], token: str | None) -> bool:
        seen.append(token)
        return True

    async with PhoenixTestServer(connect=connect) as srv:
        conn = await raw_phx(srv.url, protocols=("phoenix", "base64url.bearer.phx." + encoded))
        assert conn.ws.protocol == "phoenix"
        assert seen == [token]
        assert srv.connections[0].token == token


# ---------------------------------------------------------------------------- heartbeat, join


async def test_heartbeat_is_answered_on_topic_phoenix(raw_phx: ConnectPhx,
                                                      server: PhoenixTestServer) -> None:
    """A heartbeat gets an ok reply with an empty response and the request's ref."""
    conn = await raw_phx(server.url)
    await conn.send(None, "2", "phoenix", "heartbeat", {})
    assert await conn.recv_raw() == '[null,"2","phoenix","phx_reply",{"response":{},"status":"ok"}]'


async def test_join_ok_reply_is_the_golden_frame(raw_phx: ConnectPhx,
                                                 server: PhoenixTestServer) -> None:
    """A join answers ok with the handler's response, counted in ``joins``."""
    conn = await raw_phx(server.url)
    await conn.send("1", "1", LOBBY, "phx_join", {"p": 1})
    assert await conn.recv_raw() == (
        '["1","1","room:lobby","phx_reply",{"response":{"welcome":"room:lobby"},"status":"ok"}]')
    assert server.joins[LOBBY] == 1
    assert server.connections[0].topics == {LOBBY: "1"}
    frame = await server.wait_for_frame(LOBBY, "phx_join", timeout=TIMEOUT)
    assert frame.payload == {"p": 1}


async def test_join_error_reply(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """A join handler returning ServerReply("error", ...) answers a join error reply."""
    conn = await raw_phx(server.url)
    await conn.send("13", "13", "room:forbidden", "phx_join", {})
    assert await conn.recv_raw() == ('["13","13","room:forbidden","phx_reply",'
                                     '{"response":{"reason":"unauthorized"},"status":"error"}]')
    assert server.joins["room:forbidden"] == 0


async def test_join_crash_answers_join_crashed(raw_phx: ConnectPhx,
                                               server: PhoenixTestServer) -> None:
    """A join handler that raises answers {"reason": "join crashed"}."""
    conn = await raw_phx(server.url)
    reply = await conn.join("room:boom", "3")
    assert reply == ["3", "3", "room:boom", "phx_reply",
                     {"response": {"reason": "join crashed"}, "status": "error"}]


async def test_join_unmatched_topic(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """Joining a topic no channel matches answers "unmatched topic" with a null join_ref."""
    conn = await raw_phx(server.url)
    reply = await conn.join("nothing:here", "4")
    assert reply == [None, "4", "nothing:here", "phx_reply",
                     {"response": {"reason": "unmatched topic"}, "status": "error"}]


async def test_duplicate_join_closes_the_old_join(raw_phx: ConnectPhx,
                                                  server: PhoenixTestServer) -> None:
    """Joining a joined topic again answers the new join, then phx_close for the old one."""
    conn = await joined(raw_phx, server)
    await conn.send("5", "5", LOBBY, "phx_join", {})
    assert (await conn.recv())[:4] == ["5", "5", LOBBY, "phx_reply"]
    assert await conn.recv() == ["1", "1", LOBBY, "phx_close", {}]
    assert server.connections[0].topics == {LOBBY: "5"}
    assert server.joins[LOBBY] == 2


async def test_max_channels_exceeded_is_a_join_error(raw_phx: ConnectPhx) -> None:
    """A join beyond max_channels answers {"reason": "too many channels joined"}."""
    async with PhoenixTestServer(max_channels=1) as srv:
        srv.add_channel("room:*", join=lambda ctx, params: None)
        conn = await raw_phx(srv.url)
        assert (await conn.join("room:a", "1"))[4] == {"response": {}, "status": "ok"}
        assert await conn.join("room:b", "2") == [
            "2", "2", "room:b", "phx_reply",
            {"response": {"reason": "too many channels joined"}, "status": "error"}]


# ---------------------------------------------------------------------------- pushes


async def test_push_ok_reply_echoes_the_ref(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """A push's ok reply carries the channel's join_ref, the push's ref and the response."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "7", LOBBY, "echo", {"a": [1, "é"]})
    assert await conn.recv() == ["1", "7", LOBBY, "phx_reply",
                                 {"response": {"a": [1, "é"]}, "status": "ok"}]


async def test_push_error_reply_is_the_golden_frame(raw_phx: ConnectPhx,
                                                    server: PhoenixTestServer) -> None:
    """A handler returning ServerReply("error", ...) answers an error reply."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "4", LOBBY, "fail", {})
    assert await conn.recv_raw() == ('["1","4","room:lobby","phx_reply",{"response":'
                                     '{"code":"forbidden","message":"nope"},"status":"error"}]')


async def test_integer_ref_is_echoed_as_an_integer(raw_phx: ConnectPhx,
                                                   server: PhoenixTestServer) -> None:
    """A push with an integer ref gets the integer back, not a string."""
    conn = await joined(raw_phx, server)
    await conn.send_text('["1",2,"room:lobby","echo",{}]')
    assert await conn.recv_raw() == '["1",2,"room:lobby","phx_reply",{"response":{},"status":"ok"}]'


async def test_push_to_unjoined_topic_is_unmatched(raw_phx: ConnectPhx,
                                                   server: PhoenixTestServer) -> None:
    """A push to a topic not joined answers "unmatched topic" with a null join_ref."""
    conn = await raw_phx(server.url)
    await conn.send("13", "14", "room:notjoined", "echo", {})
    assert await conn.recv_raw() == ('[null,"14","room:notjoined","phx_reply",'
                                     '{"response":{"reason":"unmatched topic"},"status":"error"}]')


async def test_stale_join_ref_is_ignored(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """A push whose join_ref is not the channel's current one gets no reply at all."""
    conn = await joined(raw_phx, server)
    await conn.send("old", "8", LOBBY, "echo", {})
    await conn.send(None, "9", "phoenix", "heartbeat", {})
    assert (await conn.recv())[1] == "9"  # the heartbeat reply is the next frame


async def test_null_join_ref_push_is_accepted(raw_phx: ConnectPhx,
                                              server: PhoenixTestServer) -> None:
    """A push with a null join_ref reaches the joined channel (the protocol allows it)."""
    conn = await joined(raw_phx, server)
    await conn.send(None, "8", LOBBY, "echo", {"k": 1})
    assert await conn.recv() == ["1", "8", LOBBY, "phx_reply",
                                 {"response": {"k": 1}, "status": "ok"}]


async def test_leave_replies_ok_then_closes(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """phx_leave answers ok, then phx_close for the join; the topic is then unmatched."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "2", LOBBY, "phx_leave", {})
    assert await conn.recv() == ["1", "2", LOBBY, "phx_reply", {"response": {}, "status": "ok"}]
    assert await conn.recv() == ["1", "1", LOBBY, "phx_close", {}]
    await conn.send("1", "3", LOBBY, "echo", {})
    assert (await conn.recv())[4]["response"] == {"reason": "unmatched topic"}


async def test_leave_of_an_unjoined_topic_replies_ok(raw_phx: ConnectPhx,
                                                     server: PhoenixTestServer) -> None:
    """phx_leave of a topic that is not joined answers ok and sends no phx_close."""
    conn = await raw_phx(server.url)
    await conn.send("3", "4", "room:x", "phx_leave", {})
    assert await conn.recv() == ["3", "4", "room:x", "phx_reply",
                                 {"response": {}, "status": "ok"}]


async def test_channel_crash_sends_phx_error_and_removes_channel(
        raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """A raising handler: phx_error (ref = join_ref; 1.8's payload), then the topic is
    unmatched."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "5", LOBBY, "crash", {})
    assert await conn.recv_raw() == (
        '["1","1","room:lobby","phx_error",{"reason":"channel_crash"}]')
    await conn.send("1", "6", LOBBY, "echo", {})
    assert (await conn.recv())[4]["response"] == {"reason": "unmatched topic"}
    assert server.connections[0].topics == {}


async def test_unhandled_event_crashes_the_channel(raw_phx: ConnectPhx,
                                                  server: PhoenixTestServer) -> None:
    """An event with no handler crashes the channel, as a missing handle_in clause does."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "5", LOBBY, "no_such_event", {})
    assert await conn.recv() == ["1", "1", LOBBY, "phx_error", {"reason": "channel_crash"}]


async def test_stop_channel_sends_phx_close(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """Raising StopChannel closes the channel with phx_close (ref = join_ref)."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "5", LOBBY, "stop", {})
    assert await conn.recv() == ["1", "1", LOBBY, "phx_close", {}]
    assert server.connections[0].topics == {}


async def test_stop_channel_with_reply_replies_first(raw_phx: ConnectPhx,
                                                     server: PhoenixTestServer) -> None:
    """StopChannel(reply) sends the reply, then phx_close."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "5", LOBBY, "stop_reply", {})
    assert await conn.recv() == ["1", "5", LOBBY, "phx_reply",
                                 {"response": {"bye": True}, "status": "ok"}]
    assert await conn.recv() == ["1", "1", LOBBY, "phx_close", {}]


async def test_no_reply_then_late_reply(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """NO_REPLY sends nothing; ctx.reply(ref, ...) later answers that ref."""
    conn = await joined(raw_phx, server)
    await conn.send("1", "5", LOBBY, "later", {})
    ctx: ChannelContext = await asyncio.wait_for(server.later.get(), TIMEOUT)  # type: ignore[attr-defined]
    await conn.send(None, "6", "phoenix", "heartbeat", {})
    assert (await conn.recv())[1] == "6"  # nothing was sent for ref 5
    await ctx.reply(ctx.ref, "ok", {"late": 1})
    assert await conn.recv() == ["1", "5", LOBBY, "phx_reply",
                                 {"response": {"late": 1}, "status": "ok"}]


async def test_ctx_stop_and_crash(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """ctx.stop() sends phx_close and ctx.crash() phx_error, outside any handler."""
    conn = await joined(raw_phx, server)
    await conn.join("room:two", "2")
    await conn.send("1", "3", LOBBY, "later", {})
    await conn.send("2", "4", "room:two", "later", {})
    first: ChannelContext = await asyncio.wait_for(server.later.get(), TIMEOUT)  # type: ignore[attr-defined]
    second: ChannelContext = await asyncio.wait_for(server.later.get(), TIMEOUT)  # type: ignore[attr-defined]
    await first.stop()
    assert await conn.recv() == ["1", "1", LOBBY, "phx_close", {}]
    await second.crash()
    assert await conn.recv() == ["2", "2", "room:two", "phx_error", {"reason": "channel_crash"}]


async def test_raw_json_response_is_spliced(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """A RawJSON response is written verbatim inside the reply."""
    server.add_channel("raw:x", join=lambda ctx, params: RawJSON(b'{"pre":"encoded"}'))
    conn = await raw_phx(server.url)
    await conn.send("1", "1", "raw:x", "phx_join", {})
    assert await conn.recv_raw() == (
        '["1","1","raw:x","phx_reply",{"response":{"pre":"encoded"},"status":"ok"}]')


# ---------------------------------------------------------------------------- binary


async def test_binary_push_is_recorded(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """A binary client push (golden bytes) is decoded and recorded as a binary Frame."""
    conn = await joined(raw_phx, server)
    golden = "0001010a083137726f6f6d3a6c6f6262796563686f5f62696e000102feff"
    await conn.ws.send_bytes(bytes.fromhex(golden))
    frame = await server.wait_for_frame(LOBBY, "echo_bin", timeout=TIMEOUT)
    assert frame.binary and frame.payload == b"\x00\x01\x02\xfe\xff" and frame.ref == "7"


async def test_binary_echo_reply_is_the_golden_frame(raw_phx: ConnectPhx,
                                                     server: PhoenixTestServer) -> None:
    """Echoing a binary push answers the golden binary reply (kind 1)."""
    conn = await joined(raw_phx, server)
    push = bytes.fromhex("0001010a04") + b"17room:lobbyecho" + bytes.fromhex("000102feff")
    await conn.ws.send_bytes(push)
    assert (await conn.recv_binary()).hex() == "0101010a023137726f6f6d3a6c6f6262796f6b000102feff"


async def test_server_binary_push_and_broadcast(raw_phx: ConnectPhx,
                                               server: PhoenixTestServer) -> None:
    """push_binary sends kind 0 with the join_ref; broadcast_binary sends kind 2."""
    conn = await joined(raw_phx, server)
    assert await server.push_binary(LOBBY, "bin", b"\x01\x02\x03\xff") == 1
    assert (await conn.recv_binary()).hex() == "00010a0331726f6f6d3a6c6f62627962696e010203ff"
    assert await server.broadcast_binary(LOBBY, "b", b"\x09") == 1
    assert await conn.recv_binary() == b"\x02\x0a\x01room:lobbyb\x09"


# ---------------------------------------------------------------------------- server sends


async def test_server_push_and_broadcast(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """server.push stamps each joiner's join_ref; server.broadcast a null join_ref."""
    conn = await joined(raw_phx, server)
    assert await server.push(LOBBY, "stream", {"data": "xxx", "i": 1}) == 1
    assert await conn.recv_raw() == '["1",null,"room:lobby","stream",{"data":"xxx","i":1}]'
    assert await server.broadcast(LOBBY, "shout", {"m": "hi"}) == 1
    assert await conn.recv_raw() == '[null,null,"room:lobby","shout",{"m":"hi"}]'
    assert await server.push("room:nobody", "x", {}) == 0


async def test_ctx_push_and_broadcast_reach_the_right_clients(
        raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """ctx.push goes to the pushing client only; ctx.broadcast to every joiner."""
    sent: list[ChannelContext] = []

    async def announce(ctx: ChannelContext, payload: Any) -> Any:
        sent.append(ctx)
        await ctx.push("private", {"to": "me"})
        await ctx.broadcast("public", {"to": "all"})
        return NO_REPLY

    server.add_channel("room:*", handlers={"announce": announce})
    a = await joined(raw_phx, server)
    b = await joined(raw_phx, server)
    await a.send("1", "2", LOBBY, "announce", {})
    assert await a.recv() == ["1", None, LOBBY, "private", {"to": "me"}]
    assert await a.recv() == [None, None, LOBBY, "public", {"to": "all"}]
    assert await b.recv() == [None, None, LOBBY, "public", {"to": "all"}]


async def test_push_many_keeps_order(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """push_many writes one push per payload, in order, with the joiner's join_ref."""
    conn = await joined(raw_phx, server)
    assert await server.push_many(LOBBY, "n", ({"i": i} for i in range(3000))) == 3000
    for i in range(3000):
        assert await conn.recv() == ["1", None, LOBBY, "n", {"i": i}]


# ---------------------------------------------------------------------------- presence


async def test_presence_state_and_diffs(raw_phx: ConnectPhx) -> None:
    """ctx.track: every joiner gets a diff, the joiner then its presence_state (Phoenix's
    order); a leave sends a leave diff to those who remain."""
    async with PhoenixTestServer() as srv:
        def join(ctx: ChannelContext, params: Any) -> Any:
            ctx.track(params["id"], {"device": "cli", "id": params["id"]})
            return {}

        srv.add_channel("room:presence:*", join=join)
        topic = "room:presence:x"
        alice = await raw_phx(srv.url)
        assert (await alice.join(topic, "1", {"id": "alice"}))[3] == "phx_reply"
        diff = await alice.recv()
        assert diff[:4] == [None, None, topic, "presence_diff"]
        meta = diff[4]["joins"]["alice"]["metas"][0]
        assert meta["device"] == "cli" and len(meta["phx_ref"]) == 16
        assert next(iter(meta)) == "phx_ref"
        assert await alice.recv() == ["1", None, topic, "presence_state",
                                      {"alice": {"metas": [meta]}}]
        bob = await raw_phx(srv.url)
        await bob.join(topic, "1", {"id": "bob"})
        assert (await bob.recv())[3] == "presence_diff"
        assert set((await bob.recv())[4]) == {"alice", "bob"}
        diff = (await alice.recv())[4]
        assert list(diff["joins"]) == ["bob"]
        await bob.send("1", "2", topic, "phx_leave", {})
        leave = (await alice.recv())[4]
        assert leave["joins"] == {} and list(leave["leaves"]) == ["bob"]
        assert set(srv.presence_list(topic)) == {"alice"}


async def test_server_track_and_untrack(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """server.track / server.untrack send presence_diff joins / leaves to joiners."""
    conn = await joined(raw_phx, server)
    server.track(LOBBY, "svc", {"kind": "bot"})
    diff = await conn.recv()
    assert diff[3] == "presence_diff" and diff[4]["joins"]["svc"]["metas"][0]["kind"] == "bot"
    server.untrack(LOBBY, "svc")
    assert (await conn.recv())[4]["leaves"]["svc"]["metas"][0]["kind"] == "bot"
    assert server.presence_list(LOBBY) == {}


# ---------------------------------------------------------------------------- lifecycle


async def test_counters_and_wait_for(raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """connection_count, total_connections and wait_for follow connects and closes."""
    first = await raw_phx(server.url)
    await raw_phx(server.url)
    await server.wait_for_connections(2, timeout=TIMEOUT)
    await first.ws.close()
    await server.wait_for_connections(1, timeout=TIMEOUT)
    assert server.total_connections == 2
    with pytest.raises(TimeoutError):
        await server.wait_for(lambda: False, timeout=0.05)


async def test_restart_keeps_the_port_and_stop_refuses(raw_phx: ConnectPhx,
                                                       server: PhoenixTestServer) -> None:
    """stop() closes connections with 1012 (as Phoenix's shutdown) and refuses TCP;
    restart() listens on the same port."""
    conn = await raw_phx(server.url)
    port = server.port
    await server.stop()
    msg = await conn.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1012
    with pytest.raises(aiohttp.ClientConnectorError):
        await raw_phx(server.url)
    await server.restart()
    assert server.port == port
    await raw_phx(server.url)
    assert server.connection_count == 1


async def test_abrupt_stop_and_restart_drop_without_a_close_frame(
        raw_phx: ConnectPhx, server: PhoenixTestServer) -> None:
    """stop(abrupt=True) and restart(abrupt=True) drop connections with no close frame."""
    conn = await raw_phx(server.url)
    await server.restart(abrupt=True)
    assert (await conn.receive()).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    conn = await raw_phx(server.url)
    await server.stop(abrupt=True)
    assert (await conn.receive()).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


def test_run_in_thread_serves_from_its_own_loop() -> None:
    """run_in_thread yields a URL served by a loop in another thread; submit() runs there."""
    srv = PhoenixTestServer()
    srv.add_channel("room:*", join=lambda ctx, params: {"ok": 1})

    async def client(url: str) -> Any:
        async with aiohttp.ClientSession() as session, session.ws_connect(url + "?vsn=2.0.0") as ws:
            await ws.send_str('["1","1","room:t","phx_join",{}]')
            return await ws.receive_str(timeout=TIMEOUT)

    with srv.run_in_thread() as url:
        assert url == srv.url
        reply = asyncio.run(client(url))
        assert srv.submit(srv.push("room:none", "e", {})).result(TIMEOUT) == 0
    assert '"response":{"ok":1}' in reply


async def test_phx_server_fixture(phx_server: PhoenixTestServer, raw_phx: ConnectPhx) -> None:
    """The pytest plugin's phx_server fixture is a started server with no channels."""
    conn = await raw_phx(phx_server.url)
    assert (await conn.join("room:x", "1"))[4]["response"] == {"reason": "unmatched topic"}
    phx_server.add_channel("room:*", join=lambda ctx, params: {})
    assert (await conn.join("room:x", "2"))[4]["status"] == "ok"


# ---------------------------------------------------------------------------- demo


async def test_demo_server_channels(raw_phx: ConnectPhx) -> None:
    """demo_server: a welcome envelope, switch_team outcomes, echo and stream on room:*."""
    async with demo_server() as srv:
        conn = await raw_phx(srv.url, params={"user_id": "u1"})
        welcome = (await conn.join("console:lobby", "1"))[4]["response"]
        assert set(welcome) >= {"welcome", "scope", "team", "role", "streams"}
        assert (await conn.recv())[3] == "presence_diff"
        assert (await conn.recv())[3] == "presence_state"
        replies = []
        for ref, team in enumerate(["team_acme", "team_acme", "team_other", "nope"], start=2):
            await conn.send("1", str(ref), "console:lobby", "scope.switch_team", {"team_id": team})
            replies.append((await conn.recv())[4])
        assert replies[0]["status"] == "ok"
        assert replies[0]["response"]["scope"]["team_id"] == "team_acme"
        codes = [r["response"].get("code") for r in replies[1:]]
        assert codes == ["noop", "forbidden", "not_found"]
        await conn.join("room:demo", "9")
        await conn.recv()
        await conn.recv()  # presence_diff, presence_state
        await conn.send("9", "10", "room:demo", "stream", {"count": 50})
        assert (await conn.recv())[4] == {"response": {"count": 50}, "status": "ok"}
        got = [(await conn.recv())[4]["i"] for _ in range(50)]
        assert got == list(range(1, 51))


# ---------------------------------------------------------------------------- misc


def test_package_exports_what_the_docs_say() -> None:
    """fastphx.testing exports the names its contract and docs list."""
    import fastphx.testing as testing

    assert set(testing.__all__) == {"NO_REPLY", "PROFILES", "ChannelContext", "FaultProxy",
                                    "PhoenixProfile", "PhoenixTestServer", "ServerConnection",
                                    "ServerReply", "StopChannel", "demo_server"}
    assert all(hasattr(testing, name) for name in testing.__all__)


async def test_wildcard_event_handler(raw_phx: ConnectPhx, phx_server: PhoenixTestServer) -> None:
    """An event "*" handler answers every event that has no handler of its own."""
    phx_server.add_channel("any:*", join=lambda ctx, params: {},
                           handlers={"*": lambda ctx, payload: {"got": payload},
                                     "own": lambda ctx, payload: "own"})
    conn = await raw_phx(phx_server.url)
    await conn.join("any:1", "1")
    await conn.send("1", "2", "any:1", "whatever", 5)
    assert (await conn.recv())[4]["response"] == {"got": 5}
    await conn.send("1", "3", "any:1", "own", {})
    assert (await conn.recv())[4]["response"] == "own"


async def test_wait_for_frame_matches_a_future_frame(raw_phx: ConnectPhx,
                                                     server: PhoenixTestServer) -> None:
    """wait_for_frame started before the frame arrives returns it once it does."""
    waiter = asyncio.ensure_future(server.wait_for_frame(LOBBY, "echo", timeout=TIMEOUT))
    conn = await joined(raw_phx, server)
    assert not waiter.done()
    await conn.send("1", "2", LOBBY, "echo", {"n": 3})
    frame = await waiter
    assert frame.ref == "2" and frame.payload == {"n": 3}


async def test_ctx_track_in_join_comes_after_the_reply(raw_phx: ConnectPhx,
                                                       phx_server: PhoenixTestServer) -> None:
    """Pushes made while a join handler runs are sent after the join reply."""
    async def join(ctx: ChannelContext, params: Any) -> Any:
        await ctx.push("early", {})
        return {"joined": True}

    phx_server.add_channel("t:*", join=join)
    conn = await raw_phx(phx_server.url)
    assert (await conn.join("t:1", "1"))[3] == "phx_reply"
    assert await conn.recv() == ["1", None, "t:1", "early", {}]


async def test_connection_assigns_are_per_connection(raw_phx: ConnectPhx) -> None:
    """connection.assigns keeps handler state per connection (demo switch_team uses it)."""
    async with demo_server() as srv:
        first = await raw_phx(srv.url)
        second = await raw_phx(srv.url)
        for conn in (first, second):
            await conn.join("console:lobby", "1")
        await first.send("1", "2", "console:lobby", "scope.switch_team", {"team_id": "team_acme"})
        await second.send("1", "2", "console:lobby", "scope.switch_team", {"team_id": "team_acme"})
        for conn in (first, second):
            frame = await conn.recv()
            while not (frame[3] == "phx_reply" and frame[1] == "2"):  # skip presence frames
                frame = await conn.recv()
            assert frame[4]["status"] == "ok"
        assert [c.assigns for c in srv.connections] == [{"team": "team_acme"}] * 2
        assert all("_team" not in c.params for c in srv.connections)


async def test_slow_handler_does_not_block_heartbeats_or_other_channels(
        raw_phx: ConnectPhx, phx_server: PhoenixTestServer) -> None:
    """A handler still running holds up its own channel only, like a Phoenix channel process."""
    release = asyncio.Event()

    async def slow(ctx: ChannelContext, payload: Any) -> Any:
        await release.wait()
        return {"slow": True}

    phx_server.add_channel("s:*", join=lambda ctx, params: {},
                           handlers={"slow": slow, "fast": lambda ctx, payload: {"fast": True}})
    conn = await raw_phx(phx_server.url)
    await conn.join("s:1", "1")
    await conn.join("s:2", "2")
    await conn.send("1", "3", "s:1", "slow", {})
    await conn.send("1", "4", "s:1", "fast", {})  # queued behind "slow" on s:1
    await conn.send("2", "5", "s:2", "fast", {})
    await conn.send(None, "6", "phoenix", "heartbeat", {})
    assert {(await conn.recv())[1] for _ in range(2)} == {"5", "6"}
    release.set()
    assert [(await conn.recv())[1] for _ in range(2)] == ["3", "4"]

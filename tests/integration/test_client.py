"""fastphx.Client against the loopback PhoenixTestServer (no mocked transport)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import fastphx
from fastphx import ChannelErrorCode, Push, Status
from fastphx.testing import (
    NO_REPLY,
    ChannelContext,
    FaultProxy,
    PhoenixTestServer,
    ServerReply,
    StopChannel,
)

pytestmark = pytest.mark.asyncio

FAST: dict[str, Any] = {"heartbeat_interval": 0.2, "reply_timeout": 2.0, "connect_timeout": 2.0,
        "reconnect_delay": lambda n: 0.02, "rejoin_delay": lambda n: 0.02, "close_timeout": 0.5}
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$")
WAIT = 5.0
MakeClient = Callable[..., fastphx.Client]


def setup_channels(server: PhoenixTestServer) -> None:
    """Declare the channels the tests use on ``server``."""
    joins: dict[str, int] = {}

    async def join(ctx: ChannelContext, params: Any) -> Any:
        joins[ctx.topic] = joins.get(ctx.topic, 0) + 1
        if ctx.topic.startswith("room:refused"):
            return ServerReply("error", {"reason": "unauthorized"})
        if ctx.topic.startswith("room:once") and joins[ctx.topic] > 1:
            return ServerReply("error", {"reason": "unauthorized"})
        if ctx.topic.startswith("room:slowjoin"):
            await asyncio.Event().wait()
        return {"welcome": ctx.topic, "params": params, "n": joins[ctx.topic]}

    async def echo(ctx: ChannelContext, payload: Any) -> Any:
        return payload

    async def fail(ctx: ChannelContext, payload: Any) -> Any:
        return ServerReply("error", payload)

    async def never(ctx: ChannelContext, payload: Any) -> Any:
        return NO_REPLY

    async def crash(ctx: ChannelContext, payload: Any) -> Any:
        raise ValueError("boom")

    async def stop(ctx: ChannelContext, payload: Any) -> Any:
        raise StopChannel()

    async def numbers(ctx: ChannelContext, payload: Any) -> Any:
        count = payload["count"]
        await server.push_many(ctx.topic, "n", ({"i": i} for i in range(count)))
        return {"count": count}

    handlers: dict[str, Callable[[ChannelContext, Any], Any]] = {
        "echo": echo, "fail": fail, "never": never, "crash": crash, "stop": stop,
        "numbers": numbers}
    for pattern in ("console:lobby", "room:*"):
        server.add_channel(pattern, join=join, handlers=handlers)


@pytest.fixture
async def server(phx_server: PhoenixTestServer) -> PhoenixTestServer:
    """The phx_server fixture with the test channels declared."""
    setup_channels(phx_server)
    return phx_server


@pytest.fixture
async def make_client(server: PhoenixTestServer,
                      transport: str) -> AsyncIterator[Callable[..., fastphx.Client]]:
    """A factory of clients to ``server`` with fast settings; all are closed afterwards."""
    clients: list[fastphx.Client] = []

    def make(**kwargs: Any) -> fastphx.Client:
        options = {"transport": transport, **FAST, **kwargs}
        url = options.pop("url", server.url)
        client = fastphx.Client(url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def next_push(stream: fastphx.PushStream, event: str | None = None) -> Push:
    """The next push on ``stream`` (optionally the next with ``event``), within WAIT."""
    async def find() -> Push:
        async for push in stream:
            if event is None or push.event == event:
                return push
        raise AssertionError("stream ended")
    return await asyncio.wait_for(find(), WAIT)


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- connect


async def test_connect_returns_welcome(make_client: MakeClient) -> None:
    """connect() joins the primary topic with its params and returns the join reply."""
    client = make_client(join_params={"a": 1})
    assert client.status is Status.INIT
    welcome = await client.connect()
    assert welcome == {"welcome": "console:lobby", "params": {"a": 1}, "n": 1}
    assert client.welcome == welcome
    assert str(client.status) == "connected"


async def test_url_gets_vsn_api_key_and_params(server: PhoenixTestServer,
                                               make_client: MakeClient) -> None:
    """The dial URL carries vsn, api_key, the connect params and the URL's own query."""
    client = make_client(url=server.url + "?keep=1", api_key="k1", params={"user_id": "u"})
    await client.connect()
    assert server.connections[0].params == {"keep": "1", "api_key": "k1", "user_id": "u"}


async def test_connect_refused_raises_auth_error(server: PhoenixTestServer,
                                                 make_client: MakeClient) -> None:
    """HTTP 403 on the upgrade raises AuthError and leaves the client CLOSED."""
    server.refuse_next(1, status=403)
    client = make_client()
    with pytest.raises(fastphx.AuthError):
        await client.connect()
    assert client.status is Status.CLOSED


async def test_unreachable_raises_connect_error(make_client: MakeClient) -> None:
    """A refused TCP connection raises ConnectError."""
    client = make_client(url=f"ws://127.0.0.1:{closed_port()}/socket/websocket")
    with pytest.raises(fastphx.ConnectError) as info:
        await client.connect()
    assert not isinstance(info.value, fastphx.AuthError)


async def test_handshake_timeout_raises_connect_timeout(make_client: MakeClient) -> None:
    """A server that accepts TCP but never answers the upgrade -> ConnectTimeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = make_client(url=f"ws://127.0.0.1:{port}/socket/websocket",
                             connect_timeout=0.1)
        with pytest.raises(fastphx.ConnectTimeout):
            await client.connect()
    assert client.status is Status.CLOSED


async def test_join_error_raises_channel_error(make_client: MakeClient) -> None:
    """A join answered with an error raises ChannelError carrying the reason as code."""
    client = make_client()
    await client.connect()
    with pytest.raises(fastphx.ChannelError) as info:
        await client.join_topic("room:refused")
    assert info.value.code == "unauthorized"
    assert "room:refused" not in client.topics


async def test_primary_join_error_fails_connect(make_client: MakeClient) -> None:
    """connect() raises ChannelError when the primary join is refused, and closes."""
    client = make_client(topic="room:refused")
    with pytest.raises(fastphx.ChannelError):
        await client.connect()
    assert client.status is Status.CLOSED


async def test_join_timeout(make_client: MakeClient) -> None:
    """A join with no reply in time raises JoinTimeout."""
    client = make_client()
    await client.connect()
    with pytest.raises(fastphx.JoinTimeout):
        await client.join_topic("room:slowjoin", timeout=0.1)
    assert "room:slowjoin" not in client.topics


# --------------------------------------------------------------------------- push


async def test_push_ok(make_client: MakeClient) -> None:
    """push() returns the Reply of its own ref."""
    client = make_client()
    await client.connect()
    reply = await client.push("console:lobby", "echo", {"a": [1, 2]})
    assert reply == fastphx.Reply("ok", {"a": [1, 2]})


@pytest.mark.parametrize(("response", "code"), [
    ({"code": "forbidden", "message": "nope"}, ChannelErrorCode.FORBIDDEN),
    ({"code": "rate_limited"}, ChannelErrorCode.RATE_LIMITED),
    ({"code": "weird_code"}, "weird_code"),
    ({"reason": "not_found"}, ChannelErrorCode.NOT_FOUND),
])
async def test_push_error_codes(make_client: MakeClient, response: Any,
                                code: Any) -> None:
    """An error reply raises ChannelError with a typed code (unknown codes kept as str)."""
    client = make_client()
    await client.connect()
    with pytest.raises(fastphx.ChannelError) as info:
        await client.push("console:lobby", "fail", response)
    assert info.value.code == code and type(info.value.code) is type(code)
    assert info.value.response == response
    assert info.value.message == response.get("message", "")


async def test_push_timeout(make_client: MakeClient) -> None:
    """A push with no reply in time raises PushTimeout and forgets its ref."""
    client = make_client()
    await client.connect()
    with pytest.raises(fastphx.PushTimeout):
        await client.push("console:lobby", "never", {}, timeout=0.05)
    assert len(client._proto.refs) == 0


async def test_push_timeout_after_a_settled_push(make_client: MakeClient) -> None:
    """A push times out at its deadline after a reply settled an earlier, sooner deadline
    (the timer kept for that deadline re-arms), with no heartbeat to wake the timer."""
    client = make_client(heartbeat_interval=WAIT * 20, reply_timeout=WAIT * 20)
    await client.connect()
    await client.push("console:lobby", "echo", {}, timeout=0.05)
    with pytest.raises(fastphx.PushTimeout):
        await asyncio.wait_for(client.push("console:lobby", "never", {}, timeout=0.2), WAIT)
    assert len(client._proto.refs) == 0


async def test_short_push_timeout_before_a_long_one(make_client: MakeClient) -> None:
    """A push with a short timeout fails at its own deadline while a push with a long
    timeout is still pending (the timer moves to the earlier deadline)."""
    client = make_client(heartbeat_interval=WAIT * 20, reply_timeout=WAIT * 20)
    await client.connect()
    slow = asyncio.ensure_future(client.push("console:lobby", "never", {}, timeout=WAIT * 20))
    with pytest.raises(fastphx.PushTimeout):
        await asyncio.wait_for(client.push("console:lobby", "never", {}, timeout=0.05), WAIT)
    assert not slow.done()
    slow.cancel()


async def test_pushes_stay_in_order_through_write_backpressure(
        server: PhoenixTestServer, make_client: MakeClient) -> None:
    """Pushes made while the socket cannot take more (the path to the server stalled) reach
    the server in the order they were made, each answered, once it flows again: a frame
    written from the caller never overtakes one left to the writer task."""
    received: list[int] = []

    async def record(ctx: ChannelContext, payload: Any) -> Any:
        received.append(payload["i"])
        return {"i": payload["i"]}

    server.add_channel("order:*", join=lambda ctx, params: {}, handlers={"record": record})
    async with FaultProxy("127.0.0.1", server.port) as proxy:
        client = make_client(url=proxy.url_for(server.url), topic="order:a")
        await client.connect()
        proxy.stall()
        blob, count = "x" * 200_000, 100  # 20 MB: past the proxy's and the kernel's buffers
        calls = [asyncio.ensure_future(client.push(
            "order:a", "record", {"i": i, "blob": blob}, timeout=WAIT * 4))
            for i in range(count)]
        await proxy.wait_for(lambda: client.stats()["pending_replies"] == count, WAIT)
        proxy.resume()
        replies = await asyncio.wait_for(asyncio.gather(*calls), WAIT * 4)
    assert [r.response["i"] for r in replies] == list(range(count))
    assert received == list(range(count))


async def test_concurrent_pushes_across_topics(make_client: MakeClient) -> None:
    """Many concurrent pushes on several topics each get their own reply."""
    client = make_client()
    await client.connect()
    topics = ["console:lobby", "room:a", "room:b"]
    for topic in topics[1:]:
        await client.join_topic(topic)
    calls = [client.push(t, "echo", {"t": t, "i": i}) for i in range(100) for t in topics]
    replies = await asyncio.gather(*calls)
    expected = [{"t": t, "i": i} for i in range(100) for t in topics]
    assert [r.response for r in replies] == expected


async def test_push_to_unjoined_topic(make_client: MakeClient) -> None:
    """A push to a topic not joined fails at once with NotJoinedError."""
    client = make_client()
    await client.connect()
    with pytest.raises(fastphx.NotJoinedError):
        await client.push("room:nope", "echo", {})


async def test_leave_topic(make_client: MakeClient) -> None:
    """After leave_topic the topic is gone and a push to it raises NotJoinedError."""
    client = make_client()
    await client.connect()
    await client.join_topic("room:x")
    await client.leave_topic("room:x")
    assert "room:x" not in client.topics
    with pytest.raises(fastphx.NotJoinedError):
        await client.push("room:x", "echo", {})


async def test_cancelled_push_removes_waiter(make_client: MakeClient) -> None:
    """Cancelling the task awaiting a push removes its waiter and propagates CancelledError."""
    client = make_client()
    await client.connect()
    task = asyncio.ensure_future(client.push("console:lobby", "never", {}))
    await asyncio.sleep(0)
    assert len(client._proto.refs) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(client._proto.refs) == 0


async def test_binary_push_and_reply(server: PhoenixTestServer,
                                     make_client: MakeClient) -> None:
    """push_binary sends a BINARY frame and returns the binary reply's bytes."""
    client = make_client()
    await client.connect()
    reply = await client.push_binary("console:lobby", "echo", b"\x00\x01\xfe\xff")
    assert reply == fastphx.Reply("ok", b"\x00\x01\xfe\xff")
    frame = await server.wait_for_frame(event="echo")
    assert frame.binary


async def test_binary_server_push(server: PhoenixTestServer,
                                  make_client: MakeClient) -> None:
    """A binary server push arrives as a Push whose payload is bytes."""
    client = make_client()
    stream = client.pushes()
    await client.connect()
    await server.push_binary("console:lobby", "bin", b"\x01\x02")
    push = await next_push(stream, "bin")
    assert push.binary and push.payload == b"\x01\x02" and isinstance(push, Push)


# --------------------------------------------------------------------------- pushes()


async def test_filtered_iterators_each_get_matches(server: PhoenixTestServer,
                                                   make_client: MakeClient) -> None:
    """Each pushes() iterator gets every push matching its topic/event filter."""
    client = make_client()
    await client.connect()
    await client.join_topic("room:a")
    every = client.pushes()
    room = client.pushes(topic="room:a")
    shouts = client.pushes(events={"shout"})
    await server.broadcast("console:lobby", "shout", {"n": 1})
    await server.broadcast("room:a", "other", {"n": 2})
    await server.broadcast("room:a", "shout", {"n": 3})
    assert [(await next_push(every)).payload["n"] for _ in range(3)] == [1, 2, 3]
    assert [(await next_push(room)).payload["n"] for _ in range(2)] == [2, 3]
    assert [(await next_push(shouts)).payload["n"] for _ in range(2)] == [1, 3]


async def test_backpressure_lossless(server: PhoenixTestServer,
                                     make_client: MakeClient) -> None:
    """A slow consumer with a tiny buffer reads every push in order; the link stays up."""
    client = make_client(push_buffer_size=4, heartbeat_interval=0.05)
    await client.connect()
    await client.join_topic("room:bp")
    stream = client.pushes(topic="room:bp", events={"n"})
    count = 3000
    task = asyncio.ensure_future(client.push("room:bp", "numbers", {"count": count}, timeout=30))
    seen = []
    async for push in stream:
        seen.append(push.payload["i"])
        if len(seen) % 100 == 0:
            await asyncio.sleep(0.001)  # a slow consumer, not synchronisation
        if len(seen) == count:
            break
    assert seen == list(range(count))
    assert (await task).response == {"count": count}
    assert client.dropped == 0 and server.total_connections == 1
    assert client.status is Status.CONNECTED


@pytest.mark.parametrize("fast_path", [True, False], ids=["queue", "receive"])
async def test_burst_in_order_on_both_read_paths(make_client: MakeClient,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 fast_path: bool, transport: str) -> None:
    """Data frames come from aiohttp's message queue when its shape is the expected one
    (checked, so an aiohttp upgrade that changes it shows here), else from receive(); both
    deliver a burst completely and in order, with the reply correlated."""
    from fastphx import _transport_aiohttp as adapter

    if transport != "aiohttp":
        pytest.skip("aiohttp's two read paths")
    if not fast_path:
        monkeypatch.setattr(adapter, "message_queue", lambda ws: None)
    client = make_client()
    await client.connect()
    conn = client._ws
    assert isinstance(conn, adapter.AiohttpConnection)
    assert (adapter.message_queue(conn.ws) is not None) is fast_path
    await client.join_topic("room:burst")
    stream = client.pushes(topic="room:burst", events={"n"})
    count = 5000
    task = asyncio.ensure_future(client.push("room:burst", "numbers", {"count": count}))
    seen = []
    async for push in stream:
        seen.append(push.payload["i"])
        if len(seen) == count:
            break
    assert seen == list(range(count))
    assert (await task).response == {"count": count}
    assert client.malformed == 0 and client.dropped == 0


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
async def test_drop_policies_count_exactly(make_client: MakeClient,
                                           caplog: pytest.LogCaptureFixture, policy: str) -> None:
    """drop_oldest / drop_newest keep the right pushes and count every drop."""
    client = make_client(push_buffer_size=10, overflow=policy)
    await client.connect()
    stream = client.pushes(events={"n"})
    with caplog.at_level(logging.WARNING):
        await client.push("console:lobby", "numbers", {"count": 100})
        await client.push("console:lobby", "echo", {})  # ordered after every push
    assert client.dropped == 90
    kept = [stream._buf.popleft().payload["i"] for _ in range(10)]
    assert kept == (list(range(90, 100)) if policy == "drop_oldest" else list(range(10)))
    assert "dropped" in caplog.text


async def test_no_iterator_does_not_block_replies(make_client: MakeClient) -> None:
    """Without any pushes() iterator replies still flow, and the pushes read past the
    backlog's bound to reach them are kept (in the spill) for the first iterator."""
    client = make_client(push_buffer_size=16)
    await client.connect()
    await client.push("console:lobby", "numbers", {"count": 100})
    assert (await client.push("console:lobby", "echo", {"x": 1})).response == {"x": 1}
    assert client.dropped == 0
    stream = client.pushes()
    assert [p.payload["i"] for p in list(stream._buf)] == list(range(100))


async def test_closing_a_full_iterator_unblocks_reader(make_client: MakeClient) -> None:
    """aclose() on a full, unread iterator releases the blocked reader."""
    client = make_client(push_buffer_size=4)
    await client.connect()
    stalled = client.pushes(events={"n"})
    other = client.pushes(events={"n"})
    task = asyncio.ensure_future(client.push("console:lobby", "numbers", {"count": 50}))
    got = [(await next_push(other)).payload["i"] for _ in range(3)]
    await stalled.aclose()
    got += [(await next_push(other)).payload["i"] for _ in range(47)]
    assert got == list(range(50))
    assert (await asyncio.wait_for(task, WAIT)).response == {"count": 50}


async def test_eager_payloads(make_client: MakeClient) -> None:
    """eager_payloads=True delivers the same pushes with payloads already decoded."""
    client = make_client(eager_payloads=True)
    await client.connect()
    stream = client.pushes(events={"n"})
    await client.push("console:lobby", "numbers", {"count": 20})
    pushes = [await next_push(stream) for _ in range(20)]
    assert [p.payload for p in pushes] == [{"i": i} for i in range(20)]
    assert pushes[0].raw_payload == b'{"i":0}'


async def test_reconnect_disabled(server: PhoenixTestServer, make_client: MakeClient) -> None:
    """With reconnect=False a drop ends the session: CLOSED, iterators end, no redial."""
    client = make_client(reconnect=False)
    stream = client.pushes()
    await client.connect()
    await server.drop_connections()
    events = [p.event async for p in stream]
    assert "reconnecting" not in events
    assert client.status is Status.CLOSED and server.total_connections == 1
    assert isinstance(client.error, fastphx.ConnectionLostError)


# --------------------------------------------------------------------------- heartbeat


async def test_heartbeat_death_detected(server: PhoenixTestServer,
                                        make_client: MakeClient) -> None:
    """When the server stops answering heartbeats, the client drops the link and redials."""
    client = make_client(heartbeat_interval=0.05)
    stream = client.pushes()
    await client.connect()
    server.heartbeat_replies = False
    push = await next_push(stream, "reconnecting")
    assert push.topic == "" and push.payload["attempt"] == 1
    server.heartbeat_replies = True
    await next_push(stream, "rejoined")
    assert server.total_connections == 2


async def test_heartbeat_not_fooled_by_blast(server: PhoenixTestServer,
                                             make_client: MakeClient) -> None:
    """A 100k-push blast with a 0.05 s heartbeat is not mistaken for a dead link."""
    client = make_client(heartbeat_interval=0.05)
    await client.connect()
    stream = client.pushes(events={"blast"})
    count = 100_000
    task = asyncio.ensure_future(server.blast("console:lobby", "blast", {"x": 1}, count))
    received = 0
    async for _ in stream:
        received += 1
        if received == count:
            break
    assert await task == count
    assert server.total_connections == 1 and client.status is Status.CONNECTED


# --------------------------------------------------------------------------- reconnect


async def test_reconnect_after_drop(server: PhoenixTestServer,
                                    make_client: MakeClient) -> None:
    """After an abrupt drop the client emits reconnecting, redials and rejoins every topic."""
    client = make_client(join_params={"p": 1})
    stream = client.pushes()
    await client.connect()
    await client.join_topic("room:r", params={"q": 2})
    await server.drop_connections()
    push = await next_push(stream, "reconnecting")
    assert push.topic == "" and push.payload["attempt"] == 1
    assert RFC3339_NANO.match(push.payload["next_attempt_at"])
    rejoined = {}
    for _ in range(2):
        push = await next_push(stream, "rejoined")
        rejoined[push.topic] = push.payload
    assert rejoined["console:lobby"] == {"welcome": "console:lobby", "params": {"p": 1}, "n": 2}
    assert rejoined["room:r"] == {"welcome": "room:r", "params": {"q": 2}, "n": 2}
    assert client.status is Status.CONNECTED
    assert (await client.push("room:r", "echo", {"ok": 1})).response == {"ok": 1}


async def test_reconnect_after_server_restart(server: PhoenixTestServer,
                                              make_client: MakeClient) -> None:
    """Status goes CONNECTED -> RECONNECTING while the server is down -> CONNECTED after."""
    client = make_client()
    stream = client.pushes()
    await client.connect()
    await server.stop()
    await next_push(stream, "reconnecting")
    second = await next_push(stream, "reconnecting")
    assert second.payload["attempt"] == 2
    assert client.status is Status.RECONNECTING
    await server.start()
    await next_push(stream, "rejoined")
    assert str(client.status) == "connected"


async def test_close_1000_is_terminal(server: PhoenixTestServer,
                                      make_client: MakeClient) -> None:
    """A close code 1000 from the server ends the session: CLOSED, iterators end, pending fail."""
    client = make_client()
    stream = client.pushes()
    await client.connect()
    pending = asyncio.ensure_future(client.push("console:lobby", "never", {}))
    await server.wait_for_frame(event="never")
    await server.close_connections(code=1000)
    with pytest.raises(fastphx.ConnectionLostError):
        await asyncio.wait_for(pending, WAIT)
    events = [p.event async for p in stream]
    assert "reconnecting" not in events
    assert client.status is Status.CLOSED and server.total_connections == 1


@pytest.mark.parametrize("code", [1001, 1011, 1012])
async def test_going_away_codes_reconnect(server: PhoenixTestServer,
                                          make_client: MakeClient,
                                          code: int) -> None:
    """Close codes 1001/1011/1012 are outages: the client reconnects and rejoins."""
    client = make_client()
    stream = client.pushes()
    await client.connect()
    await server.close_connections(code=code)
    await next_push(stream, "reconnecting")
    await next_push(stream, "rejoined")
    assert server.total_connections == 2


async def test_pending_push_fails_on_drop(server: PhoenixTestServer,
                                          make_client: MakeClient) -> None:
    """A push waiting for its reply fails with ConnectionLostError when the socket drops."""
    client = make_client()
    await client.connect()
    pending = asyncio.ensure_future(client.push("console:lobby", "never", {}))
    await server.wait_for_frame(event="never")
    await server.drop_connections()
    with pytest.raises(fastphx.ConnectionLostError):
        await asyncio.wait_for(pending, WAIT)


async def test_redial_403_gives_up(server: PhoenixTestServer,
                                   make_client: MakeClient) -> None:
    """HTTP 403 on a redial is reported (reconnect_failed) and not retried."""
    client = make_client()
    stream = client.pushes()
    await client.connect()
    server.refuse_next(1, status=403)
    await server.drop_connections()
    push = await next_push(stream, "reconnect_failed")
    assert push.payload["status"] == 403
    assert client.status is Status.CLOSED and isinstance(client.error, fastphx.AuthError)
    assert server.total_connections == 1


async def test_rejoin_auth_refusal_not_retried(server: PhoenixTestServer,
                                               make_client: MakeClient) -> None:
    """A rejoin refused as unauthorized is reported once and the topic is dropped."""
    client = make_client()
    stream = client.pushes()
    await client.connect()
    await client.join_topic("room:once")
    await server.drop_connections()
    seen: dict[str, Push] = {}
    while len(seen) < 2:
        push = await next_push(stream)
        if push.event in ("rejoin_failed", "rejoined"):
            seen[push.event] = push
    failed = seen["rejoin_failed"]
    assert failed.topic == "room:once" and failed.payload["fatal"] is True
    assert failed.payload["code"] == "unauthorized"
    assert seen["rejoined"].topic == "console:lobby"
    assert "room:once" not in client.topics and client.status is Status.CONNECTED


async def test_params_callable_per_connect(server: PhoenixTestServer,
                                           make_client: MakeClient) -> None:
    """A params callable is evaluated on every dial."""
    counter = itertools.count(1)
    client = make_client(params=lambda: {"n": next(counter)})
    stream = client.pushes()
    await client.connect()
    assert server.connections[0].params["n"] == "1"
    await server.drop_connections()
    await next_push(stream, "rejoined")
    assert server.connections[0].params["n"] == "2"


async def test_auth_token_subprotocol(server: PhoenixTestServer,
                                      make_client: MakeClient) -> None:
    """auth_token travels in Sec-WebSocket-Protocol (standard base64: '/' allowed)."""
    token = "tok/en?>>>+x"
    client = make_client(auth_token=token)
    await client.connect()
    assert server.connections[0].token == token


# --------------------------------------------------------------------------- channels


async def test_crash_rejoins(server: PhoenixTestServer,
                             make_client: MakeClient) -> None:
    """A channel crash delivers phx_error, then the topic is rejoined on the rejoin schedule."""
    client = make_client()
    stream = client.pushes(topic="room:c")
    await client.connect()
    await client.join_topic("room:c")
    crash = asyncio.ensure_future(client.push("room:c", "crash", {}, timeout=30.0))
    push = await next_push(stream)
    assert push.event == "phx_error"
    rejoined = await next_push(stream, "rejoined")
    assert rejoined.payload["n"] == 2
    with pytest.raises(fastphx.ChannelCrashedError):
        await crash
    assert (await client.push("room:c", "echo", {"a": 1})).response == {"a": 1}


async def test_server_close(make_client: MakeClient) -> None:
    """phx_close from the server closes the topic and is delivered as a push."""
    client = make_client()
    stream = client.pushes(topic="room:s")
    await client.connect()
    await client.join_topic("room:s")
    asyncio.ensure_future(client.push("room:s", "stop", {})).add_done_callback(
        lambda f: f.exception())
    push = await next_push(stream)
    assert push.event == "phx_close"
    assert "room:s" not in client.topics
    with pytest.raises(fastphx.NotJoinedError):
        await client.push("room:s", "echo", {})


async def test_stale_join_ref_dropped(server: PhoenixTestServer,
                                      make_client: MakeClient) -> None:
    """A push with an outdated join_ref is dropped; broadcasts (null join_ref) pass."""
    client = make_client()
    stream = client.pushes()
    await client.connect()
    await server.send_raw(b'["999",null,"console:lobby","old",{}]')
    await server.broadcast("console:lobby", "new", {})
    push = await next_push(stream)
    assert push.event == "new" and push.join_ref is None
    assert client.stale_dropped == 1


async def test_malformed_frame_survived(server: PhoenixTestServer,
                                        make_client: MakeClient,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """A malformed frame is logged with its decode error and dropped; the session lives on."""
    client = make_client()
    stream = client.pushes()
    await client.connect()
    with caplog.at_level(logging.WARNING, logger="fastphx.client"):
        await server.send_raw(b'["1",null,"console:lobby"')
        await server.send_raw(b"\x09\x00", binary=True)
        await server.broadcast("console:lobby", "after", {})
        push = await next_push(stream)
    assert push.event == "after" and client.malformed == 2
    assert "malformed" in caplog.text
    assert client.status is Status.CONNECTED


# --------------------------------------------------------------------------- misc


async def test_no_secret_in_logs_or_errors(server: PhoenixTestServer,
                                           make_client: MakeClient,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Neither the api_key nor the token appears in any log line or error text."""
    key, token = "sekrit-api-key-42", "sekrit-token-99"
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        server.refuse_next(1, status=403)
        refused = make_client(api_key=key, auth_token=token)
        with pytest.raises(fastphx.AuthError) as info:
            await refused.connect()
        texts += [str(info.value), repr(info.value), repr(refused)]
        unreachable = make_client(url=f"ws://127.0.0.1:{closed_port()}/x", api_key=key,
                                  auth_token=token)
        with pytest.raises(fastphx.ConnectError) as info2:
            await unreachable.connect()
        texts += [str(info2.value), repr(info2.value), str(info2.value.__cause__)]
        client = make_client(api_key=key, auth_token=token)
        stream = client.pushes()
        await client.connect()
        await server.drop_connections()
        await next_push(stream, "rejoined")
        texts += [repr(client), client.url]
        in_url = make_client(url=f"ws://127.0.0.1:{closed_port()}/x?api_key={key}")
        with pytest.raises(fastphx.ConnectError) as info3:
            await in_url.connect()
        texts += [str(info3.value), repr(in_url), in_url.url]
        assert "api_key=REDACTED" in in_url.url
    blob = caplog.text + "".join(texts)
    assert key not in blob and token not in blob


async def test_close_leaves_no_task(server: PhoenixTestServer, transport: str) -> None:
    """close() awaits every task it started and is idempotent; CLOSED is terminal."""
    before = asyncio.all_tasks()
    client = fastphx.Client(server.url, transport=transport, **FAST)
    await client.connect()
    await client.join_topic("room:t")
    stream = client.pushes()
    await client.close()
    await client.close()
    assert asyncio.all_tasks() == before
    assert client.status is Status.CLOSED
    assert [p async for p in stream] == []
    with pytest.raises(fastphx.ClientClosedError):
        await client.push("room:t", "echo", {})


async def test_close_while_reconnecting(server: PhoenixTestServer, transport: str) -> None:
    """close() during an outage stops redialling, ends iterators and leaves no task."""
    before = asyncio.all_tasks()
    client = fastphx.Client(server.url, transport=transport, **FAST)
    stream = client.pushes()
    await client.connect()
    await server.stop()
    await next_push(stream, "reconnecting")
    waiting = asyncio.ensure_future(next_push(stream, "never-sent"))
    await client.close()
    with pytest.raises(AssertionError, match="stream ended"):
        await waiting
    assert asyncio.all_tasks() == before and client.status is Status.CLOSED


async def test_close_fails_pending(make_client: MakeClient) -> None:
    """close() fails a waiting push with ClientClosedError."""
    client = make_client()
    await client.connect()
    pending = asyncio.ensure_future(client.push("console:lobby", "never", {}))
    await asyncio.sleep(0)
    await client.close()
    with pytest.raises(fastphx.ClientClosedError):
        await pending


async def test_switch_team() -> None:
    """switch_team parses the reply and raises ChannelError for each error code."""
    from fastphx.testing import demo_server

    async with demo_server() as server, fastphx.Client(server.url, **FAST) as client:
        team = await client.switch_team("team_acme")
        assert team.team == fastphx.SwitchedTeam("team_acme", "Acme", False, "organization")
        assert team.scope.team_id == "team_acme" and team.role == "member"
        assert team.streams.catalog == ("catalog:team_acme",)
        for team_id, code in [("team_acme", ChannelErrorCode.NOOP),
                              ("team_other", ChannelErrorCode.FORBIDDEN),
                              ("nope", ChannelErrorCode.NOT_FOUND)]:
            with pytest.raises(fastphx.ChannelError) as info:
                await client.switch_team(team_id)
            assert info.value.code is code

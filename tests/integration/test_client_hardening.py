"""Replies matched by topic and join_ref, malformed input counted and rate-limited, and no
secret reachable from an error (issue #9, item 6), over loopback sockets."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

import fastphx
from fastphx.testing import NO_REPLY, ChannelContext, PhoenixTestServer

pytestmark = pytest.mark.asyncio
TIMEOUT = 5.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))
FAST: dict[str, Any] = {"reply_timeout": TIMEOUT, "connect_timeout": TIMEOUT,
                        "reconnect": False, "close_timeout": 0.5}
API_KEY = "sk-live-9f8e7d6c5b4a"
MakeClient = Callable[..., fastphx.Client]


@pytest.fixture
async def server(phx_server: PhoenixTestServer) -> PhoenixTestServer:
    async def join(ctx: ChannelContext, params: Any) -> Any:
        return {}

    async def never(ctx: ChannelContext, payload: Any) -> Any:
        return NO_REPLY

    phx_server.add_channel("*", join=join, handlers={"never": never})
    return phx_server


@pytest.fixture
async def make_client(server: PhoenixTestServer, transport: str) -> AsyncIterator[MakeClient]:
    clients: list[fastphx.Client] = []

    def make(**kwargs: Any) -> fastphx.Client:
        client = fastphx.Client(kwargs.pop("url", server.url),
                                **{"transport": transport, **FAST, **kwargs})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def raw(join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> bytes:
    return orjson.dumps([join_ref, ref, topic, event, payload])


async def pending_push(client: fastphx.Client, server: PhoenixTestServer,
                       topic: str) -> tuple[asyncio.Future[fastphx.Reply], Any]:
    """A push on ``topic`` the server never answers, and the frame the server received."""
    task = asyncio.ensure_future(client.push(topic, "never", {}))
    frame = await server.wait_for_frame(topic, "never", timeout=TIMEOUT)
    return task, frame


async def test_reply_on_another_topic_does_not_resolve(make_client: MakeClient,
                                                       server: PhoenixTestServer) -> None:
    """A phx_reply with the push's ref but another topic is not its reply."""
    client = make_client(topic="room:a")
    await client.connect()
    await client.join_topic("room:b")
    task, frame = await pending_push(client, server, "room:a")
    await server.send_raw(raw(frame.join_ref, frame.ref, "room:b", "phx_reply",
                              {"status": "ok", "response": {"wrong": 1}}))
    await server.send_raw(raw(frame.join_ref, frame.ref, "room:a", "phx_reply",
                              {"status": "ok", "response": {"right": 1}}))
    assert (await asyncio.wait_for(task, TIMEOUT)).response == {"right": 1}
    assert client.stale_dropped == 1


async def test_reply_with_stale_join_ref_does_not_resolve(make_client: MakeClient,
                                                          server: PhoenixTestServer) -> None:
    """A phx_reply with the push's ref but an outdated join_ref is dropped as stale."""
    client = make_client(topic="room:a")
    await client.connect()
    task, frame = await pending_push(client, server, "room:a")
    await server.send_raw(raw("999", frame.ref, "room:a", "phx_reply",
                              {"status": "ok", "response": {"wrong": 1}}))
    await server.send_raw(raw(frame.join_ref, frame.ref, "room:a", "phx_reply",
                              {"status": "ok", "response": {"right": 1}}))
    assert (await asyncio.wait_for(task, TIMEOUT)).response == {"right": 1}
    assert client.stale_dropped == 1


async def test_malformed_reply_counted_and_typed(make_client: MakeClient,
                                                 server: PhoenixTestServer) -> None:
    """A reply whose payload is not a reply fails its push with FrameDecodeError and is
    counted in ``malformed``."""
    client = make_client(topic="room:a")
    await client.connect()
    task, frame = await pending_push(client, server, "room:a")
    await server.send_raw(raw(frame.join_ref, frame.ref, "room:a", "phx_reply", "nope"))
    with pytest.raises(fastphx.FrameDecodeError):
        await asyncio.wait_for(task, TIMEOUT)
    assert client.malformed == 1


async def test_malformed_frame_warnings_rate_limited(make_client: MakeClient,
                                                     server: PhoenixTestServer,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """1,000 malformed frames are all counted but logged a few times, not 1,000."""
    client = make_client(topic="room:a")
    await client.connect()
    with caplog.at_level(logging.WARNING, logger="fastphx.client"):
        for _ in range(1000):
            await server.send_raw(b"[not json")
        task, frame = await pending_push(client, server, "room:a")
        await server.send_raw(raw(frame.join_ref, frame.ref, "room:a", "phx_reply",
                                  {"status": "ok", "response": {}}))
        await asyncio.wait_for(task, TIMEOUT)  # ordered after every malformed frame
    assert client.malformed == 1000
    lines = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert 1 <= len(lines) < 50


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


@pytest.mark.parametrize("status", [403, 500])
async def test_no_secret_in_error_chain(make_client: MakeClient, server: PhoenixTestServer,
                                        status: int) -> None:
    """After an HTTP refusal no exception in the chain (cause or context) holds the key."""
    server.refuse_next(1, status)
    client = make_client(api_key=API_KEY, topic="room:a", auth_token="tok-secret-123456")
    with pytest.raises(fastphx.ConnectError) as info:
        await client.connect()
    assert info.value.__cause__ is None and info.value.__context__ is None
    for exc in _chain(info.value):
        text = f"{exc!r} {exc} {exc.args!r}"
        assert API_KEY not in text and "tok-secret-123456" not in text


async def test_no_secret_when_unreachable(make_client: MakeClient) -> None:
    """A refused TCP connection's error carries no aiohttp exception and no key."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(url=f"ws://127.0.0.1:{port}/socket/websocket", api_key=API_KEY)
    with pytest.raises(fastphx.ConnectError) as info:
        await client.connect()
    assert info.value.__context__ is None
    assert all(API_KEY not in f"{e!r} {e}" for e in _chain(info.value))


async def test_url_userinfo_redacted(make_client: MakeClient, server: PhoenixTestServer,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """A password in the URL never shows in repr, client.url, errors or logs."""
    url = server.url.replace("ws://", "ws://alice:pw-0x5ecret@")
    client = make_client(url=url, topic="room:a")
    assert "pw-0x5ecret" not in repr(client) and "pw-0x5ecret" not in client.url
    assert "alice" not in client.url
    server.refuse_next(1, 500)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(fastphx.ConnectError) as info:
            await client.connect()
    assert all("pw-0x5ecret" not in f"{e!r} {e}" for e in _chain(info.value))
    assert "pw-0x5ecret" not in caplog.text

"""What every transport must do the same over real sockets, where the generic client tests
do not reach: TLS (verified by default) through a loopback TLS proxy, and, on picows,
backpressure reaching the socket and fragmented messages (the aiohttp side of both is
aiohttp's own queue and reader, covered by the client tests)."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest

import fastphx
from fastphx.testing import ChannelContext, PhoenixTestServer

TIMEOUT = 5.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))
trustme = pytest.importorskip("trustme")

FAST: dict[str, Any] = {"reply_timeout": TIMEOUT, "connect_timeout": TIMEOUT,
                        "reconnect": False, "close_timeout": 0.5}
API_KEY = "sk-live-tls-0123456789"


@pytest.fixture
async def server(phx_server: PhoenixTestServer) -> PhoenixTestServer:
    async def join(ctx: ChannelContext, params: Any) -> Any:
        return {}

    async def echo(ctx: ChannelContext, payload: Any) -> Any:
        return payload

    async def numbers(ctx: ChannelContext, payload: Any) -> Any:
        await phx_server.push_many(ctx.topic, "n", ({"i": i} for i in range(payload["count"])))
        return {"count": payload["count"]}

    phx_server.add_channel("*", join=join, handlers={"echo": echo, "numbers": numbers})
    return phx_server


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def tls_url(server: PhoenixTestServer) -> AsyncIterator[tuple[str, Any]]:
    """``wss://`` URL of a loopback TLS proxy in front of ``server``, and the trustme CA
    that signed its certificate (not one the system trusts)."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", server.port)
        for pipe in (_pipe(reader, up_writer), _pipe(up_reader, writer)):
            task = asyncio.ensure_future(pipe)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = proxy.sockets[0].getsockname()[1]
    try:
        yield f"wss://127.0.0.1:{port}{server.path}", ca
    finally:
        proxy.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await proxy.wait_closed()


async def test_tls_verified_by_default(tls_url: tuple[str, Any], transport: str) -> None:
    """An untrusted certificate is refused by default: ConnectError, the api_key nowhere in
    the error or its chain."""
    url, _ = tls_url
    client = fastphx.Client(url, API_KEY, transport=transport, **FAST)  # type: ignore[arg-type]
    with pytest.raises(fastphx.ConnectError) as info:
        await client.connect()
    assert "certificate" in str(info.value).lower()
    exc: BaseException | None = info.value
    while exc is not None:
        assert API_KEY not in str(exc) and API_KEY not in repr(exc.args)
        exc = exc.__cause__ or exc.__context__


@pytest.mark.parametrize("trust", ["ca", "off"])
async def test_tls_with_a_trusted_context_or_verification_off(
        tls_url: tuple[str, Any], transport: str, trust: str) -> None:
    """A context trusting the CA (or ssl=False) connects over TLS; pushes and replies flow."""
    url, ca = tls_url
    context: Any = False
    if trust == "ca":
        context = ssl.create_default_context()
        ca.configure_trust(context)
    async with fastphx.Client(url, API_KEY, topic="room:tls", ssl=context,
                              transport=transport, **FAST) as client:  # type: ignore[arg-type]
        assert (await client.push("room:tls", "echo", {"x": 1})).response == {"x": 1}


async def test_picows_pause_reaches_the_socket(server: PhoenixTestServer) -> None:
    """On picows, whenever the reader waits for the consumer (PAUSE/BLOCKED), the socket is
    not being read and at most one read (64 KiB) of parsed frames waits in the adapter;
    every push still arrives, in order."""
    pytest.importorskip("picows")
    client = fastphx.Client(server.url, topic="room:p", transport="picows",
                            push_buffer_size=4, **FAST)
    stream = client.pushes(topic="room:p", events={"n"})
    reading_at_pause: list[bool] = []
    queued_at_pause: list[int] = []
    overflowed = client._overflowed

    async def recording() -> None:
        conn: Any = client._ws
        reading_at_pause.append(conn._transport.underlying_transport.is_reading())
        queued_at_pause.append(sum(len(i if i.__class__ is bytes else i[0])
                                   for i in conn._pending))
        await overflowed()

    client._overflowed = recording  # type: ignore[method-assign]
    await client.connect()
    count = 50_000  # megabytes behind the paused reader: the kernel's queue fills
    producer = asyncio.ensure_future(
        server.push_many("room:p", "n", ({"i": i} for i in range(count))))

    async def take() -> list[int]:
        seen = []
        async for push in stream:
            seen.append(push.payload["i"])
            if len(seen) == count:
                break
        return seen

    try:
        assert await asyncio.wait_for(take(), TIMEOUT * 4) == list(range(count))
        await producer
    finally:
        await client.close()
    assert reading_at_pause and not any(reading_at_pause)
    assert max(queued_at_pause) <= 1 << 16, max(queued_at_pause)


def test_picows_reassembles_fragments_and_bounds_them() -> None:
    """Fragmented messages are delivered whole, in order with unfragmented ones; a
    fragmented message over max_message_size is refused (too_big, close 1009)."""
    picows = pytest.importorskip("picows")
    from fastphx._transport_picows import PicowsConnection

    make = picows.picows._make_test_ws_frame
    text, cont = picows.WSMsgType.TEXT, picows.WSMsgType.CONTINUATION
    got: list[tuple[bytes, bool]] = []
    conn = PicowsConnection(max_message_size=10)
    conn._paused = False
    conn._handle = lambda data, binary: got.append((data, binary)) and False
    for frame in (make(text, b"ab", False, False), make(cont, b"cd", False, False),
                  make(cont, b"e", True, False), make(picows.WSMsgType.BINARY, b"z", True,
                                                      False)):
        conn.on_ws_frame(None, frame)
    assert got == [(b"abcde", False), (b"z", True)]

    class Closing:
        is_close_frame_sent = False
        sent: list[Any] = []

        def send_close(self, code: Any) -> None:
            self.sent.append(code)

        def disconnect(self) -> None:
            pass

    conn._transport = Closing()  # type: ignore[assignment]
    conn.on_ws_frame(None, make(text, b"x" * 8, False, False))
    conn.on_ws_frame(None, make(cont, b"x" * 8, True, False))
    assert conn.too_big and conn.close_code == 1009 and len(got) == 2
    assert Closing.sent == [picows.WSCloseCode.MESSAGE_TOO_BIG]

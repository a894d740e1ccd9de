"""fastphx.testing.FaultProxy: each fault over loopback TCP, and a Client through it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

import fastphx
from fastphx.testing import FaultProxy, PhoenixTestServer

TIMEOUT = 5.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))


class EchoServer:
    """A loopback TCP server that echoes what it reads and records each connection's end."""

    def __init__(self) -> None:
        self.port = 0
        self.accepted = 0
        self.ends: list[str] = []  # "eof" or "error", one per finished connection
        self.received = bytearray()
        self.changed = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.changed.set()
        end = "eof"
        try:
            while data := await reader.read(65536):
                self.received += data
                self.changed.set()
                writer.write(data)
                await writer.drain()
        except OSError:
            end = "error"
        self.ends.append(end)
        self.changed.set()
        writer.close()

    async def wait_for(self, predicate: Any) -> None:
        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), TIMEOUT)


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    server = EchoServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(echo: EchoServer) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", echo.port) as proxy:
        yield proxy


async def dial(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to the proxy, once the proxy has connected it upstream."""
    before = proxy.connections
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    await proxy.wait_for(lambda: proxy.connections > before, TIMEOUT)
    return reader, writer


async def roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    data: bytes) -> bytes:
    writer.write(data)
    return await asyncio.wait_for(reader.readexactly(len(data)), TIMEOUT)


async def test_forwards_both_ways_and_counts(proxy: FaultProxy, echo: EchoServer) -> None:
    """Bytes go through both ways unchanged and are counted per direction."""
    reader, writer = await dial(proxy)
    assert await roundtrip(reader, writer, b"hello world") == b"hello world"
    assert (proxy.connections, proxy.active) == (1, 1)
    assert (proxy.bytes_up, proxy.bytes_down) == (11, 11)
    writer.close()
    await proxy.wait_for_active(0, TIMEOUT)
    await echo.wait_for(lambda: echo.ends == ["eof"])


async def test_cut_closes_both_sides(proxy: FaultProxy, echo: EchoServer) -> None:
    """cut() closes the client's and the server's socket; the proxy keeps accepting."""
    reader, writer = await dial(proxy)
    await roundtrip(reader, writer, b"x")
    proxy.cut()
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    await echo.wait_for(lambda: len(echo.ends) == 1)
    await proxy.wait_for_active(0, TIMEOUT)
    writer.close()
    reader2, writer2 = await dial(proxy)
    assert await roundtrip(reader2, writer2, b"again") == b"again"
    writer2.close()


async def test_reset_sends_rst(proxy: FaultProxy) -> None:
    """reset() aborts with a TCP RST: the client's next read fails with ConnectionResetError."""
    reader, writer = await dial(proxy)
    await roundtrip(reader, writer, b"x")
    proxy.reset()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    await proxy.wait_for_active(0, TIMEOUT)


async def test_stall_holds_data_and_resume_delivers_it(proxy: FaultProxy,
                                                       echo: EchoServer) -> None:
    """stall() forwards nothing (sockets stay open); resume() delivers what was held, in order."""
    reader, writer = await dial(proxy)
    proxy.stall()
    writer.write(b"one,")
    writer.write(b"two")
    with pytest.raises(asyncio.TimeoutError):  # a bounded negative check: nothing arrives
        await asyncio.wait_for(reader.read(1), 0.2)
    assert echo.received == b"" and proxy.bytes_up == 0 and proxy.active == 1
    proxy.resume()
    assert await asyncio.wait_for(reader.readexactly(7), TIMEOUT) == b"one,two"
    writer.close()


async def test_cut_while_stalled_ends_at_once(proxy: FaultProxy, echo: EchoServer) -> None:
    """cut() during a stall closes the connections without waiting for resume()."""
    reader, writer = await dial(proxy)
    proxy.stall()
    writer.write(b"held")
    proxy.cut()
    try:  # an RST instead of a FIN when the proxy had not read "held" yet (Linux TCP)
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    except ConnectionResetError:
        pass
    await proxy.wait_for_active(0, TIMEOUT)
    await echo.wait_for(lambda: len(echo.ends) == 1)
    assert echo.received == b""
    writer.close()


async def test_half_close_sends_fin_both_ways(proxy: FaultProxy, echo: EchoServer) -> None:
    """half_close(): both peers read EOF; the client may still write (nothing is forwarded)."""
    reader, writer = await dial(proxy)
    await roundtrip(reader, writer, b"x")
    proxy.half_close()
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    await echo.wait_for(lambda: echo.ends == ["eof"])
    writer.write(b"after")
    await writer.drain()
    writer.close()
    await proxy.wait_for_active(0, TIMEOUT)
    assert proxy.bytes_up == 1


async def test_refuse_and_accept_again(proxy: FaultProxy) -> None:
    """refuse(True) refuses new connections on the same port and keeps live ones."""
    reader, writer = await dial(proxy)
    proxy.refuse(True)
    assert proxy.refusing
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await roundtrip(reader, writer, b"still") == b"still"
    proxy.refuse(False)
    reader2, writer2 = await dial(proxy)
    assert await roundtrip(reader2, writer2, b"back") == b"back"
    for w in (writer, writer2):
        w.close()


async def test_hang_accepts_and_never_answers(proxy: FaultProxy, echo: EchoServer) -> None:
    """hang(True): connections are accepted but never reach the server; cut() ends them."""
    proxy.hang(True)
    reader, writer = await dial(proxy)
    await proxy.wait_for(lambda: proxy.hung == 1, TIMEOUT)
    writer.write(b"hello?")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)
    assert echo.accepted == 0
    proxy.hang(False)
    reader2, writer2 = await dial(proxy)
    assert await roundtrip(reader2, writer2, b"ok") == b"ok"
    proxy.cut()
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    await proxy.wait_for_active(0, TIMEOUT)
    for w in (writer, writer2):
        w.close()


@pytest.mark.parametrize("options,data,minimum", [
    ({"latency": 0.1}, b"ping", 0.2),  # each direction delayed: a round trip >= 2 x latency
    ({"bandwidth": 100_000}, b"z" * 20_000, 0.2),  # 20 KB at 100 KB/s per direction
], ids=["latency", "bandwidth"])
async def test_latency_and_bandwidth_slow_the_link(echo: EchoServer, options: dict[str, float],
                                                   data: bytes, minimum: float) -> None:
    """latency delays every chunk each way; bandwidth caps bytes/s per direction: a round
    trip takes at least ``minimum`` seconds and returns the data intact."""
    async with FaultProxy("127.0.0.1", echo.port, **options) as proxy:
        reader, writer = await dial(proxy)
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await roundtrip(reader, writer, data) == data
        assert loop.time() - start >= minimum
        writer.close()


async def test_unreachable_server_is_counted(echo: EchoServer) -> None:
    """A server that refuses: the client's connection is closed, failed_upstream counts it."""
    await echo.stop()
    async with FaultProxy("127.0.0.1", echo.port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        assert proxy.failed_upstream == 1
        writer.close()


async def test_fixture_client_reconnects_through_cut(phx_server: PhoenixTestServer,
                                                     fault_proxy: FaultProxy) -> None:
    """The fault_proxy fixture sits in front of phx_server: a cut makes the client redial."""
    phx_server.add_channel("room:*", join=lambda ctx, params: {"hi": 1},
                           handlers={"echo": lambda ctx, payload: payload})
    url = fault_proxy.url_for(phx_server.url)
    assert url.startswith(f"ws://127.0.0.1:{fault_proxy.port}/")
    async with fastphx.Client(url, topic="room:1", reconnect_delay=lambda n: 0.01) as client:
        stream = client.pushes(events={"rejoined"})
        fault_proxy.cut()
        rejoined = await asyncio.wait_for(anext(stream), TIMEOUT)
        assert rejoined.payload == {"hi": 1}
        assert (await client.push("room:1", "echo", {"a": 1})).response == {"a": 1}
        assert fault_proxy.connections == 2

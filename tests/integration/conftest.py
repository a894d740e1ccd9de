"""Generic fixtures for loopback integration tests.

``raw_phx`` opens raw aiohttp WebSocket connections (no fastphx client involved) and wraps
each in a :class:`RawPhx` that sends and reads Phoenix V2 frames; every connection and
session is closed after the test. (The ``transport`` fixture, one run per transport, is in
tests/conftest.py: the reliability suite uses it too.) ``TIMEOUT`` is the scaled
wait used by these tests (``FASTPHX_TEST_TIMEOUT_SCALE`` multiplies it on slow machines).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

TIMEOUT = 5.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))


class RawPhx:
    """A raw aiohttp WebSocket speaking Phoenix V2 frames by hand (for server tests)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> None:
        """Send one V2 TEXT frame ``[join_ref, ref, topic, event, payload]``."""
        await self.ws.send_str(orjson.dumps([join_ref, ref, topic, event, payload]).decode())

    async def send_text(self, text: str | bytes) -> None:
        """Send raw TEXT (bytes are sent as a TEXT frame too)."""
        await self.ws.send_str(text.decode() if isinstance(text, bytes) else text)

    async def receive(self, timeout: float = TIMEOUT) -> aiohttp.WSMessage:
        """Return the next WebSocket message (TEXT, BINARY, CLOSE...)."""
        msg: aiohttp.WSMessage = await self.ws.receive(timeout=timeout)
        return msg

    async def recv_raw(self, timeout: float = TIMEOUT) -> str:
        """Return the next TEXT frame's text; fail on anything else."""
        msg = await self.receive(timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        return str(msg.data)

    async def recv(self, timeout: float = TIMEOUT) -> list[Any]:
        """Return the next TEXT frame decoded as a JSON list."""
        value = orjson.loads(await self.recv_raw(timeout))
        assert isinstance(value, list)
        return value

    async def recv_binary(self, timeout: float = TIMEOUT) -> bytes:
        """Return the next BINARY frame's bytes; fail on anything else."""
        msg = await self.receive(timeout)
        assert msg.type is aiohttp.WSMsgType.BINARY, msg
        return bytes(msg.data)

    async def join(self, topic: str, ref: str, params: Any = None) -> list[Any]:
        """Join ``topic`` with join_ref = ref; return the reply frame."""
        await self.send(ref, ref, topic, "phx_join", params or {})
        return await self.recv()


ConnectPhx = Callable[..., Awaitable[RawPhx]]


@pytest.fixture
async def raw_phx() -> AsyncIterator[ConnectPhx]:
    """Factory ``await raw_phx(url, params=None, vsn="2.0.0", protocols=())`` -> RawPhx."""
    session = aiohttp.ClientSession()
    opened: list[Any] = []

    async def connect(url: str, params: dict[str, str] | None = None, vsn: str | None = "2.0.0",
                      protocols: tuple[str, ...] = ()) -> RawPhx:
        query = dict(params or {})
        if vsn is not None:
            query["vsn"] = vsn
        ws = await session.ws_connect(
            url, params=query, protocols=protocols, autoping=True, max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT))
        opened.append(ws)
        return RawPhx(ws)

    try:
        yield connect
    finally:
        for ws in opened:
            if not ws.closed:
                await ws.close()
        await session.close()


Settle = Callable[[Any, Any, int], Awaitable[None]]


@pytest.fixture
def settle() -> Settle:
    """``await settle(client, server, n)``: return once ``client`` redialed (the server saw
    ``n`` connections in all) and every topic is joined again. A push to a rejoining topic
    waits in its buffer until the rejoin, so its echo (the test's channels answer ``echo``)
    proves the rejoin; the client is then CONNECTED."""
    from fastphx import Status

    async def run(client: Any, server: Any, connections: int) -> None:
        await server.wait_for(lambda: server.total_connections >= connections, TIMEOUT)
        await asyncio.gather(*(client.push(t, "echo", {}, timeout=TIMEOUT * 2)
                               for t in client.topics))
        assert client.status is Status.CONNECTED

    return run

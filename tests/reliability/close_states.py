"""close() in one client state, run as a script under asyncio debug mode with warnings as
errors (``python -X dev -W error close_states.py STATE TRANSPORT``); test_close_states.py
runs it for every state and transport.

Each scenario puts a client in a state, calls close() and checks that it returns within
PROMPT and that every waiter (connect, joins, pushes, iterators) ended with a typed fastphx
error or a clean end. Logs go to stdout (checked for secrets by the test); stderr stays for
what must never happen: asyncio errors, ResourceWarnings, unretrieved exceptions, tracebacks.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from relsuite import SCALE, TIMEOUT, make_client, server_port, setup_channels, wait_until

import fastphx
from fastphx.testing import FaultProxy, PhoenixTestServer

CLOSE_TIMEOUT = 0.5
PROMPT = CLOSE_TIMEOUT + 1.0 * SCALE  # close() may wait once for a close handshake


async def closes_promptly(client: fastphx.Client, *waiters: asyncio.Future[Any]) -> None:
    """close() returns within PROMPT; then every waiter is done, each with a typed error or
    a clean end (an iterator's task returns)."""
    await asyncio.wait_for(client.close(), PROMPT)
    assert client.status is fastphx.Status.CLOSED
    if waiters:
        _, pending = await asyncio.wait(waiters, timeout=PROMPT)
        assert not pending, f"{len(pending)} waiters still pending after close()"
    for waiter in waiters:
        exc = waiter.exception()
        assert exc is None or isinstance(exc, fastphx.FastphxError), repr(exc)


def typed(waiter: asyncio.Future[Any], *kinds: type[BaseException]) -> None:
    """The waiter failed with one of ``kinds``."""
    assert isinstance(waiter.exception(), kinds), repr(waiter.exception())


async def during_connect(server: PhoenixTestServer, proxy: FaultProxy, transport: str) -> None:
    """close() while connect() waits for a handshake that never comes (a hung server)."""
    proxy.hang(True)
    client = make_client(proxy.url_for(server.url), transport, connect_timeout=30.0,
                         close_timeout=CLOSE_TIMEOUT)
    connecting = asyncio.ensure_future(client.connect())
    await proxy.wait_for(lambda: proxy.hung == 1, TIMEOUT)
    await closes_promptly(client, connecting)
    typed(connecting, fastphx.ClientClosedError)  # as docs/client.md says of close()


async def during_join(server: PhoenixTestServer, proxy: FaultProxy, transport: str) -> None:
    """close() while a join waits for its reply on a stalled link."""
    client = make_client(proxy.url_for(server.url), transport, close_timeout=CLOSE_TIMEOUT)
    await client.connect()
    proxy.stall()
    joining = asyncio.ensure_future(client.join_topic("room:1"))
    await asyncio.sleep(0)  # the join is registered (not a synchronisation: nothing to wait on)
    await closes_promptly(client, joining)
    typed(joining, fastphx.ClientClosedError)


async def during_backoff(server: PhoenixTestServer, proxy: FaultProxy, transport: str) -> None:
    """close() while the client waits a long backoff before redialing."""
    client = make_client(proxy.url_for(server.url), transport, reconnect_delay=lambda n: 60.0,
                         close_timeout=CLOSE_TIMEOUT)
    await client.connect()
    events = client.pushes(events={"reconnecting"})
    proxy.cut()
    await asyncio.wait_for(anext(events), TIMEOUT)
    pushing = asyncio.ensure_future(client.push("room:0", "echo", {}))  # buffered for rejoin
    await closes_promptly(client, pushing)
    typed(pushing, fastphx.ClientClosedError)


async def during_redial(server: PhoenixTestServer, proxy: FaultProxy, transport: str) -> None:
    """close() while a redial's handshake hangs."""
    client = make_client(proxy.url_for(server.url), transport, connect_timeout=30.0,
                         close_timeout=CLOSE_TIMEOUT)
    await client.connect()
    proxy.hang(True)
    proxy.cut()
    await proxy.wait_for(lambda: proxy.hung == 1, TIMEOUT)
    await closes_promptly(client)


async def with_pending_pushes(server: PhoenixTestServer, proxy: FaultProxy,
                              transport: str) -> None:
    """close() with 10,000 pushes awaiting replies that never come."""
    client = make_client(server.url, transport, close_timeout=CLOSE_TIMEOUT)
    await client.connect()
    pushes = [asyncio.ensure_future(client.push("room:0", "never", {}, timeout=60))
              for _ in range(10_000)]
    await server.wait_for(lambda: len(server.received) >= 10_001, TIMEOUT)
    await closes_promptly(client, *pushes)
    for push in pushes:
        typed(push, fastphx.ClientClosedError)


async def drain(stream: fastphx.PushStream) -> int:
    return len([p async for p in stream])


async def with_blocked_iterators(server: PhoenixTestServer, proxy: FaultProxy,
                                 transport: str) -> None:
    """close() with one iterator waiting for pushes, one full (the reader paused on it under
    ``block``), and a push waiting behind them."""
    client = make_client(server.url, transport, push_buffer_size=8,
                         close_timeout=CLOSE_TIMEOUT)
    await client.connect()
    waiting = asyncio.ensure_future(drain(client.pushes(events={"none"})))
    full = client.pushes(events={"n"})
    await server.push_many("room:0", "n", [{"i": i} for i in range(100)])
    await wait_until(lambda: len(full) > 8)  # past its bound: the reader paused on it
    pushing = asyncio.ensure_future(client.push("room:0", "echo", {}))
    await closes_promptly(client, waiting, pushing)
    assert waiting.result() == 0
    assert pushing.done()


async def twice_concurrently(server: PhoenixTestServer, proxy: FaultProxy, transport: str) -> None:
    """Two close() calls at once, and a third after: all return, the client is CLOSED."""
    client = make_client(server.url, transport, close_timeout=CLOSE_TIMEOUT)
    await client.connect()
    await asyncio.wait_for(asyncio.gather(client.close(), client.close()), PROMPT)
    await closes_promptly(client)


SCENARIOS: dict[str, Callable[[PhoenixTestServer, FaultProxy, str], Awaitable[None]]] = {
    "connect": during_connect,
    "join": during_join,
    "backoff": during_backoff,
    "redial": during_redial,
    "pending_pushes": with_pending_pushes,
    "blocked_iterators": with_blocked_iterators,
    "twice": twice_concurrently,
}


async def main(name: str, transport: str) -> None:
    loop = asyncio.get_running_loop()
    loop.slow_callback_duration = 60.0  # slow-callback notes are timing noise on a busy CI box
    server = PhoenixTestServer(port=0)
    setup_channels(server)
    async with server:
        port = server_port(server)
        async with FaultProxy("127.0.0.1", port) as proxy:
            await SCENARIOS[name](server, proxy, transport)
    print(f"OK {name} {transport}")


def configure_logging() -> None:
    """Every log record at DEBUG to stdout, except asyncio's errors, which go to stderr."""
    logging.basicConfig(stream=sys.stdout, level=logging.DEBUG,
                        format="%(levelname)s %(name)s %(message)s")
    aio = logging.getLogger("asyncio")
    aio.propagate = False
    aio.setLevel(logging.WARNING)
    aio.addHandler(logging.StreamHandler(sys.stderr))


if __name__ == "__main__":
    configure_logging()
    asyncio.run(main(sys.argv[1], sys.argv[2]))

"""Fault cycles through FaultProxy: after each fault the client is CONNECTED again with every
topic rejoined, its synthetic events are valid, every pending push ended, and nothing leaked."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from relsuite import (
    HEARTBEAT,
    SCALE,
    TIMEOUT,
    live_tasks,
    make_client,
    open_fds,
    server_port,
    wait_until,
)

import fastphx
from fastphx import Status
from fastphx.testing import FaultProxy, PhoenixTestServer

CYCLES = 10
TOPICS = ("room:0", "room:1", "room:2", "room:3")
CLOSE_TIMEOUT = 0.2  # bounds the client's wait for a close handshake on a dead link


class Cycle:
    """One client behind one proxy, and the synthetic events it delivered so far."""

    def __init__(self, server: PhoenixTestServer, proxy: FaultProxy,
                 client: fastphx.Client) -> None:
        self.server, self.proxy, self.client = server, proxy, client
        self.events: asyncio.Queue[fastphx.Push] = asyncio.Queue()
        self.last_attempt = 0

    async def collect(self) -> None:
        async for push in self.client.pushes(events={"reconnecting", "rejoined"}):
            self.events.put_nowait(push)

    async def next_event(self) -> fastphx.Push:
        push = await asyncio.wait_for(self.events.get(), TIMEOUT)
        if push.event == "reconnecting":
            check_reconnecting(push, self.last_attempt)
            self.last_attempt = push.payload["attempt"]
        return push

    async def wait_reconnecting(self, min_attempt: int = 1) -> float:
        """Wait for a ``reconnecting`` event with at least this attempt; return its loop time."""
        while True:
            push = await self.next_event()
            if push.event == "reconnecting" and push.payload["attempt"] >= min_attempt:
                return asyncio.get_running_loop().time()

    async def wait_rejoined(self) -> None:
        """Wait until every topic was rejoined once (each with its own join reply)."""
        rejoined: set[str] = set()
        while rejoined != set(TOPICS):
            push = await self.next_event()
            if push.event == "rejoined":
                assert push.topic not in rejoined, f"{push.topic} rejoined twice"
                assert push.payload == {"topic": push.topic}
                rejoined.add(push.topic)
        self.last_attempt = 0
        await wait_until(lambda: self.client.status is Status.CONNECTED)
        assert sorted(self.client.topics) == sorted(TOPICS)
        await self.server.wait_for(lambda: any(
            sorted(c.topics) == sorted(TOPICS) and not c.closed
            for c in self.server.connections), TIMEOUT)


def check_reconnecting(push: fastphx.Push, last_attempt: int) -> None:
    """A ``reconnecting`` event: topic "", attempts counting up from 1, an RFC 3339 time."""
    assert push.topic == ""
    attempt, at = push.payload["attempt"], push.payload["next_attempt_at"]
    assert attempt == last_attempt + 1, (attempt, last_attempt)
    # Go's RFC3339Nano: up to 9 fraction digits, trailing zeros trimmed, none when whole
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z", at), at
    dt.datetime.strptime(at[:19], "%Y-%m-%dT%H:%M:%S")


async def start_pushes(cycle: Cycle) -> list[asyncio.Task[Any]]:
    """Pushes pending on every topic when the fault hits: one that is never answered (on
    the wire before the fault) and one echo."""
    server, client = cycle.server, cycle.client
    before = sum(1 for _, f in server.received if f.event == "never")
    tasks = [asyncio.ensure_future(client.push(t, "never", {}, timeout=30)) for t in TOPICS]
    tasks += [asyncio.ensure_future(client.push(t, "echo", {"t": t}, timeout=30))
              for t in TOPICS]
    await server.wait_for(lambda: sum(
        1 for _, f in server.received if f.event == "never") == before + len(TOPICS), TIMEOUT)
    return tasks


async def check_pushes_ended(tasks: list[asyncio.Task[Any]]) -> None:
    """Every pending push ended with a reply or a typed fastphx error; none hangs."""
    done, _ = await asyncio.wait(tasks, timeout=TIMEOUT)
    assert len(done) == len(tasks), "a push is still pending after the client recovered"
    for task in tasks:
        exc = task.exception()
        assert exc is None or isinstance(exc, fastphx.FastphxError), repr(exc)
        if exc is None:
            assert isinstance(task.result(), fastphx.Reply)


async def stall_fault(cycle: Cycle) -> None:
    """A silent link is detected by the heartbeat within two intervals (plus 0.25 s of event
    loop slack, scaled), then the link flows again."""
    proxy = cycle.proxy
    start = asyncio.get_running_loop().time()
    proxy.stall()
    detected = await cycle.wait_reconnecting()
    proxy.resume()
    assert detected - start <= 2 * HEARTBEAT + 0.25 * SCALE, detected - start


async def refuse_fault(cycle: Cycle) -> None:
    """Redials are refused (at least one fails) until the proxy listens again."""
    cycle.proxy.refuse(True)
    cycle.proxy.cut()
    await cycle.wait_reconnecting(min_attempt=2)
    cycle.proxy.refuse(False)


async def hang_fault(cycle: Cycle) -> None:
    """A redial is accepted but never answered (ConnectTimeout) until hang is lifted."""
    proxy = cycle.proxy
    proxy.hang(True)
    proxy.cut()
    await proxy.wait_for(lambda: proxy.hung >= 1, TIMEOUT)
    proxy.hang(False)
    await cycle.wait_reconnecting(min_attempt=2)


async def simple(fault: Callable[[FaultProxy], None], cycle: Cycle) -> None:
    fault(cycle.proxy)
    await cycle.wait_reconnecting()


FAULTS: dict[str, Callable[[Cycle], Awaitable[None]]] = {
    "cut": lambda c: simple(FaultProxy.cut, c),
    "reset": lambda c: simple(FaultProxy.reset, c),
    "half_close": lambda c: simple(FaultProxy.half_close, c),
    "stall": stall_fault,
    "refuse": refuse_fault,
    "hang": hang_fault,
}


async def run_cycles(server: PhoenixTestServer, proxy: FaultProxy, fault: str,
                     transport: str) -> None:
    client = make_client(proxy.url_for(server.url), transport, heartbeat_interval=HEARTBEAT,
                         close_timeout=CLOSE_TIMEOUT, connect_timeout=0.3 * SCALE)
    cycle = Cycle(server, proxy, client)
    try:
        await client.connect()
        for topic in TOPICS[1:]:
            await client.join_topic(topic)
        collector = asyncio.ensure_future(cycle.collect())
        for _ in range(CYCLES):
            pending = await start_pushes(cycle)
            await FAULTS[fault](cycle)
            await cycle.wait_rejoined()
            await check_pushes_ended(pending)
            reply = await client.push("room:3", "echo", {"after": fault}, timeout=TIMEOUT)
            assert reply.response == {"after": fault}
    finally:
        await client.close()
    await asyncio.wait_for(collector, TIMEOUT)  # the iterator ends when the client closes
    assert client.error is None


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_cycles(server: PhoenixTestServer, fault: str, transport: str) -> None:
    """Ten cycles of one fault: the client recovers fully each time and leaks nothing."""
    fds, tasks = open_fds(), live_tasks()
    async with FaultProxy("127.0.0.1", server_port(server)) as proxy:
        await run_cycles(server, proxy, fault, transport)
        await proxy.wait_for_active(0, TIMEOUT)
    await server.wait_for_connections(0, timeout=TIMEOUT)
    await wait_until(lambda: (open_fds(), live_tasks()) == (fds, tasks))


@pytest.mark.parametrize("fault", ["cut", "reset"])
async def test_dial_ended_during_handshake(server: PhoenixTestServer, fault: str,
                                           transport: str) -> None:
    """A connection ended before the upgrade is answered fails connect() typed, promptly,
    leaking nothing: ConnectError (aiohttp retries the upgrade once, on a connection that
    hangs too, and ends with ConnectTimeout)."""
    fds, tasks = open_fds(), live_tasks()
    async with FaultProxy("127.0.0.1", server_port(server)) as proxy:
        proxy.hang(True)
        client = make_client(proxy.url_for(server.url), transport, connect_timeout=1.0 * SCALE)
        connecting = asyncio.ensure_future(client.connect())
        await proxy.wait_for(lambda: proxy.hung == 1, TIMEOUT)
        getattr(proxy, fault)()
        expected = fastphx.ConnectTimeout if transport == "aiohttp" else fastphx.ConnectError
        with pytest.raises(expected):
            await asyncio.wait_for(connecting, TIMEOUT)
        assert client.status is Status.CLOSED
    await wait_until(lambda: (open_fds(), live_tasks()) == (fds, tasks))


async def test_stall_redialed_without_waiting_for_close(server: PhoenixTestServer,
                                                        transport: str) -> None:
    """A silent link is given up within two heartbeat intervals even with a long
    close_timeout: the redial does not wait for a close handshake the dead link cannot
    complete (that wait goes on in the background)."""
    async with FaultProxy("127.0.0.1", server_port(server)) as proxy:
        client = make_client(proxy.url_for(server.url), transport, heartbeat_interval=HEARTBEAT,
                             close_timeout=10 * TIMEOUT)
        try:
            await client.connect()
            events = client.pushes(events={"reconnecting"})
            loop = asyncio.get_running_loop()
            start = loop.time()
            proxy.stall()
            await asyncio.wait_for(anext(events), TIMEOUT)
            detected = loop.time() - start
        finally:
            proxy.resume()  # the old link's close handshake completes
            await client.close()
    assert detected <= 2 * HEARTBEAT + 0.25 * SCALE, detected

"""Scale: 1,000 topics rejoined after a forced drop; 100k concurrent pushes answered, timed
out, or cancelled, with the client's internal tables empty afterwards.

The tables are the sans-I/O core's, the same on every transport: on picows the pushes run
at a quarter of the size (25k), enough to check its send and reply paths, and the suite's
time stays bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from relsuite import TIMEOUT, internal_tables, make_client, setup_channels

import fastphx
from fastphx import Status
from fastphx.testing import PhoenixTestServer

TOPICS = 1_000
PUSHES = {"aiohttp": 100_000, "picows": 25_000}
EMPTY = {"refs": 0, "channel_buffers": 0, "timeouts": 0}


@pytest.fixture
async def big_server() -> AsyncIterator[PhoenixTestServer]:
    """The suite's channels on a server that allows more than 1,000 channels per socket."""
    server = PhoenixTestServer(port=0, max_channels=TOPICS + 10)
    setup_channels(server)
    async with server:
        yield server


@pytest.fixture
async def client(server: PhoenixTestServer,
                 clients: list[fastphx.Client], transport: str) -> fastphx.Client:
    made = make_client(server.url, transport, reply_timeout=60.0)
    clients.append(made)
    await made.connect()
    return made


@pytest.fixture
def pushes(transport: str) -> int:
    """How many concurrent pushes the push tests make on this transport."""
    return PUSHES[transport]


async def test_thousand_topics_rejoined_after_drop(big_server: PhoenixTestServer,
                                                   clients: list[fastphx.Client],
                                                   transport: str) -> None:
    """1,000 topics joined at once are all rejoined (one ``rejoined`` each) after a drop."""
    client = make_client(big_server.url, transport)
    clients.append(client)
    await client.connect()
    topics = [f"room:t{i}" for i in range(TOPICS)]
    await asyncio.gather(*(client.join_topic(t) for t in topics))
    stream = client.pushes(events={"rejoined"})
    await big_server.drop_connections()
    rejoined: list[str] = []
    while len(rejoined) < TOPICS + 1:
        rejoined.append((await asyncio.wait_for(anext(stream), TIMEOUT)).topic)
    assert sorted(rejoined) == sorted([*topics, "room:0"])
    assert client.status is Status.CONNECTED and len(client.topics) == TOPICS + 1
    await big_server.wait_for(lambda: any(
        len(c.topics) == TOPICS + 1 for c in big_server.connections), TIMEOUT)
    assert internal_tables(client) == EMPTY


async def test_concurrent_pushes_replied(client: fastphx.Client, pushes: int) -> None:
    """100k pushes (25k on picows) in flight at once each get their own reply; the tables
    end empty."""
    replies = await asyncio.wait_for(asyncio.gather(
        *(client.push("room:0", "echo", {"i": i}) for i in range(pushes))), 20 * TIMEOUT)
    assert [r.response["i"] for r in replies] == list(range(pushes))
    assert internal_tables(client) == EMPTY


async def test_concurrent_pushes_timed_out(client: fastphx.Client, pushes: int) -> None:
    """100k unanswered pushes (25k on picows) all end with PushTimeout; the tables end
    empty."""
    results = await asyncio.wait_for(asyncio.gather(
        *(client.push("room:0", "never", {}, timeout=1.0) for _ in range(pushes)),
        return_exceptions=True), 20 * TIMEOUT)
    assert all(isinstance(r, fastphx.PushTimeout) for r in results)
    assert internal_tables(client) == EMPTY
    assert (await client.push("room:0", "echo", {"ok": 1})).response == {"ok": 1}


async def test_concurrent_pushes_cancelled(server: PhoenixTestServer, client: fastphx.Client,
                                           pushes: int) -> None:
    """100k pushes (25k on picows) cancelled while in flight leave nothing behind; the
    client still works."""
    tasks = [asyncio.ensure_future(client.push("room:0", "never", {})) for _ in range(pushes)]
    await server.wait_for(lambda: len(server.received) >= pushes, 20 * TIMEOUT)
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert internal_tables(client) == EMPTY
    assert (await client.push("room:0", "echo", {"ok": 1})).response == {"ok": 1}

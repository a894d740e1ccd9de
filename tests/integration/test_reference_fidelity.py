"""Where fastphx follows the Go reference (wschannel) over loopback sockets: the status
machine after a redial, silent default logging, strict typed envelopes, http URLs."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import fastphx
from fastphx import Status
from fastphx.testing import ChannelContext, PhoenixTestServer, ServerReply

pytestmark = pytest.mark.asyncio
TIMEOUT = 5.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))
FAST: dict[str, Any] = {"reply_timeout": TIMEOUT, "connect_timeout": TIMEOUT,
                        "reconnect_delay": lambda n: 0.01, "close_timeout": 0.5}


async def test_status_reconnecting_connecting_connected(phx_server: PhoenixTestServer) -> None:
    """After a drop: RECONNECTING while redialing, CONNECTING from the redial until every
    topic is rejoined, then CONNECTED (the reference's state machine)."""
    release = asyncio.Event()
    joins = {"n": 0}

    async def join(ctx: ChannelContext, params: Any) -> Any:
        joins["n"] += 1
        if joins["n"] == 2:  # the rejoin waits until the test has looked at the status
            await release.wait()
        return {}

    phx_server.add_channel("room:*", join=join)
    async with fastphx.Client(phx_server.url, topic="room:a", **FAST) as client:
        assert client.status is Status.CONNECTED
        events = client.pushes(events={"reconnecting", "rejoined"})
        await phx_server.drop_connections()
        first = await asyncio.wait_for(events.__anext__(), TIMEOUT)
        assert first.event == "reconnecting" and client.status is Status.RECONNECTING
        await phx_server.wait_for(  # the rejoin reached the server; its reply is held
            lambda: sum(f.event == "phx_join" for _, f in phx_server.received) == 2, TIMEOUT)
        assert client.status is Status.CONNECTING
        release.set()
        rejoined = await asyncio.wait_for(events.__anext__(), TIMEOUT)
        assert rejoined.event == "rejoined" and client.status is Status.CONNECTED


async def test_http_url_connects_as_ws(phx_server: PhoenixTestServer) -> None:
    """An http:// URL dials the WebSocket (ws://), as phoenix.js does."""
    phx_server.add_channel("room:*", join=lambda ctx, params: {"ok": True})
    url = phx_server.url.replace("ws://", "http://")
    async with fastphx.Client(url, topic="room:a", **FAST) as client:
        assert client.welcome == {"ok": True} and client.url.startswith("ws://")


async def test_switch_team_wrong_type_raises_envelope_error(
        phx_server: PhoenixTestServer) -> None:
    """A success reply whose field has the wrong JSON type raises EnvelopeError."""
    async def switch(ctx: ChannelContext, payload: Any) -> Any:
        return {"team": {"id": payload["team_id"], "personal": "yes"}}

    async def refuse(ctx: ChannelContext, payload: Any) -> Any:
        return ServerReply("error", {"code": "noop", "message": "already"})

    phx_server.add_channel("console:lobby", join=lambda ctx, params: {},
                           handlers={"scope.switch_team": switch})
    async with fastphx.Client(phx_server.url, **FAST) as client:
        with pytest.raises(fastphx.EnvelopeError) as info:
            await client.switch_team("t1")
        assert info.value.field == "team.personal"


SCRIPT = textwrap.dedent("""
    import asyncio, logging, sys
    import fastphx
    from fastphx.testing import PhoenixTestServer

    async def main(use_logger):
        server = PhoenixTestServer(port=0)
        server.add_channel("room:*", join=lambda ctx, params: {})
        async with server:
            logger = None
            if use_logger:
                logger = logging.getLogger("app")
                logger.addHandler(logging.StreamHandler(sys.stderr))
                logger.setLevel(logging.WARNING)
            client = fastphx.Client(server.url, topic="room:a", logger=logger,
                                    reconnect_delay=lambda n: 0.01)
            async with client:
                await server.drop_connections()
                await server.wait_for(lambda: server.total_connections == 2, 5)

    asyncio.run(main(sys.argv[1] == "logger"))
""")


@pytest.mark.parametrize("mode", ["default", "logger"])
async def test_logs_discarded_unless_a_logger_is_given(mode: str) -> None:
    """With no logger a connection loss prints nothing (NullHandler on "fastphx"); a
    passed logger gets the line."""
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", SCRIPT, mode], capture_output=True,
        text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    if mode == "default":
        assert proc.stderr == ""
    else:
        assert "connection lost" in proc.stderr


async def test_library_logger_has_a_null_handler() -> None:
    """The package installs logging.NullHandler on its root logger, as the stdlib advises."""
    handlers = logging.getLogger("fastphx").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)

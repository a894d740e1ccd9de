"""The official Phoenix JS client (npm phoenix 1.8.16 + ws, on node) against PhoenixTestServer.

Every test runs against each Phoenix profile (``phoenix="1.8"`` and ``"1.7"``). Each test
starts a server, runs one scenario of ``js/scenarios.mjs`` in a node process
(the events it observes come back as JSON lines), drives the server side when the scenario
needs it, and asserts what both sides saw. Timeouts bound every wait, so nothing hangs.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from fastphx.testing import (
    NO_REPLY,
    PROFILES,
    ChannelContext,
    PhoenixTestServer,
    ServerReply,
    StopChannel,
)

pytestmark = pytest.mark.conformance

TIMEOUT = 10.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))
LOBBY = "room:lobby"
PRESENCE = "room:presence:x"

Driver = Callable[[PhoenixTestServer], Awaitable[None]]


@pytest.fixture(params=sorted(PROFILES))
def phoenix(request: pytest.FixtureRequest) -> str:
    """The Phoenix profile the server imitates ("1.7", "1.8")."""
    return str(request.param)


@pytest.fixture
async def server(phoenix: str) -> AsyncIterator[PhoenixTestServer]:
    """The server every scenario runs against (channels as in the scenarios' comments)."""
    connects: list[dict[str, str]] = []

    def connect(params: dict[str, str], token: str | None) -> bool:
        connects.append(params)
        return params.get("ok") != "no"

    srv = PhoenixTestServer(port=0, connect=connect, phoenix=phoenix)
    srv.connects = connects  # type: ignore[attr-defined]

    def join(ctx: ChannelContext, params: Any) -> Any:
        if ctx.topic == "room:forbidden":
            return ServerReply("error", {"reason": "unauthorized"})
        if ctx.topic == PRESENCE:
            ctx.track(params["id"], {"device": "js"})
        return {"welcome": ctx.topic}

    def crash(ctx: ChannelContext, payload: Any) -> Any:
        raise RuntimeError("crash requested")

    def stop(ctx: ChannelContext, payload: Any) -> Any:
        raise StopChannel()

    async def want_bin(ctx: ChannelContext, payload: Any) -> Any:
        await ctx.push_binary("bin", b"\x01\x02\x03\xff")
        return {}

    srv.add_channel("room:*", join=join, handlers={
        "echo": lambda ctx, payload: payload,
        "fail": lambda ctx, payload: ServerReply("error", {"code": "forbidden", "message": "nope"}),
        "silent": lambda ctx, payload: NO_REPLY,
        "crash": crash,
        "stop": stop,
        "want_bin": want_bin,
    })
    async with srv:
        yield srv


async def run_scenario(script: Path, name: str, server: PhoenixTestServer,
                       driver: Driver | None = None) -> list[dict[str, Any]]:
    """Run scenario ``name`` against ``server`` (and ``driver`` alongside); return its events.

    Fails if node does not finish with "done" within TIMEOUT.
    """
    endpoint = server.url.removesuffix("/websocket")
    env = {**os.environ, "SCENARIO_TIMEOUT_MS": str(int(TIMEOUT * 1000))}
    proc = await asyncio.create_subprocess_exec(
        "node", str(script), name, endpoint, cwd=script.parent, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        if driver is not None:
            await asyncio.wait_for(driver(server), TIMEOUT)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    events = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    assert proc.returncode == 0 and events[-1]["ev"] == "done", (events, stderr.decode())
    return events


def names(events: list[dict[str, Any]]) -> list[str]:
    """The ``ev`` field of each event."""
    return [e["ev"] for e in events]


async def test_connect_params_reach_the_server(node_scenarios: Path,
                                               server: PhoenixTestServer) -> None:
    """Socket params arrive as connect params (vsn=2.0.0 stripped); the socket opens."""
    events = await run_scenario(node_scenarios, "connect_params", server)
    assert "open" in names(events)
    assert server.connects == [{"user": "alice", "n": "1"}]  # type: ignore[attr-defined]
    assert server.total_connections == 1


async def test_refused_connect_fires_on_error(node_scenarios: Path,
                                              server: PhoenixTestServer) -> None:
    """A connect refused with HTTP 403 reaches the JS onError and never opens."""
    events = await run_scenario(node_scenarios, "refused", server)
    assert "error" in names(events) and "open" not in names(events)
    assert events[-1]["connected"] is False
    assert server.total_connections == 0


async def test_auth_token_subprotocol(node_scenarios: Path, phoenix: str) -> None:
    """authToken travels in Sec-WebSocket-Protocol: 1.8 reads it and selects "phoenix"; 1.7
    selects no subprotocol, so the JS client (ws) refuses the handshake."""
    tokens: list[str | None] = []

    def connect(params: dict[str, str], token: str | None) -> bool:
        tokens.append(token)
        return True

    async with PhoenixTestServer(connect=connect, phoenix=phoenix) as srv:
        events = await run_scenario(node_scenarios, "auth_token", srv)
    if phoenix == "1.8":
        assert events[-1] == {"ev": "done", "opened": True, "protocol": "phoenix"}
        assert tokens == ["secret-token"]
    else:
        assert events[-1] == {"ev": "done", "opened": False}
        assert tokens == [None]


async def test_join_ok_and_error(node_scenarios: Path, server: PhoenixTestServer) -> None:
    """Join replies reach receive("ok") and receive("error") with their responses."""
    events = await run_scenario(node_scenarios, "join_ok_error", server)
    by_name = {e["ev"]: e for e in events}
    assert by_name["join_ok"]["resp"] == {"welcome": LOBBY}
    assert by_name["join_error"]["resp"] == {"reason": "unauthorized"}
    join = await server.wait_for_frame(LOBBY, "phx_join")
    assert join.payload == {"p": 1}


async def test_push_ok_and_error_replies(node_scenarios: Path, server: PhoenixTestServer) -> None:
    """Push replies reach receive("ok") and receive("error")."""
    events = await run_scenario(node_scenarios, "push_replies", server)
    by_name = {e["ev"]: e for e in events}
    assert by_name["push_ok"]["resp"] == {"a": 1}
    assert by_name["push_error"]["resp"] == {"code": "forbidden", "message": "nope"}


async def test_push_timeout(node_scenarios: Path, server: PhoenixTestServer) -> None:
    """A push the server leaves unanswered (NO_REPLY) times out in the JS client."""
    events = await run_scenario(node_scenarios, "push_timeout", server)
    assert "push_timeout" in names(events) and "unexpected_reply" not in names(events)
    assert (await server.wait_for_frame(LOBBY, "silent")).event == "silent"


async def test_broadcast_and_push_received(node_scenarios: Path,
                                           server: PhoenixTestServer) -> None:
    """A server broadcast (null join_ref) and push (the join's join_ref) reach channel.on."""
    async def drive(srv: PhoenixTestServer) -> None:
        await srv.wait_for_join(LOBBY)
        assert await srv.broadcast(LOBBY, "shout", {"m": "hi"}) == 1
        assert await srv.push(LOBBY, "note", {"n": 1}) == 1

    events = await run_scenario(node_scenarios, "broadcast", server, drive)
    got = {e["ev"]: e["payload"] for e in events if e["ev"] in ("shout", "note")}
    assert got == {"shout": {"m": "hi"}, "note": {"n": 1}}


async def test_crash_then_rejoin_with_new_join_ref(node_scenarios: Path,
                                                   server: PhoenixTestServer) -> None:
    """phx_error from a crashed channel makes the JS client rejoin with a new join_ref."""
    events = await run_scenario(node_scenarios, "crash_rejoin", server)
    assert "chan_error" in names(events)
    joined = [e for e in events if e["ev"] == "joined"]
    assert [e["n"] for e in joined] == [1, 2]
    joins = [f for _, f in server.received if f.event == "phx_join"]
    assert len(joins) == 2 and joins[0].join_ref != joins[1].join_ref
    assert [e["join_ref"] for e in joined] == [f.join_ref for f in joins]
    assert server.joins["room:crashy"] == 2


async def test_server_stop_closes_the_channel(node_scenarios: Path,
                                              server: PhoenixTestServer) -> None:
    """StopChannel's phx_close fires the JS channel's onClose (state closed, no rejoin)."""
    events = await run_scenario(node_scenarios, "stop_close", server)
    closes = [e for e in events if e["ev"] == "chan_close"]
    assert len(closes) == 1 and closes[0]["state"] == "closed"
    assert server.joins[LOBBY] == 1


async def test_leave(node_scenarios: Path, server: PhoenixTestServer) -> None:
    """channel.leave() gets the server's ok reply; the server forgets the channel."""
    events = await run_scenario(node_scenarios, "leave", server)
    left = [e for e in events if e["ev"] == "left"]
    assert left == [{"ev": "left", "state": "closed"}]
    leave = await server.wait_for_frame(LOBBY, "phx_leave")
    join = await server.wait_for_frame(LOBBY, "phx_join")
    assert leave.join_ref == join.join_ref


async def test_heartbeats_keep_the_socket_alive(node_scenarios: Path,
                                                server: PhoenixTestServer) -> None:
    """With heartbeatIntervalMs 50, heartbeats are answered and the socket never reconnects."""
    events = await run_scenario(node_scenarios, "heartbeat", server)
    done = events[-1]
    assert done["replies"] >= 3 and done["opens"] == 1 and done["connected"] is True
    heartbeats = [f for _, f in server.received if f.topic == "phoenix" and f.event == "heartbeat"]
    assert len(heartbeats) >= 3
    assert server.total_connections == 1


async def test_binary_push_reply_and_server_push(node_scenarios: Path,
                                                 server: PhoenixTestServer) -> None:
    """An ArrayBuffer push gets a binary reply; a binary server push arrives as ArrayBuffer."""
    events = await run_scenario(node_scenarios, "binary", server)
    by_name = {e["ev"]: e for e in events}
    assert by_name["bin_reply"] == {"ev": "bin_reply", "is_buffer": True, "hex": "000102feff"}
    assert by_name["bin_push"] == {"ev": "bin_push", "is_buffer": True, "hex": "010203ff"}
    frame = await server.wait_for_frame(LOBBY, "echo")
    assert frame.binary and frame.payload == b"\x00\x01\x02\xfe\xff"


async def test_presence_sync(node_scenarios: Path, server: PhoenixTestServer) -> None:
    """The JS Presence class builds list() from presence_state and presence_diff."""
    async def drive(srv: PhoenixTestServer) -> None:
        await srv.wait_for_join(PRESENCE)
        srv.track(PRESENCE, "carol", {"device": "server"})
        srv.untrack(PRESENCE, "carol")
        srv.track(PRESENCE, "bob", {"device": "server"})

    events = await run_scenario(node_scenarios, "presence", server, drive)
    syncs = [e["keys"] for e in events if e["ev"] == "sync"]
    assert syncs[0] == ["alice:js"]
    assert ["alice:js", "carol:server"] in syncs
    assert events[-1]["keys"] == ["alice:js", "bob:server"]


async def test_reconnect_after_drop(node_scenarios: Path, server: PhoenixTestServer) -> None:
    """After drop_connections the JS client reconnects and rejoins with a new join_ref."""
    async def drive(srv: PhoenixTestServer) -> None:
        await srv.wait_for_join(LOBBY)
        await srv.drop_connections()

    events = await run_scenario(node_scenarios, "reconnect", server, drive)
    joined = [e for e in events if e["ev"] == "joined"]
    assert [e["n"] for e in joined] == [1, 2]
    assert joined[0]["join_ref"] != joined[1]["join_ref"]
    assert server.total_connections == 2 and server.joins[LOBBY] == 2


@pytest.mark.parametrize("how", ["restart", "idle"])
async def test_reconnect_after_server_close(node_scenarios: Path, phoenix: str, how: str) -> None:
    """A server shutdown (close 1012) and an idle timeout (close 1002; the scenario sends no
    heartbeat) make the JS client reconnect and rejoin."""
    idle_timeout = 0.3 if how == "idle" else 60.0
    async with PhoenixTestServer(phoenix=phoenix, idle_timeout=idle_timeout) as srv:
        srv.add_channel("room:*", join=lambda ctx, params: {})

        async def restart(srv: PhoenixTestServer) -> None:
            await srv.wait_for_join(LOBBY)
            await srv.restart()

        driver = restart if how == "restart" else None
        events = await run_scenario(node_scenarios, "server_close", srv, driver)
    close = [e for e in events if e["ev"] == "close"]
    assert close[0]["code"] == (1012 if how == "restart" else 1002)
    assert [e["n"] for e in events if e["ev"] == "joined"] == [1, 2]

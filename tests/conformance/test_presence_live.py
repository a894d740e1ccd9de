"""fastphx.Presence and phoenix.js' Presence watch the same topic over real sockets and end
with the same list, through joins, leaves and a server restart (no ghosts on either side).

The JS side is js/presence_live.mjs (npm phoenix + ws), one node process per test.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import fastphx
from fastphx.testing import ChannelContext, PhoenixTestServer

pytestmark = pytest.mark.conformance

TIMEOUT = 10.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))
TOPIC = "room:live"
FAST: dict[str, Any] = {"reconnect_delay": lambda n: 0.01, "rejoin_delay": lambda n: 0.01}


def _devices(key: str, presence: Any) -> list[Any]:
    return [key, [m.get("device") for m in presence["metas"]]]


class JsPresence:
    """The node process: its latest synced list, and a bounded wait for a given one."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.latest: list[Any] | None = None

    async def until(self, expected: list[Any]) -> None:
        """Read syncs until the list holds ``expected`` (in any order: arrival order differs)."""
        async def read() -> None:
            assert self.proc.stdout is not None
            while self.latest is None or sorted(self.latest) != expected:
                line = await self.proc.stdout.readline()
                assert line, f"node exited; last list {self.latest}"
                event = json.loads(line)
                if event["ev"] == "sync":
                    self.latest = event["list"]
        try:
            await asyncio.wait_for(read(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"phoenix.js list {self.latest}, expected {expected}") from None


@pytest.fixture
async def server() -> AsyncIterator[PhoenixTestServer]:
    """room:* tracks the joiner under its "user" connect param, with its "device"."""
    srv = PhoenixTestServer(port=0)

    def join(ctx: ChannelContext, params: Any) -> Any:
        ctx.track(ctx.connection.params["user"], {"device": params["device"]})
        return {}

    srv.add_channel("room:*", join=join)
    async with srv:
        yield srv


@pytest.fixture
async def js(node_scenarios: Path, server: PhoenixTestServer) -> AsyncIterator[JsPresence]:
    """phoenix.js joined to TOPIC as user "bob"."""
    script = node_scenarios.parent / "presence_live.mjs"
    env = {**os.environ, "SCENARIO_TIMEOUT_MS": str(int(TIMEOUT * 2000))}
    proc = await asyncio.create_subprocess_exec(
        "node", script.name, server.url.removesuffix("/websocket"), TOPIC, "bob",
        cwd=script.parent, env=env, stdout=asyncio.subprocess.PIPE)
    try:
        yield JsPresence(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_same_list_as_phoenix_js_through_a_restart(server: PhoenixTestServer,
                                                          js: JsPresence) -> None:
    """Both clients see the same presences after joins and leaves, and after a restart
    during which a presence left, neither keeps it."""
    client = fastphx.Client(server.url, topic=TOPIC, params={"user": "alice"},
                            join_params={"device": "py"}, **FAST)
    changed = asyncio.Event()
    presence = fastphx.Presence(client, TOPIC)
    presence.on_sync(changed.set)

    async def py_until(expected: list[Any]) -> None:
        async def wait() -> None:
            while sorted(presence.list(_devices)) != expected:
                changed.clear()
                await changed.wait()
        try:
            await asyncio.wait_for(wait(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"fastphx list {presence.list(_devices)}, "
                                 f"expected {expected}") from None

    async with client, presence:
        await server.wait_for_join(TOPIC, count=2)
        server.track(TOPIC, "carol", {"device": "server"})
        server.track(TOPIC, "42", {"device": "server"})  # an integer-like key lists first
        everyone = [["42", ["server"]], ["alice", ["py"]], ["bob", ["js"]],
                    ["carol", ["server"]]]
        await asyncio.gather(py_until(everyone), js.until(everyone))
        assert js.latest is not None
        assert presence.list(_devices)[0] == js.latest[0] == ["42", ["server"]]  # listed first
        server.untrack(TOPIC, "42")
        without_42 = everyone[1:]
        await asyncio.gather(py_until(without_42), js.until(without_42))

        await server.stop()
        server.untrack(TOPIC, "carol")  # leaves while nobody is connected
        await server.start()
        await server.wait_for_join(TOPIC, count=4)
        after = [["alice", ["py"]], ["bob", ["js"]]]
        await asyncio.gather(py_until(after), js.until(after))
        assert presence.state == server.presence_list(TOPIC)

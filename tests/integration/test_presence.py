"""fastphx.Presence over loopback sockets against the PhoenixTestServer (``ctx.track``).

Clients are named by user (connect param ``user``) and device (join param ``device``); the
channel tracks ``user`` with ``{"device": device}`` on join, as Phoenix apps do in
``after_join``. Where the order of ``presence_state`` and ``presence_diff`` matters, the
frames are sent by hand from a join handler (the server's own order is not the test's).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import fastphx
from fastphx.testing import ChannelContext, PhoenixTestServer, demo_server

FAST: dict[str, Any] = {"heartbeat_interval": 0.5, "reply_timeout": 2.0, "connect_timeout": 2.0,
                        "reconnect_delay": lambda n: 0.02, "rejoin_delay": lambda n: 0.02,
                        "close_timeout": 0.5}
TOPIC = "room:lobby"
TIMEOUT = 5.0 * float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))


class Watch:
    """Records a Presence's callbacks and lets a test wait (bounded) for a condition."""

    def __init__(self, presence: fastphx.Presence) -> None:
        self.presence = presence
        self.calls: list[tuple[str, str, list[str]]] = []
        self.syncs = 0
        self._changed = asyncio.Event()
        presence.on_join(lambda key, cur, new: self._record("join", key, new))
        presence.on_leave(lambda key, cur, left: self._record("leave", key, left))
        presence.on_sync(self._sync)

    def _record(self, kind: str, key: str, presence: Any) -> None:
        self.calls.append((kind, key, [m.get("device") for m in presence["metas"]]))

    def _sync(self) -> None:
        self.syncs += 1
        self._changed.set()

    def devices(self) -> dict[str, list[str]]:
        """``{user: [device, ...]}`` of the Presence's state."""
        return {k: [m.get("device") for m in v["metas"]] for k, v in self.presence.state.items()}

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds after a sync (fails after TIMEOUT)."""
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), TIMEOUT)

    async def devices_become(self, expected: dict[str, list[str]]) -> None:
        await self.until(lambda: self.devices() == expected)


@pytest.fixture
async def server(phx_server: PhoenixTestServer) -> PhoenixTestServer:
    """phx_server with room:* tracking the joiner, and "untrack" to stop that."""
    def join(ctx: ChannelContext, params: Any) -> Any:
        ctx.track(ctx.connection.params.get("user", "anon"), {"device": params.get("device")})
        return {"joined": ctx.topic}

    def untrack(ctx: ChannelContext, payload: Any) -> Any:
        ctx.untrack(ctx.connection.params.get("user", "anon"))
        return {}

    phx_server.add_channel("room:*", join=join, handlers={"untrack": untrack})
    return phx_server


Connect = Callable[..., Any]


@pytest.fixture
async def connect(server: PhoenixTestServer) -> AsyncIterator[Connect]:
    """``await connect(user, device)`` -> (client, Watch): a Presence made before connect()."""
    made: list[tuple[fastphx.Client, fastphx.Presence]] = []

    async def make(user: str, device: str, **options: Any) -> tuple[fastphx.Client, Watch]:
        client = fastphx.Client(server.url, topic=TOPIC, params={"user": user},
                                join_params={"device": device}, **{**FAST, **options})
        presence = fastphx.Presence(client, TOPIC)
        made.append((client, presence))
        watch = Watch(presence)
        await client.connect()
        return client, watch

    yield make
    for client, presence in made:
        await presence.close()
        await client.close()


async def test_made_before_connect_sees_its_own_join(connect: Connect) -> None:
    """A Presence made before connect() gets the primary topic's first presence_state."""
    _, watch = await connect("alice", "a1")
    await watch.devices_become({"alice": ["a1"]})
    assert watch.presence.synced
    assert watch.presence.list() == [watch.presence.state["alice"]]
    assert watch.calls[0] == ("join", "alice", ["a1"])


async def test_two_clients_see_each_other(connect: Connect) -> None:
    """Each of two clients sees both users, whoever joined first."""
    _, alice = await connect("alice", "a1")
    await alice.devices_become({"alice": ["a1"]})
    _, bob = await connect("bob", "b1")
    both = {"alice": ["a1"], "bob": ["b1"]}
    await alice.devices_become(both)
    await bob.devices_become(both)
    assert ("join", "bob", ["b1"]) in alice.calls
    assert sorted(bob.presence.list(lambda key, p: key)) == ["alice", "bob"]


async def test_same_user_on_two_sockets(connect: Connect) -> None:
    """One user on two sockets is one key with two metas; one socket leaving removes one."""
    _, watch = await connect("watcher", "w")
    phone, _ = await connect("alice", "phone")
    _, _ = await connect("alice", "laptop")
    await watch.devices_become({"watcher": ["w"], "alice": ["phone", "laptop"]})
    await phone.close()
    await watch.devices_become({"watcher": ["w"], "alice": ["laptop"]})
    assert watch.calls[-1] == ("leave", "alice", ["phone"])


async def test_leave_and_untrack(connect: Connect, server: PhoenixTestServer) -> None:
    """leave_topic and an untrack both reach the others as leaves; the key goes away."""
    _, watch = await connect("watcher", "w")
    bob, _ = await connect("bob", "b1")
    carol, _ = await connect("carol", "c1")
    await watch.devices_become({"watcher": ["w"], "bob": ["b1"], "carol": ["c1"]})
    await bob.leave_topic(TOPIC)
    await watch.devices_become({"watcher": ["w"], "carol": ["c1"]})
    await carol.push(TOPIC, "untrack", {})
    await watch.devices_become({"watcher": ["w"]})
    assert [c for c in watch.calls if c[0] == "leave"] == [
        ("leave", "bob", ["b1"]), ("leave", "carol", ["c1"])]


async def test_no_ghosts_after_a_reconnect(connect: Connect, server: PhoenixTestServer) -> None:
    """Who left while the link was down leaves on the next presence_state; the client's own
    old meta is replaced by its new one."""
    alice, watch = await connect("alice", "a1")
    bob, _ = await connect("bob", "b1")
    await watch.devices_become({"alice": ["a1"], "bob": ["b1"]})
    old_ref = watch.presence.state["alice"]["metas"][0]["phx_ref"]
    stream = alice.pushes(topic=TOPIC, events="rejoined")
    await server.stop()
    await bob.close()  # bob is gone for good while alice is offline
    watch.calls.clear()
    await server.start()
    await asyncio.wait_for(stream.__anext__(), TIMEOUT)
    await watch.devices_become({"alice": ["a1"]})
    assert watch.presence.state["alice"]["metas"][0]["phx_ref"] != old_ref
    assert ("leave", "bob", ["b1"]) in watch.calls
    assert watch.presence.state == server.presence_list(TOPIC)


async def test_drop_and_rejoin_with_others_present(connect: Connect,
                                                   server: PhoenixTestServer) -> None:
    """After one client's socket drops and it rejoins, its state and the other's match the
    server's again: its old meta left, its new one joined (one meta for its user)."""
    alice, watch = await connect("alice", "a1")
    _, bob = await connect("bob", "b1")
    await watch.devices_become({"alice": ["a1"], "bob": ["b1"]})
    old_ref = watch.presence.state["alice"]["metas"][0]["phx_ref"]
    stream = alice.pushes(topic=TOPIC, events="rejoined")
    (conn,) = [c for c in server.connections if c.params.get("user") == "alice"]
    conn.abort()
    await asyncio.wait_for(stream.__anext__(), TIMEOUT)

    def settled(w: Watch) -> bool:
        metas = w.presence.state.get("alice", {}).get("metas", [])
        return (w.presence.state == server.presence_list(TOPIC) and len(metas) == 1
                and metas[0]["phx_ref"] != old_ref)

    await watch.until(lambda: settled(watch))
    await bob.until(lambda: settled(bob))
    assert watch.devices() == bob.devices() == {"alice": ["a1"], "bob": ["b1"]}
    assert ("leave", "alice", ["a1"]) in watch.calls and ("leave", "alice", ["a1"]) in bob.calls


# ---------------------------------------------------------------------- hand-sent orders

ME = {"phx_ref": "me1", "device": "d"}
OTHER = {"phx_ref": "o1", "device": "o"}


def ordered_channel(server: PhoenixTestServer, diff_first: bool) -> dict[str, int]:
    """"order:*": the n-th join of a topic sends presence_state {me: me<n>} and a
    presence_diff joining me<n> (and "other" on a topic's first join), in the given order."""
    joins: dict[str, int] = {}

    async def join(ctx: ChannelContext, params: Any) -> Any:
        n = joins[ctx.topic] = joins.get(ctx.topic, 0) + 1
        me = {**ME, "phx_ref": f"me{n}"}
        extra = {"other": {"metas": [OTHER]}} if n == 1 else {}
        diff = {"joins": {"me": {"metas": [me]}, **extra}, "leaves": {}}
        state = {"me": {"metas": [me]}}
        if diff_first:  # what Phoenix 1.7 does in most runs
            await ctx.broadcast("presence_diff", diff)
            await ctx.push("presence_state", state)
        else:
            await ctx.push("presence_state", state)
            await ctx.broadcast("presence_diff", diff)
        return {}

    server.add_channel("order:*", join=join)
    return joins


@pytest.mark.parametrize("diff_first", [True, False], ids=["diff_first", "state_first"])
async def test_either_order_gives_the_same_state(phx_server: PhoenixTestServer,
                                                 diff_first: bool) -> None:
    """A diff sent before the state is held and applied after it: both orders end in the
    same state; the held diff makes one sync, not two."""
    ordered_channel(phx_server, diff_first)
    async with fastphx.Client(phx_server.url, topic="order:1", **FAST) as client:
        async with fastphx.Presence(client, "order:2") as presence:
            watch = Watch(presence)
            await client.join_topic("order:2")
            await watch.devices_become({"me": ["d"], "other": ["o"]})
            assert watch.syncs == (1 if diff_first else 2)
            assert presence.state == {"me": {"metas": [{**ME, "phx_ref": "me1"}]},
                                      "other": {"metas": [OTHER]}}


@pytest.mark.parametrize("diff_first", [True, False], ids=["diff_first", "state_first"])
async def test_rejoin_in_either_order_leaves_no_ghost(phx_server: PhoenixTestServer,
                                                      diff_first: bool) -> None:
    """After a reconnect, with the diff before or after the new state, the client's own old
    meta and "other" (absent from the new state) both leave."""
    joins = ordered_channel(phx_server, diff_first)
    async with fastphx.Client(phx_server.url, topic="order:1", **FAST) as client:
        async with fastphx.Presence(client, "order:2") as presence:
            watch = Watch(presence)
            await client.join_topic("order:2")
            await watch.devices_become({"me": ["d"], "other": ["o"]})
            watch.calls.clear()
            await phx_server.drop_connections()
            rejoined = {"me": {"metas": [{**ME, "phx_ref": "me2"}]}}
            await watch.until(lambda: presence.state == rejoined)
            assert joins["order:2"] == 2
            assert sorted(c for c in watch.calls if c[0] == "leave") == [
                ("leave", "me", ["d"]), ("leave", "other", ["o"])]


# ---------------------------------------------------------------------- lifecycle, faults


def pushing_channel(server: PhoenixTestServer, count: int) -> None:
    """"head:*": after its reply, the join pushes ``count`` "hello", then tracks the joiner
    (so once a Presence has its state, the hellos were read too)."""
    async def join(ctx: ChannelContext, params: Any) -> Any:
        for i in range(count):
            await ctx.push("hello", {"i": i})
        ctx.track("me", {"device": "d"})
        return {}

    server.add_channel("head:*", join=join)


async def test_presence_before_connect_leaves_the_head_to_later_iterators(
        phx_server: PhoenixTestServer) -> None:
    """A Presence made before connect() does not take the pushes that arrive before the
    caller's own pushes() iterator exists (right after connect()) away from it."""
    pushing_channel(phx_server, 5)
    client = fastphx.Client(phx_server.url, topic="head:1", **FAST)
    async with fastphx.Presence(client, "head:1") as presence:
        watch = Watch(presence)
        await client.connect()
        try:
            stream = client.pushes(events="hello")
            await watch.devices_become({"me": ["d"]})  # the hellos came before the state
            assert len(stream) == 5
        finally:
            await client.close()


async def test_made_before_connect_with_a_backlog_owner_misses_nothing(
        phx_server: PhoenixTestServer) -> None:
    """With the caller's iterator also made before connect(), both see everything: the
    Presence its state, the iterator every push."""
    pushing_channel(phx_server, 5)
    client = fastphx.Client(phx_server.url, topic="head:1", **FAST)
    presence = fastphx.Presence(client, "head:1")
    watch = Watch(presence)
    stream = client.pushes(events="hello")
    async with client, presence:
        got = [(await asyncio.wait_for(stream.__anext__(), TIMEOUT)).payload["i"]
               for _ in range(5)]
        assert got == [0, 1, 2, 3, 4]
        await watch.devices_become({"me": ["d"]})


async def test_closed_presence_releases_the_client(connect: Connect,
                                                   server: PhoenixTestServer) -> None:
    """After close() the Presence reads nothing more: a small-buffered blocking client
    keeps working while its topic's Presence traffic goes on."""
    client, watch = await connect("alice", "a1", push_buffer_size=2)
    await watch.devices_become({"alice": ["a1"]})
    other = client.pushes(topic="elsewhere")  # a subscriber, so no backlog drops pushes
    await watch.presence.close()
    await watch.presence.close()  # idempotent
    assert watch.presence.closed
    for i in range(10):
        server.track(TOPIC, f"user{i}", {"device": "x"})
    assert (await client.push(TOPIC, "untrack", {})).status == "ok"
    assert watch.devices() == {"alice": ["a1"]}
    await other.aclose()


async def test_presence_ends_with_the_client(connect: Connect) -> None:
    """Once the client is closed the Presence stops too; its last state stays readable."""
    client, watch = await connect("alice", "a1")
    await watch.devices_become({"alice": ["a1"]})
    await client.close()
    await asyncio.wait_for(watch.presence.close(), TIMEOUT)
    assert watch.presence.closed and watch.devices() == {"alice": ["a1"]}


async def test_malformed_presence_pushes_are_skipped(connect: Connect,
                                                     server: PhoenixTestServer) -> None:
    """Garbage presence payloads from the server are counted and skipped; later good ones
    still apply."""
    _, watch = await connect("alice", "a1")
    await watch.devices_become({"alice": ["a1"]})
    bad = [{"joins": {"x": "nope"}}, [1, 2], {"joins": {"x": {"metas": [3]}}}]
    for payload in bad:  # raw: the test server refuses to broadcast a non-map, as Phoenix
        await server.send_raw(orjson.dumps([None, None, TOPIC, "presence_diff", payload]))
    server.track(TOPIC, "bob", {"device": "b1"})
    await watch.devices_become({"alice": ["a1"], "bob": ["b1"]})
    assert watch.presence.malformed == 3


async def test_an_internal_failure_unsubscribes(connect: Connect, server: PhoenixTestServer,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Should the Presence's own code fail, it logs, stops and unsubscribes: a small-buffered
    blocking client goes on working."""
    client, watch = await connect("alice", "a1", push_buffer_size=2)
    await watch.devices_become({"alice": ["a1"]})
    other = client.pushes(topic="elsewhere")

    def broken(event: str, payload: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(watch.presence._sync, "receive", broken)
    server.track(TOPIC, "bob", {"device": "b1"})
    await asyncio.wait_for(asyncio.shield(watch.presence._task), TIMEOUT)
    assert watch.presence.closed and "Presence of 'room:lobby' stopped" in caplog.text
    for i in range(10):
        server.track(TOPIC, f"user{i}", {"device": "x"})
    assert (await client.push(TOPIC, "untrack", {})).status == "ok"
    await other.aclose()


async def test_a_raising_callback_does_not_stop_tracking(connect: Connect,
                                                         server: PhoenixTestServer) -> None:
    """A callback that raises is logged; the state and later callbacks go on."""
    _, watch = await connect("alice", "a1")
    await watch.devices_become({"alice": ["a1"]})
    joined: list[str] = []

    def bad(key: str, current: Any, new: Any) -> None:
        joined.append(key)
        raise RuntimeError("user bug")

    watch.presence.on_join(bad)
    server.track(TOPIC, "bob", {"device": "b1"})
    server.track(TOPIC, "carol", {"device": "c1"})
    await watch.devices_become({"alice": ["a1"], "bob": ["b1"], "carol": ["c1"]})
    assert joined == ["bob", "carol"]



# ---------------------------------------------------------------------- the docs example

DOCS = Path(__file__).resolve().parents[2] / "docs" / "presence.md"


def test_docs_example_runs_against_the_demo_server() -> None:
    """docs/presence.md's example runs as written against `fastphx serve`'s server (its URL
    swapped in) and prints what its comments say."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if "fastphx.Presence(" in b]
    assert block.rstrip().endswith("asyncio.run(main())")
    expected = re.findall(r"print\(users\(lobby\)\)  # (.*)", block)
    with demo_server().run_in_thread() as url:
        source = block.replace('"ws://127.0.0.1:4000/socket/websocket"', repr(url))
        source = source.replace("asyncio.run(main())", "")
        namespace: dict[str, Any] = {}
        exec(compile(source, str(DOCS), "exec"), namespace)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            asyncio.run(asyncio.wait_for(namespace["main"](), TIMEOUT))
    printed = [line for line in out.getvalue().splitlines() if line.startswith("[")]
    assert printed == expected == ["['alice x1', 'bob x1']", "['alice x1']"]
    assert "join bob" in out.getvalue() and "leave bob" in out.getvalue()


def test_docs_pure_function_example_runs() -> None:
    """docs/presence.md's sync_state/sync_diff example runs and its assertion holds."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if "presence.sync_diff(" in b]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(block, str(DOCS), "exec"), {})
    assert out.getvalue() == "join u2\n"

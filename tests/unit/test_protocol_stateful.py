"""A Hypothesis state machine drives the sans-I/O core with random API calls (bad ones
included), server frames and faults, and checks its invariants after every step."""

from __future__ import annotations

import os
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fastphx.codec import decode
from fastphx.errors import (
    ClientClosedError,
    ConnectError,
    ConnectionLostError,
    FastphxError,
    LocalProtocolError,
)
from fastphx.models import Status
from fastphx.protocol import (
    ChannelState,
    ClientProtocol,
    Closed,
    DialDue,
    PushFailed,
    ReplyReceived,
)

TOPICS = ("room:0", "room:1", "room:2")
GOOD = st.sampled_from([{}, {"a": 1}, {"l": [1, "x", None]}])
BAD = st.sampled_from([{"s": {1, 2}}, {"o": object()}])
EXPECTED = (ClientClosedError, LocalProtocolError, ConnectionLostError, TypeError)


class Waiter:
    """Stands for an asyncio future: the core only hands it back in events."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<Waiter {self.what}>"


class ProtocolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.proto = ClientProtocol(heartbeat_interval=5.0, reply_timeout=3.0,
                                    reconnect_delay=lambda n: 1.0, rejoin_delay=lambda n: 1.0)
        self.now = 0.0
        self.ended: dict[Waiter, int] = {}  # every registered waiter -> times it ended
        self.cancelled: set[Waiter] = set()
        self.requests: list[list[Any]] = []  # frames the client sent: [jr, ref, topic, ev, p]
        self.by_ref: dict[str, Waiter] = {}
        self.dialing = False
        self.closed = False
        self.armed: float | None = None  # the driver's timer (see _rearm)
        self.proto.connecting()
        self._join("room:0", {})
        self.dialing = True  # the first dial is under way

    # ------------------------------------------------------------------ plumbing

    def _drain(self) -> None:
        for event in self.proto.events_received():
            if isinstance(event, ReplyReceived | PushFailed):
                self.ended[event.waiter] = self.ended.get(event.waiter, 0) + 1
            elif isinstance(event, DialDue):
                self.dialing = True
            elif isinstance(event, Closed):
                self.closed = True
        for data, binary in self.proto.data_to_send():
            assert not binary
            self.requests.append(orjson.loads(data))

    def _register(self, waiter: Waiter) -> None:
        self.ended.setdefault(waiter, 0)

    def _join(self, topic: str, params: Any) -> None:
        waiter = Waiter(f"join {topic}")
        try:
            self.proto.join(topic, params, waiter, self.now)
        except EXPECTED:
            return
        self._register(waiter)

    def _frame(self, *parts: Any) -> Any:
        return decode(orjson.dumps(list(parts)))

    # ------------------------------------------------------------------ transport

    @precondition(lambda self: self.dialing and not self.closed)
    @rule()
    def dial_succeeds(self) -> None:
        self.dialing = False
        self.proto.connection_made(self.now)

    @precondition(lambda self: self.dialing and not self.closed
                  and self.proto.status is not Status.CONNECTING)
    @rule(fatal=st.booleans())
    def dial_fails(self, fatal: bool) -> None:
        self.dialing = False
        self.proto.dial_failed(self.now, ConnectError("refused"), fatal=fatal)

    @precondition(lambda self: self.proto.socket_open)
    @rule(code=st.sampled_from([None, 1000, 1001, 1011]))
    def connection_lost(self, code: int | None) -> None:
        self.proto.connection_lost(self.now, code)

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0, 6.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self._rearm()
        if self.armed is not None and self.armed <= self.now:  # it fires, maybe early
            self.armed = None
            self.proto.handle_timeout(self.now)
            self._rearm()

    def _rearm(self) -> None:
        """What Client._reschedule does after every input: keep a timer due no later than
        every deadline set since (earliest_added), else arm for next_deadline()."""
        proto = self.proto
        if self.armed is not None and proto.earliest_added >= self.armed:
            return
        deadline = proto.next_deadline()
        if self.armed is None or (deadline is not None and deadline < self.armed):
            self.armed = deadline

    @rule()
    def pause_and_resume(self) -> None:
        self.proto.reading_paused()
        self.proto.reading_resumed()

    # ------------------------------------------------------------------ API (good and bad)

    @rule(topic=st.sampled_from(TOPICS), params=GOOD | BAD)
    def join(self, topic: str, params: Any) -> None:
        before = dict(self.proto.channels)
        n_refs = len(self.proto.refs)
        try:
            waiter = Waiter(f"join {topic}")
            self.proto.join(topic, params, waiter, self.now)
        except EXPECTED:
            assert self.proto.channels == before and len(self.proto.refs) == n_refs
            return
        self._register(waiter)

    @rule(topic=st.sampled_from((*TOPICS, "room:\ud800")), payload=GOOD | BAD)
    def push(self, topic: str, payload: Any) -> None:
        n_refs = len(self.proto.refs)
        waiter = Waiter(f"push {topic}")
        try:
            ref = self.proto.push(topic, "ev", payload, waiter, self.now)
        except EXPECTED:
            assert len(self.proto.refs) == n_refs
            return
        self._register(waiter)
        self.by_ref[ref] = waiter

    @rule(topic=st.sampled_from(TOPICS))
    def leave(self, topic: str) -> None:
        waiter = Waiter(f"leave {topic}")
        try:
            if not self.proto.leave(topic, waiter, self.now):
                return  # left at once: no waiter registered
        except (FastphxError, TypeError):
            return
        self._register(waiter)

    @precondition(lambda self: bool(self.by_ref))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(sorted(self.by_ref)))
        waiter = self.by_ref.pop(ref)
        if ref in self.proto.refs:
            self.cancelled.add(waiter)
            self.proto.cancel(ref)

    @rule()
    def fail_awaited(self) -> None:
        self.proto.fail_awaited(lambda topic, event, ref: FastphxError("blocked"))

    @precondition(lambda self: not self.closed)
    @rule()
    def close(self) -> None:
        self.proto.close()

    # ------------------------------------------------------------------ server frames

    @precondition(lambda self: bool(self.requests) and self.proto.socket_open)
    @rule(data=st.data(), status=st.sampled_from(["ok", "error"]),
          mangle=st.sampled_from(["none", "topic", "join_ref", "malformed"]))
    def reply(self, data: st.DataObject, status: str, mangle: str) -> None:
        jr, ref, topic, _event, _ = data.draw(st.sampled_from(self.requests))
        payload: Any = {"status": status, "response": {"r": 1}}
        if mangle == "topic":
            topic = "room:elsewhere"
        elif mangle == "join_ref":
            jr = "99999"
        elif mangle == "malformed":
            payload = "not a reply"
        self.proto.receive_frame(self._frame(jr, ref, topic, "phx_reply", payload))

    @precondition(lambda self: self.proto.socket_open)
    @rule(topic=st.sampled_from(TOPICS), event=st.sampled_from(["n", "phx_error", "phx_close"]),
          stale=st.booleans())
    def server_push(self, topic: str, event: str, stale: bool) -> None:
        channel = self.proto.channels.get(topic)
        jr = "99999" if stale or channel is None else channel.join_ref
        self.proto.receive_frame(self._frame(jr, None, topic, event, {}))

    # ------------------------------------------------------------------ invariants

    @invariant()
    def invariants_hold(self) -> None:
        self._drain()
        self._rearm()
        deadline = self.proto.next_deadline()  # the driver's timer is never late
        assert deadline is None or (self.armed is not None and self.armed <= deadline), (
            self.armed, deadline)
        assert all(n <= 1 for n in self.ended.values()), self.ended
        self._status_consistent_with_channels()
        self._a_deadline_whenever_something_is_pending()

    def _status_consistent_with_channels(self) -> None:
        proto = self.proto
        joining = {c for c in proto.channels.values() if c.state is ChannelState.JOINING}
        assert proto._joining == joining
        if proto.status is Status.CONNECTED:
            assert proto.socket_open
        if proto.status is Status.RECONNECTING:
            assert not proto.socket_open  # a redial that succeeded is CONNECTING
        if proto.status is Status.CONNECTING and proto.socket_open and proto.connected_once:
            assert joining  # rejoins under way; CONNECTED once none is left
        if proto.status is Status.CLOSED:
            assert not proto.channels and len(proto.refs) == 0 and self.closed

    def _a_deadline_whenever_something_is_pending(self) -> None:
        proto = self.proto
        if proto.status is Status.CLOSED:
            return
        if len(proto.refs) or (proto.status is Status.RECONNECTING and not proto.socket_open
                               and not self.dialing):
            assert proto.next_deadline() is not None

    def teardown(self) -> None:
        self.proto.close()
        self._drain()
        for waiter, count in self.ended.items():
            if waiter not in self.cancelled:
                assert count == 1, (waiter, count)


ProtocolMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("FASTPHX_STATEFUL_EXAMPLES", "200")),
    stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestProtocolMachine = ProtocolMachine.TestCase

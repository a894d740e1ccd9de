"""The sans-I/O client core: frames and ``now`` in, frames and events out (no sockets)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from fastphx import ChannelErrorCode, Reply, Status
from fastphx.codec import Frame, decode
from fastphx.errors import (
    ChannelClosedError,
    ChannelCrashedError,
    ChannelError,
    ClientClosedError,
    ConnectionLostError,
    JoinTimeout,
    LocalProtocolError,
    NotJoinedError,
    PushTimeout,
)
from fastphx.protocol import (
    ChannelClosed,
    ChannelErrored,
    ChannelState,
    ClientProtocol,
    Closed,
    Connected,
    ConnectionDead,
    DialDue,
    Disconnected,
    PushFailed,
    ReconnectScheduled,
    Rejoined,
    RejoinFailed,
    ReplyReceived,
    channel_error,
)

HB = 100.0


def make(**kwargs: Any) -> ClientProtocol:
    """A protocol with fixed schedules (reconnect 0.5 s, rejoin 2 s) and a 1 s heartbeat."""
    options: dict[str, Any] = {"heartbeat_interval": HB, "reply_timeout": 5.0,
                               "reconnect_delay": lambda n: 0.5 * n,
                               "rejoin_delay": lambda n: 2.0}
    options.update(kwargs)
    return ClientProtocol(**options)


def sent(proto: ClientProtocol) -> list[Frame]:
    """Decode the text frames the protocol wants to send."""
    return [decode(data) for data, binary in proto.data_to_send() if not binary]


def reply(frame: Frame, status: str = "ok", response: Any = None) -> Frame:
    """The server's reply to ``frame``."""
    payload = orjson.dumps({"status": status, "response": response or {}})
    return Frame(frame.join_ref, frame.ref, frame.topic, "phx_reply", payload)


def connected(topic: str = "room:1") -> tuple[ClientProtocol, Frame]:
    """A protocol whose first connect joined ``topic``; returns it and the join frame."""
    proto = make()
    proto.connecting()
    proto.join(topic, {"p": 1}, "join-waiter", 0.0)
    proto.connection_made(0.0)
    (join,) = sent(proto)
    proto.receive_frame(reply(join, response={"welcome": 1}))
    proto.events_received()
    return proto, join


def test_join_sent_on_connection_made_with_join_ref_equal_ref() -> None:
    """The primary join goes out on connection_made; its join_ref is its ref."""
    proto = make()
    proto.connecting()
    proto.join("room:1", {"p": 1}, "w", 0.0)
    assert proto.data_to_send() == []
    proto.connection_made(0.0)
    (join,) = sent(proto)
    assert (join.topic, join.event, join.payload) == ("room:1", "phx_join", {"p": 1})
    assert join.join_ref == join.ref
    assert proto.status is Status.CONNECTING


def test_join_reply_connects_and_resolves_waiter() -> None:
    """An ok join reply marks the channel joined, status CONNECTED, waiter resolved."""
    proto = make()
    proto.connecting()
    proto.join("room:1", {}, "w", 0.0)
    proto.connection_made(0.0)
    (join,) = sent(proto)
    assert proto.receive_frame(reply(join, response={"a": 1})) is None
    assert proto.events_received() == [ReplyReceived("w", Reply("ok", {"a": 1})),
                                       Connected(first=True)]
    assert proto.channels["room:1"].state is ChannelState.JOINED
    assert proto.status is Status.CONNECTED


def test_join_error_fails_waiter_and_drops_channel() -> None:
    """An error join reply fails the waiter with ChannelError and forgets the topic."""
    proto, _ = connected()
    proto.join("room:2", {}, "w2", 1.0)
    (join,) = sent(proto)
    proto.receive_frame(reply(join, "error", {"reason": "unauthorized"}))
    (event,) = proto.events_received()
    assert isinstance(event, PushFailed) and isinstance(event.error, ChannelError)
    assert event.error.code == "unauthorized" and "room:2" not in proto.channels


def test_join_twice_is_a_local_error() -> None:
    """Joining a topic already joined raises LocalProtocolError."""
    proto, _ = connected()
    with pytest.raises(LocalProtocolError):
        proto.join("room:1", {}, "w", 1.0)


def test_push_routed_by_ref() -> None:
    """Replies resolve the waiter of their own ref, whatever the order."""
    proto, join = connected()
    proto.push("room:1", "a", {}, "wa", 1.0)
    proto.push("room:1", "b", {}, "wb", 1.0)
    fa, fb = sent(proto)
    assert fa.join_ref == join.join_ref and fa.ref != fb.ref
    proto.receive_frame(reply(fb, response={"b": 1}))
    proto.receive_frame(reply(fa, response={"a": 1}))
    assert proto.events_received() == [ReplyReceived("wb", Reply("ok", {"b": 1})),
                                       ReplyReceived("wa", Reply("ok", {"a": 1}))]
    assert len(proto.refs) == 0


def test_push_error_reply_builds_typed_channel_error() -> None:
    """An error reply fails the push with ChannelError(code=ChannelErrorCode...)."""
    proto, _ = connected()
    proto.push("room:1", "a", {}, "w", 1.0)
    (frame,) = sent(proto)
    proto.receive_frame(reply(frame, "error", {"code": "rate_limited", "message": "slow"}))
    (event,) = proto.events_received()
    assert isinstance(event, PushFailed) and isinstance(event.error, ChannelError)
    assert event.error.code is ChannelErrorCode.RATE_LIMITED and event.error.message == "slow"


def test_channel_error_falls_back_to_reason_and_keeps_unknown() -> None:
    """channel_error takes code, else reason; unknown codes stay strings."""
    assert channel_error({"reason": "noop"}).code is ChannelErrorCode.NOOP
    assert channel_error({"code": "x_y"}).code == "x_y"
    assert channel_error("oops").code is None


def test_push_unjoined_topic() -> None:
    """A push to an unknown topic raises NotJoinedError and registers nothing."""
    proto, _ = connected()
    with pytest.raises(NotJoinedError):
        proto.push("room:9", "a", {}, "w", 1.0)
    assert len(proto.refs) == 0


def test_push_timeout() -> None:
    """A push without a reply fails with PushTimeout at its deadline, not before."""
    proto, _ = connected()
    proto.push("room:1", "a", {}, "w", 1.0, timeout=0.5)
    sent(proto)
    assert proto.next_deadline() == 1.0 + 0.5
    proto.handle_timeout(1.4)
    assert proto.events_received() == []
    proto.handle_timeout(1.5)
    (event,) = proto.events_received()
    assert isinstance(event, PushFailed) and isinstance(event.error, PushTimeout)


def test_earliest_added_says_when_a_sooner_deadline_was_set() -> None:
    """earliest_added holds the earliest deadline set since next_deadline() (a settled
    reply sets none), so a driver with a timer due no later need not ask again."""
    proto, _ = connected()
    assert proto.next_deadline() == HB and proto.earliest_added == float("inf")
    proto.push("room:1", "a", {}, "w", 2.0, timeout=3.0)
    proto.push("room:1", "b", {}, "w", 2.0, timeout=1.0)
    assert proto.earliest_added == 3.0
    assert proto.next_deadline() == 3.0 and proto.earliest_added == float("inf")
    for frame in sent(proto):
        proto.receive_frame(reply(frame))
    assert proto.earliest_added == float("inf")  # a reply never makes a deadline sooner


def test_settled_pushes_leave_the_timeout_heap() -> None:
    """The timeout heap holds no settled pushes in front of a pending one: it stays small
    under a stream of answered pushes, next_deadline() never being called."""
    proto, _ = connected()
    for i in range(1000):
        proto.push("room:1", "a", {"i": i}, "w", 1.0)
        (frame,) = sent(proto)
        proto.receive_frame(reply(frame))
    assert len(proto._timeouts) <= 1


def test_cancel_forgets_the_waiter() -> None:
    """A cancelled push's late reply is dropped."""
    proto, _ = connected()
    ref = proto.push("room:1", "a", {}, "w", 1.0)
    (frame,) = sent(proto)
    proto.cancel(ref)
    proto.receive_frame(reply(frame))
    assert proto.events_received() == [] and len(proto.refs) == 0


def test_push_buffered_until_rejoined() -> None:
    """A push to an errored channel is buffered and sent after the rejoin."""
    proto, join = connected()
    proto.receive_frame(Frame(join.join_ref, join.ref, "room:1", "phx_error", b"{}"))
    proto.events_received()
    proto.push("room:1", "later", {}, "w", 1.0)
    assert sent(proto) == []
    proto.handle_timeout(1.0)  # schedules the rejoin at 1.0 + 2.0
    proto.handle_timeout(3.0)
    (rejoin,) = sent(proto)
    assert rejoin.event == "phx_join" and rejoin.join_ref != join.join_ref
    proto.receive_frame(reply(rejoin))
    (later,) = sent(proto)
    assert later.event == "later" and later.join_ref == rejoin.join_ref


def test_phx_error_schedules_rejoin_on_schedule() -> None:
    """phx_error -> ChannelErrored event, rejoin after rejoin_delay, Rejoined on the reply."""
    proto, join = connected()
    pushed = proto.receive_frame(Frame(join.join_ref, join.ref, "room:1", "phx_error", b"{}"))
    assert pushed is None
    assert proto.events_received() == [ChannelErrored("room:1", {})]
    assert proto.next_deadline() == 0.0  # scheduled on the next handle_timeout
    proto.handle_timeout(10.0)
    assert proto.next_deadline() == pytest.approx(12.0)
    sent(proto)
    proto.handle_timeout(11.9)
    assert not [f for f in sent(proto) if f.event == "phx_join"]
    proto.handle_timeout(12.0)
    (rejoin,) = [f for f in sent(proto) if f.event == "phx_join"]
    proto.receive_frame(reply(rejoin, response={"again": 1}))
    assert proto.events_received() == [Rejoined("room:1", {"again": 1})]


def test_phx_error_fails_pushes_in_flight_on_that_channel() -> None:
    """phx_error fails the pushes sent on the crashed channel at once; others keep waiting."""
    proto, join = connected()
    proto.join("room:2", {}, "w2", 0.0)
    (join2,) = sent(proto)
    proto.receive_frame(reply(join2))
    proto.events_received()
    proto.push("room:1", "slow", {}, "w-crashed", 0.0)
    proto.push("room:2", "slow", {}, "w-other", 0.0)
    sent(proto)
    proto.receive_frame(Frame(join.join_ref, join.ref, "room:1", "phx_error", b"{}"))
    events = proto.events_received()
    (failed,) = [e for e in events if isinstance(e, PushFailed)]
    assert failed.waiter == "w-crashed"
    assert isinstance(failed.error, ChannelCrashedError) and failed.error.topic == "room:1"
    assert len(proto.refs) == 1  # room:2's push still waits for its reply


def test_rejoin_schedule_attempts_grow() -> None:
    """Consecutive failed rejoins use attempts 1, 2, 3 of the rejoin schedule."""
    attempts: list[int] = []

    def delay(attempt: int) -> float:
        attempts.append(attempt)
        return 1.0

    proto = make(rejoin_delay=delay)
    proto.connecting()
    proto.join("room:1", {}, "w", 0.0)
    proto.connection_made(0.0)
    (join,) = sent(proto)
    proto.receive_frame(reply(join))
    now = 0.0
    proto.receive_frame(Frame(join.join_ref, None, "room:1", "phx_error", b"{}"))
    for _ in range(3):
        proto.handle_timeout(now)
        now += 1.0
        proto.handle_timeout(now)
        (rejoin,) = [f for f in sent(proto) if f.event == "phx_join"]
        proto.receive_frame(reply(rejoin, "error", {"reason": "busy"}))
    proto.handle_timeout(now)
    assert attempts == [1, 2, 3, 4]
    assert any(isinstance(e, RejoinFailed) and not e.fatal for e in proto.events_received())


def test_rejoin_auth_refusal_is_fatal() -> None:
    """A rejoin refused as forbidden drops the channel and is not retried."""
    proto, join = connected()
    proto.receive_frame(Frame(join.join_ref, None, "room:1", "phx_error", b"{}"))
    proto.handle_timeout(0.0)
    proto.handle_timeout(2.0)
    (rejoin,) = [f for f in sent(proto) if f.event == "phx_join"]
    proto.receive_frame(reply(rejoin, "error", {"code": "forbidden"}))
    events = proto.events_received()
    assert any(isinstance(e, RejoinFailed) and e.fatal for e in events)
    assert "room:1" not in proto.channels


def test_phx_close_removes_channel() -> None:
    """phx_close -> ChannelClosed event; the topic is gone; buffered pushes fail."""
    proto, join = connected()
    proto.receive_frame(Frame(join.join_ref, join.ref, "room:1", "phx_close", b"{}"))
    assert proto.events_received() == [ChannelClosed("room:1", {})]
    assert "room:1" not in proto.channels


def test_stale_join_ref_dropped_broadcast_kept() -> None:
    """A frame with an outdated join_ref is dropped; a null join_ref passes."""
    proto, join = connected()
    stale = Frame("999", None, "room:1", "x", b"{}")
    fresh = Frame(join.join_ref, None, "room:1", "x", b"{}")
    broadcast = Frame(None, None, "room:1", "x", b"{}")
    assert proto.receive_frame(stale) is None and proto.stale_dropped == 1
    assert proto.receive_frame(fresh) is fresh
    assert proto.receive_frame(broadcast) is broadcast
    assert proto.receive_frame(Frame(None, None, "room:other", "x", b"{}")) is None


def test_heartbeat_sent_every_interval() -> None:
    """A heartbeat goes out each interval on topic phoenix with an empty payload."""
    proto, _ = connected()
    assert proto.next_deadline() == HB
    proto.handle_timeout(HB)
    (hb,) = sent(proto)
    assert (hb.join_ref, hb.topic, hb.event, hb.payload) == (None, "phoenix", "heartbeat", {})
    proto.receive_frame(Frame(None, hb.ref, "phoenix", "phx_reply",
                              b'{"status":"ok","response":{}}'))
    assert proto.heartbeat_ref is None
    proto.handle_timeout(2 * HB)
    assert [f.event for f in sent(proto)] == ["heartbeat"]


def test_heartbeat_death_when_nothing_arrives() -> None:
    """An unanswered heartbeat and no frame for a full interval -> ConnectionDead."""
    proto, _ = connected()
    proto.handle_timeout(HB)
    sent(proto)
    proto.handle_timeout(2 * HB)
    assert any(isinstance(e, ConnectionDead) for e in proto.events_received())


def test_heartbeat_alive_while_frames_stream() -> None:
    """Any inbound frame keeps the link alive even if the heartbeat reply is late."""
    proto, join = connected()
    for tick in range(1, 5):
        proto.receive_frame(Frame(join.join_ref, None, "room:1", "s", b"1"))
        proto.handle_timeout(tick * HB)
    assert not any(isinstance(e, ConnectionDead) for e in proto.events_received())


def test_heartbeat_alive_while_reading_paused() -> None:
    """While the driver pauses reading (slow consumer), the link is not declared dead."""
    proto, _ = connected()
    proto.handle_timeout(HB)
    proto.reading_paused()
    for tick in range(2, 6):
        proto.handle_timeout(tick * HB)
    assert not any(isinstance(e, ConnectionDead) for e in proto.events_received())
    proto.reading_resumed()
    proto.handle_timeout(6 * HB)
    proto.handle_timeout(7 * HB)
    assert any(isinstance(e, ConnectionDead) for e in proto.events_received())


def test_connection_lost_fails_in_flight_and_schedules_reconnect() -> None:
    """A drop fails sent pushes (ConnectionLostError) and schedules reconnect attempt 1."""
    proto, _ = connected()
    proto.push("room:1", "a", {}, "w", 1.0)
    sent(proto)
    proto.connection_lost(2.0, 1006)
    events = proto.events_received()
    assert events[0] == Disconnected(1006)
    assert isinstance(events[1], PushFailed)
    assert isinstance(events[1].error, ConnectionLostError)
    assert events[2] == ReconnectScheduled(1, 2.5)
    assert proto.status is Status.RECONNECTING
    proto.handle_timeout(2.5)
    assert proto.events_received() == [DialDue(1)]
    proto.dial_failed(2.5, ConnectionLostError("refused"))
    assert proto.events_received() == [ReconnectScheduled(2, 3.5)]


def test_reconnect_rejoins_every_channel_with_new_join_ref() -> None:
    """After a redial every channel is rejoined with a new join_ref; the status goes
    RECONNECTING -> CONNECTING (redial succeeded, rejoins under way) -> CONNECTED, as the
    Go reference's state machine."""
    proto, join = connected()
    proto.connection_lost(1.0, 1001)
    proto.events_received()
    assert proto.status is Status.RECONNECTING
    proto.connection_made(2.0)
    (rejoin,) = sent(proto)
    assert rejoin.topic == "room:1" and rejoin.join_ref != join.join_ref
    assert rejoin.payload == {"p": 1}
    assert proto.status is Status.CONNECTING
    proto.receive_frame(reply(rejoin, response={"w": 2}))
    assert proto.events_received() == [Rejoined("room:1", {"w": 2}), Connected(first=False)]
    assert str(proto.status) == "connected"


def test_loss_during_rejoin_reconnects_again() -> None:
    """A loss while CONNECTING after a redial (not the first connect) reconnects again."""
    proto, _ = connected()
    proto.connection_lost(1.0, 1001)
    proto.connection_made(2.0)
    assert proto.status is Status.CONNECTING
    proto.connection_lost(3.0, None)
    assert proto.status is Status.RECONNECTING


def test_close_1000_is_terminal() -> None:
    """A server close with code 1000 ends the session instead of reconnecting."""
    proto, _ = connected()
    proto.connection_lost(1.0, 1000)
    events = proto.events_received()
    assert isinstance(events[-1], Closed) and proto.status is Status.CLOSED
    assert proto.reconnect_at is None


def test_reconnect_disabled_is_terminal() -> None:
    """With reconnect=False any drop ends the session."""
    proto = make(reconnect=False)
    proto.connecting()
    proto.connection_made(0.0)
    proto.connection_lost(1.0, 1006)
    assert proto.status is Status.CLOSED


def test_close_fails_everything_with_client_closed() -> None:
    """close() fails pending and buffered operations with ClientClosedError."""
    proto, _ = connected()
    proto.push("room:1", "a", {}, "w", 1.0)
    proto.close()
    events = proto.events_received()
    assert isinstance(events[0], PushFailed)
    assert isinstance(events[0].error, ClientClosedError)
    assert events[-1] == Closed(None)
    with pytest.raises(ClientClosedError):
        proto.push("room:1", "a", {}, "w", 1.0)
    proto.close()  # idempotent
    assert proto.events_received() == []


def test_join_timeout_for_user_join() -> None:
    """A user join without a reply fails with JoinTimeout and sends phx_leave."""
    proto, _ = connected()
    proto.join("room:2", {}, "w", 1.0, timeout=1.0)
    sent(proto)
    proto.handle_timeout(2.0)
    events = proto.events_received()
    assert isinstance(events[0], PushFailed) and isinstance(events[0].error, JoinTimeout)
    assert [f.event for f in sent(proto)] == ["phx_leave"]


def test_leave_removes_channel_on_reply() -> None:
    """leave sends phx_leave; its reply removes the channel and resolves the waiter."""
    proto, join = connected()
    assert proto.leave("room:1", "w", 1.0) is True
    (leave,) = sent(proto)
    assert leave.event == "phx_leave" and leave.join_ref == join.join_ref
    proto.receive_frame(reply(leave))
    assert "room:1" not in proto.channels
    assert proto.events_received() == [ReplyReceived("w", Reply("ok", {}))]


def test_leave_buffered_push_fails_channel_closed() -> None:
    """Leaving an errored channel fails its buffered pushes with ChannelClosedError."""
    proto, join = connected()
    proto.receive_frame(Frame(join.join_ref, None, "room:1", "phx_error", b"{}"))
    proto.push("room:1", "a", {}, "w", 1.0)
    proto.events_received()
    assert proto.leave("room:1", "lw", 1.0) is False
    (event,) = proto.events_received()
    assert isinstance(event, PushFailed) and isinstance(event.error, ChannelClosedError)


def test_binary_push_encoded_binary() -> None:
    """A binary push is emitted as a binary frame (kind 0 with ref and join_ref)."""
    proto, _ = connected()
    proto.push("room:1", "bin", b"\x00\xff", "w", 1.0, binary=True)
    ((data, binary),) = proto.data_to_send()
    assert binary and data[0] == 0 and data.endswith(b"\x00\xff")


def test_join_during_outage_fails_fast() -> None:
    """A join while RECONNECTING with no socket raises ConnectionLostError at once."""
    proto, _ = connected()
    proto.connection_lost(1.0, 1006)
    with pytest.raises(ConnectionLostError):
        proto.join("room:2", {}, "w", 1.0)
    assert "room:2" not in proto.channels


def test_leave_before_the_join_reply_ends_the_join_waiter() -> None:
    """A topic left while its join is in flight fails that join's waiter (found by the
    state machine: the late join reply used to be dropped with the waiter never ended)."""
    proto, _ = connected()
    proto.join("room:2", {}, "join-2", 1.0)
    (join,) = sent(proto)
    assert proto.leave("room:2", "leave-2", 1.0)
    (leave,) = sent(proto)
    proto.receive_frame(reply(leave))
    events = proto.events_received()
    failed = [e for e in events if isinstance(e, PushFailed)]
    assert [e.waiter for e in failed] == ["join-2"]
    assert isinstance(failed[0].error, ChannelClosedError)
    assert ReplyReceived("leave-2", Reply("ok", {})) in events
    proto.receive_frame(reply(join))  # the late join reply: nothing left to resolve
    assert proto.events_received() == [] and len(proto.refs) == 0

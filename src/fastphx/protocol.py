"""Sans-I/O core of the Phoenix Channels client: every state transition lives here.

:class:`ClientProtocol` knows nothing of sockets, asyncio or clocks. The driver feeds it
inputs and carries out its outputs:

Inputs
    ``connection_made(now)``, ``connection_lost(now, close_code)``, ``dial_failed(now, error,
    fatal)``, ``receive_frame(frame)`` (hot path, no clock), ``join(...)``, ``leave(...)``,
    ``push(...)``, ``cancel(ref)``, ``reading_paused()`` / ``reading_resumed()``,
    ``handle_timeout(now)``, ``close()``.
Outputs
    ``data_to_send()`` -> list of ``(bytes, is_binary)`` frames to write, in order;
    ``events_received()`` -> list of frozen event dataclasses (below);
    ``next_deadline()`` -> when ``handle_timeout`` must next be called (or ``None``);
    ``earliest_added`` -> the earliest deadline set since ``next_deadline()`` was last
    called (``inf``: none). A driver whose timer is due no later than what
    ``next_deadline()`` returned need not ask again until ``earliest_added`` is earlier
    than its timer: deadlines that go away (a reply, a cancel) never make the next one
    sooner, and a timer that fires early is harmless (``handle_timeout`` fires only what
    is due).

Waiters are opaque objects from the driver (asyncio futures); the core hands them back in
:class:`ReplyReceived` / :class:`PushFailed` events and never calls them.

Behaviour mirrors phoenix.js (socket.js, channel.js) except where noted:
- replies are routed by ref in O(1) (codec ``RefTable``), other frames by topic in O(1);
- frames whose ``join_ref`` is not the channel's current one are dropped (channel.js
  ``isMember``); broadcasts (null join_ref) are accepted;
- the heartbeat declares the link dead only when NOTHING arrived for a full interval after
  an unanswered heartbeat (a fast stream delays the heartbeat reply; it is not an outage),
  and never while the driver has paused reading because the consumer is the bottleneck;
- ``phx_error`` -> rejoin on the rejoin schedule; ``phx_close`` -> the channel is gone;
  a rejoin refused with an auth-type code (forbidden / unauthorized) is not retried.

``receive_frame`` takes no ``now``: a rejoin it schedules is timed from the next
``handle_timeout(now)`` call (``next_deadline()`` returns ``0.0`` until then).
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, field
from typing import Any

from ._types import Reply
from .backoff import DelayFunction, phoenix_reconnect_delay, phoenix_rejoin_delay
from .codec import Frame, RefTable, encode, encode_binary, parse_reply
from .errors import (
    ChannelClosedError,
    ChannelCrashedError,
    ChannelError,
    ClientClosedError,
    ConnectionLostError,
    FastphxError,
    FrameDecodeError,
    JoinTimeout,
    LocalProtocolError,
    NotJoinedError,
    PushTimeout,
)
from .models import ChannelErrorCode, Status

__all__ = [
    "AUTH_CODES",
    "Channel",
    "ChannelClosed",
    "ChannelErrored",
    "ChannelState",
    "ClientProtocol",
    "Closed",
    "Connected",
    "ConnectionDead",
    "DialDue",
    "Disconnected",
    "Event",
    "PushFailed",
    "ReconnectScheduled",
    "RejoinFailed",
    "Rejoined",
    "ReplyReceived",
    "channel_error",
]

#: Error codes / reasons after which a rejoin is not retried (the credentials are refused).
AUTH_CODES = frozenset({"forbidden", "unauthorized", "unauthenticated"})
_PHOENIX = "phoenix"
_PUSH, _JOIN, _LEAVE = 0, 1, 2
_NEVER = float("inf")
_UNSET: Any = object()


class ChannelState(str, enum.Enum):
    """Channel states, as phoenix.js channel.js names them."""

    CLOSED = "closed"
    ERRORED = "errored"
    JOINED = "joined"
    JOINING = "joining"
    LEAVING = "leaving"


_JOINED = ChannelState.JOINED  # a global for the hot path (push)


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ReplyReceived:
    """A push/join/leave got a non-error reply: resolve ``waiter`` with ``reply``."""

    waiter: Any
    reply: Reply


@dataclass(frozen=True, slots=True)
class PushFailed:
    """A push/join/leave ended without success: fail ``waiter`` with ``error``."""

    waiter: Any
    error: FastphxError


@dataclass(frozen=True, slots=True)
class Rejoined:
    """``topic`` was rejoined (after a redial or a ``phx_error``); ``response`` is its reply."""

    topic: str
    response: Any


@dataclass(frozen=True, slots=True)
class RejoinFailed:
    """A rejoin of ``topic`` was refused; ``fatal`` means it will not be retried."""

    topic: str
    error: ChannelError
    fatal: bool


@dataclass(frozen=True, slots=True)
class ChannelErrored:
    """The server reported ``phx_error`` on ``topic`` (the channel crashed)."""

    topic: str
    payload: Any


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """The server closed ``topic`` (``phx_close``); the channel is gone."""

    topic: str
    payload: Any


@dataclass(frozen=True, slots=True)
class ConnectionDead:
    """The link is dead (heartbeat rule): the driver must close the socket."""

    reason: str


@dataclass(frozen=True, slots=True)
class ReconnectScheduled:
    """Reconnect ``attempt`` (1-based) will dial at monotonic time ``at``."""

    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class DialDue:
    """The driver must dial now (reconnect ``attempt``) and report the outcome."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over (terminal); ``error`` says why (None after ``close()``)."""

    error: FastphxError | None


@dataclass(frozen=True, slots=True)
class Connected:
    """The status became CONNECTED: socket live, every topic joined (``first``: the first
    connect of the session, else the end of an outage)."""

    first: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The socket was lost (``close_code`` None when unknown); the session reconnects or
    ends (a ``Closed`` event follows then)."""

    close_code: int | None


Event = (ReplyReceived | PushFailed | Rejoined | RejoinFailed | ChannelErrored | ChannelClosed
         | ConnectionDead | ReconnectScheduled | DialDue | Closed | Connected | Disconnected)


def channel_error(response: Any, topic: str = "", event: str = "",
                  ref: str | None = None) -> ChannelError:
    """Build a ChannelError from an error reply ``response`` (code, else reason; message)."""
    code: Any = None
    message = ""
    if isinstance(response, dict):
        code = response.get("code")
        if code is None:
            code = response.get("reason")
        message = str(response.get("message") or "")
    return ChannelError(ChannelErrorCode.parse(code), message, response=response,
                        topic=topic, event=event, ref=ref)


# ----------------------------------------------------------------------------- state


@dataclass(slots=True, eq=False)
class _Pending:
    kind: int
    topic: str
    event: str
    payload: Any
    waiter: Any
    timeout: float
    binary: bool = False
    sent: bool = False
    ref: str = ""
    join_ref: str | None = None


@dataclass(slots=True, eq=False)
class Channel:
    """One topic's state: its params, current join_ref and rejoin bookkeeping."""

    topic: str
    params: Any
    state: ChannelState = ChannelState.JOINING
    join_ref: str | None = None
    join_waiter: Any = None
    join_timeout: float = 10.0
    rejoin_attempt: int = 0
    buffer: list[_Pending] = field(default_factory=list)
    next_params: Any = _UNSET  # params resolved by join() for the first send


class ClientProtocol:
    """The client state machine (see the module docstring for inputs and outputs)."""

    def __init__(
        self,
        *,
        heartbeat_interval: float = 30.0,
        reply_timeout: float = 10.0,
        reconnect: bool = True,
        reconnect_delay: DelayFunction = phoenix_reconnect_delay,
        rejoin_delay: DelayFunction = phoenix_rejoin_delay,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.reply_timeout = reply_timeout
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.rejoin_delay = rejoin_delay
        self.status = Status.INIT
        self.channels: dict[str, Channel] = {}
        self.refs = RefTable()
        self.socket_open = False
        self.stale_dropped = 0
        self.malformed = 0  # replies whose payload was not a valid reply
        self._joining: set[Channel] = set()  # channels in JOINING: O(1) "all joined?"
        self.reconnect_attempt = 0
        self.connected_once = False  # the first connect completed (later losses reconnect)
        self.reconnect_at: float | None = None
        self.heartbeat_due: float | None = None
        self.heartbeat_ref: str | None = None
        self._activity = False
        self._paused = False
        self._out: list[tuple[bytes, bool]] = []
        self._events: list[Event] = []
        self._timeouts: list[tuple[float, str]] = []  # (deadline, ref), a heap
        self.earliest_added = _NEVER  # see the module docstring (Outputs)
        self._rejoin_at: dict[str, float] = {}
        self._unscheduled: list[str] = []
        self._channels_get = self.channels.get

    # ------------------------------------------------------------------ outputs

    def data_to_send(self) -> list[tuple[bytes, bool]]:
        """Return (and forget) the frames to write, in order: ``(data, is_binary)``."""
        out, self._out = self._out, []
        return out

    def events_received(self) -> list[Event]:
        """Return (and forget) the events produced since the last call, in order."""
        events, self._events = self._events, []
        return events

    def has_events(self) -> bool:
        """True when ``events_received()`` would return something."""
        return bool(self._events)

    def next_deadline(self) -> float | None:
        """Monotonic time of the next ``handle_timeout`` call needed, or None; resets
        ``earliest_added``."""
        self.earliest_added = _NEVER
        if self._unscheduled:
            return 0.0
        heap, refs = self._timeouts, self.refs
        while heap and heap[0][1] not in refs:
            heapq.heappop(heap)  # settled or cancelled: lazy deletion
        deadline = self.heartbeat_due
        if heap and (deadline is None or heap[0][0] < deadline):
            deadline = heap[0][0]
        at = self.reconnect_at
        if at is not None and (deadline is None or at < deadline):
            deadline = at
        if self._rejoin_at:
            at = min(self._rejoin_at.values())
            if deadline is None or at < deadline:
                deadline = at
        return deadline

    # ------------------------------------------------------------------ connection

    def connecting(self) -> None:
        """The driver starts the first dial: INIT -> CONNECTING.

        Raises ClientClosedError when the session is closed, LocalProtocolError when it is
        already connecting or connected.
        """
        if self.status is Status.CLOSED:
            raise ClientClosedError("client is closed")
        if self.status is not Status.INIT:
            raise LocalProtocolError(f"connect() called in state {self.status}")
        self.status = Status.CONNECTING

    def connection_made(self, now: float) -> None:
        """The socket is open: start the heartbeat and (re)join every channel.

        After a redial the status goes RECONNECTING -> CONNECTING until every topic is
        rejoined (the Go reference's state machine), then CONNECTED.
        """
        self.socket_open = True
        if self.status is Status.RECONNECTING:
            self.status = Status.CONNECTING
        self.reconnect_attempt = 0
        self.reconnect_at = None
        self.heartbeat_ref = None
        self.heartbeat_due = self._deadline_set(now + self.heartbeat_interval)
        self._activity = False
        self._paused = False
        for channel in list(self.channels.values()):
            if channel.state is ChannelState.LEAVING:
                self._remove(channel, ChannelClosedError(channel.topic, "left"))
            else:
                self._send_join(channel, now)
        self._check_connected()

    def connection_lost(self, now: float, close_code: int | None = None) -> None:
        """The socket is gone: fail what was in flight; schedule a reconnect or terminate.

        A close code 1000 from the server, ``reconnect=False`` or a loss before the first
        connect completed ends the session (``Closed`` event).
        """
        if not self.socket_open:
            return
        self.socket_open = False
        self._events.append(Disconnected(close_code))
        self.heartbeat_due = self.heartbeat_ref = None
        self._out.clear()  # frames for the dead socket; their pushes fail just below
        self._rejoin_at.clear()
        self._unscheduled.clear()
        self._fail_in_flight()
        for channel in self.channels.values():
            if channel.state is not ChannelState.LEAVING:
                self._set_state(channel, ChannelState.ERRORED)
        if self.status is Status.CLOSED:
            return
        if close_code == 1000 or not self.reconnect or not self.connected_once:
            reason = "server closed the connection" if close_code == 1000 else "connection lost"
            self._terminate(ConnectionLostError(f"{reason} (close code {close_code})",
                                                close_code))
            return
        self.status = Status.RECONNECTING
        self._schedule_reconnect(now)

    def dial_failed(self, now: float, error: FastphxError, fatal: bool = False) -> None:
        """A reconnect dial failed: schedule the next one, or terminate when ``fatal``."""
        if self.status is Status.CLOSED:
            return
        if fatal or not self.reconnect:
            self._terminate(error)
        else:
            self._schedule_reconnect(now)

    def close(self) -> None:
        """End the session (terminal): pending operations fail with ClientClosedError."""
        if self.status is Status.CLOSED:
            return
        self.socket_open = False
        self._terminate(ClientClosedError("client closed"), closed_by_user=True)

    def reading_paused(self) -> None:
        """The driver stopped reading (consumer is the bottleneck): the link is not dead."""
        self._paused = True

    def reading_resumed(self) -> None:
        """The driver reads again; counts as activity for the heartbeat rule."""
        self._paused = False
        self._activity = True

    def awaiting_reply(self) -> bool:
        """True while a reply may be on its way (a request or a heartbeat is pending).

        O(1); it may say True for a push still buffered for a rejoin: the driver then
        reads a little further than needed, within its spill limit.
        """
        return self.heartbeat_ref is not None or len(self.refs) > 0

    def fail_awaited(self, make_error: Any) -> None:
        """Fail every sent request with a waiter: its reply cannot be read (the driver's
        inbound buffers are full). ``make_error(topic, event, ref)`` builds each error.
        A rejoin (no waiter) and unsent pushes are kept."""
        keep: list[_Pending] = []
        for pending in self.refs.drain():
            assert isinstance(pending, _Pending)
            if not pending.sent or pending.waiter is None:
                keep.append(pending)
                continue
            error = make_error(pending.topic, pending.event, pending.ref)
            channel = self.channels.get(pending.topic)
            if pending.kind != _PUSH and channel is not None and (
                    channel.join_ref == pending.join_ref):
                self._remove(channel, error)  # a join or leave that cannot complete
            self._events.append(PushFailed(pending.waiter, error))
        for pending in keep:
            self.refs.add(pending.ref, pending)
        self._check_connected()

    # ------------------------------------------------------------------ API inputs

    def join(self, topic: str, params: Any, waiter: Any, now: float,
             timeout: float | None = None) -> None:
        """Join ``topic``; the reply resolves ``waiter`` (error reply -> ChannelError).

        Sent now if the socket is open, else on ``connection_made``. Raises
        ClientClosedError when closed, LocalProtocolError when the topic is already joined,
        ConnectionLostError during an outage (RECONNECTING with no socket).
        """
        if self.status is Status.CLOSED:
            raise ClientClosedError("client is closed")
        if topic in self.channels:
            raise LocalProtocolError(f"topic {topic!r} is already joined")
        if self.status is Status.RECONNECTING and not self.socket_open:
            # Fail fast rather than wait an outage out with no timeout running.
            raise ConnectionLostError(f"cannot join {topic!r}: reconnecting")
        # ``params`` may be a callable, evaluated on every (re)join (phoenix.js allows it);
        # evaluated and checked here before any state changes (its errors propagate).
        resolved = params() if callable(params) else params
        _check_encodable(topic, "phx_join", resolved)
        channel = Channel(topic, params, join_waiter=waiter,
                          join_timeout=self.reply_timeout if timeout is None else timeout)
        self.channels[topic] = channel
        self._set_state(channel, ChannelState.JOINING)
        if self.socket_open:
            self._send_join(channel, now, resolved)
        else:
            channel.next_params = resolved  # the first send uses what was checked

    def ping(self, waiter: Any, now: float, timeout: float | None = None) -> str:
        """Send a heartbeat-style ping (phoenix.js ``socket.ping``); its reply resolves
        ``waiter``. Returns the ref. Raises ClientClosedError when closed,
        ConnectionLostError when no socket is up."""
        if self.status is Status.CLOSED:
            raise ClientClosedError("client is closed")
        if not self.socket_open:
            raise ConnectionLostError("cannot ping: no connection")
        pending = _Pending(_PUSH, _PHOENIX, "heartbeat", {}, waiter,
                           self.reply_timeout if timeout is None else timeout)
        self._register(pending, now)
        self._send(pending, None)
        return pending.ref

    def leave(self, topic: str, waiter: Any, now: float, timeout: float | None = None) -> bool:
        """Leave ``topic``. Returns False when it was left at once (no reply to wait for).

        Raises NotJoinedError for an unknown topic.
        """
        channel = self.channels.get(topic)
        if channel is None or channel.state is ChannelState.LEAVING:
            raise NotJoinedError(topic)
        if not self.socket_open or channel.state is ChannelState.ERRORED:
            self._remove(channel, ChannelClosedError(topic, "left"))
            return False
        self._set_state(channel, ChannelState.LEAVING)
        self._rejoin_at.pop(topic, None)
        pending = _Pending(_LEAVE, topic, "phx_leave", {}, waiter,
                           self.reply_timeout if timeout is None else timeout)
        self._register(pending, now)
        self._send(pending, channel.join_ref)
        return True

    def push(self, topic: str, event: str, payload: Any, waiter: Any, now: float,
             timeout: float | None = None, binary: bool = False) -> str:
        """Send ``event`` on ``topic``; return its ref. The reply resolves ``waiter``.

        Buffered until the channel is (re)joined, its timeout running from now.
        Raises ClientClosedError when closed, NotJoinedError for a topic not joined,
        TypeError for an unserialisable payload (nothing is registered then).
        """
        if self.status is Status.CLOSED:
            raise ClientClosedError("client is closed")
        channel = self._channels_get(topic)
        if timeout is None:
            timeout = self.reply_timeout
        if channel is not None and channel.state is _JOINED and self.socket_open:
            # Sent now (the hot path). Encoded before anything is registered or queued: a
            # TypeError leaves nothing behind but a skipped ref number.
            ref, join_ref = self.refs.next_ref(), channel.join_ref
            data = (encode_binary if binary else encode)(join_ref, ref, topic, event, payload)
            self._out.append((data, binary))
            self._register(_Pending(_PUSH, topic, event, payload, waiter, timeout, binary,
                                    True, ref, join_ref), now, ref)
            return ref
        if channel is None or channel.state is ChannelState.LEAVING:
            raise NotJoinedError(topic)
        if binary:
            encode_binary(None, "0", topic, event, payload)  # raises before any change
        else:
            _check_encodable(topic, event, payload)
        pending = _Pending(_PUSH, topic, event, payload, waiter, timeout, binary)
        ref = self._register(pending, now)
        channel.buffer.append(pending)
        return ref

    def cancel(self, ref: str) -> None:
        """Forget the waiter of ``ref`` (its task was cancelled); a late reply is dropped."""
        pending = self.refs.pop(ref)
        if isinstance(pending, _Pending) and pending.kind == _JOIN and pending.waiter is not None:
            channel = self.channels.get(pending.topic)
            if channel is not None and channel.join_ref == pending.join_ref:
                self._remove(channel, ChannelClosedError(pending.topic, "join cancelled"))

    # ------------------------------------------------------------------ inbound

    def receive_frame(self, frame: Frame) -> Frame | None:
        """Route one inbound frame; return it when it is a push to deliver, else None.

        Hot path (no clock): replies by ref, everything else by topic; stale join_refs
        dropped; ``phx_error`` / ``phx_close`` handled. Check ``has_events()`` after None.
        """
        self._activity = True
        ref = frame.ref
        if ref is not None and frame.event == "phx_reply":
            self._on_reply(ref, frame)
            return None
        channel = self._channels_get(frame.topic)
        if channel is None:
            return None
        join_ref = frame.join_ref
        if join_ref is not None and join_ref != channel.join_ref:
            self.stale_dropped += 1
            return None
        event = frame.event
        if event == "phx_error" or event == "phx_close":
            self._on_channel_event(channel, frame)
            return None
        return frame

    def _on_reply(self, ref: str, frame: Frame) -> None:
        pending = self.refs.get(ref)
        if pending is None:
            if ref == self.heartbeat_ref and frame.topic == _PHOENIX:
                self.heartbeat_ref = None
            return
        assert isinstance(pending, _Pending)
        join_ref = frame.join_ref
        if frame.topic != pending.topic or (join_ref is not None and pending.join_ref is not None
                                            and join_ref != pending.join_ref):
            self.stale_dropped += 1  # the ref is ours, the topic or join is not: not its reply
            return
        self.refs.pop(ref)
        try:
            reply = parse_reply(frame)
        except FrameDecodeError as exc:
            self.malformed += 1
            if pending.waiter is not None:
                self._events.append(PushFailed(pending.waiter, exc))
            return
        if pending.kind == _PUSH:
            if reply.status == "error":
                error = channel_error(reply.response, pending.topic, pending.event, ref)
                self._events.append(PushFailed(pending.waiter, error))
            else:
                self._events.append(ReplyReceived(pending.waiter, reply))
        elif pending.kind == _JOIN:
            self._on_join_reply(pending, reply)
        else:
            channel = self.channels.get(pending.topic)
            if channel is not None and channel.state is ChannelState.LEAVING:
                self._remove(channel, ChannelClosedError(pending.topic, "left"))
            self._events.append(ReplyReceived(pending.waiter, reply))

    def _on_join_reply(self, pending: _Pending, reply: Reply) -> None:
        channel = self.channels.get(pending.topic)
        if channel is None or channel.join_ref != pending.join_ref:
            self._outdated_join(pending)  # left, or superseded by a newer join
            return
        waiter = pending.waiter
        if reply.status == "ok":
            self._set_state(channel, ChannelState.JOINED)
            channel.rejoin_attempt = 0
            channel.join_waiter = None
            if waiter is not None:
                self._events.append(ReplyReceived(waiter, reply))
            else:
                self._events.append(Rejoined(channel.topic, reply.response))
            self._flush_buffer(channel)
        else:
            error = channel_error(reply.response, channel.topic, "phx_join", pending.ref)
            if waiter is not None:
                self._remove(channel, error)
                self._events.append(PushFailed(waiter, error))
            elif _is_auth_error(reply.response):
                self._remove(channel, error)
                self._events.append(RejoinFailed(channel.topic, error, True))
            else:
                self._errored(channel)
                self._events.append(RejoinFailed(channel.topic, error, False))
        self._check_connected()

    def _on_channel_event(self, channel: Channel, frame: Frame) -> None:
        payload = frame.payload
        if frame.event == "phx_close":
            self._remove(channel, ChannelClosedError(channel.topic, "closed by the server"))
            self._events.append(ChannelClosed(channel.topic, payload))
        elif channel.state in (ChannelState.JOINED, ChannelState.JOINING):
            self._fail_crashed(channel)
            self._errored(channel)
            self._events.append(ChannelErrored(channel.topic, payload))

    def _fail_crashed(self, channel: Channel) -> None:
        """Fail the pushes sent on a crashed channel: the dead channel will never reply
        (phoenix.js lets them time out; failing now is faster and says why)."""
        keep: list[_Pending] = []
        for pending in self.refs.drain():
            assert isinstance(pending, _Pending)
            if (pending.kind == _PUSH and pending.sent and pending.topic == channel.topic
                    and pending.join_ref == channel.join_ref):
                self._events.append(PushFailed(pending.waiter, ChannelCrashedError(
                    pending.topic, pending.event, pending.ref)))
            else:
                keep.append(pending)
        for pending in keep:
            self.refs.add(pending.ref, pending)

    # ------------------------------------------------------------------ timers

    def handle_timeout(self, now: float) -> None:
        """Fire every timer due at ``now``: push/join timeouts, heartbeat, rejoins, redial."""
        for topic in self._unscheduled:
            channel = self.channels.get(topic)
            if channel is not None and channel.state is ChannelState.ERRORED:
                self._rejoin_at[topic] = self._deadline_set(
                    now + self.rejoin_delay(channel.rejoin_attempt))
        self._unscheduled.clear()
        self._expire_pending(now)
        if self.heartbeat_due is not None and now >= self.heartbeat_due:
            self._heartbeat(now)
        for topic, at in list(self._rejoin_at.items()):
            if at <= now:
                del self._rejoin_at[topic]
                channel = self.channels.get(topic)
                if channel is not None and channel.state is ChannelState.ERRORED:
                    self._send_join(channel, now)
        if self.reconnect_at is not None and now >= self.reconnect_at:
            self.reconnect_at = None
            self._events.append(DialDue(self.reconnect_attempt))

    def _heartbeat(self, now: float) -> None:
        if self.heartbeat_ref is not None and not self._activity and not self._paused:
            self.heartbeat_due = None
            self._events.append(ConnectionDead("heartbeat timeout: nothing received "
                                               f"for {self.heartbeat_interval:g}s"))
            return
        self.heartbeat_ref = self.refs.next_ref()
        self._out.append((encode(None, self.heartbeat_ref, _PHOENIX, "heartbeat", {}), False))
        self._activity = False
        self.heartbeat_due = self._deadline_set(now + self.heartbeat_interval)

    def _expire_pending(self, now: float) -> None:
        heap = self._timeouts
        while heap and heap[0][0] <= now:
            _, ref = heapq.heappop(heap)
            pending = self.refs.pop(ref)
            if not isinstance(pending, _Pending):
                continue
            if pending.kind == _JOIN:
                self._join_timed_out(pending, now)
            elif pending.kind == _LEAVE:
                channel = self.channels.get(pending.topic)
                if channel is not None and channel.state is ChannelState.LEAVING:
                    self._remove(channel, ChannelClosedError(pending.topic, "left"))
                self._events.append(ReplyReceived(pending.waiter, Reply("timeout", None)))
            else:
                self._events.append(PushFailed(pending.waiter, PushTimeout(
                    pending.topic, pending.event, pending.ref if pending.sent else None,
                    pending.timeout)))

    def _outdated_join(self, pending: _Pending) -> None:
        if pending.waiter is not None:  # never left waiting, whatever superseded it
            self._events.append(PushFailed(pending.waiter, ChannelClosedError(
                pending.topic, "superseded before the join completed")))

    def _join_timed_out(self, pending: _Pending, now: float) -> None:
        channel = self.channels.get(pending.topic)
        if channel is None or channel.join_ref != pending.join_ref:
            self._outdated_join(pending)
            return
        # channel.js: a join timeout sends phx_leave, then rejoins on the schedule.
        self._out.append((encode(pending.join_ref, self.refs.next_ref(), pending.topic,
                                 "phx_leave", {}), False))
        error = JoinTimeout(pending.topic, "phx_join", pending.ref, pending.timeout)
        if pending.waiter is not None:
            self._remove(channel, error)
            self._events.append(PushFailed(pending.waiter, error))
        else:
            self._errored(channel)
        self._check_connected()

    # ------------------------------------------------------------------ helpers

    def _register(self, pending: _Pending, now: float, ref: str | None = None) -> str:
        refs, heap = self.refs, self._timeouts
        if ref is None:
            ref = pending.ref = refs.next_ref()
        # Settled or cancelled heads go here, where the heap grows: it holds no more than
        # the pushes since the oldest one still pending (next_deadline() is not called
        # after every input: see earliest_added).
        while heap and heap[0][1] not in refs:
            heapq.heappop(heap)
        refs.add(ref, pending)
        deadline = now + pending.timeout
        if deadline < self.earliest_added:
            self.earliest_added = deadline
        heapq.heappush(heap, (deadline, ref))  # equal deadlines: any order
        return ref

    def _deadline_set(self, at: float) -> float:
        """Note ``at`` in ``earliest_added``; return it (every deadline but a request's,
        which ``_register`` notes itself, is set through here)."""
        if at < self.earliest_added:
            self.earliest_added = at
        return at

    def _encode(self, pending: _Pending, join_ref: str | None) -> bytes:
        if pending.binary:
            return encode_binary(join_ref, pending.ref, pending.topic, pending.event,
                                 pending.payload)
        return encode(join_ref, pending.ref, pending.topic, pending.event, pending.payload)

    def _send(self, pending: _Pending, join_ref: str | None) -> None:
        pending.join_ref = join_ref
        self._out.append((self._encode(pending, join_ref), pending.binary))
        pending.sent = True

    def _send_join(self, channel: Channel, now: float, params: Any = _UNSET) -> None:
        if params is _UNSET:
            params, channel.next_params = channel.next_params, _UNSET
        if params is _UNSET:
            params = channel.params
            if callable(params):
                try:
                    params = params()
                except Exception as exc:  # the caller's callable: retried on the schedule
                    self._params_failed(channel, exc)
                    return
        waiter, channel.join_waiter = channel.join_waiter, None
        pending = _Pending(_JOIN, channel.topic, "phx_join", params, waiter,
                           channel.join_timeout)
        ref = self._register(pending, now)
        channel.join_ref = ref  # phoenix.js: join_ref is the join push's ref
        self._set_state(channel, ChannelState.JOINING)
        self._rejoin_at.pop(channel.topic, None)
        try:
            self._send(pending, ref)
        except (TypeError, ValueError) as exc:  # params mutated since join(): not encodable
            self.refs.pop(ref)
            self._unencodable_join(channel, waiter, exc)

    def _params_failed(self, channel: Channel, exc: Exception) -> None:
        """The join params callable raised on a rejoin: errored, rejoined on the schedule."""
        message = f"the join params of {channel.topic!r} failed: {type(exc).__name__}: {exc}"
        waiter, channel.join_waiter = channel.join_waiter, None
        if waiter is not None:  # a first join buffered for connect: it fails
            self._remove(channel, LocalProtocolError(message))
            self._events.append(PushFailed(waiter, LocalProtocolError(message)))
        else:
            self._errored(channel)
            self._events.append(RejoinFailed(channel.topic, ChannelError(
                None, message, topic=channel.topic, event="phx_join"), False))
        self._check_connected()

    def _unencodable_join(self, channel: Channel, waiter: Any, exc: Exception) -> None:
        message = f"cannot encode the join params of {channel.topic!r}: {exc}"
        self._remove(channel, LocalProtocolError(message))
        if waiter is not None:
            self._events.append(PushFailed(waiter, LocalProtocolError(message)))
        else:
            self._events.append(RejoinFailed(channel.topic, ChannelError(
                None, message, topic=channel.topic, event="phx_join"), True))
        self._check_connected()

    def _flush_buffer(self, channel: Channel) -> None:
        buffered, channel.buffer = channel.buffer, []
        for pending in buffered:
            if self.refs.get(pending.ref) is not pending:
                continue  # timed out or cancelled while buffered
            try:
                self._send(pending, channel.join_ref)
            except (TypeError, ValueError) as exc:
                self.refs.pop(pending.ref)
                self._events.append(PushFailed(pending.waiter, LocalProtocolError(
                    f"cannot encode {pending.event!r} on {pending.topic!r}: {exc}")))

    def _errored(self, channel: Channel) -> None:
        self._set_state(channel, ChannelState.ERRORED)
        channel.rejoin_attempt += 1
        if self.socket_open:
            self._unscheduled.append(channel.topic)
            self.earliest_added = 0.0  # next_deadline(): 0.0 until handle_timeout

    def _remove(self, channel: Channel, error: FastphxError) -> None:
        if self.channels.get(channel.topic) is channel:
            del self.channels[channel.topic]
        join = self.refs.get(channel.join_ref) if channel.join_ref is not None else None
        if isinstance(join, _Pending) and join.kind == _JOIN and join.topic == channel.topic:
            self.refs.pop(channel.join_ref)  # a join still in flight ends with the channel
            if join.waiter is not None:
                self._events.append(PushFailed(join.waiter, error))
        self._rejoin_at.pop(channel.topic, None)
        self._set_state(channel, ChannelState.CLOSED)
        buffered, channel.buffer = channel.buffer, []
        for pending in buffered:
            if self.refs.pop(pending.ref) is pending:
                self._events.append(PushFailed(pending.waiter, error))
        if channel.join_waiter is not None:
            self._events.append(PushFailed(channel.join_waiter, error))
            channel.join_waiter = None

    def _fail_in_flight(self) -> None:
        """Fail every sent push (its reply cannot come any more); keep buffered ones."""
        keep: list[_Pending] = []
        for pending in self.refs.drain():
            assert isinstance(pending, _Pending)
            if not pending.sent:
                keep.append(pending)
            elif pending.kind == _JOIN:
                self._join_lost(pending)
            elif pending.kind == _LEAVE:
                channel = self.channels.get(pending.topic)
                if channel is not None:
                    self._remove(channel, ChannelClosedError(pending.topic, "left"))
                self._events.append(ReplyReceived(pending.waiter, Reply("ok", None)))
            else:
                self._events.append(PushFailed(pending.waiter, ConnectionLostError(
                    f"connection lost before the reply to {pending.event!r} on "
                    f"{pending.topic!r} (ref {pending.ref})")))
        for pending in keep:
            self.refs.add(pending.ref, pending)

    def _join_lost(self, pending: _Pending) -> None:
        if pending.waiter is None:
            return  # a rejoin: the channel rejoins after the redial
        channel = self.channels.get(pending.topic)
        error = ConnectionLostError(f"connection lost while joining {pending.topic!r}")
        if channel is not None and channel.join_ref == pending.join_ref:
            self._remove(channel, error)
        self._events.append(PushFailed(pending.waiter, error))

    def _schedule_reconnect(self, now: float) -> None:
        self.reconnect_attempt += 1
        self.reconnect_at = self._deadline_set(now + self.reconnect_delay(self.reconnect_attempt))
        self._events.append(ReconnectScheduled(self.reconnect_attempt, self.reconnect_at))

    def _set_state(self, channel: Channel, state: ChannelState) -> None:
        if channel.state is ChannelState.JOINING:
            self._joining.discard(channel)
        channel.state = state
        if state is ChannelState.JOINING:
            self._joining.add(channel)

    def _check_connected(self) -> None:
        if self.socket_open and self.status in (Status.CONNECTING, Status.RECONNECTING):
            if not self._joining:  # O(1): a rejoin of 10,000 topics stays linear
                self.status = Status.CONNECTED
                self._events.append(Connected(not self.connected_once))
                self.connected_once = True

    def _terminate(self, error: FastphxError, closed_by_user: bool = False) -> None:
        self.status = Status.CLOSED
        self.reconnect_at = self.heartbeat_due = self.heartbeat_ref = None
        self._rejoin_at.clear()
        self._unscheduled.clear()
        for pending in self.refs.drain():
            assert isinstance(pending, _Pending)
            if pending.waiter is not None:
                self._events.append(PushFailed(pending.waiter, error))
        for channel in list(self.channels.values()):
            self._remove(channel, error)
        self._timeouts.clear()
        self._events.append(Closed(None if closed_by_user else error))


def _check_encodable(topic: Any, event: str, payload: Any) -> None:
    """Raise TypeError now for what could not be encoded later (a rejoin, a flush)."""
    if not isinstance(topic, str):
        raise TypeError(f"topic must be a str, not {type(topic).__name__}")
    encode(None, "0", topic, event, payload)


def _is_auth_error(response: Any) -> bool:
    if not isinstance(response, dict):
        return False
    return response.get("code") in AUTH_CODES or response.get("reason") in AUTH_CODES

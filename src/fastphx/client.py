"""The asyncio + aiohttp driver of :class:`fastphx.protocol.ClientProtocol` and the public Client.

One socket per client; one reader task (the hot path: bytes -> codec decode -> route ->
deliver), one writer task (frames from ``data_to_send()``), one ``loop.call_at`` timer driven
by ``next_deadline()``, futures as reply waiters. See docs/client.md for the behaviour.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import aiohttp
from yarl import URL

from ._types import Reply
from .backoff import DelayFunction, full_jitter_delay, phoenix_rejoin_delay
from .codec import decode, decode_binary, decode_eager
from .errors import (
    AuthError,
    ClientClosedError,
    ConnectError,
    ConnectTimeout,
    FastphxError,
    FrameDecodeError,
    LocalProtocolError,
)
from .models import (
    RECONNECT_FAILED_EVENT,
    RECONNECTING_EVENT,
    REJOINED_EVENT,
    Push,
    Status,
    SwitchTeamReply,
)
from .protocol import (
    ChannelClosed,
    ChannelErrored,
    ClientProtocol,
    Closed,
    ConnectionDead,
    DialDue,
    Event,
    PushFailed,
    ReconnectScheduled,
    Rejoined,
    RejoinFailed,
    ReplyReceived,
)

__all__ = ["DEFAULT_TOPIC", "Client", "Overflow", "PushStream"]

DEFAULT_TOPIC = "console:lobby"
Overflow = Literal["block", "drop_oldest", "drop_newest"]
ParamsArg = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None
TokenArg = str | Callable[[], str] | None
_TEXT = aiohttp.WSMsgType.TEXT
_BINARY = aiohttp.WSMsgType.BINARY
_DATA_TYPES = (_TEXT, _BINARY)


def _message_queue(ws: aiohttp.ClientWebSocketResponse) -> Any:
    """aiohttp's parsed-message queue of ``ws`` when it has the expected shape (a ``_buffer``
    deque of ``(WSMessage, size)`` pairs and an async ``read()``), else None: the reader then
    uses ``ws.receive()`` for every message. Private API, so checked, never assumed."""
    queue = getattr(ws, "_reader", None)
    buffer = getattr(queue, "_buffer", None)
    if (not isinstance(buffer, deque) or not callable(getattr(queue, "read", None))
            or not isinstance(getattr(ws, "_closing", None), bool)
            or not isinstance(getattr(ws, "_closed", None), bool)):
        return None
    return queue
_REDACTED = "REDACTED"
# Query parameters redacted wherever a URL is shown (also ones the caller put in the URL).
_SECRET_QUERY = re.compile(r"((?:api_key|token|access_token|auth_token|password)=)[^&\s\"']+",
                           re.IGNORECASE)
_CONTROL_EVENTS = frozenset({"phx_error", "phx_close", "phx_reply"})


def _default_reconnect_delay(attempt: int) -> float:
    return full_jitter_delay(attempt, base=0.1, cap=30.0)


def rfc3339_nano(epoch_ns: int) -> str:
    """Format nanoseconds since the epoch as RFC 3339 UTC with 9 fraction digits."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    stamp = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def bearer_subprotocol(token: str) -> str:
    """Phoenix 1.8 token subprotocol: ``base64url.bearer.phx.`` + base64 without padding.

    Phoenix decodes it with the standard alphabet, so the standard alphabet is used here.
    """
    encoded = base64.b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")
    return "base64url.bearer.phx." + encoded


class PushStream:
    """An async iterator over server pushes (see :meth:`Client.pushes`).

    Each stream has its own bounded buffer; it ends when the client closes (after the
    buffered pushes are consumed) or when :meth:`aclose` is called.
    """

    __slots__ = (
        "__weakref__",
        "_buf",
        "_cap",
        "_client",
        "_low",
        "ended",
        "events",
        "filtered",
        "space_waiter",
        "topic",
        "waiter",
    )

    def __init__(self, client: Client, cap: int, topic: str | None,
                 events: frozenset[str] | None) -> None:
        self._client = client
        self._buf: deque[Push] = deque()
        self._cap = cap
        self._low = cap // 2
        self.waiter: asyncio.Future[None] | None = None
        self.space_waiter: asyncio.Future[None] | None = None
        self.topic = topic
        self.events = events
        self.filtered = topic is not None or events is not None
        self.ended = False

    def matches(self, push: Push) -> bool:
        """True when ``push`` passes this stream's topic and event filters."""
        if self.topic is not None and push.topic != self.topic:
            return False
        return self.events is None or push.event in self.events

    def __aiter__(self) -> PushStream:
        return self

    async def __anext__(self) -> Push:
        buf = self._buf
        if buf:
            item = buf.popleft()
            space = self.space_waiter
            if space is not None and len(buf) <= self._low:
                self.space_waiter = None
                if not space.done():
                    space.set_result(None)
            return item
        return await self._wait()

    async def _wait(self) -> Push:
        while not self._buf:
            if self.ended:
                raise StopAsyncIteration
            loop = self._client._loop or asyncio.get_running_loop()
            waiter = loop.create_future()
            self.waiter = waiter
            try:
                await waiter
            finally:
                self.waiter = None
        return await self.__anext__()

    def __len__(self) -> int:
        return len(self._buf)

    def _end(self) -> None:
        self.ended = True
        for fut in (self.waiter, self.space_waiter):
            if fut is not None and not fut.done():
                fut.set_result(None)
        self.waiter = self.space_waiter = None

    async def aclose(self) -> None:
        """Stop this stream: it is unsubscribed and its buffer dropped."""
        self._client._unsubscribe(self)
        self._buf.clear()
        self._end()

    async def __aenter__(self) -> PushStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None and not self.ended:
            client._unsubscribe(self)


class Client:
    """A Phoenix Channels session over one WebSocket: joins, pushes, server pushes.

    Construct (no I/O), then ``await connect()`` or ``async with Client(...)``; ``close()``
    ends it (terminal, idempotent). See docs/client.md for reconnect, heartbeat and
    buffering behaviour.

    Parameters:
        url: the socket URL (``ws(s)://host/socket/websocket``); ``vsn=2.0.0`` and
            ``api_key`` are appended, an existing query is kept.
        api_key: sent as the ``api_key`` query parameter; redacted in every log and error.
        topic: the primary topic ``connect()`` joins (default ``console:lobby``).
        join_params: the primary topic's join params.
        params: more connect query params: a dict, or a callable evaluated on every dial.
        auth_token: a Phoenix 1.8 token (str or callable) sent in ``Sec-WebSocket-Protocol``.
        heartbeat_interval: seconds between heartbeats (30); the link is dead after a full
            interval in which nothing at all arrived while a heartbeat was unanswered.
        push_buffer_size: the bound of each ``pushes()`` iterator's buffer (256).
        overflow: ``"block"`` (lossless backpressure, default), ``"drop_oldest"`` or
            ``"drop_newest"`` (counted in ``dropped`` and logged).
        reconnect: redial and rejoin after an outage (default True).
        logger: a stdlib logger (default ``logging.getLogger("fastphx.client")``).
        session: an aiohttp ``ClientSession`` to dial with (not closed by the client).
        ssl: passed to aiohttp's ``ws_connect`` (an ``ssl.SSLContext``, False, or None).
        connect_timeout: seconds for the WebSocket handshake (10).
        reply_timeout: the default seconds a push or join waits for its reply (10).
        eager_payloads: parse every payload in the reader, in the same pass as its header
            (``decode_eager``), instead of on first read. Use it when every payload is
            read: it measured at least as fast as lazy reading (bench/e2e.py). The default
            (lazy) is cheapest when payloads are filtered, forwarded or read only
            sometimes; every payload is validated at decode either way.
        reconnect_delay: ``attempt -> seconds`` before each redial (default: exponential
            backoff with full jitter, capped).
        rejoin_delay: ``attempt -> seconds`` before each rejoin of a crashed topic
            (default: Phoenix's 1 s, 2 s, 5 s, then 10 s).
        close_timeout: seconds ``close()`` waits for the server's close handshake (2).
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        topic: str = DEFAULT_TOPIC,
        join_params: Mapping[str, Any] | None = None,
        params: ParamsArg = None,
        auth_token: TokenArg = None,
        heartbeat_interval: float = 30.0,
        push_buffer_size: int = 256,
        overflow: Overflow = "block",
        reconnect: bool = True,
        logger: logging.Logger | None = None,
        session: aiohttp.ClientSession | None = None,
        ssl: Any = None,
        connect_timeout: float = 10.0,
        reply_timeout: float = 10.0,
        eager_payloads: bool = False,
        reconnect_delay: DelayFunction | None = None,
        rejoin_delay: DelayFunction | None = None,
        close_timeout: float = 2.0,
    ) -> None:
        if overflow not in ("block", "drop_oldest", "drop_newest"):
            raise ValueError(f"overflow must be block, drop_oldest or drop_newest: {overflow!r}")
        if push_buffer_size < 1:
            raise ValueError("push_buffer_size must be >= 1")
        if heartbeat_interval <= 0:
            heartbeat_interval = 30.0
        self._url = url
        self._api_key = api_key
        self.topic = topic
        self.join_params: Mapping[str, Any] = join_params or {}
        self._params = params
        self._auth_token = auth_token
        self._secrets: set[str] = set()
        self.push_buffer_size = push_buffer_size
        self.overflow: Overflow = overflow
        self.logger = logger or logging.getLogger("fastphx.client")
        self._session = session
        self._own_session = session is None
        self._ssl = ssl
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.close_timeout = close_timeout
        self._decode = decode_eager if eager_payloads else decode
        self._proto = ClientProtocol(
            heartbeat_interval=heartbeat_interval, reply_timeout=reply_timeout,
            reconnect=reconnect, reconnect_delay=reconnect_delay or _default_reconnect_delay,
            rejoin_delay=rejoin_delay or phoenix_rejoin_delay)
        self.welcome: Any = None
        self.dropped = 0
        self.malformed = 0
        self.error: FastphxError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._send_wanted: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Copy-on-write: replaced, never mutated, so the reader's loop over it stays valid.
        self._subs: tuple[PushStream, ...] = ()
        self._backlog: PushStream | None = None
        self._closing: asyncio.Task[None] | None = None
        self._dead = False
        self._last_drop_log = 0.0
        self._debug = False
        self._new_backlog()

    # ------------------------------------------------------------------ properties

    @property
    def status(self) -> Status:
        """The connection lifecycle state (cheap)."""
        return self._proto.status

    @property
    def url(self) -> str:
        """The base URL with secrets redacted."""
        return self._redact(self._url)

    @property
    def topics(self) -> list[str]:
        """Topics currently joined or being (re)joined."""
        return list(self._proto.channels)

    @property
    def stale_dropped(self) -> int:
        """How many inbound frames were dropped because their join_ref was outdated."""
        return self._proto.stale_dropped

    def __repr__(self) -> str:
        return f"<fastphx.Client {self.url} {self.status}>"

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> Any:
        """Dial, join the primary topic and return its join reply response (``welcome``).

        Raises AuthError (HTTP 403), ConnectError (unreachable, TLS, bad handshake),
        ConnectTimeout, ChannelError (join refused), JoinTimeout, ClientClosedError.
        On failure the client is closed.
        """
        self._proto.connecting()
        loop = self._loop = asyncio.get_running_loop()
        self._debug = self.logger.isEnabledFor(logging.DEBUG)
        self._send_wanted = asyncio.Event()
        joined: asyncio.Future[Reply] = loop.create_future()
        self._proto.join(self.topic, dict(self.join_params), joined, loop.time())
        try:
            ws = await self._dial()
            self._attach(ws)
            reply = await joined
        except BaseException:
            await self.close()
            if joined.done() and not joined.cancelled():
                joined.exception()  # retrieved: the dial/join error is what we raise
            raise
        self.welcome = reply.response
        return reply.response

    async def close(self) -> None:
        """Close the session: pending operations fail with ClientClosedError, push
        iterators end, tasks are awaited. Idempotent; CLOSED is terminal."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._closing)

    async def _shutdown(self) -> None:
        self._proto.close()
        self._after_input()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            await self._close_ws(ws)
        pending: list[asyncio.Task[Any]] = [*self._tasks]
        for io_task in (self._reader, self._writer):
            if io_task is not None:
                io_task.cancel()
                pending.append(io_task)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _close_ws(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await asyncio.wait_for(ws.close(), self.close_timeout)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError):
            pass

    # ------------------------------------------------------------------ API

    async def join_topic(self, topic: str, params: Mapping[str, Any] | None = None, *,
                         timeout: float | None = None) -> Any:
        """Join ``topic`` and return its join reply response.

        Raises ChannelError (refused), JoinTimeout, LocalProtocolError (already joined),
        ConnectionLostError, ClientClosedError.
        """
        loop = self._loop_or_raise()
        fut: asyncio.Future[Reply] = loop.create_future()
        self._proto.join(topic, dict(params or {}), fut, loop.time(), timeout)
        self._after_input()
        reply = await self._await_reply(fut, None)
        return reply.response

    async def leave_topic(self, topic: str, *, timeout: float | None = None) -> None:
        """Leave ``topic`` (``phx_leave``); returns once acknowledged or timed out.

        Raises NotJoinedError for a topic not joined.
        """
        loop = self._loop_or_raise()
        fut: asyncio.Future[Reply] = loop.create_future()
        if self._proto.leave(topic, fut, loop.time(), timeout):
            self._after_input()
            await self._await_reply(fut, None)
        else:
            self._after_input()

    async def push(self, topic: str, event: str, payload: Any = None, *,
                   timeout: float | None = None) -> Reply:
        """Push ``event`` on a joined ``topic``; return its Reply (any non-error status).

        Raises ChannelError (status error; ``code`` a ChannelErrorCode or the raw string),
        PushTimeout, ConnectionLostError (socket dropped), ClientClosedError,
        NotJoinedError (topic not joined), TypeError (unserialisable payload).
        """
        loop = self._loop_or_raise()
        fut: asyncio.Future[Reply] = loop.create_future()
        ref = self._proto.push(topic, event, {} if payload is None else payload, fut,
                               loop.time(), timeout)
        self._after_input()
        return await self._await_reply(fut, ref)

    async def push_binary(self, topic: str, event: str, data: bytes | bytearray | memoryview,
                          *, timeout: float | None = None) -> Reply:
        """Push ``data`` as a BINARY frame; return its Reply (``response`` is bytes when the
        server answers with a binary reply). Raises like :meth:`push`."""
        loop = self._loop_or_raise()
        fut: asyncio.Future[Reply] = loop.create_future()
        ref = self._proto.push(topic, event, bytes(data), fut, loop.time(), timeout, binary=True)
        self._after_input()
        return await self._await_reply(fut, ref)

    async def switch_team(self, team_id: str, *, timeout: float | None = None) -> SwitchTeamReply:
        """Push ``scope.switch_team`` on the primary topic; return the parsed reply.

        Raises ChannelError for every error code (``noop`` included), and like :meth:`push`.
        """
        reply = await self.push(self.topic, "scope.switch_team", {"team_id": team_id},
                                timeout=timeout)
        return SwitchTeamReply.from_response(reply.response)

    def pushes(self, topic: str | None = None,
               events: Iterable[str] | str | None = None) -> PushStream:
        """Return an async iterator over server pushes (optionally one topic / some events).

        Each iterator has its own buffer of ``push_buffer_size``; with ``overflow="block"``
        a full buffer stops the socket reader until the iterator drains it. Until the first
        iterator exists (and whenever none exists), a backlog keeps the latest
        ``push_buffer_size`` pushes (older ones dropped and counted in ``dropped``), and the
        next iterator created takes them. It ends when the client closes.
        """
        event_set = None if events is None else frozenset(
            (events,) if isinstance(events, str) else events)
        stream = PushStream(self, self.push_buffer_size, topic, event_set)
        if self._proto.status is Status.CLOSED:
            stream.ended = True
        self._subs = (*self._subs, stream)
        backlog, self._backlog = self._backlog, None
        if backlog is not None:
            self._unsubscribe(backlog)
            stream._buf.extend(p for p in backlog._buf if stream.matches(p))
            backlog._end()
        if stream.ended:
            self._unsubscribe(stream)
        return stream

    # ------------------------------------------------------------------ futures

    def _loop_or_raise(self) -> asyncio.AbstractEventLoop:
        if self._proto.status is Status.CLOSED:
            raise ClientClosedError("client is closed")
        if self._loop is None:
            raise LocalProtocolError("call connect() first")
        return self._loop

    async def _await_reply(self, fut: asyncio.Future[Reply], ref: str | None) -> Reply:
        try:
            return await fut
        except asyncio.CancelledError:
            if ref is not None:
                self._proto.cancel(ref)
                self._reschedule()
            raise

    # ------------------------------------------------------------------ dialing

    def _dial_url(self) -> URL:
        params = self._params() if callable(self._params) else (self._params or {})
        query: dict[str, str] = {"vsn": "2.0.0"}
        if self._api_key:
            query["api_key"] = self._api_key
            self._secrets.add(self._api_key)
        query.update({str(k): str(v) for k, v in params.items()})
        return URL(self._url).extend_query(query)

    def _protocols(self) -> tuple[str, ...]:
        token = self._auth_token() if callable(self._auth_token) else self._auth_token
        if not token:
            return ()
        sub = bearer_subprotocol(token)
        self._secrets.update((token, sub, sub.rsplit(".", 1)[1]))
        return ("phoenix", sub)

    async def _dial(self) -> aiohttp.ClientWebSocketResponse:
        """Open the WebSocket; raise AuthError / ConnectError / ConnectTimeout (redacted)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url = self._dial_url()
        protocols = self._protocols()
        try:
            ws: Any = await asyncio.wait_for(
                self._session.ws_connect(
                    url, protocols=protocols, decode_text=False, autoping=True,
                    heartbeat=None, ssl=self._ssl if self._ssl is not None else True,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self.close_timeout),
                    max_msg_size=0),
                self.connect_timeout)
            return ws  # type: ignore[no-any-return]
        except aiohttp.WSServerHandshakeError as exc:
            # Raised `from None`: aiohttp's message and cause carry the URL (the api_key).
            if exc.status in (401, 403):
                raise AuthError(f"connection refused by the server (HTTP {exc.status})",
                                status=exc.status) from None
            raise ConnectError(f"WebSocket handshake failed (HTTP {exc.status}): "
                               f"{self._redact(exc.message)}") from None
        except asyncio.TimeoutError:
            raise ConnectTimeout(f"no WebSocket handshake within {self.connect_timeout:g}s "
                                 f"({self.url})") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise ConnectError(f"cannot connect to {self.url}: "
                               f"{self._redact(str(exc)) or type(exc).__name__}") from None

    def _attach(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Hand a fresh socket to the protocol and start its reader and writer tasks."""
        loop = self._loop_or_raise()
        self._ws = ws
        self._dead = False
        self._proto.connection_made(loop.time())
        assert self._send_wanted is not None
        self._send_wanted.clear()
        self._writer = loop.create_task(self._write_loop(ws))
        self._reader = loop.create_task(self._reader_main(ws))
        self._after_input()

    async def _redial(self, attempt: int) -> None:
        loop = self._loop_or_raise()
        try:
            ws = await self._dial()
        except AuthError as exc:
            self.logger.error("reconnect attempt %d refused: %s; giving up", attempt, exc)
            self.error = exc
            self._deliver_synthetic(Push("", RECONNECT_FAILED_EVENT, {
                "attempt": attempt, "status": exc.status, "error": str(exc)}))
            self._proto.dial_failed(loop.time(), exc, fatal=True)
        except FastphxError as exc:
            self.logger.warning("reconnect attempt %d failed: %s", attempt, exc)
            self._proto.dial_failed(loop.time(), exc)
        else:
            if self._proto.status is Status.CLOSED:
                await self._close_ws(ws)
                return
            self.logger.info("reconnected (attempt %d)", attempt)
            self._attach(ws)
            return
        self._after_input()

    # ------------------------------------------------------------------ I/O tasks

    async def _write_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        wanted = self._send_wanted
        assert wanted is not None
        proto = self._proto
        try:
            while True:
                await wanted.wait()
                wanted.clear()
                for data, binary in proto.data_to_send():
                    await ws.send_frame(data, _BINARY if binary else _TEXT)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            if self._debug:
                self.logger.debug("send failed: %s", self._redact(str(exc)))

    async def _reader_main(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await self._read_loop(ws)
        finally:
            if self._ws is ws:
                self._ws = None
        code = None if self._dead else ws.close_code
        if self._writer is not None:
            self._writer.cancel()
        await self._close_ws(ws)
        if self._proto.status is not Status.CLOSED:
            self.logger.warning("connection lost (close code %s)", code)
            loop = self._loop_or_raise()
            self._proto.connection_lost(loop.time(), code)
            self._after_input()

    async def _read_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The hot path: receive, decode, route, deliver; one long function on purpose
        (every call layer costs per message; measured by bench/e2e.py)."""
        receive = ws.receive
        # aiohttp's receive() is a Python coroutine doing bookkeeping that only matters for
        # control frames and waiting; it cost ~35% of a bare receive loop (bench/e2e.py,
        # bare_queue row). A data message already parsed is taken straight from the
        # connection's message queue (its own read(): flow control stays intact); anything
        # else (close, ping, an empty queue) goes through receive() with its full semantics.
        queue = _message_queue(ws)
        buffer = queue._buffer if queue is not None else ()
        read = queue.read if queue is not None else receive
        decode_text = self._decode
        route = self._proto.receive_frame
        proto = self._proto
        channels_get = proto.channels.get
        control = _CONTROL_EVENTS
        block = self.overflow == "block"
        while True:
            # WSMessage is a NamedTuple: unpack, no getattr
            if (buffer and buffer[0][0][0] in _DATA_TYPES and not ws._closing
                    and not ws._closed):  # receive() would not deliver it while closing
                mtype, data, _ = await read()
            else:
                mtype, data, _ = await receive()
            try:
                if mtype is _TEXT:
                    frame = decode_text(data)
                elif mtype is _BINARY:
                    frame = decode_binary(data)
                else:
                    return
            except FrameDecodeError as exc:
                self._malformed(data, exc)
                continue
            # Inline copy of ClientProtocol.receive_frame's push branch (a method call per
            # message is measurable): a push (no ref) on a known topic whose join_ref is
            # current (or null) and that is not phx_error/phx_close. The rest goes through it.
            channel = None if frame.ref is not None else channels_get(frame.topic)
            join_ref = frame.join_ref
            if (channel is None or (join_ref is not None and join_ref != channel.join_ref)
                    or frame.event in control):
                push = route(frame)
                if push is None:
                    if proto._events:
                        self._after_input()
                    continue
            else:
                proto._activity = True
                push = frame
            for sub in self._subs:
                if sub.filtered and not sub.matches(push):  # type: ignore[arg-type]
                    continue
                buf = sub._buf
                if len(buf) >= sub._cap:
                    if block and sub is not self._backlog:
                        await self._wait_for_space(sub)
                        if sub.ended:
                            continue
                    elif self._drop(sub, push):
                        continue
                buf.append(push)  # type: ignore[arg-type]
                waiter = sub.waiter
                if waiter is not None:
                    sub.waiter = None
                    if not waiter.done():
                        waiter.set_result(None)

    async def _wait_for_space(self, sub: PushStream) -> None:
        """Backpressure: stop reading until ``sub`` drains (the link is not dead)."""
        loop = self._loop_or_raise()
        self._proto.reading_paused()
        try:
            while len(sub._buf) >= sub._cap and not sub.ended:
                fut: asyncio.Future[None] = loop.create_future()
                sub.space_waiter = fut
                await fut
        finally:
            sub.space_waiter = None
            self._proto.reading_resumed()

    def _drop(self, sub: PushStream, push: Any) -> bool:
        """Apply drop_oldest / drop_newest on a full buffer; True when ``push`` is dropped."""
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= 1.0:
            self._last_drop_log = now
            self.logger.warning("push buffer full (%d): %s; %d dropped so far",
                                sub._cap, self.overflow, self.dropped)
        if self.overflow != "drop_newest":  # drop_oldest, and the backlog under "block"
            sub._buf.popleft()
            return False
        return True

    def _malformed(self, data: Any, exc: FrameDecodeError) -> None:
        self.malformed += 1
        self.logger.warning("dropped a malformed frame (%d bytes): %s", len(data), exc)

    # ------------------------------------------------------------------ events

    def _after_input(self) -> None:
        """Carry out the protocol's outputs: events, frames to send, the next timer."""
        proto = self._proto
        if proto._events:
            for event in proto.events_received():
                self._handle_event(event)
        if proto._out and self._send_wanted is not None:
            self._send_wanted.set()
        self._reschedule()

    def _handle_event(self, event: Event) -> None:
        if isinstance(event, ReplyReceived):
            if not event.waiter.done():
                event.waiter.set_result(event.reply)
        elif isinstance(event, PushFailed):
            if not event.waiter.done():
                event.waiter.set_exception(event.error)
        elif isinstance(event, Rejoined):
            if event.topic == self.topic:
                self.welcome = event.response
            self._deliver_synthetic(Push(event.topic, REJOINED_EVENT, event.response))
        elif isinstance(event, ChannelErrored):
            self.logger.warning("channel %r crashed (phx_error); rejoining", event.topic)
            self._deliver_synthetic(Push(event.topic, "phx_error", event.payload))
        elif isinstance(event, ChannelClosed):
            self._deliver_synthetic(Push(event.topic, "phx_close", event.payload))
        elif isinstance(event, RejoinFailed):
            self._rejoin_failed(event)
        else:
            self._handle_connection_event(event)

    def _handle_connection_event(self, event: Event) -> None:
        if isinstance(event, ConnectionDead):
            self.logger.warning("%s; closing the socket", event.reason)
            ws = self._ws
            if ws is not None:
                self._dead = True
                self._spawn(self._close_ws(ws))
        elif isinstance(event, ReconnectScheduled):
            loop = self._loop_or_raise()
            at_ns = time.time_ns() + int((event.at - loop.time()) * 1e9)
            self._deliver_synthetic(Push("", RECONNECTING_EVENT, {
                "attempt": event.attempt, "next_attempt_at": rfc3339_nano(at_ns)}))
        elif isinstance(event, DialDue):
            self._spawn(self._redial(event.attempt))
        elif isinstance(event, Closed):
            if event.error is not None and self.error is None:
                self.error = event.error
            for sub in list(self._subs):
                sub._end()
            if self._backlog is not None:
                self._backlog._end()

    def _rejoin_failed(self, event: RejoinFailed) -> None:
        self.logger.warning("rejoin of %r refused: %s%s", event.topic, event.error,
                            " (not retried)" if event.fatal else "")
        self._deliver_synthetic(Push(event.topic, "rejoin_failed", {
            "code": str(event.error.code) if event.error.code is not None else None,
            "message": event.error.message, "fatal": event.fatal,
            "response": event.error.response}))

    def _deliver_synthetic(self, push: Push) -> None:
        """Deliver a client-made push; never blocks (it may exceed the buffer by a few)."""
        for sub in self._subs:
            if sub.ended or (sub.filtered and not sub.matches(push)):
                continue
            sub._buf.append(push)
            waiter = sub.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ helpers

    def _reschedule(self) -> None:
        deadline = self._proto.next_deadline()
        if deadline == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        assert self._loop is not None
        self._proto.handle_timeout(self._loop.time())
        self._after_input()

    def _spawn(self, coro: Any) -> None:
        loop = self._loop_or_raise() if self._loop is None else self._loop
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _new_backlog(self) -> None:
        self._backlog = PushStream(self, self.push_buffer_size, None, None)
        self._subs = (*self._subs, self._backlog)

    def _unsubscribe(self, stream: PushStream) -> None:
        stream.ended = True  # a reader blocked on its space must not wait again
        if stream not in self._subs:
            return
        self._subs = tuple(s for s in self._subs if s is not stream)
        if stream.space_waiter is not None and not stream.space_waiter.done():
            stream.space_waiter.set_result(None)
        if not self._subs and self._proto.status is not Status.CLOSED:
            self._new_backlog()

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, _REDACTED)
        if self._api_key:
            text = text.replace(self._api_key, _REDACTED)
        return _SECRET_QUERY.sub(r"\1" + _REDACTED, text)


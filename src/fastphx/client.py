"""The public asyncio Client: the API over the protocol, delivery and transport rooms.

- ``protocol.py`` (sans-I/O): every state transition; time is passed in.
- ``_delivery.py``: subscriptions, buffers, spill, backpressure, drop accounting.
- ``_transport.py``: the seam to the WebSocket library; ``_transport_aiohttp.py`` (default)
  and ``_transport_picows.py`` (optional) are the only modules touching one.

One socket per client; one reader task (the transport's ``run``, calling the hot path per
message: codec decode -> route -> deliver, one long function on purpose, see
``_make_handler``), one writer task (frames from ``data_to_send()``; on picows written from
the caller while it is idle: ``_send_direct``), one ``loop.call_at`` timer driven by
``next_deadline()`` (re-armed only for a sooner deadline: ``_reschedule``), futures as
reply waiters. See docs/client.md for the behaviour.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from yarl import URL

from . import console
from ._delivery import Action, Delivery, PushStream
from ._transport import Connection, Handler, TransportName, make_transport
from ._types import Reply
from .backoff import DelayFunction, full_jitter_delay, phoenix_rejoin_delay
from .codec import Router, decode, decode_binary, decode_eager
from .console import DEFAULT_TOPIC, SwitchTeamReply
from .errors import (
    AuthError,
    ClientClosedError,
    FastphxError,
    FrameDecodeError,
    LocalProtocolError,
    ReplyBlockedError,
)
from .models import (
    CONNECTED_EVENT,
    DISCONNECTED_EVENT,
    RECONNECT_FAILED_EVENT,
    RECONNECTING_EVENT,
    REJOINED_EVENT,
    Push,
    Status,
)
from .protocol import (
    ChannelClosed,
    ChannelErrored,
    ClientProtocol,
    Closed,
    Connected,
    ConnectionDead,
    DialDue,
    Disconnected,
    Event,
    PushFailed,
    ReconnectScheduled,
    Rejoined,
    RejoinFailed,
    ReplyReceived,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_TOPIC", "Client", "Overflow", "PushStream"]

Overflow = Literal["block", "drop_oldest", "drop_newest"]
ParamsArg = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None
JoinParamsArg = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None
TokenArg = str | Callable[[], str] | None
#: Default bound of the bytes read past full iterator buffers while a reply is awaited.
DEFAULT_MAX_SPILL_BYTES = 16 * 1024 * 1024
#: Default bound of one incoming WebSocket message (larger: close 1009 and reconnect).
DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
_REDACTED = "REDACTED"
# Query parameters redacted wherever a URL is shown (also ones the caller put in the URL).
_SECRET_QUERY = re.compile(r"((?:api_key|token|access_token|auth_token|password)=)[^&\s\"']+",
                           re.IGNORECASE)
_WS_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
# URL userinfo (``ws://user:password@host``) is redacted wherever a URL is shown.
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def _default_reconnect_delay(attempt: int) -> float:
    return full_jitter_delay(attempt, base=0.1, cap=30.0)


def rfc3339_nano(epoch_ns: int) -> str:
    """Format nanoseconds since the epoch like Go's ``time.RFC3339Nano`` in UTC: the
    fraction trimmed of trailing zeros, none for whole seconds
    (``2026-11-28T14:00:00.1234Z``, ``2026-11-28T14:00:00Z``)."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    stamp = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def bearer_subprotocol(token: str) -> str:
    """Phoenix 1.8 token subprotocol: ``base64url.bearer.phx.`` + base64 without padding.

    Phoenix decodes it with the standard alphabet, so the standard alphabet is used here.
    """
    encoded = base64.b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")
    return "base64url.bearer.phx." + encoded


class Client:
    """A Phoenix Channels session over one WebSocket: joins, pushes, server pushes.

    Construct (no I/O), then ``await connect()`` or ``async with Client(...)``; ``close()``
    ends it (terminal, idempotent). See docs/client.md for reconnect, heartbeat and the
    delivery guarantees.

    Parameters:
        url: the socket URL (``ws(s)://host/socket/websocket``; ``http``/``https`` map to
            ``ws``/``wss``); ``vsn=2.0.0`` and ``api_key`` are appended, an existing query
            is kept. Userinfo (``user:password@``) is sent but redacted wherever the URL is
            shown. Checked here: an empty URL, no host or another scheme raise ValueError.
        api_key: sent as the ``api_key`` query parameter; redacted in every log and error.
        topic: the primary topic ``connect()`` joins (default, also for ``""``:
            ``console:lobby``).
        join_params: the primary topic's join params: a mapping, or a callable returning
            one, evaluated on every (re)join.
        params: more connect query params: a dict, or a callable evaluated on every dial.
        auth_token: a Phoenix 1.8 token (str or callable) sent in ``Sec-WebSocket-Protocol``.
        heartbeat_interval: seconds between heartbeats (30; a value <= 0 means 30); the link
            is dead after a full interval in which nothing at all arrived while a heartbeat
            was unanswered.
        push_buffer_size: the bound of each ``pushes()`` iterator's buffer (256; a value
            <= 0 means 256).
        overflow: ``"block"`` (lossless backpressure, default), ``"drop_oldest"`` or
            ``"drop_newest"`` (counted in ``dropped`` and logged).
        max_spill_bytes: under ``"block"``, how many bytes of pushes the reader may hold
            past full iterator buffers while it reads on for an awaited reply (16 MiB;
            ``None``: no bound). Past it reading pauses and awaited replies fail with
            ``ReplyBlockedError``.
        max_message_size: the largest incoming WebSocket message accepted (32 MiB;
            ``None``: no bound); a larger one is refused before it is buffered: the socket
            closes with 1009, the event is counted in ``malformed``, and the client
            reconnects.
        compress: offer permessage-deflate (off by default); used when the server agrees
            (Phoenix does when its socket is configured with ``compress: true``); aiohttp
            only (ValueError with another ``transport``).
        reconnect: redial and rejoin after an outage (default True).
        logger: a stdlib logger (default ``logging.getLogger("fastphx.client")``).
        transport: the WebSocket library: ``"aiohttp"`` (default) or ``"picows"`` (faster;
            ``pip install 'fastphx[picows]'``; ImportError when it is not installed). The
            behaviour is the same on both (docs/client.md, "Transports").
        session: an aiohttp ``ClientSession`` to dial with (not closed by the client);
            aiohttp only (ValueError with another ``transport``).
        ssl: TLS for ``wss://``: None (verify against the system's CAs, the default), an
            ``ssl.SSLContext``, or False (no verification).
        connect_timeout: seconds for the WebSocket handshake (10).
        reply_timeout: the default seconds a push or join waits for its reply (10).
        eager_payloads: parse every payload in the reader, in the same pass as its header
            (``decode_eager``), instead of on first read. For when every payload is read:
            fewer instructions per push than lazy reading (bench/e2e_instructions.py),
            the same time within noise (bench/e2e.py). The default
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
        join_params: JoinParamsArg = None,
        params: ParamsArg = None,
        auth_token: TokenArg = None,
        heartbeat_interval: float = 30.0,
        push_buffer_size: int = 256,
        overflow: Overflow = "block",
        max_spill_bytes: int | None = DEFAULT_MAX_SPILL_BYTES,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        compress: bool = False,
        reconnect: bool = True,
        logger: logging.Logger | None = None,
        transport: TransportName = "aiohttp",
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
        # Zero values mean defaults, as the Go reference's Options.
        topic = topic or DEFAULT_TOPIC
        if push_buffer_size <= 0:
            push_buffer_size = 256
        for name, value in (("max_spill_bytes", max_spill_bytes),
                            ("max_message_size", max_message_size)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None")
        if heartbeat_interval <= 0:
            heartbeat_interval = 30.0
        self._url = _checked_url(url)
        self._api_key = api_key
        self.topic = topic
        self.join_params: JoinParamsArg = join_params or {}
        self._params = params
        self._auth_token = auth_token
        self._secrets: set[str] = _userinfo_secrets(url)
        self.push_buffer_size = push_buffer_size
        self.overflow: Overflow = overflow
        self.max_message_size = max_message_size
        self.compress = compress
        self.logger = logger or logging.getLogger("fastphx.client")
        self._transport = make_transport(transport, session, self.logger, compress)
        self._ssl = ssl
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.close_timeout = close_timeout
        self._decode = decode_eager if eager_payloads else decode
        self._proto = ClientProtocol(
            heartbeat_interval=heartbeat_interval, reply_timeout=reply_timeout,
            reconnect=reconnect, reconnect_delay=reconnect_delay or _default_reconnect_delay,
            rejoin_delay=rejoin_delay or phoenix_rejoin_delay)
        self._delivery = Delivery(push_buffer_size, overflow, max_spill_bytes, self.logger)
        self.welcome: Any = None
        self.error: FastphxError | None = None
        self._malformed = 0
        self._last_malformed_log = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: Connection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._send_wanted: asyncio.Event | None = None
        # The connection's send_now (_transport.py), while the writer task is idle and
        # nothing waits for it in _unsent: frames written from the caller (_send_direct).
        self._send_now: Callable[[bytes, bool], bool] | None = None
        self._unsent: list[tuple[bytes, bool]] = []
        self._writing = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Task[None] | None = None
        self._loss_reason: str | None = None  # why the current socket is being dropped
        self._last_ping: float | None = None
        self._router = Router(self._proto.channels)  # routes and counts what is received
        self._tx = [0, 0]  # frames, bytes sent
        self._rx_other = 0  # received frames that were not pushes
        self._reconnects = 0
        self._rejoins = 0
        self._dead = False
        self._debug = False

    # ------------------------------------------------------------------ properties

    @property
    def status(self) -> Status:
        """The connection lifecycle state (cheap)."""
        return self._proto.status

    @property
    def url(self) -> str:
        """The base URL with secrets (api_key, token, userinfo) redacted."""
        return self._redact(self._url)

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between heartbeats (a value <= 0 given at construction means 30)."""
        return self._proto.heartbeat_interval

    @property
    def topics(self) -> list[str]:
        """Topics currently joined or being (re)joined."""
        return list(self._proto.channels)

    @property
    def stale_dropped(self) -> int:
        """Inbound frames dropped because their join_ref (or a reply's topic) was outdated."""
        return self._proto.stale_dropped

    @property
    def dropped(self) -> int:
        """Pushes dropped: by a dropping ``overflow`` policy, or, never subscribed to, past
        ``max_spill_bytes``. Always 0 for a subscribed push under ``"block"``."""
        return self._delivery.dropped

    @property
    def malformed(self) -> int:
        """Inbound frames and replies that could not be decoded, and oversize messages."""
        return self._malformed + self._proto.malformed

    @property
    def max_spill_bytes(self) -> int | None:
        """The spill bound (see the class docstring)."""
        return self._delivery.max_spill_bytes

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
        ConnectTimeout, ChannelError (join refused), JoinTimeout, ClientClosedError,
        TypeError (unencodable ``join_params``). On failure the client is closed.
        """
        self._proto.connecting()
        loop = self._loop = asyncio.get_running_loop()
        self._debug = self.logger.isEnabledFor(logging.DEBUG)
        self._send_wanted = asyncio.Event()
        joined: asyncio.Future[Reply] = loop.create_future()
        try:
            self._proto.join(self.topic, _join_params(self.join_params), joined, loop.time())
            ws = await self._dial()
            self._attach(ws)
            reply = await joined
        except BaseException as exc:
            closed_meanwhile = self._closing is not None  # close() from another task
            await self.close()
            if joined.done() and not joined.cancelled():
                joined.exception()  # retrieved: the dial/join error is what we raise
            if closed_meanwhile and isinstance(exc, Exception) and not isinstance(
                    exc, ClientClosedError):
                raise ClientClosedError("client closed during connect()") from None
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
            self._timer = self._timer_at = None
        for task in list(self._tasks):
            task.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close(self.close_timeout)
        pending: list[asyncio.Task[Any]] = [*self._tasks]
        for io_task in (self._reader, self._writer):
            if io_task is not None:
                io_task.cancel()
                pending.append(io_task)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self._transport.aclose()

    # ------------------------------------------------------------------ API

    async def join_topic(self, topic: str, params: JoinParamsArg = None, *,
                         timeout: float | None = None) -> Any:
        """Join ``topic`` and return its join reply response.

        ``params`` is a mapping, or a callable returning one, evaluated on every (re)join
        (phoenix.js allows the same; e.g. a ``since`` cursor or a fresh token).
        Raises ChannelError (refused), JoinTimeout, LocalProtocolError (already joined),
        TypeError (a topic or params that cannot be encoded; nothing changed),
        ConnectionLostError, ReplyBlockedError, ClientClosedError.
        """
        loop = self._ready()
        fut: asyncio.Future[Reply] = loop.create_future()
        self._proto.join(topic, _join_params(params), fut, loop.time(), timeout)
        self._after_input()
        reply = await self._await_reply(fut, None)
        return reply.response

    async def leave_topic(self, topic: str, *, timeout: float | None = None) -> None:
        """Leave ``topic`` (``phx_leave``); returns once acknowledged or timed out.

        Raises NotJoinedError for a topic not joined, ReplyBlockedError.
        """
        loop = self._ready()
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
        NotJoinedError (topic not joined), TypeError (unserialisable payload; nothing is
        sent), ReplyBlockedError (the reply cannot be read past undrained pushes).
        """
        loop = self._loop
        if loop is None or self._delivery.blocked:
            loop = self._ready()  # raises (a closed client: proto.push raises)
        fut: asyncio.Future[Reply] = loop.create_future()
        ref = self._proto.push(topic, event, {} if payload is None else payload, fut,
                               loop.time(), timeout)
        self._after_input()
        try:  # _await_reply inlined: a coroutine frame less per push (the hot request)
            return await fut
        except asyncio.CancelledError:
            self._forget(ref)
            raise

    async def push_binary(self, topic: str, event: str, data: bytes | bytearray | memoryview,
                          *, timeout: float | None = None) -> Reply:
        """Push ``data`` as a BINARY frame; return its Reply (``response`` is bytes when the
        server answers with a binary reply). Raises like :meth:`push`."""
        loop = self._ready()
        fut: asyncio.Future[Reply] = loop.create_future()
        ref = self._proto.push(topic, event, bytes(data), fut, loop.time(), timeout, binary=True)
        self._after_input()
        return await self._await_reply(fut, ref)

    async def switch_team(self, team_id: str, *, timeout: float | None = None) -> SwitchTeamReply:
        """Push ``scope.switch_team`` on the primary topic; return the parsed reply.

        Raises ChannelError for every error code (``noop`` included), EnvelopeError for a
        success reply with a field of the wrong type, and like :meth:`push`.
        (The reference's product envelope: see :mod:`fastphx.console`.)
        """
        return await console.switch_team(self, team_id, timeout=timeout)

    async def ping(self, timeout: float | None = None) -> float:
        """Send a heartbeat-style ping (phoenix.js ``socket.ping``) and return its round
        trip in seconds (also kept for :meth:`stats`). Usable for health checks and
        latency display. Raises PushTimeout, ConnectionLostError (no socket, or lost while
        waiting), ReplyBlockedError, ClientClosedError."""
        loop = self._ready()
        fut: asyncio.Future[Reply] = loop.create_future()
        start = loop.time()
        ref = self._proto.ping(fut, start, timeout)
        self._after_input()
        await self._await_reply(fut, ref)
        self._last_ping = rtt = loop.time() - start
        return rtt

    def set_auth(self, api_key: str | None = None, auth_token: TokenArg = None,
                 params: ParamsArg = None) -> None:
        """Replace credentials for the next dial (a token refresh for a long-lived daemon)
        without a restart; the live connection is kept. Each argument left None keeps
        its current value. The old and new secrets stay redacted everywhere."""
        if api_key is not None:
            if self._api_key:
                self._secrets.add(self._api_key)
            self._api_key = api_key
            self._secrets.add(api_key)
        if auth_token is not None:
            self._auth_token = auth_token
            if isinstance(auth_token, str):
                self._secrets.update(_token_secrets(auth_token))
        if params is not None:
            self._params = params

    def stats(self) -> dict[str, Any]:
        """A snapshot of counters for a daemon to export (docs/client.md, "Stats").

        Keys: ``status``, ``frames_received``, ``bytes_received``, ``frames_sent``,
        ``bytes_sent`` (WebSocket payload bytes), ``pushes_received`` (server pushes
        routed to delivery), ``dropped``, ``malformed``, ``stale_dropped``, ``reconnects``
        (successful redials), ``rejoins``, ``last_ping_rtt`` (seconds or None),
        ``buffered_pushes`` (over every iterator and the backlog), ``buffered_bytes``
        (spilled past the bounds), ``pending_replies``, ``topics``.
        """
        delivery = self._delivery
        buffered = sum(len(s) for s in delivery.subs)
        if delivery.backlog is not None and delivery.backlog not in delivery.subs:
            buffered += len(delivery.backlog)
        router = self._router
        return {
            "status": str(self.status),
            "frames_received": router.frames,
            "bytes_received": router.nbytes,
            "frames_sent": self._tx[0],
            "bytes_sent": self._tx[1],
            "pushes_received": router.frames - self._rx_other,
            "dropped": delivery.dropped,
            "malformed": self.malformed,
            "stale_dropped": self.stale_dropped,
            "reconnects": self._reconnects,
            "rejoins": self._rejoins,
            "last_ping_rtt": self._last_ping,
            "buffered_pushes": buffered,
            "buffered_bytes": delivery.spilled,
            "pending_replies": len(self._proto.refs),
            "topics": len(self._proto.channels),
        }

    def pushes(self, topic: str | None = None,
               events: Iterable[str] | str | None = None) -> PushStream:
        """Return an async iterator over server pushes (optionally one topic / some events).

        May be called before ``connect()``. Each iterator has its own buffer of
        ``push_buffer_size``; with ``overflow="block"`` a full buffer stops the socket
        reader until the iterator drains it (the reader still reads on, into a bounded
        spill, while a reply is awaited). Until the first unfiltered iterator exists every
        push is kept for it (the first unfiltered iterator receives every push from the
        first join reply on); a filtered iterator also starts with the kept pushes it
        matches. It ends when the client closes. See docs/client.md, "Delivery guarantees".
        """
        event_set = None if events is None else frozenset(
            (events,) if isinstance(events, str) else events)
        return self._delivery.subscribe(topic, event_set)

    # ------------------------------------------------------------------ futures

    def _ready(self) -> asyncio.AbstractEventLoop:
        """The loop, once connected; raise when a request cannot be made now."""
        loop = self._loop_or_raise()
        delivery = self._delivery
        if delivery.blocked:
            raise ReplyBlockedError(delivery.spilled, delivery.max_spill_bytes or 0)
        return loop

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
                self._forget(ref)
            raise

    def _forget(self, ref: str) -> None:
        """The caller awaiting ``ref`` was cancelled: its late reply will be dropped."""
        self._proto.cancel(ref)
        self._reschedule()

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
        self._secrets.update(_token_secrets(token))
        return ("phoenix", bearer_subprotocol(token))

    async def _dial(self) -> Connection:
        """Open the WebSocket; raise AuthError / ConnectError / ConnectTimeout (redacted)."""
        return await self._transport.dial(
            self._dial_url(), headers={}, protocols=self._protocols(), ssl=self._ssl,
            connect_timeout=self.connect_timeout, close_timeout=self.close_timeout,
            max_message_size=self.max_message_size, redact=self._redact, shown_url=self.url,
            compress=self.compress)

    def _attach(self, ws: Connection) -> None:
        """Hand a fresh socket to the protocol and start its reader and writer tasks."""
        loop = self._loop_or_raise()
        self._ws = ws
        self._dead = False
        assert self._send_wanted is not None
        self._send_wanted.clear()
        self._send_now = getattr(ws, "send_now", None)  # optional (_transport.py)
        self._unsent, self._writing = [], False  # frames for a former socket are dropped
        self._writer = loop.create_task(self._write_loop(ws))
        self._reader = loop.create_task(self._reader_main(ws))
        self._proto.connection_made(loop.time())
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
        except Exception as exc:  # a params / auth_token callable raised: retried, not fatal
            self.logger.warning("reconnect attempt %d failed: %s", attempt, self._describe(exc))
            self._proto.dial_failed(loop.time(), FastphxError(self._describe(exc)))
        else:
            if self._proto.status is Status.CLOSED:
                await ws.close(self.close_timeout)
                return
            self.logger.info("reconnected (attempt %d)", attempt)
            self._reconnects += 1
            self._attach(ws)
            return
        self._after_input()

    # ------------------------------------------------------------------ I/O tasks

    async def _write_loop(self, ws: Connection) -> None:
        wanted = self._send_wanted
        assert wanted is not None
        proto, send, tx = self._proto, ws.send, self._tx
        try:
            while True:
                await wanted.wait()
                wanted.clear()
                self._writing = True  # _send_direct must not overtake this batch
                frames, self._unsent = self._unsent + proto.data_to_send(), []
                for data, binary in frames:
                    await send(data, binary)
                    tx[0] += 1
                    tx[1] += len(data)
                self._writing = False
        except self._transport.send_errors as exc:
            if self._debug:
                self.logger.debug("send failed: %s", self._redact(str(exc)))

    async def _reader_main(self, ws: Connection) -> None:
        try:
            await ws.run(self._make_handler(), self._overflowed)
        except Exception as exc:  # a bug must not leave the session without a reader
            self._loss_reason = f"reader failed: {self._describe(exc)}"
            self.logger.error("%s; reconnecting", self._loss_reason)
            self._dead = True
        finally:
            if self._ws is ws:
                self._ws = None
        if ws.too_big:
            self._too_big()
        code = None if self._dead else ws.close_code
        if self._writer is not None:
            self._writer.cancel()
        await ws.close(self.close_timeout)
        if self._proto.status is not Status.CLOSED:
            if code == 1000:  # deliberate: the session ends (protocol.connection_lost)
                self.logger.info("server closed the connection (close code 1000)")
            else:
                self.logger.warning("connection lost (close code %s)", code)
            loop = self._loop_or_raise()
            self._proto.connection_lost(loop.time(), code)
            self._after_input()

    def _make_handler(self) -> Handler:
        """The hot path, called by the transport for every data message: decode, route,
        deliver; returns True when a buffer went past its bound (the transport then awaits
        ``_overflowed`` before the next message). One long closure on purpose: every call
        layer costs per message, and the closure's cells are cheaper than attribute loads
        (measured by bench/e2e.py and bench/e2e_instructions.py). The delivery rules it
        applies inline are those of ``_delivery.py``; past a bound ``_overflowed`` decides."""
        # Few cells on purpose: each is copied into every call's frame (measured).
        decode_text = self._decode
        proto = self._proto
        route = self._router.route
        delivery = self._delivery

        def handle(data: Any, binary: bool) -> bool:
            try:
                frame = decode_binary(data) if binary else decode_text(data)
            except FrameDecodeError as exc:
                self._malformed_frame(data, exc)
                return False
            # Counted for stats(), and ClientProtocol.receive_frame's push branch, in one
            # compiled call (codec.Router): a push (no ref) on a known topic whose join_ref
            # is current (or null) and that is not phx_error/phx_close/phx_reply. The rest
            # goes through receive_frame.
            if route(frame, data) is None:
                push = proto.receive_frame(frame)
                if push is None:
                    self._rx_other += 1  # a reply or a control frame: not a push
                    if proto._events:
                        self._after_input()
                    return False
            else:
                proto._activity = True
                push = frame
            over = False
            for sub in delivery.subs:
                if sub.filtered and not sub.matches(push):
                    continue
                buf = sub._buf
                if len(buf) >= sub._cap:
                    if not delivery.block:
                        if delivery.drop(sub, push):
                            continue
                    else:  # spill: kept in order, counted in bytes (_delivery.py)
                        size = len(data) + 64
                        sub._sizes.append(size)
                        delivery.spilled += size
                        over = True
                buf.append(push)
                waiter = sub.waiter
                if waiter is not None:
                    sub.waiter = None
                    if not waiter.done():
                        waiter.set_result(None)
            return over

        return handle

    async def _overflowed(self) -> None:
        """A buffer went past its bound under ``block``: read on, pause, or block."""
        delivery, proto = self._delivery, self._proto
        while True:
            action = delivery.overflow_action(proto.awaiting_reply())
            if action is Action.READ:
                return
            if action is Action.BLOCKED:
                proto.fail_awaited(functools.partial(
                    ReplyBlockedError, delivery.spilled, delivery.max_spill_bytes or 0))
                self._after_input()
            proto.reading_paused()
            try:
                await delivery.wait()
            finally:
                proto.reading_resumed()

    def _too_big(self) -> None:
        """The peer sent a message over max_message_size: the socket closed 1009; counted."""
        self._malformed += 1
        self.logger.warning("refused a message over max_message_size (%s bytes); "
                            "closed the socket (1009)", self.max_message_size)

    def _malformed_frame(self, data: Any, exc: FrameDecodeError) -> None:
        self._malformed += 1
        now = time.monotonic()
        if now - self._last_malformed_log >= 1.0:  # a flood of bad frames: one line a second
            self._last_malformed_log = now
            self.logger.warning("dropped a malformed frame (%d bytes): %s; %d malformed so far",
                                len(data), exc, self.malformed)

    # ------------------------------------------------------------------ events

    def _after_input(self) -> None:
        """Carry out the protocol's outputs: events, frames to send, the next timer."""
        proto = self._proto
        if proto._events:
            for event in proto.events_received():
                if type(event) is ReplyReceived:  # the common one, inline (one per reply)
                    waiter = event.waiter
                    if not waiter.done():
                        waiter.set_result(event.reply)
                else:
                    self._handle_event(event)
        if proto._out and self._send_wanted is not None:
            if self._send_now is not None and not self._writing and not self._unsent:
                self._send_direct()
            else:
                self._send_wanted.set()
            self._delivery.wake()  # a reply may now be awaited: a paused reader reads on
        timer_at = self._timer_at
        if timer_at is None or proto.earliest_added < timer_at:  # else: see _reschedule
            self._reschedule()

    def _send_direct(self) -> None:
        """Write the protocol's frames from the caller, in order, while the socket takes
        them without waiting; what it does not take goes to the writer task (_unsent),
        first. Saves the writer a wake-up per push (bench/e2e_roundtrip.py)."""
        frames = self._proto.data_to_send()
        send_now, tx = self._send_now, self._tx
        assert send_now is not None and self._send_wanted is not None
        for i, (data, binary) in enumerate(frames):
            if not send_now(data, binary):
                self._unsent = frames[i:]
                self._send_wanted.set()
                return
            tx[0] += 1
            tx[1] += len(data)

    def _handle_event(self, event: Event) -> None:
        """Carry out one event (ReplyReceived: see _after_input)."""
        if isinstance(event, PushFailed):
            if not event.waiter.done():
                event.waiter.set_exception(event.error)
        elif isinstance(event, Rejoined):
            self._rejoins += 1
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
        if isinstance(event, Connected):
            if not event.first:  # the end of an outage (connect() itself reports the first)
                self._deliver_synthetic(Push("", CONNECTED_EVENT, {
                    "reconnects": self._reconnects}))
        elif isinstance(event, Disconnected):
            reason, self._loss_reason = self._loss_reason, None
            self._deliver_synthetic(Push("", DISCONNECTED_EVENT, {
                "code": event.close_code, "error": reason}))
        elif isinstance(event, ConnectionDead):
            self.logger.warning("%s; closing the socket", event.reason)
            self._loss_reason = event.reason
            self._drop_socket()
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
            self._delivery.end_all()

    def _rejoin_failed(self, event: RejoinFailed) -> None:
        self.logger.warning("rejoin of %r refused: %s%s", event.topic, event.error,
                            " (not retried)" if event.fatal else "")
        self._deliver_synthetic(Push(event.topic, "rejoin_failed", {
            "code": str(event.error.code) if event.error.code is not None else None,
            "message": event.error.message, "fatal": event.fatal,
            "response": event.error.response}))

    def _deliver_synthetic(self, push: Push) -> None:
        """Deliver a client-made push; never blocks, counted against the same bounds."""
        self._delivery.deliver_synthetic(push)

    # ------------------------------------------------------------------ helpers

    def _reschedule(self) -> None:
        """Arm the one timer for the protocol's next deadline. A timer already due no later
        is kept: firing early is harmless (``handle_timeout`` fires only what is due, then
        this re-arms), while re-arming each time a reply settled the earliest push cost a
        TimerHandle per reply; and while no deadline sooner than the timer was set
        (``earliest_added``), ``next_deadline()`` is not even asked
        (bench/e2e_roundtrip.py --instructions)."""
        proto, timer_at = self._proto, self._timer_at  # timer_at: None when none is armed
        if timer_at is not None and proto.earliest_added >= timer_at:
            return  # armed, and due no later than anything set since
        deadline = proto.next_deadline()
        if timer_at is not None:
            if deadline is None or timer_at <= deadline:
                return
            assert self._timer is not None
            self._timer.cancel()
            self._timer = self._timer_at = None
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_at = deadline

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        assert self._loop is not None
        try:
            self._proto.handle_timeout(self._loop.time())
            self._after_input()
        except Exception as exc:  # contained: the heartbeat and every timeout keep running
            self.logger.error("timer failed (%s); reconnecting", self._describe(exc))
            self._drop_socket()
            self._reschedule()

    def _drop_socket(self) -> None:
        """Close the current socket; its reader reports the loss (then: redial)."""
        ws = self._ws
        if ws is not None:
            self._dead = True
            self._spawn(ws.close(self.close_timeout))

    def _spawn(self, coro: Any) -> None:
        loop = self._loop_or_raise() if self._loop is None else self._loop
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.logger.error("background task failed: %s", self._describe(exc))
            if self._proto.status is not Status.CLOSED:  # e.g. a redial: try again later
                self._drop_socket()
                self._reschedule()

    def _describe(self, exc: object) -> str:
        """``Type: message`` of an exception (or any object), redacted."""
        text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
        return self._redact(text)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, _REDACTED)
        if self._api_key:
            text = text.replace(self._api_key, _REDACTED)
        text = _USERINFO.sub(r"\1" + _REDACTED + "@", text)
        return _SECRET_QUERY.sub(r"\1" + _REDACTED, text)


def _join_params(params: JoinParamsArg) -> Any:
    """A copy of a params mapping (the caller may change theirs), or the callable itself."""
    if callable(params):
        return params
    return dict(params or {})


def _token_secrets(token: str) -> tuple[str, ...]:
    """The token and the forms it takes on the wire (all redacted)."""
    sub = bearer_subprotocol(token)
    return (token, sub, sub.rsplit(".", 1)[1])


def _checked_url(url: str) -> str:
    """``url`` validated as a WebSocket URL (``http``/``https`` become ``ws``/``wss``, as
    phoenix.js does). Raises ValueError saying what is wrong, without echoing the URL (it
    may hold credentials)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("invalid URL: it is empty")
    try:
        parsed = URL(url.strip())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid URL: {type(exc).__name__}") from None
    scheme = _WS_SCHEMES.get(parsed.scheme.lower())
    if scheme is None:
        shown = parsed.scheme or "none"
        raise ValueError(f"invalid URL: the scheme must be ws or wss (or http/https), not {shown}")
    if not parsed.host:
        raise ValueError("invalid URL: it has no host")
    return str(parsed.with_scheme(scheme))


def _userinfo_secrets(url: str) -> set[str]:
    """The user and password of ``url``'s userinfo (raw and percent-decoded)."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return set()
    secrets = {parsed.raw_user or "", parsed.raw_password or "", parsed.user or "",
               parsed.password or ""}
    return {s for s in secrets if len(s) >= 3}

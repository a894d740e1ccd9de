"""A Phoenix-faithful Channels server on aiohttp (loopback only), with fault injection.

It mirrors ``Phoenix.Socket`` (``lib/phoenix/socket.ex``), ``Phoenix.Channel.Server`` and
``Phoenix.Transports.WebSocket`` as seen on the wire by a V2 client: connect params and the
``Sec-WebSocket-Protocol`` token, heartbeats, joins and duplicate joins, leaves, stale
join_refs, unmatched topics, channel crashes and stops, ``max_channels``, the idle timeout,
binary pushes and replies, Presence state and diffs. Deliberate differences are listed in
``docs/testing-server.md``.

Each connection is served by one task that reads and routes frames in order, like the
Phoenix socket process (heartbeats and joins are handled there); each joined channel
handles its messages in its own task, like a channel process. Server-to-client frames are
framed by :mod:`._wire` and written to the transport in one ``write`` call each (whole
frames only), so they interleave safely with the frames aiohttp itself writes (pong,
close) and with :meth:`PhoenixTestServer.blast`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import inspect
import logging
import os
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import WSMsgType, web

from ..codec import Frame, decode
from ..errors import FrameDecodeError
from ._wire import (
    WireRef,
    binary_broadcast,
    binary_push,
    binary_reply,
    parse_client_binary,
    text_frame,
    text_reply,
    ws_frame,
)

__all__ = [
    "NO_REPLY",
    "ChannelContext",
    "PhoenixTestServer",
    "ServerConnection",
    "ServerReply",
    "StopChannel",
]

log = logging.getLogger("fastphx.testing")

T = TypeVar("T")
Handler = Callable[["ChannelContext", Any], Any]
ConnectCallback = Callable[[dict[str, str], "str | None"], "bool | Awaitable[bool]"]

AUTH_TOKEN_PREFIX = "base64url.bearer.phx."
_BLAST_BATCH_BYTES = 256 * 1024  # bytes per transport.write in blast()


class _NoReply:
    """Type of :data:`NO_REPLY`."""

    _instance: _NoReply | None = None

    def __new__(cls) -> _NoReply:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_REPLY"


#: Return this from a ``handle_in`` handler to send no reply now (``{:noreply, socket}``);
#: answer later with ``await ctx.reply(ref, status, response)``.
NO_REPLY = _NoReply()


@dataclass(frozen=True)
class ServerReply:
    """A reply with an explicit status: ``ServerReply("error", {"reason": "unauthorized"})``.

    A ``bytes`` response is sent as a binary reply (kind 1).
    """

    status: str
    response: Any = None


class StopChannel(Exception):
    """Raise from a handler to stop the channel (``{:stop, reason, socket}``): the client gets
    ``phx_close``. ``reply`` (a value or :class:`ServerReply`) is sent first when given."""

    def __init__(self, reply: Any = NO_REPLY) -> None:
        self.reply = reply
        super().__init__()


@dataclass
class _Route:
    """Handlers for one topic pattern (exact, or a prefix ending in ``*``)."""

    pattern: str
    join: Handler | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)

    def matches(self, topic: str) -> bool:
        if self.pattern.endswith("*"):
            return topic.startswith(self.pattern[:-1])
        return topic == self.pattern


@dataclass(eq=False)
class _Channel:
    """A joined (or joining) topic on one connection.

    Like a Phoenix channel process, it handles its messages in order in its own task
    (``worker``), so a slow handler does not hold up heartbeats or other channels.
    """

    topic: str
    join_ref: WireRef
    params: Any
    route: _Route
    joined: bool = False
    closed: bool = False
    deferred: list[Callable[[], object]] = field(default_factory=list)
    inbox: list[_Inbound] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None


@dataclass
class _Inbound:
    """One decoded client message, refs typed as on the wire."""

    join_ref: WireRef
    ref: WireRef
    topic: str
    event: str
    payload: Any


class _Meta:
    """One tracked Presence meta and the channel that owns it (None: tracked by the server)."""

    __slots__ = ("meta", "owner")

    def __init__(self, meta: dict[str, Any], owner: _Channel | None) -> None:
        self.meta = meta
        self.owner = owner


class ServerConnection:
    """The server side of one WebSocket connection.

    ``id``, ``params`` (connect params without ``vsn``), ``token`` (from the
    ``Sec-WebSocket-Protocol`` header, or None), ``topics`` ({topic: join_ref}),
    ``assigns`` (a dict for handlers' own per-connection state, like ``socket.assigns``).
    """

    def __init__(self, conn_id: str, params: dict[str, str], token: str | None,
                 ws: web.WebSocketResponse, request: web.Request) -> None:
        self.id = conn_id
        self.params = params
        self.token = token
        self.assigns: dict[str, Any] = {}
        self.ws = ws
        self._transport = request.transport
        self._protocol: Any = request.protocol  # aiohttp's RequestHandler (drain support)
        self._channels: dict[str, _Channel] = {}

    def __repr__(self) -> str:
        return f"<ServerConnection {self.id} topics={list(self._channels)}>"

    @property
    def topics(self) -> dict[str, WireRef]:
        """The joined topics and the join_ref of each join."""
        return {t: ch.join_ref for t, ch in self._channels.items() if ch.joined}

    @property
    def closed(self) -> bool:
        """True once the transport is closing or gone."""
        return self._transport is None or self._transport.is_closing()

    def write(self, payload: bytes, binary: bool = False) -> bool:
        """Write one WebSocket frame now; return False (and drop it) if the socket is closing."""
        if self.closed or self.ws.closed:
            return False
        assert self._transport is not None
        self._transport.write(ws_frame(payload, binary))
        return True

    def write_framed(self, data: bytes) -> bool:
        """Write pre-framed WebSocket bytes (whole frames only); False if the socket is closing."""
        if self.closed or self.ws.closed:
            return False
        assert self._transport is not None
        self._transport.write(data)
        return True

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if not self.closed:
            with contextlib.suppress(ConnectionError):
                await self._protocol._drain_helper()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket with ``code`` (a close frame, then the TCP close)."""
        await self.ws.close(code=code, message=reason.encode("utf-8"))

    def abort(self) -> None:
        """Drop the TCP connection at once: no close frame (a network failure)."""
        if self._transport is not None:
            self._transport.abort()

    def pause_reading(self) -> None:
        """Stop reading from the socket (the kernel buffers fill, the peer stalls)."""
        if not self.closed:
            assert self._transport is not None
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if not self.closed:
            assert self._transport is not None
            self._transport.resume_reading()


class ChannelContext:
    """What a join or ``handle_in`` handler sees: the topic, refs, params and actions.

    ``ref`` is the ref of the message being handled, exactly as the client sent it (a str,
    or an int if the client sent an integer). Side effects called while a join handler runs
    (push, broadcast, track...) are sent right after the join reply, as Phoenix apps do with
    ``send(self(), :after_join)``.
    """

    def __init__(self, server: PhoenixTestServer, connection: ServerConnection,
                 channel: _Channel, ref: WireRef) -> None:
        self.server = server
        self.connection = connection
        self._channel = channel
        self.topic = channel.topic
        self.join_ref = channel.join_ref
        self.ref = ref
        self.params = channel.params

    def _effect(self, action: Callable[[], object]) -> None:
        """Run ``action`` now, or after the join reply while the join is running."""
        if self._channel.closed:
            return
        if not self._channel.joined:
            self._channel.deferred.append(action)
        else:
            action()

    async def push(self, event: str, payload: Any) -> None:
        """Push ``event`` to this client with this channel's join_ref (ref null)."""
        data = text_frame(self.join_ref, None, self.topic, event, payload)
        self._effect(lambda: self.connection.write(data))

    async def push_binary(self, event: str, data: bytes) -> None:
        """Push a binary event (kind 0) to this client."""
        frame = binary_push(self.join_ref, self.topic, event, data)
        self._effect(lambda: self.connection.write(frame, binary=True))

    async def broadcast(self, event: str, payload: Any) -> None:
        """Send ``event`` to every connection joined to this topic (null join_ref)."""
        data = text_frame(None, None, self.topic, event, payload)
        self._effect(lambda: self.server._write_topic(self.topic, data))

    async def reply(self, ref: WireRef, status: str, response: Any = None) -> None:
        """Send a late reply to the message with ``ref`` (after a handler returned NO_REPLY)."""
        if not self._channel.closed:
            await self.server._reply(self.connection, self.join_ref, ref, self.topic,
                                     status, response)

    def track(self, key: str, meta: dict[str, Any]) -> None:
        """Track ``key`` with ``meta`` on this topic (owned by this channel): this client gets
        ``presence_state``, everyone on the topic gets ``presence_diff``."""
        self._effect(lambda: self.server._track(self.topic, key, meta, self._channel,
                                                self.connection))

    def untrack(self, key: str) -> None:
        """Untrack this channel's metas of ``key``: everyone on the topic gets a leave diff."""
        self._effect(lambda: self.server._untrack(self.topic, key, self._channel))

    def presence_list(self) -> dict[str, Any]:
        """Return this topic's Presence state ``{key: {"metas": [...]}}``."""
        return self.server.presence_list(self.topic)

    async def stop(self) -> None:
        """Stop this channel: the client gets ``phx_close``."""
        self._effect(lambda: self.server._end_channel(self.connection, self._channel,
                                                      "phx_close"))

    async def crash(self) -> None:
        """Crash this channel: the client gets ``phx_error``; the channel is gone."""
        self._effect(lambda: self.server._end_channel(self.connection, self._channel,
                                                      "phx_error"))


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async callable and return its (awaited) result."""
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _decode_token(encoded: str) -> str:
    """Decode a ``base64url.bearer.phx.`` token (standard or URL alphabet, padding optional).

    Raises ``ValueError`` if it is not base64.
    """
    text = encoded.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except binascii.Error as exc:
        raise ValueError("the token subprotocol is not base64") from exc


def _token_from_header(header: str | None) -> str | None:
    """Return the token carried in a ``Sec-WebSocket-Protocol`` header, or None."""
    if not header:
        return None
    for item in header.split(","):
        item = item.strip()
        if item.startswith(AUTH_TOKEN_PREFIX):
            return _decode_token(item[len(AUTH_TOKEN_PREFIX):])
    return None


def _phx_ref() -> str:
    """Return a fresh Presence ``phx_ref`` (16 URL-safe characters, like Phoenix's)."""
    return base64.urlsafe_b64encode(os.urandom(12)).decode("ascii")


class PhoenixTestServer:
    """A Phoenix Channels (V2) server on 127.0.0.1 for tests, with fault injection.

    Use ``async with PhoenixTestServer() as server:`` (or ``start()``/``stop()``), declare
    channels with :meth:`join` / :meth:`handle_in` / :meth:`add_channel`, connect to
    :attr:`url`. See ``docs/testing-server.md``.
    """

    def __init__(self, port: int = 0, connect: ConnectCallback | None = None, *,
                 max_channels: int = 100, idle_timeout: float = 60.0,
                 path: str = "/socket/websocket") -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.path = path
        self.connect = connect
        self.max_channels = max_channels
        self.idle_timeout = idle_timeout
        self.heartbeat_replies = True
        self.reply_delay = 0.0
        self.received: list[tuple[str, Frame]] = []
        self.joins: Counter[str] = Counter()
        self.total_connections = 0
        self._routes: list[_Route] = []
        self._conns: dict[str, ServerConnection] = {}
        self._presence: dict[str, dict[str, list[_Meta]]] = {}
        self._refuse: list[int] = []
        self._reading_paused = False
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ declaring channels

    def _route(self, pattern: str) -> _Route:
        for route in self._routes:
            if route.pattern == pattern:
                return route
        route = _Route(pattern)
        self._routes.append(route)
        return route

    def join(self, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator: ``fn(ctx, params)`` answers joins of topics matching ``pattern``
        (exact, or a prefix ending in ``*``); see the module docs for return values."""
        def register(fn: Handler) -> Handler:
            self._route(pattern).join = fn
            return fn
        return register

    def handle_in(self, pattern: str, event: str) -> Callable[[Handler], Handler]:
        """Decorator: ``fn(ctx, payload)`` handles ``event`` (or ``"*"``: any event) pushed on
        topics matching ``pattern``."""
        def register(fn: Handler) -> Handler:
            self._route(pattern).handlers[event] = fn
            return fn
        return register

    def add_channel(self, pattern: str, join: Handler | None = None,
                    handlers: dict[str, Handler] | None = None) -> None:
        """Declare a channel without decorators: a join handler and ``{event: handler}``."""
        route = self._route(pattern)
        if join is not None:
            route.join = join
        route.handlers.update(handlers or {})

    def _match(self, topic: str) -> _Route | None:
        for route in self._routes:
            if route.matches(topic):
                return route
        return None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT/socket/websocket`` (the port is known once started)."""
        return f"ws://{self.host}:{self.port}{self.path}"

    async def start(self) -> None:
        """Start listening on 127.0.0.1 (``port=0``: a free port, kept across restarts)."""
        if self._runner is not None:
            return
        self._loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_get(self.path, self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Stop: drop every connection (TCP abort) and stop listening (connects are refused)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for conn in list(self._conns.values()):
            conn.abort()
        self._notify()
        await runner.cleanup()

    async def restart(self) -> None:
        """Stop, then start again on the same port."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> PhoenixTestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[str]:
        """Run the server on its own event loop in a daemon thread; yield its URL.

        Use :meth:`submit` to call the server's coroutines from the calling thread.
        """
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fastphx-test-server",
                                  daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
            yield self.url
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the server's loop from another thread (see :meth:`run_in_thread`)."""
        if self._loop is None:
            raise RuntimeError("the server is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # ------------------------------------------------------------------ introspection

    @property
    def connections(self) -> list[ServerConnection]:
        """The open connections."""
        return list(self._conns.values())

    @property
    def connection_count(self) -> int:
        """How many connections are open now."""
        return len(self._conns)

    def _notify(self) -> None:
        """Wake the waiters whose predicate now holds (called on every server event)."""
        if not self._waiters:
            return
        keep = []
        for predicate, fut in self._waiters:
            if fut.done():
                continue
            if predicate():
                fut.set_result(None)
            else:
                keep.append((predicate, fut))
        self._waiters = keep

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true (checked on every server event).

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        if predicate():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"server condition not met within {timeout:g}s") from None

    def _find_frame(self, topic: str | None, event: str | None) -> Frame | None:
        for _, frame in self.received:
            if (topic is None or frame.topic == topic) and (event is None or frame.event == event):
                return frame
        return None

    async def wait_for_frame(self, topic: str | None = None, event: str | None = None,
                             timeout: float = 5.0) -> Frame:
        """Return the first received frame (past or future) matching ``topic`` and ``event``.

        Raises ``TimeoutError``.
        """
        await self.wait_for(lambda: self._find_frame(topic, event) is not None, timeout)
        frame = self._find_frame(topic, event)
        assert frame is not None
        return frame

    async def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        """Wait until ``n`` connections are open. Raises ``TimeoutError``."""
        await self.wait_for(lambda: self.connection_count == n, timeout)

    async def wait_for_join(self, topic: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``topic`` was joined successfully ``count`` times (in total).

        Raises ``TimeoutError``.
        """
        await self.wait_for(lambda: self.joins[topic] >= count, timeout)

    # ------------------------------------------------------------------ the upgrade

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one upgrade request: refuse it (HTTP status) or serve the WebSocket."""
        refused = self._refusal(request)
        if isinstance(refused, web.Response):
            return refused
        params, token = refused
        try:
            accepted = self.connect is None or await _call(self.connect, params, token)
        except Exception:
            log.info("connect callback raised", exc_info=True)
            return web.Response(status=500)
        if not accepted:
            return web.Response(status=403)  # Phoenix: connect/3 returned :error
        ws = web.WebSocketResponse(protocols=("phoenix",), compress=False, max_msg_size=0,
                                   autoclose=True, autoping=True)
        await ws.prepare(request)
        self.total_connections += 1
        conn = ServerConnection(f"c{self.total_connections}", params, token, ws, request)
        self._conns[conn.id] = conn
        if self._reading_paused:
            conn.pause_reading()
        self._notify()
        try:
            await self._read_loop(conn)
        finally:
            self._disconnected(conn)
        return ws

    def _refusal(self, request: web.Request) -> web.Response | tuple[dict[str, str], str | None]:
        """Return an HTTP refusal, or the connect params and token of an acceptable upgrade."""
        if self._refuse:
            status = self._refuse.pop(0)
            self._notify()
            return web.Response(status=status)
        if not request.query.get("vsn", "").startswith("2.0."):
            return web.Response(status=400, text="vsn=2.0.0 required (V1 is not supported)")
        try:
            token = _token_from_header(request.headers.get("Sec-WebSocket-Protocol"))
        except ValueError:
            return web.Response(status=500)  # Phoenix's Base.decode64! raises
        params: dict[str, str] = {}
        for key, value in request.query.items():
            if key != "vsn":
                params.setdefault(key, value)
        return params, token

    # ------------------------------------------------------------------ reading

    async def _read_loop(self, conn: ServerConnection) -> None:
        """Read and handle frames in order until close, idle timeout or a malformed frame."""
        ws = conn.ws
        while True:
            if self._reading_paused:
                await self.wait_for(lambda: not self._reading_paused or conn.closed, 1e9)
                if conn.closed:
                    return
            try:
                msg = await ws.receive(timeout=self.idle_timeout)
            except asyncio.TimeoutError:
                await ws.close(code=1000, message=b"idle timeout")
                return
            if msg.type is WSMsgType.TEXT:
                inbound = self._parse_text(conn, msg.data)
            elif msg.type is WSMsgType.BINARY:
                inbound = self._parse_binary(conn, msg.data)
            else:
                return
            if inbound is None:
                # Phoenix's socket process crashes on a malformed frame: close 1011, no message.
                await ws.close(code=1011)
                return
            await self._dispatch(conn, inbound)

    def _record(self, conn: ServerConnection, frame: Frame) -> None:
        self.received.append((conn.id, frame))
        self._notify()

    def _parse_text(self, conn: ServerConnection, data: str) -> _Inbound | None:
        """Decode a TEXT frame (strict V2); None if it is malformed."""
        try:
            frame = decode(data)
            join_ref, ref, _, _, payload = orjson.loads(data)  # refs typed as sent
        except (FrameDecodeError, orjson.JSONDecodeError, ValueError):
            log.debug("malformed text frame on %s", conn.id)
            return None
        self._record(conn, frame)
        return _Inbound(join_ref, ref, frame.topic, frame.event, payload)

    def _parse_binary(self, conn: ServerConnection, data: bytes) -> _Inbound | None:
        """Decode a BINARY frame as a client push (kind 0); None if it is malformed."""
        try:
            join_ref, ref, topic, event, payload = parse_client_binary(data)
        except FrameDecodeError:
            log.debug("malformed binary frame on %s", conn.id)
            return None
        self._record(conn, Frame(join_ref, ref, topic, event, payload, True))
        return _Inbound(join_ref, ref, topic, event, payload)

    # ------------------------------------------------------------------ dispatch (socket.ex)

    async def _dispatch(self, conn: ServerConnection, msg: _Inbound) -> None:
        """Route one message as ``Phoenix.Socket.handle_in/4`` does."""
        if msg.topic == "phoenix" and msg.event == "heartbeat":
            if self.heartbeat_replies:
                await self._reply(conn, None, msg.ref, "phoenix", "ok", {})
            return
        channel = conn._channels.get(msg.topic)
        if msg.event == "phx_join":
            await self._join(conn, msg, channel)
        elif channel is None:
            if msg.event == "phx_leave":  # leaving an unknown topic: ok, nothing to close
                await self._reply(conn, msg.join_ref, msg.ref, msg.topic, "ok", {})
            else:
                await self._unmatched(conn, msg)
        elif msg.join_ref is not None and msg.join_ref != channel.join_ref:
            log.debug("ignoring stale message for %s (join_ref %r)", msg.topic, msg.join_ref)
        else:
            self._deliver(conn, channel, msg)

    def _deliver(self, conn: ServerConnection, channel: _Channel, msg: _Inbound) -> None:
        """Queue ``msg`` for the channel's own task (started on first use)."""
        channel.inbox.append(msg)
        if channel.worker is None or channel.worker.done():
            channel.worker = asyncio.get_running_loop().create_task(
                self._channel_worker(conn, channel))
            channel.worker.add_done_callback(_log_worker_failure)

    async def _channel_worker(self, conn: ServerConnection, channel: _Channel) -> None:
        """Handle the channel's queued messages in order; stop when the channel ends
        (messages still queued for an ended channel are lost, as in a dead process's mailbox)."""
        while channel.inbox and not channel.closed:
            msg = channel.inbox.pop(0)
            if msg.event == "phx_leave":
                await self._reply(conn, channel.join_ref, msg.ref, msg.topic, "ok", {})
                self._end_channel(conn, channel, "phx_close")
            else:
                await self._handle_in(conn, channel, msg)

    async def _unmatched(self, conn: ServerConnection, msg: _Inbound) -> None:
        """Answer a message for a topic with no channel (join_ref null, as Phoenix)."""
        await self._reply(conn, None, msg.ref, msg.topic, "error", {"reason": "unmatched topic"})

    async def _join(self, conn: ServerConnection, msg: _Inbound, old: _Channel | None) -> None:
        """Handle ``phx_join``: a duplicate join closes the old channel after the new reply."""
        if old is not None:
            self._drop_channel(conn, old)
        route = self._match(msg.topic)
        if route is None or route.join is None:
            await self._unmatched(conn, msg)
        elif len(conn._channels) >= self.max_channels:
            await self._reply(conn, msg.join_ref, msg.ref, msg.topic, "error",
                              {"reason": "too many channels joined"})
        else:
            await self._run_join(conn, msg, route)
        if old is not None:
            conn.write(text_frame(old.join_ref, old.join_ref, old.topic, "phx_close", {}))

    async def _run_join(self, conn: ServerConnection, msg: _Inbound, route: _Route) -> None:
        """Call the join handler; reply ok (channel added) or error."""
        assert route.join is not None
        channel = _Channel(msg.topic, msg.join_ref, msg.payload, route)
        ctx = ChannelContext(self, conn, channel, msg.ref)
        try:
            result = await _call(route.join, ctx, msg.payload)
        except Exception:
            log.info("join of %s crashed", msg.topic, exc_info=True)
            result = ServerReply("error", {"reason": "join crashed"})
        status, response = _status_of(result)
        if status != "ok":
            channel.closed = True
            await self._reply(conn, msg.join_ref, msg.ref, msg.topic, status, response)
            return
        conn._channels[msg.topic] = channel
        await self._reply(conn, msg.join_ref, msg.ref, msg.topic, "ok", response)
        channel.joined = True
        self.joins[msg.topic] += 1
        self._notify()
        deferred, channel.deferred = channel.deferred, []
        for action in deferred:
            action()

    async def _handle_in(self, conn: ServerConnection, channel: _Channel, msg: _Inbound) -> None:
        """Call the event's handler; reply, stay silent, stop or crash the channel."""
        route = channel.route
        handler = route.handlers.get(msg.event) or route.handlers.get("*")
        ctx = ChannelContext(self, conn, channel, msg.ref)
        try:
            if handler is None:  # a Phoenix channel with no matching handle_in clause crashes
                raise LookupError(f"no handler for {msg.event!r} on {msg.topic!r}")
            result = await _call(handler, ctx, msg.payload)
        except StopChannel as stop:
            if stop.reply is not NO_REPLY:
                await self._reply(conn, channel.join_ref, msg.ref, msg.topic,
                                  *_status_of(stop.reply))
            self._end_channel(conn, channel, "phx_close")
            return
        except Exception:
            log.info("channel %s crashed", msg.topic, exc_info=True)
            self._end_channel(conn, channel, "phx_error")
            return
        if result is not NO_REPLY:
            await self._reply(conn, channel.join_ref, msg.ref, msg.topic, *_status_of(result))

    async def _reply(self, conn: ServerConnection, join_ref: WireRef, ref: WireRef, topic: str,
                     status: str, response: Any) -> None:
        """Write a ``phx_reply`` (binary kind 1 if ``response`` is bytes), after ``reply_delay``."""
        if self.reply_delay > 0:
            await asyncio.sleep(self.reply_delay)
        if isinstance(response, bytes | bytearray | memoryview):
            conn.write(binary_reply(join_ref, ref, topic, status, bytes(response)), binary=True)
        else:
            conn.write(text_reply(join_ref, ref, topic, status, response))

    # ------------------------------------------------------------------ channel end

    def _drop_channel(self, conn: ServerConnection, channel: _Channel) -> None:
        """Remove a channel from its connection (its task is cancelled, as Phoenix kills the
        channel process) and untrack its Presence metas."""
        channel.closed = True
        worker = channel.worker
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()
        if conn._channels.get(channel.topic) is channel:
            del conn._channels[channel.topic]
        self._untrack_owner(channel)
        self._notify()

    def _end_channel(self, conn: ServerConnection, channel: _Channel, event: str) -> None:
        """End a channel: ``phx_close`` (stop, leave) or ``phx_error`` (crash), ref = join_ref."""
        if channel.closed:
            return
        channel.closed = True
        if conn._channels.get(channel.topic) is channel:
            del conn._channels[channel.topic]
        conn.write(text_frame(channel.join_ref, channel.join_ref, channel.topic, event, {}))
        self._untrack_owner(channel)
        self._notify()

    def _disconnected(self, conn: ServerConnection) -> None:
        """Forget a closed connection: its channels end silently (their Presence leaves)."""
        self._conns.pop(conn.id, None)
        for channel in list(conn._channels.values()):
            self._drop_channel(conn, channel)
        self._notify()

    # ------------------------------------------------------------------ server-side sends

    def _subscribers(self, topic: str) -> list[tuple[ServerConnection, _Channel]]:
        found = []
        for conn in self._conns.values():
            channel = conn._channels.get(topic)
            if channel is not None and channel.joined:
                found.append((conn, channel))
        return found

    def _write_topic(self, topic: str, data: bytes, binary: bool = False) -> int:
        """Write one frame to every connection joined to ``topic``; return how many got it."""
        framed = ws_frame(data, binary)
        return sum(conn.write_framed(framed) for conn, _ in self._subscribers(topic))

    async def push(self, topic: str, event: str, payload: Any) -> int:
        """Push to every connection joined to ``topic`` with its join_ref; return the count."""
        sent = 0
        for conn, channel in self._subscribers(topic):
            sent += conn.write(text_frame(channel.join_ref, None, topic, event, payload))
        return sent

    async def broadcast(self, topic: str, event: str, payload: Any) -> int:
        """Broadcast (null join_ref) to every connection joined to ``topic``; return the count."""
        return self._write_topic(topic, text_frame(None, None, topic, event, payload))

    async def push_binary(self, topic: str, event: str, data: bytes) -> int:
        """Binary push (kind 0, each joiner's join_ref) to ``topic``; return the count."""
        sent = 0
        for conn, channel in self._subscribers(topic):
            sent += conn.write(binary_push(channel.join_ref, topic, event, data), binary=True)
        return sent

    async def broadcast_binary(self, topic: str, event: str, data: bytes) -> int:
        """Binary broadcast (kind 2) to every connection joined to ``topic``; return the count."""
        return self._write_topic(topic, binary_broadcast(topic, event, data), binary=True)

    async def blast(self, topic: str, event: str, payload: Any, count: int, *,
                    join_ref: str | None = None, broadcast: bool = False) -> int:
        """Write ``count`` identical pushes to every connection joined to ``topic``, fast.

        The frame is encoded once (per join_ref) and written in large batches straight to
        the transport, waiting for drains. ``join_ref=None`` stamps each joiner's own
        join_ref; a str stamps that one; ``broadcast=True`` sends a null join_ref. Returns
        the number of frames written (all connections), when they are written.
        """
        sent = 0
        for conn, channel in self._subscribers(topic):
            jr = None if broadcast else (channel.join_ref if join_ref is None else join_ref)
            frame = ws_frame(text_frame(jr, None, topic, event, payload))
            sent += await _blast_one(conn, frame, count)
        return sent

    async def push_many(self, topic: str, event: str, payloads: Iterable[Any], *,
                        join_ref: str | None = None) -> int:
        """Push one frame per payload (in order) to every connection joined to ``topic``,
        framed in batches and written like :meth:`blast`; return the frames written.

        ``join_ref=None`` stamps each joiner's own join_ref.
        """
        subscribers = self._subscribers(topic)
        sent = 0
        chunk: list[Any] = []
        for payload in payloads:
            chunk.append(payload)
            if len(chunk) == 1024:
                sent += await self._push_chunk(subscribers, topic, event, chunk, join_ref)
                chunk = []
        if chunk:
            sent += await self._push_chunk(subscribers, topic, event, chunk, join_ref)
        return sent

    async def _push_chunk(self, subscribers: list[tuple[ServerConnection, _Channel]],
                          topic: str, event: str, chunk: list[Any], join_ref: str | None) -> int:
        sent = 0
        for conn, channel in subscribers:
            jr = channel.join_ref if join_ref is None else join_ref
            data = b"".join(ws_frame(text_frame(jr, None, topic, event, p)) for p in chunk)
            if conn.write_framed(data):
                sent += len(chunk)
                await conn.drain()
        return sent

    async def send_raw(self, data: bytes | str, binary: bool = False) -> int:
        """Write ``data`` as one raw TEXT (or BINARY) frame to every connection."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return sum(conn.write(raw, binary) for conn in list(self._conns.values()))

    # ------------------------------------------------------------------ Presence

    def presence_list(self, topic: str) -> dict[str, Any]:
        """Return the Presence state of ``topic``: ``{key: {"metas": [meta, ...]}}``."""
        state = self._presence.get(topic, {})
        return {key: {"metas": [m.meta for m in metas]} for key, metas in state.items() if metas}

    def _diff(self, topic: str, joins: dict[str, Any], leaves: dict[str, Any]) -> None:
        self._write_topic(topic, text_frame(None, None, topic, "presence_diff",
                                            {"joins": joins, "leaves": leaves}))

    def _track(self, topic: str, key: str, meta: dict[str, Any], owner: _Channel | None,
               conn: ServerConnection | None) -> None:
        entry = _Meta({"phx_ref": _phx_ref(), **meta}, owner)
        self._presence.setdefault(topic, {}).setdefault(key, []).append(entry)
        if conn is not None and owner is not None:
            conn.write(text_frame(owner.join_ref, None, topic, "presence_state",
                                  self.presence_list(topic)))
        self._diff(topic, {key: {"metas": [entry.meta]}}, {})

    def _untrack(self, topic: str, key: str, owner: _Channel | None) -> None:
        metas = self._presence.get(topic, {}).get(key, [])
        gone = [m for m in metas if owner is None or m.owner is owner]
        if not gone:
            return
        metas[:] = [m for m in metas if m not in gone]
        self._diff(topic, {}, {key: {"metas": [m.meta for m in gone]}})

    def _untrack_owner(self, channel: _Channel) -> None:
        for key, metas in list(self._presence.get(channel.topic, {}).items()):
            if any(m.owner is channel for m in metas):
                self._untrack(channel.topic, key, channel)

    def track(self, topic: str, key: str, meta: dict[str, Any]) -> None:
        """Track ``key`` on ``topic`` (owned by the server): joiners get a ``presence_diff``."""
        self._track(topic, key, meta, None, None)

    def untrack(self, topic: str, key: str) -> None:
        """Untrack every meta of ``key`` on ``topic``: joiners get a leave ``presence_diff``."""
        self._untrack(topic, key, None)

    # ------------------------------------------------------------------ fault injection

    async def drop_connections(self, timeout: float = 5.0) -> None:
        """Abort every connection (TCP abort, no close frame); return once all are gone."""
        conns = list(self._conns.values())
        for conn in conns:
            conn.abort()
        self._notify()
        await self.wait_for(lambda: all(c.id not in self._conns for c in conns), timeout)

    async def close_connections(self, code: int = 1001, reason: str = "") -> None:
        """Close every connection with a WebSocket close frame carrying ``code``."""
        await asyncio.gather(*(c.close(code, reason) for c in list(self._conns.values())))

    def refuse_next(self, n: int = 1, status: int = 403) -> None:
        """Answer the next ``n`` upgrade attempts with HTTP ``status`` (e.g. 403 or 500)."""
        self._refuse.extend([status] * n)

    @property
    def refusals_pending(self) -> int:
        """How many upgrade attempts :meth:`refuse_next` will still refuse."""
        return len(self._refuse)

    def pause_reading(self) -> None:
        """Stop reading from every connection (and new ones) until :meth:`resume_reading`."""
        self._reading_paused = True
        for conn in self._conns.values():
            conn.pause_reading()

    def resume_reading(self) -> None:
        """Read from every connection again."""
        self._reading_paused = False
        for conn in self._conns.values():
            conn.resume_reading()
        self._notify()


def _log_worker_failure(task: asyncio.Task[None]) -> None:
    """Log a channel task that failed outside its handlers (a bug in this module)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("channel task failed", exc_info=task.exception())


def _status_of(result: Any) -> tuple[str, Any]:
    """Return ``(status, response)`` for a handler's return value (None -> ``{}``)."""
    if isinstance(result, ServerReply):
        return result.status, result.response
    return "ok", result


async def _blast_one(conn: ServerConnection, frame: bytes, count: int) -> int:
    """Write ``count`` copies of ``frame`` to ``conn`` in large batches; return how many."""
    per_batch = max(1, _BLAST_BATCH_BYTES // len(frame))
    batch = frame * per_batch
    sent = 0
    while sent < count:
        n = min(per_batch, count - sent)
        if not conn.write_framed(batch if n == per_batch else frame * n):
            break
        sent += n
        await conn.drain()
    return sent

"""A Phoenix-faithful Channels server on aiohttp (loopback only), with fault injection.

It mirrors ``Phoenix.Socket`` (``lib/phoenix/socket.ex``), ``Phoenix.Channel.Server`` and
``Phoenix.Transports.WebSocket`` behind Bandit, as a named release does (``phoenix="1.8"``
or ``"1.7"``) and as seen on the wire by a V2 (or V1) client: connect params and the
``Sec-WebSocket-Protocol`` token, heartbeats, joins and duplicate joins, leaves, stale
join_refs, unmatched topics, channel crashes and stops, ``max_channels``, the idle timeout,
the frame limit, binary pushes and replies, Presence state and diffs, shutdown.
Deliberate differences are listed in ``docs/testing-server.md``.

This module is the facade: :class:`PhoenixTestServer` holds the configuration and the
lifecycle and hands each concern to its room:

- :mod:`._routes`: declared channels (patterns, handlers);
- :mod:`._upgrade`: the HTTP upgrade (serializer for ``vsn``, connect params, token);
- :mod:`._socket`: one task per connection reading and routing frames in order, like the
  Phoenix socket process (heartbeats and joins are handled there);
- :mod:`._channels`: join, handle_in, leave, stop, crash; each joined channel handles its
  messages in its own task, like a channel process;
- :mod:`._context`: :class:`ChannelContext`, what a handler sees;
- :mod:`._presence`, :mod:`._sends` (server-side sends, ``blast``), :mod:`._faults`;
- :mod:`._hub`: connections, the record of inbound frames and joins, waits (introspection);
- :mod:`._profiles`: the Phoenix release lines imitated (``phoenix="1.8"`` / ``"1.7"``);
- :mod:`._wire`: frames as the server writes them (V1 and V2) and JSON as Jason reads it.
  Every server-to-client frame is written to the transport in one ``write`` call (whole
  frames only), so frames interleave safely with those aiohttp writes itself (pong, close)
  and with :meth:`PhoenixTestServer.blast`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, Literal, TypeVar

from aiohttp import web

from ..codec import Frame
from . import _channels, _connection, _handlers, _presence, _routes, _sends, _upgrade
from ._connection import ServerConnection
from ._context import ChannelContext
from ._faults import Faults
from ._handlers import NO_REPLY, Handler, ServerReply, StopChannel
from ._hub import Hub
from ._presence import Presence
from ._profiles import PROFILES, PhoenixProfile, profile
from ._routes import Routes
from ._socket import handle_upgrade

__all__ = [
    "NO_REPLY",
    "PROFILES",
    "PROFILE_DEFAULT",
    "ChannelContext",
    "PhoenixProfile",
    "PhoenixTestServer",
    "ServerConnection",
    "ServerReply",
    "StopChannel",
]

log = logging.getLogger("fastphx.testing")

T = TypeVar("T")
PresenceOrder = Literal["diff_first", "state_first"]
NoneReply = Literal["{}", "null"]
_SHUTDOWN_CLOSE_TIMEOUT = 1.0  # seconds stop() waits for close handshakes


class _Default:
    """Type of :data:`PROFILE_DEFAULT`."""

    def __repr__(self) -> str:
        return "PROFILE_DEFAULT"


#: ``max_channels`` default: the profile's (100 for "1.8", no limit for "1.7").
PROFILE_DEFAULT = _Default()


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError``."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: expected one of {allowed}")
    return value


ConnectCallback = Callable[[dict[str, str], "str | None"], "bool | Awaitable[bool]"]

# Every name this module defined before it became a facade stays importable from it (the
# private ones carry no promise: they are the same objects, now in their rooms).
AUTH_TOKEN_PREFIX = _upgrade.AUTH_TOKEN_PREFIX
_decode_token = _upgrade.decode_token
_token_from_header = _upgrade.token_from_header
_NoReply = _handlers._NoReply
_call = _handlers.call
_status_of = _handlers.status_of
_Route = _routes.Route
_Channel = _connection.Channel
_Inbound = _connection.Inbound
_Meta = _presence._Meta
_phx_ref = _presence._phx_ref
_log_worker_failure = _channels._log_worker_failure
_BLAST_BATCH_BYTES = _sends._BLAST_BATCH_BYTES
_blast_one = _sends._blast_one


class PhoenixTestServer:
    """A Phoenix Channels server on 127.0.0.1 for tests, with fault injection.

    ``phoenix`` names the release line it imitates ("1.8", the default, or "1.7"; see
    :mod:`._profiles`); the other options are Phoenix's defaults unless given. Use
    ``async with PhoenixTestServer() as server:`` (or ``start()``/``stop()``), declare
    channels with :meth:`join` / :meth:`handle_in` / :meth:`add_channel`, connect to
    :attr:`url`. See ``docs/testing-server.md``.
    """

    def __init__(self, port: int = 0, connect: ConnectCallback | None = None, *,
                 phoenix: str = "1.8", max_channels: int | _Default | None = PROFILE_DEFAULT,
                 idle_timeout: float = 60.0, path: str = "/socket/websocket",
                 max_frame_size: int = 8_000_000,
                 presence_order: PresenceOrder = "diff_first",
                 none_reply: NoneReply = "{}", strict: bool = False,
                 compress: bool = False) -> None:
        self.profile = profile(phoenix)
        self.host = "127.0.0.1"
        self.port = port
        self.path = path
        self.connect = connect
        self.max_channels: int | None = (
            self.profile.max_channels if isinstance(max_channels, _Default) else max_channels)
        self.idle_timeout = idle_timeout
        self.max_frame_size = max_frame_size
        self.presence_order = _choice("presence_order", presence_order,
                                      ("diff_first", "state_first"))
        self.none_reply = _choice("none_reply", none_reply, ("{}", "null"))
        self.strict = strict
        self.compress = compress  # permessage-deflate, as Phoenix's `compress: true` socket
        self.heartbeat_replies = True
        self.reply_delay = 0.0
        self._routes = Routes()
        self._hub = Hub()
        self._presence = Presence(self._hub)
        self._faults = Faults(self._hub)
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ declaring channels

    def join(self, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator: ``fn(ctx, params)`` answers joins of topics matching ``pattern``
        (exact, or a prefix ending in ``*``); see the module docs for return values."""
        return self._routes.join(pattern)

    def handle_in(self, pattern: str, event: str) -> Callable[[Handler], Handler]:
        """Decorator: ``fn(ctx, payload)`` handles ``event`` (or ``"*"``: any event) pushed on
        topics matching ``pattern``."""
        return self._routes.handle_in(pattern, event)

    def add_channel(self, pattern: str, join: Handler | None = None,
                    handlers: dict[str, Handler] | None = None) -> None:
        """Declare a channel without decorators: a join handler and ``{event: handler}``."""
        self._routes.add_channel(pattern, join, handlers)

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

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        return await handle_upgrade(self, request)

    async def stop(self, *, abrupt: bool = False) -> None:
        """Stop listening (connects are refused) and end every connection.

        Connections get a close frame with code 1012, as Phoenix sends when it shuts down
        (a peer that does not answer within a second is dropped); ``abrupt=True`` drops
        them at once (TCP abort, no close frame: a crash or a network failure).
        """
        runner, self._runner = self._runner, None
        if runner is None:
            return
        conns = list(self._hub.conns.values())
        if not abrupt and conns:
            closing = [asyncio.ensure_future(c.close(1012)) for c in conns]
            _, unanswered = await asyncio.wait(closing, timeout=_SHUTDOWN_CLOSE_TIMEOUT)
            for task in unanswered:
                task.cancel()
            await asyncio.gather(*closing, return_exceptions=True)
        for conn in conns:
            conn.abort()
        self._hub.notify()
        await runner.cleanup()

    async def restart(self, *, abrupt: bool = False) -> None:
        """Stop (see :meth:`stop`), then start again on the same port."""
        await self.stop(abrupt=abrupt)
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
    def received(self) -> list[tuple[str, Frame]]:
        """Every decoded inbound frame, as ``(conn_id, Frame)``, for the server's lifetime."""
        return self._hub.received

    @property
    def joins(self) -> Counter[str]:
        """Successful joins per topic (in total)."""
        return self._hub.joins

    @property
    def total_connections(self) -> int:
        """How many WebSocket connections were accepted since the server was made."""
        return self._hub.total_connections

    @property
    def connections(self) -> list[ServerConnection]:
        """The open connections."""
        return list(self._hub.conns.values())

    @property
    def connection_count(self) -> int:
        """How many connections are open now."""
        return len(self._hub.conns)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true (checked on every server event).

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        await self._hub.wait_for(predicate, timeout)

    async def wait_for_frame(self, topic: str | None = None, event: str | None = None,
                             timeout: float = 5.0) -> Frame:
        """Return the first received frame (past or future) matching ``topic`` and ``event``.

        Raises ``TimeoutError``.
        """
        find = self._hub.find_frame
        await self.wait_for(lambda: find(topic, event) is not None, timeout)
        frame = find(topic, event)
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

    # ------------------------------------------------------------------ server-side sends

    async def push(self, topic: str, event: str, payload: Any) -> int:
        """Push to every connection joined to ``topic`` with its join_ref; return the count."""
        return _sends.push(self._hub, topic, event, payload)

    async def broadcast(self, topic: str, event: str, payload: Any) -> int:
        """Broadcast (null join_ref) to every connection joined to ``topic``; return the count."""
        return _sends.broadcast(self._hub, topic, event, payload)

    async def push_binary(self, topic: str, event: str, data: bytes) -> int:
        """Binary push (kind 0, each joiner's join_ref) to ``topic``; return the count."""
        return _sends.push_binary(self._hub, topic, event, data)

    async def broadcast_binary(self, topic: str, event: str, data: bytes) -> int:
        """Binary broadcast (kind 2) to every connection joined to ``topic``; return the count."""
        return _sends.broadcast_binary(self._hub, topic, event, data)

    async def blast(self, topic: str, event: str, payload: Any, count: int, *,
                    join_ref: str | None = None, broadcast: bool = False) -> int:
        """Write ``count`` identical pushes to every connection joined to ``topic``, fast.

        The frame is encoded once (per join_ref) and written in large batches straight to
        the transport, waiting for drains. ``join_ref=None`` stamps each joiner's own
        join_ref; a str stamps that one; ``broadcast=True`` sends a null join_ref. Returns
        the number of frames written (all connections), when they are written.
        """
        return await _sends.blast(self._hub, topic, event, payload, count, join_ref, broadcast)

    async def push_many(self, topic: str, event: str, payloads: Iterable[Any], *,
                        join_ref: str | None = None) -> int:
        """Push one frame per payload (in order) to every connection joined to ``topic``,
        framed in batches and written like :meth:`blast`; return the frames written.

        ``join_ref=None`` stamps each joiner's own join_ref.
        """
        return await _sends.push_many(self._hub, topic, event, payloads, join_ref)

    async def send_raw(self, data: bytes | str, binary: bool = False) -> int:
        """Write ``data`` as one raw TEXT (or BINARY) frame to every connection."""
        return _sends.send_raw(self._hub, data, binary)

    # ------------------------------------------------------------------ Presence

    def presence_list(self, topic: str) -> dict[str, Any]:
        """Return the Presence state of ``topic``: ``{key: {"metas": [meta, ...]}}``."""
        return self._presence.list(topic)

    def track(self, topic: str, key: str, meta: dict[str, Any]) -> None:
        """Track ``key`` on ``topic`` (owned by the server): joiners get a ``presence_diff``."""
        self._presence.track(topic, key, meta, None, None)

    def untrack(self, topic: str, key: str) -> None:
        """Untrack every meta of ``key`` on ``topic``: joiners get a leave ``presence_diff``."""
        self._presence.untrack(topic, key, None)

    # ------------------------------------------------------------------ fault injection

    async def drop_connections(self, timeout: float = 5.0) -> None:
        """Abort every connection (TCP abort, no close frame); return once all are gone."""
        await self._faults.drop_connections(timeout)

    async def close_connections(self, code: int = 1001, reason: str = "") -> None:
        """Close every connection with a WebSocket close frame carrying ``code``."""
        await self._faults.close_connections(code, reason)

    def refuse_next(self, n: int = 1, status: int = 403) -> None:
        """Answer the next ``n`` upgrade attempts with HTTP ``status`` (e.g. 403 or 500)."""
        self._faults.refuse_next(n, status)

    @property
    def refusals_pending(self) -> int:
        """How many upgrade attempts :meth:`refuse_next` will still refuse."""
        return self._faults.refusals_pending

    def pause_reading(self) -> None:
        """Stop reading from every connection (and new ones) until :meth:`resume_reading`."""
        self._faults.pause_reading()

    def resume_reading(self) -> None:
        """Read from every connection again."""
        self._faults.resume_reading()

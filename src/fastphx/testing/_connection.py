"""One WebSocket connection as the server holds it, and the channels joined on it.

:class:`ServerConnection` is public (``server.connections``); :class:`Channel` (a joined
topic, handled in its own task like a Phoenix channel process) and :class:`Inbound` (one
decoded client message) are internal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._routes import Route
from ._wire import V2, Serializer, WireRef, ws_frame

__all__ = ["Channel", "Inbound", "ServerConnection"]


@dataclass
class Inbound:
    """One decoded client message, refs typed as on the wire."""

    join_ref: WireRef
    ref: WireRef
    topic: str
    event: str
    payload: Any


@dataclass(eq=False)
class Channel:
    """A joined (or joining) topic on one connection (``topic`` as the client sent it).

    Like a Phoenix channel process, it handles its messages in order in its own task
    (``worker``), so a slow handler does not hold up heartbeats or other channels.
    """

    topic: str
    join_ref: WireRef
    params: Any
    route: Route
    joined: bool = False
    closed: bool = False
    deferred: list[Callable[[], object]] = field(default_factory=list)
    inbox: list[Inbound] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None


class ServerConnection:
    """The server side of one WebSocket connection.

    ``id``, ``params`` (connect params without ``vsn``), ``token`` (from the
    ``Sec-WebSocket-Protocol`` header, or None), ``topics`` ({topic: join_ref}),
    ``assigns`` (a dict for handlers' own per-connection state, like ``socket.assigns``),
    ``vsn`` (1 or 2: the serializer the client asked for).
    """

    def __init__(self, conn_id: str, params: dict[str, str], token: str | None,
                 ws: web.WebSocketResponse, request: web.Request, *,
                 serializer: Serializer = V2) -> None:
        self.id = conn_id
        self.params = params
        self.token = token
        self.serializer = serializer
        self.vsn = serializer.vsn
        self.assigns: dict[str, Any] = {}
        self.ws = ws
        # permessage-deflate window when the client negotiated it (server compress=True)
        self.deflate_bits = int(ws.compress) if ws.compress else 0
        self._transport = request.transport
        self._protocol: Any = request.protocol  # aiohttp's RequestHandler (drain support)
        self._channels: dict[str, Channel] = {}

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
        return self.write_framed(self.frame(payload, binary))

    def frame(self, payload: bytes, binary: bool = False) -> bytes:
        """One WebSocket frame for this connection (compressed when it negotiated it)."""
        return ws_frame(payload, binary, self.deflate_bits)

    def send(self, join_ref: WireRef, ref: WireRef, topic: Any, event: Any, payload: Any, *,
             ordered: bool = False) -> bool:
        """Write a message in this connection's serializer; False if the socket is closing."""
        return self.write(self.serializer.message(join_ref, ref, topic, event, payload,
                                                  ordered=ordered))

    def send_reply(self, join_ref: WireRef, ref: WireRef, topic: Any, status: str,
                   response: Any) -> bool:
        """Write a ``phx_reply`` in this connection's serializer; False if it is closing."""
        return self.write(self.serializer.reply(join_ref, ref, topic, status, response))

    def send_binary(self, data: bytes) -> bool:
        """Write one BINARY frame; False (nothing sent) on a V1 connection, which has none."""
        return self.serializer.binary and self.write(data, binary=True)

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

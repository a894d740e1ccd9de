"""The socket: the HTTP upgrade, then reading and routing frames in order, as the Phoenix
socket process does (``Phoenix.Transports.WebSocket`` + ``Phoenix.Socket.handle_in/4``).

One task per connection reads and routes; heartbeats and joins are handled there; every
other message goes to its channel's own task (:mod:`._channels`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ..codec import Frame, decode
from ..errors import FrameDecodeError
from . import _channels
from ._connection import Inbound, ServerConnection
from ._handlers import call
from ._profiles import PhoenixProfile
from ._upgrade import refusal
from ._wire import WireRef, dumps, loads, parse_client_binary

if TYPE_CHECKING:
    from .server import PhoenixTestServer

__all__ = ["handle_upgrade"]

log = logging.getLogger("fastphx.testing")

# ---------------------------------------------------------------------- the upgrade

async def handle_upgrade(server: PhoenixTestServer, request: web.Request) -> web.StreamResponse:
    """Answer one upgrade request: refuse it (HTTP status) or serve the WebSocket."""
    refused = refusal(server, request)
    if isinstance(refused, web.Response):
        return refused
    params, token, serializer = refused
    try:
        accepted = server.connect is None or await call(server.connect, params, token)
    except Exception:
        log.info("connect callback raised", exc_info=True)
        return web.Response(status=500)
    if not accepted:
        return web.Response(status=403)  # Phoenix: connect/3 returned :error
    # 1.7 selects no subprotocol even when offered one; 1.8 selects "phoenix".
    protocols = ("phoenix",) if server.profile.token_subprotocol else ()
    # aiohttp refuses a message of max_msg_size bytes or more; Bandit one over the limit.
    limit = server.max_frame_size + 1 if server.max_frame_size else 0
    ws = web.WebSocketResponse(protocols=protocols, compress=server.compress,
                               max_msg_size=limit,
                               autoclose=True, autoping=True)
    await ws.prepare(request)
    hub = server._hub
    hub.total_connections += 1
    conn = ServerConnection(f"c{hub.total_connections}", params, token, ws, request,
                            serializer=serializer)
    hub.conns[conn.id] = conn
    if server._faults.reading_paused:
        conn.pause_reading()
    hub.notify()
    try:
        await _read_loop(server, conn)
    finally:
        _channels.disconnected(server, conn)
    return ws


# ---------------------------------------------------------------------- reading

async def _read_loop(server: PhoenixTestServer, conn: ServerConnection) -> None:
    """Read and handle frames in order until close, idle timeout or a malformed frame."""
    ws = conn.ws
    faults = server._faults
    while True:
        if faults.reading_paused:
            await server._hub.wait_for(lambda: not faults.reading_paused or conn.closed, 1e9)
            if conn.closed:
                return
        try:
            msg = await ws.receive(timeout=server.idle_timeout)
        except asyncio.TimeoutError:
            await ws.close(code=1002)  # Bandit's idle timeout close
            return
        if msg.type is WSMsgType.TEXT:
            inbound = _parse_text(server, conn, msg.data)
        elif msg.type is WSMsgType.BINARY:
            inbound = _parse_binary(server, conn, msg.data)
        else:  # CLOSE, or ERROR (aiohttp closed with 1009 for a message over max_msg_size)
            return
        if inbound is None:
            # Phoenix's socket process crashes on a malformed frame: close 1011, no message.
            await ws.close(code=1011)
            return
        await _dispatch(server, conn, inbound)


def _parse_text(server: PhoenixTestServer, conn: ServerConnection, data: str) -> Inbound | None:
    """Decode a TEXT frame in the connection's serializer; None if it is malformed."""
    try:
        value = loads(data)
    except (ValueError, RecursionError):
        log.debug("malformed text frame on %s", conn.id)
        return None
    if conn.vsn == 1:
        return _v1_message(server, conn, value)
    # Phoenix matches [join_ref, ref, topic, event, payload | _]: extra elements are ignored.
    if not isinstance(value, list) or len(value) < 5:
        log.debug("malformed text frame on %s", conn.id)
        return None
    try:
        frame = decode(data)
    except (FrameDecodeError, ValueError):
        if server.strict:  # exactly five elements, str refs, topic and event
            log.debug("malformed text frame on %s (strict)", conn.id)
            return None
        frame = _lenient_frame(value[:5])
    server._hub.record(conn, frame)
    join_ref, ref, topic, event, payload = value[:5]
    return Inbound(join_ref, ref, topic, event, payload)


def _v1_message(server: PhoenixTestServer, conn: ServerConnection, value: Any) -> Inbound | None:
    """A V1 message: an object with topic, event, payload and ref (join_ref optional)."""
    if not isinstance(value, dict) or not _V1_KEYS <= value.keys():
        log.debug("malformed V1 frame on %s", conn.id)
        return None
    fields = [value.get("join_ref"), value["ref"], value["topic"], value["event"],
              value["payload"]]
    server._hub.record(conn, _lenient_frame(fields))
    return Inbound(*fields)


_V1_KEYS = frozenset(("topic", "event", "payload", "ref"))


def _as_text(value: Any) -> str:
    """A str as is; anything else as its JSON text (for ``server.received``)."""
    return value if isinstance(value, str) else dumps(value).decode("utf-8")


def _lenient_frame(fields: list[Any]) -> Frame:
    """A Frame for ``server.received`` from parsed fields Phoenix accepts but a Frame cannot
    hold: refs other than str/None and a non-str topic or event appear as JSON text."""
    join_ref, ref, topic, event, payload = fields
    return Frame(None if join_ref is None else _as_text(join_ref),
                 None if ref is None else _as_text(ref),
                 _as_text(topic), _as_text(event), dumps(payload))


def _parse_binary(server: PhoenixTestServer, conn: ServerConnection,
                  data: bytes) -> Inbound | None:
    """Decode a BINARY frame as a client push (kind 0); None if it is malformed.

    A V1 socket has no binary format: Phoenix's V1 serializer reads the bytes as JSON text.
    """
    if conn.vsn == 1:
        try:
            return _parse_text(server, conn, data.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    try:
        join_ref, ref, topic, event, payload = parse_client_binary(data)
    except FrameDecodeError:
        log.debug("malformed binary frame on %s", conn.id)
        return None
    server._hub.record(conn, Frame(join_ref, ref, topic, event, payload, True))
    return Inbound(join_ref, ref, topic, event, payload)


# ---------------------------------------------------------------------- routing (socket.ex)

async def _dispatch(server: PhoenixTestServer, conn: ServerConnection, msg: Inbound) -> None:
    """Route one message as ``Phoenix.Socket.handle_in/4`` does."""
    if msg.topic == "phoenix" and msg.event == "heartbeat":
        if server.heartbeat_replies:
            await _channels.reply(server, conn, None, msg.ref, "phoenix", "ok", {})
        return
    channel = conn._channels.get(msg.topic) if isinstance(msg.topic, str) else None
    if msg.event == "phx_join":
        await _channels.join(server, conn, msg, channel)
    elif channel is None:
        if msg.event == "phx_leave":  # leaving an unknown topic: ok, nothing to close
            await _channels.reply(server, conn, msg.join_ref, msg.ref, msg.topic, "ok", {})
        else:
            await _channels.unmatched(server, conn, msg)
    elif not _is_current(server.profile, msg, channel.join_ref):
        log.debug("ignoring stale message for %s (join_ref %r)", msg.topic, msg.join_ref)
    else:
        _channels.deliver(server, conn, channel, msg)


def _is_current(profile: PhoenixProfile, msg: Inbound, current: WireRef) -> bool:
    """Whether a joined channel takes ``msg`` given its join_ref (``socket.ex`` by release).

    1.7.21 delivers every push and takes a leave only with the current join_ref; 1.8.3+
    drops a push with a stale join_ref; 1.8.12+ takes a null join_ref for a leave too.
    A V1 join has no join_ref, so everything is current.
    """
    if current is None:
        return True
    if msg.join_ref is None:
        return msg.event != "phx_leave" or profile.leave_accepts_null_join_ref
    same = type(msg.join_ref) is type(current) and msg.join_ref == current
    if msg.event == "phx_leave":
        return same
    return same or not profile.drops_stale_join_ref

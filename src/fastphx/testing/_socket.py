"""The socket: the HTTP upgrade, then reading and routing frames in order, as the Phoenix
socket process does (``Phoenix.Transports.WebSocket`` + ``Phoenix.Socket.handle_in/4``).

One task per connection reads and routes; heartbeats and joins are handled there; every
other message goes to its channel's own task (:mod:`._channels`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import TYPE_CHECKING

import orjson
from aiohttp import WSMsgType, web

from ..codec import Frame, decode
from ..errors import FrameDecodeError
from . import _channels
from ._connection import Inbound, ServerConnection
from ._handlers import call
from ._wire import parse_client_binary

if TYPE_CHECKING:
    from .server import PhoenixTestServer

__all__ = ["AUTH_TOKEN_PREFIX", "handle_upgrade"]

log = logging.getLogger("fastphx.testing")

AUTH_TOKEN_PREFIX = "base64url.bearer.phx."


def decode_token(encoded: str) -> str:
    """Decode a ``base64url.bearer.phx.`` token (standard or URL alphabet, padding optional).

    Raises ``ValueError`` if it is not base64.
    """
    text = encoded.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except binascii.Error as exc:
        raise ValueError("the token subprotocol is not base64") from exc


def token_from_header(header: str | None) -> str | None:
    """Return the token carried in a ``Sec-WebSocket-Protocol`` header, or None."""
    if not header:
        return None
    for item in header.split(","):
        item = item.strip()
        if item.startswith(AUTH_TOKEN_PREFIX):
            return decode_token(item[len(AUTH_TOKEN_PREFIX):])
    return None


# ---------------------------------------------------------------------- the upgrade

async def handle_upgrade(server: PhoenixTestServer, request: web.Request) -> web.StreamResponse:
    """Answer one upgrade request: refuse it (HTTP status) or serve the WebSocket."""
    refused = _refusal(server, request)
    if isinstance(refused, web.Response):
        return refused
    params, token = refused
    try:
        accepted = server.connect is None or await call(server.connect, params, token)
    except Exception:
        log.info("connect callback raised", exc_info=True)
        return web.Response(status=500)
    if not accepted:
        return web.Response(status=403)  # Phoenix: connect/3 returned :error
    ws = web.WebSocketResponse(protocols=("phoenix",), compress=False, max_msg_size=0,
                               autoclose=True, autoping=True)
    await ws.prepare(request)
    hub = server._hub
    hub.total_connections += 1
    conn = ServerConnection(f"c{hub.total_connections}", params, token, ws, request)
    hub.conns[conn.id] = conn
    if server._faults.reading_paused:
        conn.pause_reading()
    hub.notify()
    try:
        await _read_loop(server, conn)
    finally:
        _channels.disconnected(server, conn)
    return ws


def _refusal(server: PhoenixTestServer,
             request: web.Request) -> web.Response | tuple[dict[str, str], str | None]:
    """Return an HTTP refusal, or the connect params and token of an acceptable upgrade."""
    status = server._faults.take_refusal()
    if status is not None:
        server._hub.notify()
        return web.Response(status=status)
    if not request.query.get("vsn", "").startswith("2.0."):
        return web.Response(status=400, text="vsn=2.0.0 required (V1 is not supported)")
    try:
        token = token_from_header(request.headers.get("Sec-WebSocket-Protocol"))
    except ValueError:
        return web.Response(status=500)  # Phoenix's Base.decode64! raises
    params: dict[str, str] = {}
    for key, value in request.query.items():
        if key != "vsn":
            params.setdefault(key, value)
    return params, token


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
            await ws.close(code=1000, message=b"idle timeout")
            return
        if msg.type is WSMsgType.TEXT:
            inbound = _parse_text(server, conn, msg.data)
        elif msg.type is WSMsgType.BINARY:
            inbound = _parse_binary(server, conn, msg.data)
        else:
            return
        if inbound is None:
            # Phoenix's socket process crashes on a malformed frame: close 1011, no message.
            await ws.close(code=1011)
            return
        await _dispatch(server, conn, inbound)


def _parse_text(server: PhoenixTestServer, conn: ServerConnection, data: str) -> Inbound | None:
    """Decode a TEXT frame (strict V2); None if it is malformed."""
    try:
        frame = decode(data)
        join_ref, ref, _, _, payload = orjson.loads(data)  # refs typed as sent
    except (FrameDecodeError, orjson.JSONDecodeError, ValueError):
        log.debug("malformed text frame on %s", conn.id)
        return None
    server._hub.record(conn, frame)
    return Inbound(join_ref, ref, frame.topic, frame.event, payload)


def _parse_binary(server: PhoenixTestServer, conn: ServerConnection,
                  data: bytes) -> Inbound | None:
    """Decode a BINARY frame as a client push (kind 0); None if it is malformed."""
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
    channel = conn._channels.get(msg.topic)
    if msg.event == "phx_join":
        await _channels.join(server, conn, msg, channel)
    elif channel is None:
        if msg.event == "phx_leave":  # leaving an unknown topic: ok, nothing to close
            await _channels.reply(server, conn, msg.join_ref, msg.ref, msg.topic, "ok", {})
        else:
            await _channels.unmatched(server, conn, msg)
    elif msg.join_ref is not None and msg.join_ref != channel.join_ref:
        log.debug("ignoring stale message for %s (join_ref %r)", msg.topic, msg.join_ref)
    else:
        _channels.deliver(server, conn, channel, msg)

"""The aiohttp adapter: the only module that touches aiohttp (and its private parts).

- :func:`dial` opens the WebSocket and maps every failure to a fastphx error whose text is
  redacted and which carries no aiohttp exception (neither ``__cause__`` nor
  ``__context__``: aiohttp's messages embed the URL, hence the api_key).
- :func:`message_source` returns what the reader awaits for the next message: aiohttp's
  parsed-message queue ``read()`` when a data message is already queued (private API,
  checked at connect, with ``receive()`` as the fallback), else ``ws.receive()``.
- :func:`close_ws` closes with a bounded wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

from .errors import AuthError, ConnectError, ConnectTimeout, FastphxError

__all__ = [
    "BINARY",
    "SEND_ERRORS",
    "TEXT",
    "WebSocket",
    "close_ws",
    "dial",
    "is_too_big",
    "message_queue",
    "message_source",
    "new_session",
    "send",
]

TEXT = aiohttp.WSMsgType.TEXT
BINARY = aiohttp.WSMsgType.BINARY
ERROR = aiohttp.WSMsgType.ERROR
_DATA_TYPES = (TEXT, BINARY)
WebSocket = aiohttp.ClientWebSocketResponse


async def dial(session: aiohttp.ClientSession, url: URL, *, protocols: tuple[str, ...],
               ssl: Any, connect_timeout: float, close_timeout: float,
               max_message_size: int | None, redact: Callable[[str], str],
               shown_url: str, compress: bool = False) -> WebSocket:
    """Open the WebSocket; raise AuthError / ConnectError / ConnectTimeout (redacted).

    The error is raised outside the ``except`` block, so no aiohttp exception is chained.
    """
    error: FastphxError
    try:
        ws: Any = await asyncio.wait_for(session.ws_connect(
            url, protocols=protocols, decode_text=False, autoping=True, heartbeat=None,
            ssl=ssl if ssl is not None else True,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=close_timeout),
            max_msg_size=max_message_size or 0, compress=15 if compress else 0),
            connect_timeout)
        return ws  # type: ignore[no-any-return]
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status in (401, 403):
            error = AuthError(f"connection refused by the server (HTTP {exc.status})",
                              status=exc.status)
        else:
            error = ConnectError(f"WebSocket handshake failed (HTTP {exc.status}): "
                                 f"{redact(exc.message)}")
    except asyncio.TimeoutError:
        error = ConnectTimeout(f"no WebSocket handshake within {connect_timeout:g}s "
                               f"({shown_url})")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        error = ConnectError(f"cannot connect to {shown_url}: "
                             f"{redact(str(exc)) or type(exc).__name__}")
    raise error


def message_queue(ws: WebSocket) -> Any:
    """aiohttp's parsed-message queue of ``ws`` when it has the expected shape (a ``_buffer``
    deque of ``(WSMessage, size)`` pairs and an async ``read()``), else None. Private API,
    so checked, never assumed."""
    queue = getattr(ws, "_reader", None)
    buffer = getattr(queue, "_buffer", None)
    if (not isinstance(buffer, deque) or not callable(getattr(queue, "read", None))
            or not isinstance(getattr(ws, "_closing", None), bool)
            or not isinstance(getattr(ws, "_closed", None), bool)):
        return None
    return queue


def message_source(ws: WebSocket) -> Callable[[], Awaitable[aiohttp.WSMessage]]:
    """What the reader calls and awaits for each message: ``(type, data, extra)``.

    aiohttp's ``receive()`` is a Python coroutine doing bookkeeping that only matters for
    control frames and waiting; it cost ~35% of a bare receive loop (bench/e2e.py,
    bare_queue row). A data message already parsed is taken straight from the message
    queue (its own ``read()``: flow control intact); anything else (close, ping, an empty
    queue, a closing socket) goes through ``receive()`` with its full semantics.
    """
    receive = ws.receive
    queue = message_queue(ws)
    if queue is None:
        return receive
    buffer, read = queue._buffer, queue.read

    def source() -> Awaitable[aiohttp.WSMessage]:
        if buffer and buffer[0][0][0] in _DATA_TYPES and not ws._closing and not ws._closed:
            return read()  # type: ignore[no-any-return]
        return receive()

    return source


async def close_ws(ws: WebSocket, timeout: float) -> None:
    """Close ``ws`` (close handshake), waiting at most ``timeout`` seconds."""
    try:
        await asyncio.wait_for(ws.close(), timeout)
    except (asyncio.TimeoutError, aiohttp.ClientError, OSError):
        pass


#: What a send on a closing or dead socket raises.
SEND_ERRORS = (aiohttp.ClientError, ConnectionError, RuntimeError)


def new_session() -> aiohttp.ClientSession:
    """A ClientSession the client owns (closed by ``Client.close()``)."""
    return aiohttp.ClientSession()


async def send(ws: WebSocket, data: bytes, binary: bool) -> None:
    """Send one frame: BINARY when ``binary``, else TEXT (``data`` is UTF-8 JSON)."""
    await ws.send_frame(data, BINARY if binary else TEXT)


def is_too_big(mtype: Any, data: Any) -> bool:
    """True for the ERROR message aiohttp gives for a message over ``max_msg_size``."""
    return (mtype is ERROR and isinstance(data, aiohttp.WebSocketError)
            and data.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG)

"""The aiohttp adapter: the only module that touches aiohttp (and its private parts).

- :meth:`AiohttpTransport.dial` opens the WebSocket and maps every failure to a fastphx
  error whose text is redacted and which carries no aiohttp exception (neither
  ``__cause__`` nor ``__context__``: aiohttp's messages embed the URL, hence the api_key).
- :meth:`AiohttpConnection.run` is the reader loop of the seam (``_transport.py``): it
  awaits aiohttp's parsed-message queue ``read()`` when a data message is already queued
  (private API, checked by :func:`message_queue`, with ``receive()`` as the fallback),
  else ``ws.receive()``. Not reading is the backpressure: aiohttp's queue
  fills and aiohttp pauses the socket.
- :meth:`AiohttpConnection.close` closes with a bounded wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from ._transport import Handler, TransportName, dial_timeout, dial_unreachable
from .errors import AuthError, ConnectError, FastphxError

__all__ = [
    "AiohttpConnection",
    "AiohttpTransport",
    "WebSocket",
    "dial",
    "is_too_big",
    "message_queue",
]

TEXT = aiohttp.WSMsgType.TEXT
BINARY = aiohttp.WSMsgType.BINARY
ERROR = aiohttp.WSMsgType.ERROR
_DATA_TYPES = (TEXT, BINARY)
WebSocket = aiohttp.ClientWebSocketResponse


async def dial(session: aiohttp.ClientSession, url: URL, *, headers: Mapping[str, str],
               protocols: tuple[str, ...], ssl: Any, connect_timeout: float,
               close_timeout: float, max_message_size: int | None,
               redact: Callable[[str], str], shown_url: str,
               compress: bool = False) -> WebSocket:
    """Open the WebSocket; raise AuthError / ConnectError / ConnectTimeout (redacted).

    The error is raised outside the ``except`` block, so no aiohttp exception is chained.
    """
    error: FastphxError
    try:
        ws: Any = await asyncio.wait_for(session.ws_connect(
            url, headers=headers, protocols=protocols, decode_text=False, autoping=True,
            heartbeat=None,
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
        error = dial_timeout(connect_timeout, shown_url)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        error = dial_unreachable(exc, shown_url, redact)
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


class AiohttpConnection:
    """One aiohttp WebSocket behind the seam (``_transport.Connection``)."""

    __slots__ = ("close_code", "too_big", "ws")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.close_code: int | None = None
        self.too_big = False

    async def run(self, handle: Handler, overflowed: Callable[[], Awaitable[None]]) -> None:
        """Deliver every data message to ``handle`` until the socket ends; after a True
        from ``handle`` await ``overflowed()`` first (not reading: backpressure).

        aiohttp's ``receive()`` is a Python coroutine doing bookkeeping that only matters
        for control frames and waiting; it cost ~35% of a bare receive loop (bench/e2e.py,
        bare_queue row). A data message already parsed is taken straight from the message
        queue (its own ``read()``: flow control intact); anything else (close, ping, an
        empty queue, a closing socket) goes through ``receive()`` with its full semantics.
        One loop on purpose: a call per message is measurable (bench/e2e_instructions.py).
        """
        ws = self.ws
        receive = read = ws.receive
        queue = message_queue(ws)
        buffer: Any = ()
        if queue is not None:
            buffer, read = queue._buffer, queue.read
        text, binary = TEXT, BINARY
        try:
            while True:
                data = None  # a large message is released now, not after the next one
                if (buffer and buffer[0][0][0] in _DATA_TYPES and not ws._closing
                        and not ws._closed):
                    mtype, data, _ = await read()  # WSMessage is a NamedTuple: unpack
                else:
                    mtype, data, _ = await receive()
                if mtype is text:
                    if handle(data, False):
                        await overflowed()
                elif mtype is binary:
                    if handle(data, True):
                        await overflowed()
                else:  # close, closed or error: the socket is done
                    self.too_big = is_too_big(mtype, data)
                    return
        finally:
            self.close_code = ws.close_code

    def send(self, data: bytes, binary: bool) -> Awaitable[None]:
        """Send one frame: BINARY when ``binary``, else TEXT (``data`` is UTF-8 JSON).
        aiohttp's coroutine is returned for the writer to await: a coroutine of ours
        around it cost a frame per push (bench/e2e_roundtrip.py --instructions)."""
        return self.ws.send_frame(data, BINARY if binary else TEXT)

    async def close(self, timeout: float, code: int = 1000) -> None:
        """Close (close handshake), waiting at most ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self.ws.close(code=code), timeout)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError):
            pass


class AiohttpTransport:
    """Dials with an aiohttp ClientSession: the caller's (never closed here) or its own."""

    name: TransportName = "aiohttp"
    #: What a send on a closing or dead socket raises.
    send_errors: tuple[type[BaseException], ...] = (
        aiohttp.ClientError, ConnectionError, RuntimeError)

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self.session = session
        self._own_session = session is None

    async def dial(self, url: URL, *, headers: Mapping[str, str], protocols: tuple[str, ...],
                   ssl: Any, connect_timeout: float, close_timeout: float,
                   max_message_size: int | None, redact: Callable[[str], str],
                   shown_url: str, compress: bool = False) -> AiohttpConnection:
        """Open the WebSocket (see :func:`dial`)."""
        if self.session is None:
            self.session = aiohttp.ClientSession()
        ws = await dial(self.session, url, headers=headers, protocols=protocols, ssl=ssl,
                        connect_timeout=connect_timeout, close_timeout=close_timeout,
                        max_message_size=max_message_size, redact=redact, shown_url=shown_url,
                        compress=compress)
        return AiohttpConnection(ws)

    async def aclose(self) -> None:
        """Close the session this transport made (a caller's session stays open)."""
        if self._own_session and self.session is not None:
            await self.session.close()
        self.session = None


def is_too_big(mtype: Any, data: Any) -> bool:
    """True for the ERROR message aiohttp gives for a message over ``max_msg_size``."""
    return (mtype is ERROR and isinstance(data, aiohttp.WebSocketError)
            and data.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG)

"""The picows adapter (optional: ``pip install 'fastphx[picows]'``); the only module that
touches picows.

picows parses frames in Cython and calls :meth:`PicowsConnection.on_ws_frame` for each, in
the socket's ``data_received``: no coroutine step and no queue per message. The frame
callback calls the client's hot path directly while nothing is queued; everything else is
the same contract as the aiohttp adapter (``_transport.py``):

- Backpressure: when the hot path says a buffer went past its bound, reading the socket is
  paused (``pause_reading()`` of the asyncio transport, so the server's writes block) and
  :meth:`PicowsConnection.run` awaits the client's ``overflowed()``; frames picows had
  already parsed from the same read are queued and delivered first, in order, before
  reading resumes. A read takes at most 64 KiB (``_BoundedReads``), which bounds that
  queue; picows' own reads grow with what the kernel holds.
- Messages: fragmented messages are reassembled; one over ``max_message_size`` (a frame or
  the assembled message) closes the socket with 1009 and sets ``too_big``. RSV bits fail
  the connection, except on a whole TEXT message (the hot path does not read them).
- Dials: the adapter opens the TCP socket itself (picows' ``socket_factory``) and shuts it
  down when a dial fails, times out or is cancelled (picows leaves it open when cancelled
  during the handshake); ``aclose()`` gives up the dials waiting for a handshake.
- TLS verification is on by default (``ssl=None``: the system's CAs; ``False``: off).
- Secrets: every error is redacted and raised outside the ``except`` block (nothing
  chained); picows' own log lines go through a redacting adapter (its debug level logs
  the upgrade request, hence the api_key and token); URL userinfo, which picows ignores,
  is sent as ``Authorization: Basic`` like aiohttp does; redirects are not followed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl as ssl_module
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import picows
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport
from yarl import URL

from ._transport import Handler, TransportName, dial_timeout, dial_unreachable
from .errors import AuthError, ConnectError, FastphxError

__all__ = ["PicowsConnection", "PicowsTransport"]

TEXT, BINARY = WSMsgType.TEXT, WSMsgType.BINARY
_UNBOUNDED = 1 << 62  # picows wants a number: "no bound"
_ABNORMAL = 1006  # the socket ended without a close frame (RFC 6455 7.1.5)
_READ_SIZE = 1 << 16  # the most bytes read from the socket at once (see _BoundedReads)


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """picows logs through this: each line formatted, then redacted."""

    def __init__(self, logger: logging.Logger, redact: Callable[[str], str]) -> None:
        super().__init__(logger, {})
        self._redact = redact

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        level = min(level, logging.DEBUG) if level == logging.INFO else level  # per-socket chatter
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, "picows: %s", self._redact(text))


class _BoundedReads(asyncio.BufferedProtocol):
    """Between the socket and picows' protocol: hands out at most ``_READ_SIZE`` bytes of
    picows' read buffer per read. picows doubles its buffer whenever a read fills it, so
    after a pause (the kernel's queue full, up to tcp_rmem's max) it grew to megabytes, and
    every frame parsed from one such read is queued in ``PicowsConnection._pending``: up to
    200,000 in the soak test (tests/reliability/test_soak.py); 1,820 with 64 KiB reads,
    which cost no more instructions per push (docs/performance-transports.md)."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get_buffer(self, sizehint: int) -> memoryview:
        buffer: memoryview = self._inner.get_buffer(sizehint)
        return buffer[:_READ_SIZE]

    def buffer_updated(self, nbytes: int) -> None:
        self._inner.buffer_updated(nbytes)

    def eof_received(self) -> bool | None:
        return bool(self._inner.eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class PicowsConnection(WSListener):
    """One picows WebSocket behind the seam (``_transport.Connection``)."""

    __slots__ = ("_closing", "_disconnected", "_error", "_fragments", "_fragments_binary",
                 "_handle", "_max", "_overflow", "_paused", "_pending", "_transport", "_wake",
                 "_writable", "close_code", "too_big")

    def __init__(self, max_message_size: int | None) -> None:
        self.close_code: int | None = None
        self.too_big = False
        self._max = max_message_size
        self._transport: WSTransport | None = None
        self._handle: Handler | None = None
        # Queued while paused (before run(), or past a bound until drained): a TEXT
        # message's bytes, or (bytes, True) for a BINARY one.
        self._pending: deque[Any] = deque()
        self._paused = True
        self._overflow = False  # the hot path returned True: run() awaits overflowed()
        self._fragments: bytearray | None = None
        self._fragments_binary = False
        self._disconnected = False
        self._closing = False  # close() was called: run() has returned, data is dropped
        self._error: BaseException | None = None
        self._wake: asyncio.Future[None] | None = None
        self._writable: asyncio.Event | None = None

    # ------------------------------------------------------------------ picows callbacks

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        socket_transport = transport.underlying_transport
        socket_transport.pause_reading()  # until run() delivers
        socket_transport.set_protocol(_BoundedReads(socket_transport.get_protocol()))

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Hot path: a whole TEXT message (not inside a fragmented one) goes straight in, or
        after what is queued. Its RSV bits are not read: three attribute reads cost 7% more
        instructions per push (bench/e2e_instructions.py picows_lazy); the codec validates
        the payload as it would any other (docs/client.md, Transports)."""
        if frame.msg_type is TEXT and frame.fin and self._fragments is None:
            if self._paused:  # keep the order: after what is queued
                if not self._closing:
                    self._pending.append(frame.get_payload_as_bytes())
                return
            try:
                if self._handle(frame.get_payload_as_bytes(), False):  # type: ignore[misc]
                    self._overflow = True
                    self._pause()
            except Exception as exc:  # a bug must not leave the socket unread
                self._fail(exc)
            return
        self._slow_frame(frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.close_code is None:  # the code of the side that closed first (as aiohttp)
            handshake = transport.close_handshake
            if handshake is None:
                self.close_code = _ABNORMAL
            elif handshake.sent is not None and not handshake.recv_then_sent:
                self.close_code = _code(handshake.sent.code)
                self.too_big = self.close_code == 1009  # picows refused an oversize frame
            else:
                recv = handshake.recv
                self.close_code = _ABNORMAL if recv is None else _code(recv.code)
        self._disconnected = True
        self._wakeup()
        if self._writable is not None:
            self._writable.set()

    def pause_writing(self) -> None:
        if self._writable is not None:
            self._writable.clear()

    def resume_writing(self) -> None:
        if self._writable is not None:
            self._writable.set()

    # ------------------------------------------------------------------ slow paths

    def _slow_frame(self, frame: WSFrame) -> None:
        """Queued delivery, fragments, close; pings are answered by picows. An RSV bit
        fails the connection (RFC 6455 5.2: no extension is negotiated), as on aiohttp."""
        mtype = frame.msg_type
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            self._close_now(WSCloseCode.PROTOCOL_ERROR)
        elif mtype is WSMsgType.CLOSE:
            self._closed_by_peer(frame)
        elif mtype is TEXT or mtype is BINARY or mtype is WSMsgType.CONTINUATION:
            self._data_frame(frame, mtype)

    def _data_frame(self, frame: WSFrame, mtype: WSMsgType) -> None:
        if mtype is WSMsgType.CONTINUATION:
            if self._fragments is None:
                self._close_now(WSCloseCode.PROTOCOL_ERROR)
                return
            self._fragments += frame.get_payload_as_bytes()
        elif self._fragments is not None:  # a new message inside a fragmented one
            self._close_now(WSCloseCode.PROTOCOL_ERROR)
            return
        elif frame.fin:
            self._deliver(frame.get_payload_as_bytes(), mtype is BINARY)
            return
        else:
            self._fragments = bytearray(frame.get_payload_as_bytes())
            self._fragments_binary = mtype is BINARY
        if self._max is not None and len(self._fragments) > self._max:
            self._fragments = None
            self.too_big = True
            self._close_now(WSCloseCode.MESSAGE_TOO_BIG)
        elif frame.fin:
            data, self._fragments = bytes(self._fragments), None
            self._deliver(data, self._fragments_binary)

    def _deliver(self, data: bytes, binary: bool) -> None:
        if self._paused:
            if not self._closing:
                self._pending.append((data, True) if binary else data)
            return
        try:
            if self._handle(data, binary):  # type: ignore[misc]
                self._overflow = True
                self._pause()
        except Exception as exc:
            self._fail(exc)

    def _closed_by_peer(self, frame: WSFrame) -> None:
        transport = self._transport
        if transport is None:
            return
        if not transport.is_close_frame_sent:  # the peer closed first: its code, answered
            self.close_code = _code(frame.get_close_code())
            transport.send_close(WSCloseCode.OK)
        transport.disconnect()

    def _close_now(self, code: WSCloseCode) -> None:
        transport = self._transport
        if transport is not None:
            self.close_code = _code(code)
            transport.send_close(code)
            transport.disconnect()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self._pause()
        self._close_now(WSCloseCode.INTERNAL_ERROR)

    def _pause(self) -> None:
        self._paused = True
        transport = self._transport
        if transport is not None and not transport.is_disconnected:
            transport.underlying_transport.pause_reading()
        self._wakeup()

    def _wakeup(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    # ------------------------------------------------------------------ the seam

    async def run(self, handle: Handler, overflowed: Callable[[], Awaitable[None]]) -> None:
        """Deliver every data message to ``handle`` until the socket ends; past a bound,
        stop reading and await ``overflowed()`` first (see the module docstring)."""
        self._handle = handle
        pending = self._pending
        loop = asyncio.get_running_loop()
        while True:
            if self._overflow:
                self._overflow = False
                await overflowed()
            while pending and not self._closing:
                item = pending.popleft()
                if handle(item, False) if item.__class__ is bytes else handle(item[0], True):
                    await overflowed()
            if self._error is not None:
                raise self._error
            if self._closing:  # close() waits for the handshake; the reader is done
                return
            if self._disconnected:
                await self._retrieve()
                return
            self._paused = False
            transport = self._transport
            if transport is not None and not transport.is_disconnected:
                transport.underlying_transport.resume_reading()
            wake = self._wake = loop.create_future()
            try:
                await wake
            finally:
                self._wake = None

    async def _retrieve(self) -> None:
        """Take picows' own disconnect error (a protocol error it closed for), if any: it is
        already reported through ``close_code`` / ``too_big``."""
        if self._transport is not None:
            try:
                await self._transport.wait_disconnected()
            except Exception:
                pass

    def send_now(self, data: bytes, binary: bool) -> bool:
        """Send one frame at once (BINARY when ``binary``, else TEXT) when the socket takes
        it without waiting: open, its write buffer under the high-water mark. Else False,
        nothing sent (the client's writer task then sends it with :meth:`send`)."""
        transport = self._transport
        if transport is None or self._disconnected or transport.is_close_frame_sent:
            return False
        writable = self._writable
        if writable is None:
            writable = self._writable = asyncio.Event()
            writable.set()
        if not writable.is_set():
            return False
        transport.send(BINARY if binary else TEXT, data)
        return True

    async def send(self, data: bytes, binary: bool) -> None:
        """Send one frame: BINARY when ``binary``, else TEXT; waits while the socket's write
        buffer is over its high-water mark; ConnectionError once the socket is gone."""
        if self.send_now(data, binary):
            return
        transport = self._transport
        if transport is None or self._disconnected or transport.is_close_frame_sent:
            raise ConnectionError("the WebSocket is closed")
        assert self._writable is not None  # made by send_now
        await self._writable.wait()
        if self._disconnected:
            raise ConnectionError("the WebSocket is closed")
        transport.send(BINARY if binary else TEXT, data)

    async def close(self, timeout: float, code: int = 1000) -> None:
        """Send a close frame, wait at most ``timeout`` seconds for the peer's, disconnect.
        :meth:`run` returns at once, as aiohttp's reader does when its socket is closed: a
        dead link is redialed without waiting for this handshake. A second call returns
        at once."""
        transport = self._transport
        if transport is None or self._closing:
            return
        self._closing = True
        self._paused = True  # nothing more reaches the hot path
        self._pending.clear()
        self._wakeup()
        if not transport.is_disconnected:
            if not transport.is_close_frame_sent:
                transport.send_close(WSCloseCode(code))
            try:
                await asyncio.wait_for(transport.wait_disconnected(), timeout)
            except (asyncio.TimeoutError, picows.WSError, OSError):
                pass
            transport.disconnect(graceful=False)
        await self._retrieve()


def _code(code: Any) -> int:
    return int(getattr(code, "value", code))


def _ssl_context(ssl: Any) -> ssl_module.SSLContext | None:
    """The context for a ``wss://`` dial: None (picows' default: verified), the caller's, or
    one that does not verify for ``ssl=False``."""
    if ssl is None or ssl is True:
        return None
    if ssl is False:
        context = ssl_module.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
        return context
    if isinstance(ssl, ssl_module.SSLContext):
        return ssl
    raise TypeError("with transport='picows', ssl must be None, True, False or an "
                    f"ssl.SSLContext, not {type(ssl).__name__}")


class _Socket:
    """The TCP socket of one dial, opened by us (picows' ``socket_factory``) so that a dial
    given up can end it: picows leaves the socket open when ``ws_connect`` is cancelled
    (timed out, or the client closed) while it waits for the handshake response."""

    __slots__ = ("handed", "sock")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.handed = False  # picows wraps it in a transport: that transport closes it

    async def connect(self, url: Any) -> socket.socket:
        """A TCP connection to the first of ``url``'s addresses that accepts."""
        loop = asyncio.get_running_loop()
        error: OSError = OSError(f"no address for {url.host}")
        for family, kind, proto, _, address in await loop.getaddrinfo(
                url.host, url.port, type=socket.SOCK_STREAM):
            sock = self.sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:  # cancelled: as asyncio's own create_connection does
                sock.close()
                raise
            self.handed = True
            return sock
        raise error

    def abandon(self) -> None:
        """Shut down the socket picows has: its transport reads EOF and closes itself, and
        a handshake wait ends. A socket still connecting is closed by :meth:`connect`."""
        sock = self.sock
        if self.handed and sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its transport


class PicowsTransport:
    """Dials with picows' ``ws_connect``."""

    name: TransportName = "picows"
    send_errors: tuple[type[BaseException], ...] = (ConnectionError, RuntimeError)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logging.getLogger(f"{logger.name}.picows")
        self._dialing: set[_Socket] = set()

    async def dial(self, url: URL, *, headers: Mapping[str, str], protocols: tuple[str, ...],
                   ssl: Any, connect_timeout: float, close_timeout: float,
                   max_message_size: int | None, redact: Callable[[str], str],
                   shown_url: str, compress: bool = False) -> PicowsConnection:
        """Open the WebSocket; raise AuthError / ConnectError / ConnectTimeout (redacted).
        ``compress`` is always False here (refused by ``make_transport``). A dial that
        fails, times out or is cancelled leaves no socket open."""
        conn = PicowsConnection(max_message_size)
        tcp = _Socket()
        self._dialing.add(tcp)
        error: FastphxError | None = None
        connected = False
        try:
            await asyncio.wait_for(self._connect(conn, tcp, url, headers, protocols, ssl,
                                                 max_message_size, redact), connect_timeout)
            connected = conn._transport is not None
            if not connected:  # the socket ended before the handshake response
                error = ConnectError(f"connection closed during the WebSocket handshake "
                                     f"({shown_url})")
        except picows.WSHandshakeError as exc:
            error = _handshake_error(exc, redact)
        except asyncio.TimeoutError:
            error = dial_timeout(connect_timeout, shown_url)
        except (picows.WSError, OSError, ValueError) as exc:
            error = dial_unreachable(exc, shown_url, redact)
        finally:
            self._dialing.discard(tcp)
            if not connected:  # failed, timed out or cancelled
                tcp.abandon()
        if error is not None:
            raise error
        return conn

    async def _connect(self, conn: PicowsConnection, tcp: _Socket, url: URL,
                       headers: Mapping[str, str], protocols: tuple[str, ...], ssl: Any,
                       max_message_size: int | None, redact: Callable[[str], str]) -> None:
        """picows' ``ws_connect`` on ``tcp``'s socket with ``conn`` as the listener."""
        extra = dict(headers)
        if protocols:
            extra["Sec-WebSocket-Protocol"] = ", ".join(protocols)
        if url.user is not None:  # picows ignores userinfo: Basic auth, like aiohttp
            basic = f"{url.user}:{url.password or ''}".encode()
            extra["Authorization"] = "Basic " + base64.b64encode(basic).decode("ascii")
            url = url.with_user(None)
        await picows.ws_connect(
            lambda: conn, str(url), ssl_context=_ssl_context(ssl), socket_factory=tcp.connect,
            websocket_handshake_timeout=None, logger_name=_RedactingLogger(self._logger, redact),
            enable_auto_pong=True, max_frame_size=max_message_size or _UNBOUNDED,
            extra_headers=extra, max_redirects=0)

    async def aclose(self) -> None:
        """Give up the dials in flight (close() during connect()): each waiting for its
        handshake fails at once with ConnectError (one still in its TCP connect ends by
        its ``connect_timeout``). picows keeps no session."""
        for tcp in list(self._dialing):
            tcp.abandon()


def _handshake_error(exc: Any, redact: Callable[[str], str]) -> FastphxError:
    status = int(exc.response.status) if exc.response is not None else None
    if status in (401, 403):
        return AuthError(f"connection refused by the server (HTTP {status})", status=status)
    what = f"HTTP {status}" if status is not None else "bad response"
    return ConnectError(f"WebSocket handshake failed ({what}): {redact(str(exc))}")

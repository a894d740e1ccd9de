"""The transport seam: what the client needs from a WebSocket library, and the selector.

A *transport* dials; a *connection* is one open WebSocket. The client never touches the
library itself, only these two shapes (``typing.Protocol``, checked by mypy):

- :meth:`Transport.dial` opens a connection (URL, extra headers, subprotocols, TLS, timeouts,
  the largest message accepted) and maps every failure to ``AuthError`` / ``ConnectError``
  / ``ConnectTimeout`` with a redacted message and no library exception chained (their
  messages embed the URL, hence the api_key).
- :meth:`Connection.run` delivers each data message to the client's ``handle(data,
  binary)`` (the hot path, one call per message) until the socket ends. When ``handle``
  returns True (a buffer went past its bound), the connection stops reading the socket
  and awaits ``overflowed()`` before it delivers the next message: that is how the delivery
  rules' PAUSE / BLOCKED reach the server (TCP backpressure).
- :meth:`Connection.send`, :meth:`Connection.close`, ``close_code`` (the peer's close code,
  1006 for a lost socket), ``too_big`` (the peer sent a message over the bound: closed 1009).
- Optional: ``send_now(data, binary) -> bool``, a frame written at once when the library
  can without waiting (picows), else False and nothing sent. With it the client writes
  from the caller while its writer task is idle, saving that task a wake-up per push.

Adapters: ``_transport_aiohttp.py`` (the default; a user's ``session=`` is aiohttp's) and
``_transport_picows.py`` (optional: ``pip install fastphx[picows]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol

from yarl import URL

from .errors import ConnectError, ConnectTimeout

__all__ = ["TRANSPORTS", "Connection", "Handler", "Transport", "TransportName",
           "dial_timeout", "dial_unreachable", "make_transport"]

TransportName = Literal["aiohttp", "picows"]
TRANSPORTS: tuple[TransportName, ...] = ("aiohttp", "picows")
#: ``handle(data, binary) -> over``: one data message in; True when the reader must wait.
Handler = Callable[[Any, bool], bool]


def dial_timeout(connect_timeout: float, shown_url: str) -> ConnectTimeout:
    """The error of a dial with no handshake in time (every adapter says the same)."""
    return ConnectTimeout(f"no WebSocket handshake within {connect_timeout:g}s ({shown_url})")


def dial_unreachable(exc: BaseException, shown_url: str,
                     redact: Callable[[str], str]) -> ConnectError:
    """The error of a dial that failed below HTTP (refused, TLS, DNS): redacted text only."""
    return ConnectError(f"cannot connect to {shown_url}: "
                        f"{redact(str(exc)) or type(exc).__name__}")


class Connection(Protocol):
    """One open WebSocket, as the client uses it."""

    close_code: int | None
    too_big: bool

    async def run(self, handle: Handler, overflowed: Callable[[], Awaitable[None]]) -> None:
        """Deliver every data message to ``handle`` until the socket ends (see above)."""

    def send(self, data: bytes, binary: bool) -> Awaitable[None]:
        """Send one frame (BINARY when ``binary``, else TEXT); raise ``send_errors``. An
        ``async def`` or a plain method returning the library's own awaitable (no
        coroutine of ours per frame)."""

    async def close(self, timeout: float, code: int = 1000) -> None:
        """Close with ``code`` (close handshake), waiting at most ``timeout`` seconds."""


class Transport(Protocol):
    """A WebSocket library behind the seam; one per client."""

    name: TransportName
    #: What a send on a closing or dead connection raises.
    send_errors: tuple[type[BaseException], ...]

    async def dial(self, url: URL, *, headers: Mapping[str, str], protocols: tuple[str, ...],
                   ssl: Any, connect_timeout: float, close_timeout: float,
                   max_message_size: int | None, redact: Callable[[str], str],
                   shown_url: str, compress: bool = False) -> Connection:
        """Open a connection; raise AuthError / ConnectError / ConnectTimeout (redacted).
        ``compress``: offer permessage-deflate (aiohttp only)."""

    async def aclose(self) -> None:
        """Release what the transport owns (an aiohttp session it made)."""


def make_transport(name: str, session: Any, logger: Any, compress: bool = False) -> Transport:
    """The transport called ``name``; raise ValueError for an unknown name, or a ``session``
    or ``compress=True`` with another transport than aiohttp; ImportError when picows is
    not installed."""
    if name not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}: {name!r}")
    if name == "aiohttp":
        from ._transport_aiohttp import AiohttpTransport

        return AiohttpTransport(session)
    if session is not None:
        raise ValueError("session= is an aiohttp ClientSession: it needs transport='aiohttp'")
    if compress:
        raise ValueError("compress=True (permessage-deflate) needs transport='aiohttp': "
                         "picows does not implement it")
    try:
        from ._transport_picows import PicowsTransport
    except ImportError as exc:
        raise ImportError("transport='picows' needs the picows package: "
                          "pip install 'fastphx[picows]'") from exc
    return PicowsTransport(logger)

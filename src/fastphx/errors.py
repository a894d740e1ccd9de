"""The fastphx exception hierarchy.

Every error fastphx raises derives from :class:`FastphxError`; timeouts also derive
from the builtin :class:`TimeoutError`, decode errors from :class:`ValueError`::

    FastphxError
    ├── FrameDecodeError (ValueError)        a frame from the peer is malformed
    ├── LocalProtocolError                   the API was misused (e.g. push to an unjoined topic)
    │   └── NotJoinedError
    ├── ConnectError (ConnectionError)       the socket could not be opened
    │   └── AuthError                        the server refused the connect params (HTTP 403)
    ├── ConnectionLostError (ConnectionError) the socket dropped while a push waited
    ├── ClientClosedError                    close() was called (or the client is terminal)
    ├── ReplyBlockedError                    a reply is unreadable behind undrained pushes
    ├── EnvelopeError (ValueError)           a typed reply envelope has a field of the wrong type
    ├── FastphxTimeout (TimeoutError)
    │   ├── ConnectTimeout
    │   ├── JoinTimeout
    │   └── PushTimeout
    ├── ChannelError                         a phx_reply with status "error"
    ├── ChannelClosedError                   the server closed the topic (phx_close)
    └── ChannelCrashedError                  the channel crashed (phx_error) before replying

Exceptions carry data (topic, event, ref, code, response) and render it in ``str()``.
No exception message ever contains an API key or token.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "ChannelClosedError",
    "ChannelCrashedError",
    "ChannelError",
    "ClientClosedError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLostError",
    "EnvelopeError",
    "FastphxError",
    "FastphxTimeout",
    "FrameDecodeError",
    "JoinTimeout",
    "LocalProtocolError",
    "NotJoinedError",
    "PushTimeout",
    "ReplyBlockedError",
]


class FastphxError(Exception):
    """Base class of every error raised by fastphx."""


class FrameDecodeError(FastphxError, ValueError):
    """A frame could not be decoded; ``reason`` says why, ``offset`` says where (byte index)."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(reason, offset)

    def __str__(self) -> str:
        if self.offset is None:
            return self.reason
        return f"{self.reason} at byte {self.offset}"


class LocalProtocolError(FastphxError):
    """The caller misused the API (the peer did nothing wrong)."""


class NotJoinedError(LocalProtocolError):
    """A push or leave named a topic that is not joined."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(topic)

    def __str__(self) -> str:
        return f"topic {self.topic!r} is not joined"


class ConnectError(FastphxError, ConnectionError):
    """The WebSocket could not be opened (unreachable host, TLS failure, bad handshake)."""


class AuthError(ConnectError):
    """The server refused the connect params or token (HTTP 403 on the upgrade)."""

    def __init__(
        self, message: str = "connection refused by the server (HTTP 403)", status: int = 403
    ) -> None:
        self.status = status
        super().__init__(message)


class ConnectionLostError(FastphxError, ConnectionError):
    """The socket dropped while a push or join was waiting for its reply, or the session
    ended on a loss (``close_code``: the WebSocket close code, None when unknown)."""

    def __init__(self, message: str, close_code: int | None = None) -> None:
        self.close_code = close_code
        super().__init__(message)


class ClientClosedError(FastphxError):
    """The client was closed; pending and new operations fail with this."""


class FastphxTimeout(FastphxError, TimeoutError):
    """Base of every fastphx timeout."""


class ConnectTimeout(FastphxTimeout):
    """The WebSocket handshake did not complete in time."""


class _RefTimeout(FastphxTimeout):
    kind = "push"

    def __init__(self, topic: str, event: str, ref: str | None, timeout: float) -> None:
        self.topic = topic
        self.event = event
        self.ref = ref
        self.timeout = timeout
        super().__init__(topic, event, ref, timeout)

    def __str__(self) -> str:
        return (
            f"no reply to {self.kind} {self.event!r} on {self.topic!r} "
            f"(ref {self.ref}) within {self.timeout:g}s"
        )


class JoinTimeout(_RefTimeout):
    """A join got no reply in time."""

    kind = "join"


class PushTimeout(_RefTimeout):
    """A push got no reply in time."""


class ChannelError(FastphxError):
    """A ``phx_reply`` with status ``error``.

    ``code`` is a :class:`fastphx.ChannelErrorCode` when the server sent a known code,
    the raw string for an unknown code, or ``None``; ``message`` is the server's detail;
    ``response`` is the whole decoded response.
    """

    def __init__(
        self,
        code: Any,
        message: str = "",
        *,
        response: Any = None,
        topic: str = "",
        event: str = "",
        ref: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.response = response
        self.topic = topic
        self.event = event
        self.ref = ref
        super().__init__(code, message)

    def __str__(self) -> str:
        code = getattr(self.code, "value", self.code)
        where = f" ({self.event!r} on {self.topic!r})" if self.topic else ""
        text = f"channel error {code}" if code is not None else "channel error"
        if self.message:
            text += f": {self.message}"
        elif self.code is None and self.response is not None:
            text += f": {self.response!r}"
        return text + where


class ChannelClosedError(FastphxError):
    """The server closed a topic (``phx_close``) or a leave ended it."""

    def __init__(self, topic: str, reason: str = "closed") -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(topic, reason)

    def __str__(self) -> str:
        return f"topic {self.topic!r} {self.reason}"


class ChannelCrashedError(FastphxError):
    """The channel crashed (``phx_error``) while a push sent on it waited for its reply.

    The server may or may not have acted on the push before crashing; no reply will come.
    The topic itself is rejoined on the rejoin schedule.
    """

    def __init__(self, topic: str, event: str, ref: str | None) -> None:
        self.topic = topic
        self.event = event
        self.ref = ref
        super().__init__(topic, event, ref)

    def __str__(self) -> str:
        return (f"channel {self.topic!r} crashed (phx_error) before replying to "
                f"{self.event!r} (ref {self.ref})")


class ReplyBlockedError(FastphxError):
    """A reply cannot be read: reading is paused behind pushes no iterator drains.

    Raised (or set on a waiting push, join or leave) under ``overflow="block"`` when an
    iterator's buffer is full and the reader has also filled its spill
    (``max_spill_bytes``) reading past it for replies. Nothing was lost: drain the
    iterator (or close it) and reading resumes. ``spilled`` is the bytes held beyond the
    iterators' bounds, ``limit`` the spill limit; ``topic``/``event``/``ref`` name the
    request whose reply is blocked (empty for a call refused before sending).
    """

    def __init__(self, spilled: int, limit: int, topic: str = "", event: str = "",
                 ref: str | None = None) -> None:
        self.spilled = spilled
        self.limit = limit
        self.topic = topic
        self.event = event
        self.ref = ref
        super().__init__(spilled, limit, topic, event, ref)

    def __str__(self) -> str:
        what = f"the reply to {self.event!r} on {self.topic!r}" if self.event else "a reply"
        if self.ref is not None:
            what += f" (ref {self.ref})"
        return (f"{what} cannot be read: {self.spilled} bytes of pushes wait behind a full "
                f"pushes() iterator (max_spill_bytes={self.limit}); drain or close it")


class EnvelopeError(FastphxError, ValueError):
    """A reply envelope fastphx parses into types (``switch_team``) has a field of the
    wrong JSON type. ``field`` is its dotted path (``team.personal``), ``expected`` the
    JSON type wanted, ``got`` the one received. Missing or null fields take defaults."""

    def __init__(self, field: str, expected: str, got: str) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        super().__init__(field, expected, got)

    def __str__(self) -> str:
        return f"reply field {self.field!r}: expected {self.expected}, got {self.got}"

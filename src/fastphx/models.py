"""Public value types of the client: Push, Status, ChannelErrorCode (and, re-exported from
:mod:`fastphx.console`, the switch_team reply types).

A server push is delivered as the decoded codec ``Frame`` itself (no copy on the hot path);
``Frame`` is registered as a virtual subclass of :class:`Push`, so ``isinstance(x, Push)``
holds for both. Synthetic pushes (``reconnecting``, ``rejoined``, ``phx_close``...) are
:class:`Push` instances.
"""

from __future__ import annotations

import enum
from abc import ABCMeta
from dataclasses import dataclass, field
from typing import Any

import orjson

from .codec import Frame
from .console import ScopeBlock, SwitchedStreamSet, SwitchedTeam, SwitchTeamReply

__all__ = [
    "CONNECTED_EVENT",
    "DISCONNECTED_EVENT",
    "RECONNECTING_EVENT",
    "RECONNECT_FAILED_EVENT",
    "REJOINED_EVENT",
    "ChannelErrorCode",
    "Push",
    "ScopeBlock",
    "Status",
    "SwitchTeamReply",
    "SwitchedStreamSet",
    "SwitchedTeam",
]

#: Synthetic event (topic "") delivered before every reconnect dial.
RECONNECTING_EVENT = "reconnecting"
#: Synthetic event delivered per topic once it is rejoined after a redial.
REJOINED_EVENT = "rejoined"
#: Synthetic event (topic "") delivered when reconnecting stops for good (e.g. HTTP 403).
RECONNECT_FAILED_EVENT = "reconnect_failed"
#: Synthetic event (topic "") delivered when the status becomes CONNECTED again after an
#: outage (every topic rejoined); payload ``{"reconnects": n}``.
CONNECTED_EVENT = "connected"
#: Synthetic event (topic "") delivered when the socket is lost (``code``, ``error``).
DISCONNECTED_EVENT = "disconnected"


@dataclass(frozen=True, slots=True)
class Push(metaclass=ABCMeta):
    """A server-initiated event: ``topic``, ``event``, ``payload``.

    ``payload`` is decoded JSON for text frames (lazily, on first read, for frames from the
    socket) and ``bytes`` for binary pushes; ``raw_payload`` holds the payload bytes as they
    stood on the wire. ``join_ref`` is the join the push belongs to (``None`` for broadcasts).
    """

    topic: str
    event: str
    payload: Any
    raw_payload: bytes = field(default=b"", compare=False)
    binary: bool = False
    join_ref: str | None = None
    ref: str | None = None

    def __post_init__(self) -> None:
        if not self.raw_payload:
            raw = self.payload if self.binary else orjson.dumps(self.payload)
            object.__setattr__(self, "raw_payload", bytes(raw))


Push.register(Frame)


class Status(enum.IntEnum):
    """Connection lifecycle: INIT -> CONNECTING -> CONNECTED <-> RECONNECTING -> CLOSED.

    ``str(status)`` is the lower-case name (``"connected"``), like the Go reference's String().
    CONNECTED means the socket is live and every joined topic is joined; RECONNECTING covers an
    outage after the first successful connect, until every topic is rejoined; CLOSED is terminal.
    """

    INIT = 0
    CONNECTING = 1
    CONNECTED = 2
    RECONNECTING = 3
    CLOSED = 4

    def __str__(self) -> str:
        return self.name.lower()


class ChannelErrorCode(str, enum.Enum):
    """Typed ``code`` of an error ``phx_reply`` (unknown codes stay plain strings)."""

    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NOOP = "noop"
    INVALID = "invalid"
    RATE_LIMITED = "rate_limited"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, code: Any) -> ChannelErrorCode | str | None:
        """Return the enum member for ``code``, the string itself if unknown, or None."""
        if code is None:
            return None
        try:
            return cls(code)
        except ValueError:
            return str(code)

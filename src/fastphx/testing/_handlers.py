"""What a channel handler returns or raises, and how the server reads it.

``NO_REPLY`` (``{:noreply, socket}``), ``ServerReply`` (``{:reply, {status, response}, socket}``),
``StopChannel`` (``{:stop, reason, socket}``); :func:`call` runs a sync or async handler and
:func:`status_of` turns its return value into the reply's ``(status, response)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._context import ChannelContext

__all__ = ["NO_REPLY", "Handler", "ServerReply", "StopChannel", "call", "status_of"]

Handler = Callable[["ChannelContext", Any], Any]


class _NoReply:
    """Type of :data:`NO_REPLY`."""

    _instance: _NoReply | None = None

    def __new__(cls) -> _NoReply:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_REPLY"


#: Return this from a ``handle_in`` handler to send no reply now (``{:noreply, socket}``);
#: answer later with ``await ctx.reply(ref, status, response)``.
NO_REPLY = _NoReply()


@dataclass(frozen=True)
class ServerReply:
    """A reply with an explicit status: ``ServerReply("error", {"reason": "unauthorized"})``.

    A ``bytes`` response is sent as a binary reply (kind 1).
    """

    status: str
    response: Any = None


class StopChannel(Exception):
    """Raise from a handler to stop the channel (``{:stop, reason, socket}``): the client gets
    ``phx_close``. ``reply`` (a value or :class:`ServerReply`) is sent first when given."""

    def __init__(self, reply: Any = NO_REPLY) -> None:
        self.reply = reply
        super().__init__()


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async callable and return its (awaited) result."""
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def status_of(result: Any) -> tuple[str, Any]:
    """Return ``(status, response)`` for a handler's return value (a plain value is ok)."""
    if isinstance(result, ServerReply):
        return result.status, result.response
    return "ok", result

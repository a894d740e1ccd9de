"""fastphx: a fast, dependable asyncio client for Phoenix Channels (V2 wire format)."""

from __future__ import annotations

from ._types import RawJSON, Reply
from ._version import __version__
from .client import Client, PushStream
from .codec import IMPLEMENTATION, Frame, decode, decode_binary, encode, encode_binary, parse_reply
from .errors import (
    AuthError,
    ChannelClosedError,
    ChannelCrashedError,
    ChannelError,
    ClientClosedError,
    ConnectError,
    ConnectionLostError,
    ConnectTimeout,
    FastphxError,
    FastphxTimeout,
    FrameDecodeError,
    JoinTimeout,
    LocalProtocolError,
    NotJoinedError,
    PushTimeout,
)
from .models import (
    ChannelErrorCode,
    Push,
    ScopeBlock,
    Status,
    SwitchedStreamSet,
    SwitchedTeam,
    SwitchTeamReply,
)
from .presence import Presence

__all__ = [
    "IMPLEMENTATION",
    "AuthError",
    "ChannelClosedError",
    "ChannelCrashedError",
    "ChannelError",
    "ChannelErrorCode",
    "Client",
    "ClientClosedError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLostError",
    "FastphxError",
    "FastphxTimeout",
    "Frame",
    "FrameDecodeError",
    "JoinTimeout",
    "LocalProtocolError",
    "NotJoinedError",
    "Presence",
    "Push",
    "PushStream",
    "PushTimeout",
    "RawJSON",
    "Reply",
    "ScopeBlock",
    "Status",
    "SwitchTeamReply",
    "SwitchedStreamSet",
    "SwitchedTeam",
    "__version__",
    "decode",
    "decode_binary",
    "encode",
    "encode_binary",
    "parse_reply",
]

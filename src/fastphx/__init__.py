"""fastphx: a fast, dependable asyncio client for Phoenix Channels (V2 wire format)."""

from __future__ import annotations

import logging

from ._types import RawJSON, Reply
from ._version import __version__
from .client import Client, PushStream
from .codec import IMPLEMENTATION, Frame, decode, decode_binary, encode, encode_binary, parse_reply
from .console import DEFAULT_TOPIC
from .errors import (
    AuthError,
    ChannelClosedError,
    ChannelCrashedError,
    ChannelError,
    ClientClosedError,
    ConnectError,
    ConnectionLostError,
    ConnectTimeout,
    EnvelopeError,
    FastphxError,
    FastphxTimeout,
    FrameDecodeError,
    JoinTimeout,
    LocalProtocolError,
    NotJoinedError,
    PushTimeout,
    ReplyBlockedError,
)
from .models import (
    RECONNECTING_EVENT,
    REJOINED_EVENT,
    ChannelErrorCode,
    Push,
    ScopeBlock,
    Status,
    SwitchedStreamSet,
    SwitchedTeam,
    SwitchTeamReply,
)
from .presence import Presence

# Libraries stay silent unless the application configures logging (the stdlib's advice,
# and the Go reference: "When nil, logs are discarded"); a passed logger gets everything.
logging.getLogger("fastphx").addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_TOPIC",
    "IMPLEMENTATION",
    "RECONNECTING_EVENT",
    "REJOINED_EVENT",
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
    "EnvelopeError",
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
    "ReplyBlockedError",
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

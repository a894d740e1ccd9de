"""Phoenix-faithful Channels test server (aiohttp, loopback only) with fault injection.

``PhoenixTestServer`` serves the V2 (and V1) protocol the way a named Phoenix release does
(``phoenix="1.8"`` or ``"1.7"``; ``PROFILES``) (checked against the
official Phoenix JS client by ``tests/conformance``); ``demo_server()`` returns one with the
demo channels used by ``fastphx serve``; ``FaultProxy`` is a TCP proxy that injects network
faults in front of any server; the ``phx_server`` and ``fault_proxy`` pytest fixtures live in
:mod:`fastphx.testing.pytest_plugin`. See ``docs/testing-server.md``.
"""

from __future__ import annotations

from ._demo import demo_server
from .faultproxy import FaultProxy
from .server import (
    NO_REPLY,
    PROFILES,
    ChannelContext,
    PhoenixProfile,
    PhoenixTestServer,
    ServerConnection,
    ServerReply,
    StopChannel,
)

__all__ = [
    "NO_REPLY",
    "PROFILES",
    "ChannelContext",
    "FaultProxy",
    "PhoenixProfile",
    "PhoenixTestServer",
    "ServerConnection",
    "ServerReply",
    "StopChannel",
    "demo_server",
]

"""Phoenix-faithful Channels test server (aiohttp, loopback only) with fault injection.

``PhoenixTestServer`` serves the V2 protocol the way Phoenix does (checked against the
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
    ChannelContext,
    PhoenixTestServer,
    ServerConnection,
    ServerReply,
    StopChannel,
)

__all__ = [
    "NO_REPLY",
    "ChannelContext",
    "FaultProxy",
    "PhoenixTestServer",
    "ServerConnection",
    "ServerReply",
    "StopChannel",
    "demo_server",
]

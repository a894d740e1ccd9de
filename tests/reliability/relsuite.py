"""Shared helpers of the reliability suite: secrets, the server's channels, client factory,
resource counts, and the one place that peeks at the client's private tables.

Every client made here carries the distinctive fake secrets ``API_KEY`` and ``TOKEN``; the
suite's captured DEBUG log is checked never to contain them (see conftest.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import fastphx
from fastphx.testing import NO_REPLY, ChannelContext, PhoenixTestServer

SCALE = float(os.environ.get("FASTPHX_TEST_TIMEOUT_SCALE", "1"))
TIMEOUT = 5.0 * SCALE
API_KEY = "ak_RELIABILITY_4f1d9c0e7b2a"  # fake, distinctive: grep-able in any log
TOKEN = "tok_RELIABILITY_8e3b5a9d6c1f"
PASSWORD = "pw_RELIABILITY_2c7e9a4f0d3b"  # only ever put in a URL's userinfo
SECRETS = (API_KEY, TOKEN, PASSWORD)
HEARTBEAT = 0.3  # short heartbeat interval of the fault cycles (seconds)


class CapturedLog(logging.Handler):
    """Keeps every record formatted, tracebacks included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def leaks(self) -> list[str]:
        """The captured lines that contain a secret."""
        return [line for line in self.lines if any(s in line for s in SECRETS)]


def fast_delay(attempt: int) -> float:
    """A short redial / rejoin delay so fault cycles run quickly."""
    return 0.01


def setup_channels(server: PhoenixTestServer) -> None:
    """``room:*`` joins ok (reply ``{"topic": topic}``), ``echo`` replies its payload,
    ``never`` never replies."""

    async def echo(ctx: ChannelContext, payload: Any) -> Any:
        return payload

    async def never(ctx: ChannelContext, payload: Any) -> Any:
        return NO_REPLY

    server.add_channel("room:*", join=lambda ctx, params: {"topic": ctx.topic},
                       handlers={"echo": echo, "never": never})


def server_port(server: PhoenixTestServer) -> int:
    """The TCP port ``server`` listens on (for a FaultProxy in front of it)."""
    return int(server.url.split(":")[2].split("/")[0])


def make_client(url: str, transport: str, **options: Any) -> fastphx.Client:
    """A client on ``transport`` ("aiohttp", "picows": the ``transport`` fixture) carrying
    the fake secrets, with fast redials, primary topic ``room:0``."""
    settings: dict[str, Any] = {
        "transport": transport, "api_key": API_KEY, "auth_token": TOKEN, "topic": "room:0",
        "reconnect_delay": fast_delay, "rejoin_delay": fast_delay,
        "connect_timeout": 1.0 * SCALE, "reply_timeout": TIMEOUT, "close_timeout": 0.5}
    settings.update(options)
    return fastphx.Client(url, **settings)


def open_fds() -> int:
    """How many file descriptors this process has open (Linux /proc)."""
    return len(os.listdir("/proc/self/fd"))


def live_tasks() -> int:
    """How many asyncio tasks exist, besides the calling one."""
    return len(asyncio.all_tasks()) - 1


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------ the one private peek
# Adapt this function (only) when the client's internals move (issue #9 restructures them).

def internal_tables(client: fastphx.Client) -> dict[str, int]:
    """Sizes of the client's internal waiter tables that must be empty when nothing is
    pending: the ref table, the channels' send buffers, and the reply-timeout heap once
    its stale entries are swept. PRIVATE: peeks at ``client._proto``."""
    proto: Any = client._proto
    proto.next_deadline()  # sweeps timeout entries whose ref is gone
    return {
        "refs": len(proto.refs),
        "channel_buffers": sum(len(ch.buffer) for ch in proto.channels.values()),
        "timeouts": len(proto._timeouts),
    }


async def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``predicate`` once per loop iteration until true (bounded by ``timeout``), in the
    calling task (so ``live_tasks()`` is unchanged); for state that has no event to wait on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout:g}s")
        await asyncio.sleep(0.001)

"""pytest plugin (entry point ``fastphx``): the ``phx_server`` fixture.

``phx_server`` is a started :class:`fastphx.testing.PhoenixTestServer` with no channels
(function scope); the test declares the channels it needs and connects to ``phx_server.url``.
It is an async fixture for pytest-asyncio (auto mode, or strict mode through
``pytest_asyncio.fixture``). The server module is imported lazily, so loading this plugin
costs nothing for test sessions that do not use the fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .server import PhoenixTestServer

__all__ = ["phx_server"]

try:
    import pytest_asyncio

    _async_fixture: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - pytest-asyncio missing: plain fixture, clear error
    _async_fixture = pytest.fixture


@_async_fixture  # type: ignore[misc,untyped-decorator,unused-ignore]
async def phx_server() -> AsyncIterator[PhoenixTestServer]:
    """A started PhoenixTestServer on 127.0.0.1 with no channels; stopped after the test."""
    from .server import PhoenixTestServer

    server = PhoenixTestServer(port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()

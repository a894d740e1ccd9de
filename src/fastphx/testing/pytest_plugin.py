"""pytest plugin (entry point ``fastphx``): the ``phx_server`` and ``fault_proxy`` fixtures.

``phx_server`` is a started :class:`fastphx.testing.PhoenixTestServer` with no channels
(function scope); the test declares the channels it needs and connects to ``phx_server.url``.
Its constructor options come from the ``phx_server_options`` fixture (``{}``: the current
Phoenix profile); override that fixture in a conftest.py, or parametrise it, to test
against ``{"phoenix": "1.7"}`` or other options.
``fault_proxy`` is a started :class:`fastphx.testing.FaultProxy` in front of ``phx_server``:
connect to ``fault_proxy.url_for(phx_server.url)`` and inject faults. Both are async
fixtures for pytest-asyncio (auto mode, or strict mode through ``pytest_asyncio.fixture``).
The testing modules are imported lazily, so loading this plugin costs nothing for test
sessions that do not use the fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .faultproxy import FaultProxy
    from .server import PhoenixTestServer

__all__ = ["fault_proxy", "phx_server", "phx_server_options"]

try:
    import pytest_asyncio

    _async_fixture: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - pytest-asyncio missing: plain fixture, clear error
    _async_fixture = pytest.fixture


@pytest.fixture
def phx_server_options() -> dict[str, Any]:
    """Keyword options for ``phx_server``'s PhoenixTestServer (override or parametrise)."""
    return {}


@_async_fixture  # type: ignore[misc,untyped-decorator,unused-ignore]
async def phx_server(phx_server_options: dict[str, Any]) -> AsyncIterator[PhoenixTestServer]:
    """A started PhoenixTestServer on 127.0.0.1 with no channels; stopped after the test."""
    from .server import PhoenixTestServer

    server = PhoenixTestServer(port=0, **phx_server_options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@_async_fixture  # type: ignore[misc,untyped-decorator,unused-ignore]
async def fault_proxy(phx_server: PhoenixTestServer) -> AsyncIterator[FaultProxy]:
    """A started FaultProxy in front of ``phx_server``; stopped (connections aborted) after
    the test. Connect to ``fault_proxy.url_for(phx_server.url)``."""
    from urllib.parse import urlsplit

    from .faultproxy import FaultProxy

    target = urlsplit(phx_server.url)
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 80)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()

"""The reliability suite (issue #14): marked ``reliability``; a DEBUG log of the whole run.

Every test here gets the ``reliability`` marker (``-m "not reliability"`` skips the suite).
A test that makes a client takes the ``transport`` fixture (tests/conftest.py) and passes
it to ``relsuite.make_client``: it runs once per installed transport.
Each log record of the session, at DEBUG from every logger, is formatted (message, args and
traceback) and kept; the suite fails at the end if any record contains one of the fake
secrets every client here carries (``relsuite.SECRETS``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from relsuite import CapturedLog, setup_channels

import fastphx
from fastphx.testing import PhoenixTestServer

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)


_CAPTURE = CapturedLog()


@pytest.fixture(scope="session", autouse=True)
def debug_log() -> Iterator[CapturedLog]:
    """The session's DEBUG log of every logger; checked for secrets at the end."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(_CAPTURE)
    try:
        yield _CAPTURE
    finally:
        root.removeHandler(_CAPTURE)
        root.setLevel(level)
    leaks = _CAPTURE.leaks()
    assert not leaks, f"{len(leaks)} log records contain a secret, e.g. {leaks[0][:300]!r}"


@pytest.fixture
async def server(phx_server: PhoenixTestServer) -> PhoenixTestServer:
    """phx_server with the suite's channels (``room:*``: echo, never)."""
    setup_channels(phx_server)
    return phx_server


@pytest.fixture
async def clients() -> AsyncIterator[list[fastphx.Client]]:
    """A list the test appends its clients to; every one is closed afterwards."""
    made: list[fastphx.Client] = []
    yield made
    for client in made:
        await client.close()

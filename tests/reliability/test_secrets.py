"""Secrets: no api_key or token in any error (its text, repr and __cause__/__context__ chain),
in repr(client) or client.url, or in the DEBUG log of the suite (checked by conftest.py at
the end of the session, and here so far)."""

from __future__ import annotations

import asyncio

import pytest
from relsuite import PASSWORD, SECRETS, TIMEOUT, CapturedLog, make_client, server_port

import fastphx
from fastphx.testing import FaultProxy, PhoenixTestServer


def error_chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and every exception reachable through __cause__ / __context__."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"secret in {text[:200]!r}"


async def failed_connect(url: str, transport: str, **options: object) -> fastphx.FastphxError:
    client = make_client(url, transport, **options)
    with pytest.raises(fastphx.FastphxError) as info:
        await client.connect()
    assert_no_secret(repr(client), client.url, str(info.value), repr(info.value))
    return info.value


@pytest.mark.parametrize("status", [403, 500])
async def test_refused_handshake_error_text(server: PhoenixTestServer, status: int,
                                            transport: str) -> None:
    """HTTP 403 / 500 on the upgrade: the error's text and repr hold no secret."""
    server.refuse_next(1, status=status)
    await failed_connect(server.url, transport)


@pytest.mark.parametrize("status", [403, 500])
async def test_refused_handshake_error_chain(server: PhoenixTestServer, status: int,
                                             transport: str) -> None:
    """HTTP 403 / 500 on the upgrade: nothing in the error's __cause__/__context__ chain holds
    a secret."""
    server.refuse_next(1, status=status)
    error = await failed_connect(server.url, transport)
    assert_no_secret(*(f"{e!s} {e!r} {e.args!r}" for e in error_chain(error)))


async def test_unreachable_and_hung_errors(server: PhoenixTestServer, transport: str) -> None:
    """Refused TCP and a hung handshake: errors and their chains hold no secret."""
    async with FaultProxy("127.0.0.1", server_port(server)) as proxy:
        url = proxy.url_for(server.url)
        proxy.refuse(True)
        refused = await failed_connect(url, transport)
        proxy.refuse(False)
        proxy.hang(True)
        hung = await failed_connect(url, transport, connect_timeout=0.2)
    for error in (refused, hung):
        assert_no_secret(*(f"{e!s} {e!r} {e.args!r}" for e in error_chain(error)))


async def test_redial_refused_reconnect_failed_event(server: PhoenixTestServer,
                                                     clients: list[fastphx.Client],
                                                     transport: str) -> None:
    """A redial refused with 403 ends the session; its event and error hold no secret."""
    client = make_client(server.url, transport)
    clients.append(client)
    await client.connect()
    events = client.pushes(events={"reconnect_failed"})
    server.refuse_next(5, status=403)
    await server.drop_connections()
    failed = await asyncio.wait_for(anext(events), TIMEOUT)
    assert_no_secret(repr(failed.payload), repr(client), str(client.error))


async def test_url_password_redacted(server: PhoenixTestServer, transport: str) -> None:
    """A password in the URL's userinfo is redacted like the api_key."""
    url = server.url.replace("ws://", f"ws://user:{PASSWORD}@")
    server.refuse_next(1, status=500)
    await failed_connect(url, transport)


def test_debug_log_has_no_secret_so_far(debug_log: CapturedLog) -> None:
    """The DEBUG log captured so far in this session (every logger) holds no secret."""
    assert debug_log.lines, "the session log capture is not working"
    assert debug_log.leaks() == []

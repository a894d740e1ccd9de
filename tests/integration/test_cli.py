"""The ``fastphx`` command line, run as a subprocess against loopback servers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import pytest

import fastphx
from fastphx import cli
from fastphx.testing import PhoenixTestServer, ServerReply

TIMEOUT = 60.0  # generous: a subprocess pays interpreter start-up on a loaded 2-core box
SECRET = "sk-test-7f3a9c0e1b2d"


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``python -m fastphx ARGS`` to completion; return (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastphx", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def server() -> AsyncIterator[PhoenixTestServer]:
    """A test server whose ``room:*`` joins succeed and ``room:forbidden`` is refused."""

    def join(ctx: object, params: object) -> object:
        if getattr(ctx, "topic", "") == "room:forbidden":
            return ServerReply("error", {"reason": "unauthorized"})
        return {"joined": True}

    srv = PhoenixTestServer(port=0)
    srv.add_channel("room:*", join=join)
    async with srv:
        yield srv


def free_port() -> int:
    """Return a loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_demo_streams_every_message_in_order(transport: str) -> None:
    """``fastphx demo --count 20000`` receives every message in order, prints the rate, exits 0
    (on each transport)."""
    status, out, err = await run_cli("demo", "--count", "20000", "--transport", transport)
    assert status == 0, err
    assert "joined console:lobby: welcome" in out
    assert "push echo -> ok" in out
    assert "received 20,000/20,000 messages, in order, none lost" in out
    assert "msgs/s" in out and "client CPU" in out and f"transport {transport}" in out
    assert "server stopped (exit 0)" in out


async def test_listen_prints_each_push_as_a_json_line(server: PhoenixTestServer,
                                                      transport: str) -> None:
    """``listen`` writes text and base64 binary pushes as JSON lines, then exits at --count."""
    task = asyncio.ensure_future(
        run_cli("listen", server.url, "--topic", "room:1", "--topic", "room:2", "--count", "3",
                "--transport", transport))
    await server.wait_for_join("room:2", timeout=TIMEOUT)
    await server.push("room:1", "note", {"n": 1, "text": "héllo"})
    await server.push("room:2", "note", {"n": 2})
    await server.push_binary("room:1", "bin", b"\x00\x01\xff")
    status, out, err = await asyncio.wait_for(task, TIMEOUT)
    assert status == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {"topic": "room:1", "event": "note", "payload": {"n": 1, "text": "héllo"}},
        {"topic": "room:2", "event": "note", "payload": {"n": 2}},
        {"topic": "room:1", "event": "bin",
         "payload": base64.b64encode(b"\x00\x01\xff").decode(), "binary": True},
    ]


async def test_listen_prints_reconnecting_and_rejoined_events(server: PhoenixTestServer,
                                                              transport: str) -> None:
    """After a dropped connection ``listen`` writes the synthetic reconnect events, then pushes."""
    task = asyncio.ensure_future(
        run_cli("listen", server.url, "--topic", "room:1", "--count", "3",
                "--transport", transport))
    await server.wait_for_join("room:1", timeout=TIMEOUT)
    await server.drop_connections()
    await server.wait_for_join("room:1", count=2, timeout=TIMEOUT)
    await server.push("room:1", "note", {"after": True})
    status, out, err = await asyncio.wait_for(task, TIMEOUT)
    assert status == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["topic"], line["event"]) for line in lines] == [
        ("", "reconnecting"), ("room:1", "rejoined"), ("room:1", "note")]
    assert lines[0]["payload"]["attempt"] == 1
    assert lines[1]["payload"] == {"joined": True}


async def test_listen_exits_0_on_sigint(server: PhoenixTestServer) -> None:
    """Ctrl-C (SIGINT) closes the client and exits 0 with nothing on stderr but the join note."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastphx", "listen", server.url, "--topic", "room:1",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await server.wait_for_join("room:1", timeout=TIMEOUT)
        assert proc.stderr is not None
        assert (await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)) == b"joined room:1\n"
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert proc.returncode == 0, err
        assert out == b"" and err == b""
        await server.wait_for(lambda: server.connection_count == 0, timeout=TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_listen_sends_connect_params_and_api_key(server: PhoenixTestServer) -> None:
    """``--param`` values and the API key from the environment reach the server's connect."""
    task = asyncio.ensure_future(run_cli(
        "listen", server.url, "--topic", "room:1", "--param", "device=cli", "--count", "1",
        env={cli.API_KEY_ENV: SECRET}))
    await server.wait_for_join("room:1", timeout=TIMEOUT)
    conn = server.connections[0]
    await server.push("room:1", "note", {})
    status, _, err = await asyncio.wait_for(task, TIMEOUT)
    assert status == 0, err
    assert conn.params.get("device") == "cli"
    assert SECRET in (conn.params.get("api_key"), conn.token)


@pytest.mark.parametrize("via_env", [False, True])
async def test_listen_auth_refused_exits_4_without_the_key(via_env: bool, transport: str) -> None:
    """A refused connect exits with EXIT_AUTH and a one-line message that omits the API key."""
    async with PhoenixTestServer(port=0, connect=lambda params, token: False) as srv:
        args = ["listen", srv.url, "--topic", "room:1", "--transport", transport]
        env = {cli.API_KEY_ENV: SECRET} if via_env else {}
        status, out, err = await run_cli(*(args if via_env else [*args, "--api-key", SECRET]),
                                         env=env)
    assert status == cli.EXIT_AUTH
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "auth refused" in err
    assert SECRET not in err


async def test_listen_connect_failure_exits_3(transport: str) -> None:
    """Nothing listening on the port exits with EXIT_CONNECT and a one-line message."""
    url = f"ws://127.0.0.1:{free_port()}/socket/websocket"
    status, _, err = await run_cli("listen", url, "--topic", "room:1", "--api-key", SECRET,
                                   "--transport", transport)
    assert status == cli.EXIT_CONNECT
    assert "connect failed" in err and SECRET not in err


async def test_listen_join_refused_exits_5(server: PhoenixTestServer) -> None:
    """A join answered with an error reply exits with EXIT_CHANNEL."""
    status, _, err = await run_cli("listen", server.url, "--topic", "room:forbidden")
    assert status == cli.EXIT_CHANNEL
    assert "channel error" in err


async def test_listen_rejects_a_malformed_param() -> None:
    """A ``--param`` without ``=`` is a usage error (exit 2)."""
    status, _, err = await run_cli(
        "listen", "ws://127.0.0.1:1/socket/websocket", "--topic", "t", "--param", "nokey")
    assert status == cli.EXIT_USAGE
    assert "key=value" in err


@contextlib.asynccontextmanager
async def serve_process() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``fastphx serve --port 0`` in a subprocess and the URL it printed; killed if still
    running afterwards."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastphx", "serve", "--port", "0",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode().strip()
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_prints_a_url_that_answers_a_connect() -> None:
    """``serve --port 0`` prints its URL, serves the lobby join, and exits 0 on SIGINT."""
    async with serve_process() as (proc, url):
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/socket/websocket")
        async with fastphx.Client(url, topic=cli.DEMO_LOBBY) as client:
            assert "welcome" in client.welcome
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0


def test_exit_codes_are_distinct_per_error_kind() -> None:
    """Auth, connect and channel errors map to distinct non-zero exit codes."""
    assert cli.exit_code_for(fastphx.AuthError()) == cli.EXIT_AUTH
    assert cli.exit_code_for(fastphx.ConnectError("x")) == cli.EXIT_CONNECT
    assert cli.exit_code_for(fastphx.ConnectTimeout()) == cli.EXIT_CONNECT
    assert cli.exit_code_for(fastphx.ChannelError("forbidden")) == cli.EXIT_CHANNEL
    assert cli.exit_code_for(fastphx.ChannelClosedError("room:1")) == cli.EXIT_CHANNEL
    assert cli.exit_code_for(fastphx.ClientClosedError()) == cli.EXIT_ERROR
    codes = {cli.EXIT_OK, cli.EXIT_ERROR, cli.EXIT_USAGE, cli.EXIT_CONNECT, cli.EXIT_AUTH,
             cli.EXIT_CHANNEL, cli.EXIT_DEMO_FAILED}
    assert len(codes) == 7


def test_push_to_json_line_encodes_text_and_binary_pushes() -> None:
    """A text push keeps its decoded payload; a binary push becomes base64 with a flag."""
    text = cli.push_to_json_line(fastphx.Push("room:1", "note", {"a": [1, "é"]}))
    binary = cli.push_to_json_line(fastphx.Push("room:1", "bin", b"\x00\xff", binary=True))
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    assert json.loads(text) == {"topic": "room:1", "event": "note", "payload": {"a": [1, "é"]}}
    assert json.loads(binary) == {"topic": "room:1", "event": "bin", "payload": "AP8=",
                                  "binary": True}
    frame = fastphx.decode(b'["1",null,"room:1","note",{\n"multi": "line"\n}]')
    assert cli.push_to_json_line(frame).count(b"\n") == 1


async def test_listen_invalid_url_says_so() -> None:
    """An invalid URL is a usage error saying "invalid URL", without echoing the URL."""
    status, _, err = await run_cli("listen", f"ftp://127.0.0.1/x?api_key={SECRET}",
                                   "--topic", "room:1")
    assert status == cli.EXIT_USAGE
    assert "invalid URL" in err and SECRET not in err


async def test_listen_close_1000_exits_0_with_a_note(server: PhoenixTestServer) -> None:
    """A server close with code 1000 ends ``listen`` with exit 0 and a one-line note."""
    task = asyncio.ensure_future(run_cli("listen", server.url, "--topic", "room:1"))
    await server.wait_for_join("room:1", timeout=TIMEOUT)
    await server.close_connections(1000)
    status, _, err = await asyncio.wait_for(task, TIMEOUT)
    assert status == cli.EXIT_OK, err
    notes = [line for line in err.splitlines() if "1000" in line]
    assert len(notes) == 1 and "closed" in notes[0]


async def test_listen_refused_topic_error_printed_once(server: PhoenixTestServer) -> None:
    """A refused topic prints its channel error once, on one line, and exits 5."""
    status, _, err = await run_cli("listen", server.url, "--topic", "room:1",
                                   "--topic", "room:forbidden")
    assert status == cli.EXIT_CHANNEL
    errors = [line for line in err.splitlines() if "unauthorized" in line]
    assert len(errors) == 1 and errors[0].count("channel error") == 1


async def test_listen_on_the_demo_ticker_shows_a_stream() -> None:
    """``serve`` says how to watch a stream, and ``listen`` on it prints ticks."""
    async with serve_process() as (proc, url):
        assert proc.stderr is not None
        await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)
        hint = (await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)).decode()
        assert f"fastphx listen {url} --topic {cli.DEMO_TICKER}" in hint
        status, out, err = await run_cli("listen", url, "--topic", cli.DEMO_TICKER,
                                         "--count", "2")
        assert status == 0, err
        ticks = [json.loads(line) for line in out.splitlines()]
        assert [t["payload"]["n"] for t in ticks] == [1, 2]
        assert all(t["event"] == "tick" for t in ticks)


async def test_listen_shows_status_changes(server: PhoenixTestServer) -> None:
    """Library warnings carry a ``fastphx:`` prefix; lifecycle events show the status."""
    task = asyncio.ensure_future(
        run_cli("listen", server.url, "--topic", "room:1", "--count", "2"))
    await server.wait_for_join("room:1", timeout=TIMEOUT)
    await server.drop_connections()
    status, _, err = await asyncio.wait_for(task, TIMEOUT)
    assert status == 0, err
    assert "fastphx: connection lost" in err
    assert "status: reconnecting (attempt 1 at " in err
    assert "status: connected (rejoined room:1)" in err

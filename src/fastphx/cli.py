"""The ``fastphx`` command line (also ``python -m fastphx``).

Commands::

    fastphx serve  [--port P]                      the demo Phoenix-protocol server on 127.0.0.1
    fastphx listen URL --topic T [--topic T2 ...]  every push as one JSON line on stdout
    fastphx demo   [--count 200000]                server in a child process, a client streaming
                                                   from it, the rate and the client CPU time
    (listen and demo take --transport aiohttp|picows; picows needs fastphx[picows])

Exit status: 0 success (Ctrl-C and SIGTERM included), 1 other error, 2 usage error,
3 connect failure, 4 auth refused (HTTP 403), 5 channel error (join refused, channel
closed or crashed), 6 the demo lost or reordered messages. Errors are one line on stderr;
an API key never appears in any output.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import IO, Any, TypeVar

import orjson

from . import errors
from ._version import __version__

__all__ = [
    "EXIT_AUTH",
    "EXIT_CHANNEL",
    "EXIT_CONNECT",
    "EXIT_DEMO_FAILED",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "exit_code_for",
    "main",
    "push_to_json_line",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3
EXIT_AUTH = 4
EXIT_CHANNEL = 5
EXIT_DEMO_FAILED = 6

API_KEY_ENV = "FASTPHX_API_KEY"
DEMO_LOBBY = "console:lobby"
DEMO_ROOM = "room:demo"
DEMO_TICKER = "demo:ticker"
# Synthetic events `listen` shows as stderr status lines only (stdout keeps the pushes and
# the reference's own reconnecting/rejoined events).
_STDERR_ONLY = frozenset({"connected", "disconnected"})

_T = TypeVar("_T")


# --------------------------------------------------------------------------- errors


def exit_code_for(exc: BaseException) -> int:
    """Return the exit status for an error: auth 4, connect 3, channel 5, other 1."""
    if isinstance(exc, errors.AuthError):
        return EXIT_AUTH
    if isinstance(exc, (errors.ConnectError, errors.ConnectTimeout)):
        return EXIT_CONNECT
    if isinstance(exc, (errors.ChannelError, errors.ChannelClosedError, errors.JoinTimeout)):
        return EXIT_CHANNEL
    return EXIT_ERROR


_KIND = {
    EXIT_AUTH: "auth refused",
    EXIT_CONNECT: "connect failed",
    EXIT_CHANNEL: "channel error",
    EXIT_ERROR: "error",
}


def _report(command: str, exc: BaseException, secrets: tuple[str, ...] = ()) -> int:
    """Print ``exc`` as one line on stderr (secrets redacted); return its exit status."""
    code = exit_code_for(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    kind = _KIND[code]
    line = text if text.startswith(kind) else f"{kind}: {text}"  # say it once
    print(f"fastphx {command}: {line}", file=sys.stderr, flush=True)
    return code


# --------------------------------------------------------------------------- signals


async def _until_signal(coro: Coroutine[Any, Any, _T]) -> _T | None:
    """Run ``coro``; SIGINT or SIGTERM cancels it and makes this return None."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        task.cancel()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
    try:
        return await task
    except asyncio.CancelledError:
        if stopped:
            return None
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _run(coro: Coroutine[Any, Any, int], command: str, secrets: tuple[str, ...] = ()) -> int:
    """Run a command coroutine to its exit status: signals -> 0, typed errors -> their code."""
    try:
        status = asyncio.run(_until_signal(coro))
    except KeyboardInterrupt:
        return EXIT_OK
    except errors.FastphxError as exc:
        return _report(command, exc, secrets)
    except BrokenPipeError:  # `fastphx listen ... | head`: the reader went away
        with contextlib.suppress(OSError):  # and keep the interpreter's exit flush quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # e.g. a port already in use
        print(f"fastphx {command}: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    return EXIT_OK if status is None else status


# --------------------------------------------------------------------------- serve


async def _serve(port: int, out: IO[str]) -> int:
    """Run the demo server until cancelled, after printing its URL on ``out``."""
    from .testing import demo_server

    server = demo_server(port=port)
    async with server:
        print(server.url, file=out, flush=True)
        print(
            f"fastphx demo server on {server.url} (channels {DEMO_LOBBY}, room:*, "
            f"{DEMO_TICKER}); Ctrl-C stops\n"
            f"  a stream to watch: fastphx listen {server.url} --topic {DEMO_TICKER}",
            file=sys.stderr, flush=True,
        )
        await asyncio.Event().wait()
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """``fastphx serve``: the demo server on 127.0.0.1 until Ctrl-C."""
    return _run(_serve(args.port, sys.stdout), "serve")


# --------------------------------------------------------------------------- listen


def push_to_json_line(push: Any) -> bytes:
    """Return one JSON line for a push: topic, event, payload (base64 + ``"binary": true``)."""
    if push.binary:
        data = push.payload if isinstance(push.payload, bytes) else push.raw_payload
        obj = {"topic": push.topic, "event": push.event,
               "payload": base64.b64encode(data).decode("ascii"), "binary": True}
    else:
        obj = {"topic": push.topic, "event": push.event, "payload": push.payload}
    return orjson.dumps(obj) + b"\n"


def _parse_params(items: list[str] | None, flag: str) -> dict[str, str]:
    """Parse ``k=v`` items into a dict; raise ``ValueError`` naming ``flag`` on a bad item."""
    params: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects key=value, got {item!r}")
        params[key] = value
    return params


async def _listen(args: argparse.Namespace, api_key: str | None, out: IO[bytes]) -> int:
    """Connect, join every topic, write each push as a JSON line until --count or close."""
    import fastphx

    try:
        client = fastphx.Client(
            args.url, api_key=api_key, topic=args.topic[0], params=args.params,
            join_params=args.join_params, heartbeat_interval=args.heartbeat,
            transport=args.transport,
        )
    except (ValueError, ImportError) as exc:  # "invalid URL: ..." (the URL is not echoed)
        print(f"fastphx listen: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    async with client:
        print(f"joined {args.topic[0]}", file=sys.stderr, flush=True)
        for topic in args.topic[1:]:
            await client.join_topic(topic, params=args.join_params)
            print(f"joined {topic}", file=sys.stderr, flush=True)
        written = 0
        async for push in client.pushes():
            if not push.topic or push.event == "rejoined":
                if client.status is not fastphx.Status.CLOSED:
                    _status_note(client, push)  # (the end has its own note)
                if push.event in _STDERR_ONLY:
                    continue  # connection lifecycle: a status line, not a push
            out.write(push_to_json_line(push))
            out.flush()
            written += 1
            if args.count and written >= args.count:
                return EXIT_OK
    # The stream ended: the client closed itself (a close 1000, a reconnect refused...).
    error = getattr(client, "error", None)
    if isinstance(error, errors.ConnectionLostError) and error.close_code == 1000:
        print("fastphx listen: the server closed the connection (close code 1000)",
              file=sys.stderr, flush=True)
        return EXIT_OK
    if isinstance(error, errors.FastphxError):
        raise error
    return EXIT_OK


def _status_note(client: Any, push: Any) -> None:
    """One stderr line per lifecycle event: the status and what happened."""
    detail = f"{push.event} {push.topic}".strip()
    payload = push.payload
    if push.event == "reconnecting":
        detail = f"attempt {payload['attempt']} at {payload['next_attempt_at']}"
    elif push.event == "disconnected":
        detail = f"disconnected, close code {payload['code']}"
    print(f"status: {client.status} ({detail})", file=sys.stderr, flush=True)


def cmd_listen(args: argparse.Namespace) -> int:
    """``fastphx listen``: stream pushes as JSON lines; typed errors -> distinct exit codes."""
    try:
        args.params = _parse_params(args.param, "--param")
        args.join_params = _parse_params(args.join_param, "--join-param")
    except ValueError as exc:
        print(f"fastphx listen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    secrets = (api_key,) if api_key else ()
    return _run(_listen(args, api_key, sys.stdout.buffer), "listen", secrets)


# --------------------------------------------------------------------------- demo


class _Progress:
    """A progress display on stderr: a live ``\\r`` bar on a tty, else a few log lines."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.perf_counter()
        self.next_mark = 0.25  # non-tty: log at 25 %, 50 %, 75 %
        self.last_draw = 0.0

    def update(self, done: int) -> None:
        """Show ``done`` of ``total``; cheap enough to call every 1024 messages."""
        now = time.perf_counter()
        fraction = done / self.total if self.total else 1.0
        if self.tty:
            if now - self.last_draw < 0.1 and done < self.total:
                return
            self.last_draw = now
            filled = int(fraction * 30)
            rate = done / max(now - self.start, 1e-9)
            self.stream.write(
                f"\r  [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} "
                f"{done:,}/{self.total:,}  {rate:,.0f} msgs/s ")
            self.stream.flush()
        elif fraction >= self.next_mark and done < self.total:
            print(f"  {done:,}/{self.total:,} received", file=self.stream, flush=True)
            self.next_mark += 0.25

    def finish(self) -> None:
        """End the live line (tty)."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


async def _start_server_process() -> tuple[asyncio.subprocess.Process, str]:
    """Spawn ``python -m fastphx serve --port 0``; return the process and the URL it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastphx", "serve", "--port", "0",
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30.0)
    except BaseException:
        await _stop_server_process(proc)
        raise
    url = line.decode().strip()
    if not url.startswith("ws://"):
        await _stop_server_process(proc)
        raise errors.ConnectError(f"the demo server process did not start (exit {proc.returncode})")
    return proc, url


async def _stop_server_process(proc: asyncio.subprocess.Process) -> int:
    """SIGTERM the server process and wait for it (SIGKILL after 10 s); return its status."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10.0)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode if proc.returncode is not None else -1


def _show(value: Any, limit: int = 300) -> str:
    """Compact JSON text of ``value``, cut at ``limit`` characters."""
    text = orjson.dumps(value, default=repr).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Tally:
    """What the demo's stream consumer saw: messages received and ordering faults."""

    def __init__(self) -> None:
        self.received = 0
        self.disorder = 0
        self.first: int | None = None

    def see(self, i: int) -> None:
        """Count message number ``i``; it must follow the previous one (first: 0 or 1)."""
        if self.first is None:
            self.first = i
            self.disorder += i not in (0, 1)
        elif i != self.first + self.received:
            self.disorder += 1
        self.received += 1


async def _consume(client: Any, count: int, tally: _Tally, progress: _Progress) -> None:
    """Read ``stream`` pushes on the demo room until ``count`` arrived (or the stream ends)."""
    async for push in client.pushes():
        if push.event != "stream" or push.topic != DEMO_ROOM:
            continue
        tally.see(push.payload["i"])
        if not tally.received & 1023:
            progress.update(tally.received)
        if tally.received == count:
            break


async def _stream(client: Any, count: int, progress: _Progress) -> _Tally:
    """Ask the server for ``count`` pushes and consume them, with a watchdog; return the tally."""
    limit = max(60.0, count / 2000)
    # Push concurrently with reading: a lossless (blocking) push buffer that nobody drains
    # would otherwise hold back the reader, and the reply with it.
    reply = asyncio.ensure_future(
        client.push(DEMO_ROOM, "stream", {"count": count}, timeout=limit))
    tally = _Tally()
    try:
        await asyncio.wait_for(_consume(client, count, tally, progress), limit)
        progress.update(tally.received)
        await reply
    except asyncio.TimeoutError:
        print(f"fastphx demo: the stream did not complete within {limit:g}s", file=sys.stderr)
    finally:
        reply.cancel()
        progress.finish()
    return tally


async def _demo_session(url: str, count: int, out: IO[str], transport: str) -> int:
    """Connect, join, push, stream ``count`` messages, verify and report; return exit status."""
    import fastphx

    async with fastphx.Client(url, topic=DEMO_LOBBY,
                              transport=transport) as client:  # type: ignore[arg-type]
        print(f"joined {DEMO_LOBBY}: welcome {_show(client.welcome)}", file=out, flush=True)
        joined = await client.join_topic(DEMO_ROOM)
        print(f"joined {DEMO_ROOM}: {_show(joined)}", file=out, flush=True)
        reply = await client.push(DEMO_ROOM, "echo", {"hello": "fastphx"})
        print(f"push echo -> {reply.status} {_show(reply.response)}", file=out, flush=True)
        print(f"streaming {count:,} messages from {DEMO_ROOM} ...", file=out, flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        tally = await _stream(client, count, _Progress(count, sys.stderr))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    received, disorder = tally.received, tally.disorder
    ok = received == count and disorder == 0
    verdict = "in order, none lost" if ok else f"{disorder} out of order, {count - received} lost"
    print(f"received {received:,}/{count:,} messages, {verdict}", file=out, flush=True)
    # CPU well under the wall time means the client waited: the server process is the limit.
    print(f"rate: {received / wall:,.0f} msgs/s ({wall:.2f} s), client CPU {cpu:.2f} s "
          f"({cpu / max(wall, 1e-9):.0%} of the wall time, "
          f"{cpu / max(received, 1) * 1e6:.2f} us/msg, codec {fastphx.IMPLEMENTATION}, "
          f"transport {transport})",
          file=out, flush=True)
    return EXIT_OK if ok else EXIT_DEMO_FAILED


async def _demo(count: int, out: IO[str], transport: str = "aiohttp") -> int:
    """The demo: a server process, one client session against it, then a clean stop."""
    proc, url = await _start_server_process()
    print(f"demo server: {url} (separate process, pid {proc.pid})", file=out, flush=True)
    try:
        status = await _demo_session(url, count, out, transport)
    finally:
        server_status = await _stop_server_process(proc)
    print(f"closed; server stopped (exit {server_status})", file=out, flush=True)
    return status


def cmd_demo(args: argparse.Namespace) -> int:
    """``fastphx demo``: the README's main job, against a local server process."""
    if args.count < 1:
        print("fastphx demo: --count must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.transport == "picows" and importlib.util.find_spec("picows") is None:
        print("fastphx demo: --transport picows needs pip install 'fastphx[picows]'",
              file=sys.stderr)
        return EXIT_USAGE
    return _run(_demo(args.count, sys.stdout, args.transport), "demo")


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """Return the ``fastphx`` argument parser (sub-commands serve, listen, demo)."""
    parser = argparse.ArgumentParser(
        prog="fastphx", description="Phoenix Channels client tools (fastphx).")
    parser.add_argument("--version", action="version", version=f"fastphx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the demo Phoenix-protocol server on 127.0.0.1")
    serve.add_argument("--port", type=int, default=4000, help="TCP port, 0 = any free (4000)")
    serve.set_defaults(func=cmd_serve)
    listen = sub.add_parser("listen", help="print every push of some topics as JSON lines")
    listen.add_argument("url", help="ws(s)://host/socket/websocket")
    listen.add_argument("--topic", action="append", required=True, help="topic to join (repeat)")
    listen.add_argument("--api-key", help=f"API key (default: ${API_KEY_ENV})")
    listen.add_argument("--param", action="append", metavar="K=V", help="connect param (repeat)")
    listen.add_argument("--join-param", action="append", metavar="K=V", help="join param (repeat)")
    listen.add_argument("--heartbeat", type=float, default=30.0, metavar="S",
                        help="heartbeat interval in seconds (30)")
    listen.add_argument("--count", type=int, default=0, metavar="N",
                        help="exit after N lines (0 = never)")
    listen.add_argument("--transport", choices=("aiohttp", "picows"), default="aiohttp",
                        help="WebSocket library (aiohttp; picows needs fastphx[picows])")
    listen.set_defaults(func=cmd_listen)
    demo = sub.add_parser("demo", help="stream from a local server process and show the rate")
    demo.add_argument("--count", type=int, default=200_000, help="messages to stream (200000)")
    demo.add_argument("--transport", choices=("aiohttp", "picows"), default="aiohttp",
                      help="WebSocket library (aiohttp; picows needs fastphx[picows])")
    demo.set_defaults(func=cmd_demo)
    return parser


def _log_to_stderr() -> None:
    """The library's warnings on stderr, each line prefixed ``fastphx:`` (once)."""
    logger = logging.getLogger("fastphx")
    if not any(getattr(h, "_fastphx_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("fastphx: %(message)s"))
        handler._fastphx_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastphx`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    _log_to_stderr()
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


"""A TCP proxy on 127.0.0.1 that injects network faults between a client and any server.

``FaultProxy(host, port)`` listens on a free loopback port and forwards every connection to
``host:port`` (the test server, or a real Phoenix app). Faults apply to every live
connection at once: :meth:`FaultProxy.cut` (both sides closed, mid-frame if data is in
flight), :meth:`FaultProxy.reset` (TCP RST), :meth:`FaultProxy.stall` /
:meth:`FaultProxy.resume`, :meth:`FaultProxy.half_close`; and to new ones:
:meth:`FaultProxy.refuse`, :meth:`FaultProxy.hang`; plus ``latency`` and ``bandwidth``.
It is protocol-agnostic: it never parses what it forwards. See docs/testing-server.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FaultProxy"]

_CHUNK = 65536
_QUEUE_CHUNKS = 16  # chunks held per direction between reading and writing (latency pipeline)
_LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


def _abort(writer: asyncio.StreamWriter, rst: bool = False) -> None:
    """Close ``writer``'s socket now, dropping unsent data; with ``rst``, send a TCP RST."""
    if rst:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    writer.transport.abort()


def _write_eof(writer: asyncio.StreamWriter) -> None:
    """Send FIN on ``writer`` (its read side stays open), if the socket still can."""
    if not writer.transport.is_closing() and writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


class _Link:
    """One proxied connection: the client's socket, the server's socket, two pumps."""

    def __init__(self, proxy: FaultProxy, client: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.pumps: list[asyncio.Future[None]] = []
        self.half_closed = False

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.server) if w is not None]

    def abort(self, rst: bool = False) -> None:
        for writer in self.writers():
            _abort(writer, rst)
        for pump in self.pumps:  # a pump may be holding data for a stall: end it now
            pump.cancel()

    def half_close(self) -> None:
        self.half_closed = True
        for writer in self.writers():
            _write_eof(writer)

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   upstream: bool) -> None:
        """Forward ``reader`` to ``writer`` through a bounded queue (so latency delays each
        chunk without limiting throughput); EOF is forwarded as FIN."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUE_CHUNKS)
        sender = asyncio.ensure_future(self._send(queue, writer, upstream))
        try:
            while True:
                data = await reader.read(self.proxy._chunk_size())
                await self.proxy._flowing.wait()
                await queue.put((asyncio.get_running_loop().time() + self.proxy.latency, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def _send(self, queue: asyncio.Queue[tuple[float, bytes]],
                    writer: asyncio.StreamWriter, upstream: bool) -> None:
        proxy = self.proxy
        while True:
            due, data = await queue.get()
            delay = due - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
            await proxy._flowing.wait()
            if not data:
                _write_eof(writer)
                return
            if self.half_closed or writer.transport.is_closing():
                continue  # after half_close() nothing more is forwarded
            if proxy.bandwidth:  # a chunk of n bytes takes n / bandwidth to go through
                await asyncio.sleep(len(data) / proxy.bandwidth)
            writer.write(data)
            proxy._count(len(data), upstream)
            await writer.drain()


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``host:port`` that injects faults on demand.

    ``async with FaultProxy(host, port) as proxy:`` (or ``await proxy.start()`` /
    ``await proxy.stop()``), then connect to ``proxy.port`` (``proxy.url_for(server.url)``
    rewrites a URL to go through the proxy). ``listen_port=0`` picks a free port, kept
    across :meth:`refuse`.

    Counters: ``connections`` (accepted in total), ``active`` (open now), ``hung`` (accepted
    while :meth:`hang` was on and still open), ``failed_upstream`` (the server could not be
    reached), ``bytes_up`` (client to server) and ``bytes_down`` (server to client).
    """

    def __init__(self, host: str, port: int, *, listen_port: int = 0,
                 latency: float = 0.0, bandwidth: float | None = None) -> None:
        self.host = host
        self.target_port = port
        self.port = listen_port
        #: seconds added to every chunk in each direction (the throughput is kept).
        self.latency = latency
        #: bytes per second per direction and connection; None or 0 = unlimited.
        self.bandwidth = bandwidth
        self.connections = 0
        self.failed_upstream = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._links: set[_Link] = set()
        self._hung: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sock: socket.socket | None = None
        self._listening: asyncio.Future[asyncio.Server] | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._hang = False
        self._changed: asyncio.Condition | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 (``port`` is set once this returns)."""
        self._changed = asyncio.Condition()
        self._listen()
        assert self._listening is not None
        await self._listening

    async def stop(self) -> None:
        """Stop listening and abort every connection; returns once all are gone."""
        self._unlisten()
        self._flowing.set()
        self._abort_all(rst=False)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _listen(self) -> None:
        """Bind and listen now (the kernel queues connections at once); the asyncio server
        that accepts them starts on the next loop iteration."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._listening = asyncio.ensure_future(asyncio.start_server(self._accept, sock=sock))

    def _unlisten(self) -> None:
        """Stop listening (live connections are not touched)."""
        task, self._listening = self._listening, None
        sock, self._sock = self._sock, None
        if task is not None:
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
            else:
                task.cancel()
        if sock is not None:
            sock.close()

    def url_for(self, url: str) -> str:
        """``url`` (``ws://host:port/path?query``, or just a path) rewritten to go through
        this proxy: ``ws://127.0.0.1:<proxy.port>/path?query``."""
        if "://" not in url:
            return f"ws://127.0.0.1:{self.port}{url if url.startswith('/') else '/' + url}"
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.port}"))

    # ------------------------------------------------------------------ faults

    def cut(self) -> None:
        """Close both sides of every connection now, dropping what is in flight, so a peer
        may see a WebSocket frame cut in the middle. A peer reads EOF (FIN), or a reset if
        the proxy had not yet read all it sent (the kernel's rule for unread data)."""
        self._abort_all(rst=False)

    def reset(self) -> None:
        """Abort both sides of every connection with a TCP RST (``SO_LINGER`` 0)."""
        self._abort_all(rst=True)

    def stall(self) -> None:
        """Stop forwarding in both directions on every connection (new ones too); the sockets
        stay open, so the peers see silence, not a close. :meth:`resume` undoes it."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again after :meth:`stall` (what was held is delivered, in order)."""
        self._flowing.set()

    def half_close(self) -> None:
        """Send FIN to both peers of every connection and forward nothing more on it; each
        socket stays open until its peer closes it."""
        for link in list(self._links):
            link.half_close()

    def refuse(self, on: bool = True) -> None:
        """``True``: stop listening, so new connections are refused (ECONNREFUSED); live ones
        are kept. ``False``: listen again on the same port (at once)."""
        if on:
            self._unlisten()
        elif self._sock is None:
            self._listen()

    @property
    def refusing(self) -> bool:
        """True while :meth:`refuse` is on."""
        return self._sock is None

    def hang(self, on: bool = True) -> None:
        """``True``: accept new connections but never forward or answer them (they stay open
        until the client gives up, :meth:`cut`, :meth:`reset` or :meth:`stop`)."""
        self._hang = on

    @property
    def active(self) -> int:
        """Connections open now (forwarding or hung)."""
        return len(self._links) + len(self._hung)

    @property
    def hung(self) -> int:
        """Connections accepted while :meth:`hang` was on and still open."""
        return len(self._hung)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true, re-checked on every connection change; raises
        the builtin TimeoutError after ``timeout`` seconds."""
        assert self._changed is not None, "start() the proxy first"
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_for_active(self, n: int, timeout: float = 5.0) -> None:
        """Wait until exactly ``n`` connections are open."""
        await self.wait_for(lambda: self.active == n, timeout)

    # ------------------------------------------------------------------ internals

    def _abort_all(self, rst: bool) -> None:
        for link in list(self._links):
            link.abort(rst)
        for writer in list(self._hung):
            _abort(writer, rst)

    def _chunk_size(self) -> int:
        if self.bandwidth:
            return max(1, min(_CHUNK, int(self.bandwidth / 20)))
        return _CHUNK

    def _count(self, n: int, upstream: bool) -> None:
        if upstream:
            self.bytes_up += n
        else:
            self.bytes_down += n

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The work runs in an inner task that stop() cancels: asyncio's stream callback task
        # itself must not end cancelled (Python 3.11 logs that as an error).
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        try:
            await asyncio.gather(task, return_exceptions=True)
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self._hang:
                await self._hold(reader, writer)
            else:
                await self._forward(reader, writer)
        finally:
            _abort(writer)
            await asyncio.shield(self._notify())

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A hung connection: read and discard until the client closes it."""
        self._hung.add(writer)
        await self._notify()
        try:
            while not writer.transport.is_closing() and await reader.read(_CHUNK):
                pass
        except OSError:
            pass
        finally:
            self._hung.discard(writer)

    async def _forward(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        link = _Link(self, writer)
        self._links.add(link)
        try:
            try:
                up_reader, link.server = await asyncio.open_connection(self.host,
                                                                       self.target_port)
            except OSError:
                self.failed_upstream += 1
                return
            if writer.transport.is_closing():  # cut while dialing the server
                return
            await self._notify()
            await self._run_pumps(link, reader, up_reader)
        finally:
            self._links.discard(link)
            link.abort()

    async def _run_pumps(self, link: _Link, reader: asyncio.StreamReader,
                         up_reader: asyncio.StreamReader) -> None:
        """Run both directions until both ended (FIN each way), or one failed (abort)."""
        assert link.server is not None
        pumps = link.pumps = [
            asyncio.ensure_future(link.pump(reader, link.server, upstream=True)),
            asyncio.ensure_future(link.pump(up_reader, link.client, upstream=False))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for pump in pumps:
                pump.cancel()
            results = await asyncio.gather(*pumps, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                    result, (OSError, asyncio.CancelledError, asyncio.IncompleteReadError)):
                raise result

"""The server's view of itself: open connections, who is joined where, what clients sent,
and waits on any of it (introspection without sleeps).

Every server event calls :meth:`Hub.notify`, which wakes the waiters whose predicate holds.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..codec import Frame
from ._connection import Channel, ServerConnection

__all__ = ["Hub"]


class Hub:
    """Open connections, the record of inbound frames and joins, and the waiters."""

    def __init__(self) -> None:
        self.conns: dict[str, ServerConnection] = {}
        self.received: list[tuple[str, Frame]] = []
        self.joins: Counter[str] = Counter()
        self.total_connections = 0
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # ------------------------------------------------------------------ waiting

    def notify(self) -> None:
        """Wake the waiters whose predicate now holds (called on every server event)."""
        if not self._waiters:
            return
        keep = []
        for predicate, fut in self._waiters:
            if fut.done():
                continue
            if predicate():
                fut.set_result(None)
            else:
                keep.append((predicate, fut))
        self._waiters = keep

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` is true; raise ``TimeoutError`` after ``timeout`` s."""
        if predicate():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"server condition not met within {timeout:g}s") from None

    # ------------------------------------------------------------------ the record

    def record(self, conn: ServerConnection, frame: Frame) -> None:
        """Remember a decoded inbound frame."""
        self.received.append((conn.id, frame))
        self.notify()

    def find_frame(self, topic: str | None, event: str | None) -> Frame | None:
        """The first received frame matching ``topic`` and ``event`` (None: any), or None."""
        for _, frame in self.received:
            if (topic is None or frame.topic == topic) and (event is None or frame.event == event):
                return frame
        return None

    # ------------------------------------------------------------------ fan-out

    def subscribers(self, topic: str) -> list[tuple[ServerConnection, Channel]]:
        """Every connection joined to ``topic``, with its channel."""
        found = []
        for conn in self.conns.values():
            channel = conn._channels.get(topic)
            if channel is not None and channel.joined:
                found.append((conn, channel))
        return found

    def broadcast(self, topic: str, event: Any, payload: Any, *, ordered: bool = False) -> int:
        """Write a null-join_ref message to every joiner of ``topic``, encoded once per
        serializer; return how many got it."""
        framed: dict[tuple[int, int], bytes] = {}
        sent = 0
        for conn, _ in self.subscribers(topic):
            key = (conn.vsn, conn.deflate_bits)
            data = framed.get(key)
            if data is None:
                message = conn.serializer.message(None, None, topic, event, payload,
                                                  ordered=ordered)
                data = framed[key] = conn.frame(message)
            sent += conn.write_framed(data)
        return sent

    def write_binary(self, topic: str, data: bytes) -> int:
        """Write one BINARY frame to every joiner of ``topic`` whose serializer has binary
        frames (V1 has none); return how many got it."""
        return sum(conn.write_framed(conn.frame(data, binary=True))
                   for conn, _ in self.subscribers(topic) if conn.serializer.binary)

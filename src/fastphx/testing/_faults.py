"""Fault injection: dropped and closed connections, refused upgrades, paused reading.

(``heartbeat_replies`` and ``reply_delay`` are plain attributes of the server, read where
the reply is written.)
"""

from __future__ import annotations

import asyncio

from ._hub import Hub

__all__ = ["Faults"]


class Faults:
    """The fault state of one server and the faults applied to its connections."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._refuse: list[int] = []
        self.reading_paused = False

    async def drop_connections(self, timeout: float) -> None:
        """Abort every connection (TCP abort, no close frame); return once all are gone."""
        conns = list(self._hub.conns.values())
        for conn in conns:
            conn.abort()
        self._hub.notify()
        await self._hub.wait_for(lambda: all(c.id not in self._hub.conns for c in conns),
                                 timeout)

    async def close_connections(self, code: int, reason: str) -> None:
        """Close every connection with a WebSocket close frame carrying ``code``."""
        await asyncio.gather(*(c.close(code, reason) for c in list(self._hub.conns.values())))

    def refuse_next(self, n: int, status: int) -> None:
        """Answer the next ``n`` upgrade attempts with HTTP ``status``."""
        self._refuse.extend([status] * n)

    @property
    def refusals_pending(self) -> int:
        """How many upgrade attempts will still be refused."""
        return len(self._refuse)

    def take_refusal(self) -> int | None:
        """The HTTP status for this upgrade attempt if it is to be refused, else None."""
        return self._refuse.pop(0) if self._refuse else None

    def pause_reading(self) -> None:
        """Stop reading from every connection (and new ones)."""
        self.reading_paused = True
        for conn in self._hub.conns.values():
            conn.pause_reading()

    def resume_reading(self) -> None:
        """Read from every connection again."""
        self.reading_paused = False
        for conn in self._hub.conns.values():
            conn.resume_reading()
        self._hub.notify()

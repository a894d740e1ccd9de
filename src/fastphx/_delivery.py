"""The delivery contract in one room: subscriptions, buffers, spill, backpressure, drops.

Rules (docs/client.md, "Delivery guarantees", states them for users):

- Every ``pushes()`` iterator (:class:`PushStream`) has a bound of ``cap`` pushes. Until
  the first unfiltered iterator exists, a *backlog* (an unfiltered stream nobody reads yet)
  keeps every push, so an iterator created before ``connect()`` or right after it misses
  nothing: the first unfiltered iterator *is* the backlog, handed over.
- Under ``overflow="block"`` a push is always appended; a buffer past its bound holds the
  extra pushes as *spill*, counted in bytes. After such an append the reader asks
  :meth:`Delivery.overflow_action`: read on (a reply is awaited and the spill is under
  ``max_spill_bytes``), pause (nothing awaited: backpressure reaches the server), or
  ``BLOCKED`` (the spill is full too: reading pauses and awaited replies fail typed).
- Pushes nobody subscribed to are never allowed to stall anything: a backlog beside other
  iterators never pauses reading, and a backlog whose spill passes the limit drops its
  oldest pushes (counted in ``dropped``, logged at most once a second).
- ``drop_oldest`` / ``drop_newest`` never pause: a full buffer drops (counted, logged).
- Synthetic pushes (made by the client) count against the same bounds; past the spill
  limit the oldest buffered push of that iterator is dropped (counted).

The reader's per-push loop lives in ``client.py`` (a call per push is measurable); it only
appends, spills and calls :meth:`Delivery.overflow_action` when a buffer went over its bound.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from typing import Any

__all__ = ["Action", "Delivery", "PushBatches", "PushStream"]

#: Bytes counted for a push the client makes itself (reconnecting, rejoined...).
SYNTHETIC_SIZE = 128


class Action(enum.Enum):
    """What the reader does after a push went past a buffer's bound."""

    READ = "read"  # keep reading (into the spill)
    PAUSE = "pause"  # stop reading until woken
    BLOCKED = "blocked"  # stop reading; the spill is full: awaited replies fail


def push_size(push: Any) -> int:
    """The bytes a buffered push is counted as (its raw payload, plus a frame's overhead)."""
    raw = getattr(push, "raw_payload", None)
    return SYNTHETIC_SIZE if raw is None else len(raw) + 64


class PushStream:
    """An async iterator over server pushes (see :meth:`fastphx.Client.pushes`).

    Each stream has its own buffer bounded by ``push_buffer_size``; it ends when the client
    closes (after the buffered pushes are consumed) or when :meth:`aclose` is called.
    ``len(stream)`` is the number of pushes buffered in it.
    """

    __slots__ = (
        "__weakref__",
        "_buf",
        "_cap",
        "_delivery",
        "_low",
        "_sizes",
        "ended",
        "events",
        "filtered",
        "space_waiter",
        "topic",
        "waiter",
    )

    def __init__(self, delivery: Delivery, cap: int, topic: str | None,
                 events: frozenset[str] | None) -> None:
        self._delivery = delivery
        self._buf: deque[Any] = deque()
        self._sizes: deque[int] = deque()  # bytes of each push held past the bound, in order
        self._cap = cap
        self._low = cap // 2
        self.waiter: asyncio.Future[None] | None = None
        self.space_waiter: asyncio.Future[None] | None = None
        self.topic = topic
        self.events = events
        self.filtered = topic is not None or events is not None
        self.ended = False

    def matches(self, push: Any) -> bool:
        """True when ``push`` passes this stream's topic and event filters."""
        if self.topic is not None and push.topic != self.topic:
            return False
        return self.events is None or push.event in self.events

    def __aiter__(self) -> PushStream:
        return self

    async def __anext__(self) -> Any:
        buf = self._buf
        if buf:
            item = buf.popleft()
            if len(buf) >= self._cap:  # it was past its bound: one spilled push less
                self._delivery.unspill(self)
            if self.space_waiter is not None and len(buf) <= self._low:
                self._release_space()
            return item
        return await self._wait()

    async def _wait(self) -> Any:
        while not self._buf:
            if self.ended:
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self.waiter = waiter
            try:
                await waiter
            finally:
                self.waiter = None
        return await self.__anext__()

    def __len__(self) -> int:
        return len(self._buf)

    def batches(self, max_size: int = 1024) -> PushBatches:
        """An async iterator over lists of pushes: each list holds what is already buffered
        (at most ``max_size``, at least one), never waiting to fill a list. The same
        stream, buffer and accounting as reading one push at a time (a read wakes a
        paused reader at the low-water mark); ends when the stream ends.
        Raises ValueError for ``max_size`` < 1."""
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        return PushBatches(self, max_size)

    def _take(self, most: int) -> list[Any]:
        """Up to ``most`` buffered pushes, without waiting: ``__anext__``'s rules, in bulk."""
        buf = self._buf
        count = min(most, len(buf))
        over = min(count, len(buf) - self._cap)  # pops that leave the buffer at/over its bound
        items = [buf.popleft() for _ in range(count)]
        for _ in range(over):
            self._delivery.unspill(self)
        if self.space_waiter is not None and len(buf) <= self._low:
            self._release_space()
        return items

    def _release_space(self) -> None:
        """Wake the reader waiting for room (the buffer is down to its low-water mark)."""
        space, self.space_waiter = self.space_waiter, None
        if space is not None and not space.done():
            space.set_result(None)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _end(self) -> None:
        self.ended = True
        for fut in (self.waiter, self.space_waiter):
            if fut is not None and not fut.done():
                fut.set_result(None)
        self.waiter = self.space_waiter = None

    async def aclose(self) -> None:
        """Stop this stream: it is unsubscribed and its buffer dropped."""
        self._delivery.unsubscribe(self)
        self._buf.clear()
        self._delivery.clear_spill(self)
        self._end()

    async def __aenter__(self) -> PushStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        delivery = getattr(self, "_delivery", None)
        if delivery is not None and not self.ended:
            delivery.unsubscribe(self)


class PushBatches:
    """Async iterator of lists of pushes (see :meth:`PushStream.batches`)."""

    __slots__ = ("_most", "_stream")

    def __init__(self, stream: PushStream, most: int) -> None:
        self._stream = stream
        self._most = most

    def __aiter__(self) -> PushBatches:
        return self

    async def __anext__(self) -> list[Any]:
        stream = self._stream
        first = await stream.__anext__()  # waits (or ends) exactly like a single read
        if self._most == 1 or not stream._buf:
            return [first]
        batch = stream._take(self._most - 1)
        batch.insert(0, first)
        return batch


class Delivery:
    """Subscriptions, the backlog, spill accounting and drop policy of one client."""

    def __init__(self, cap: int, overflow: str, max_spill_bytes: int | None,
                 logger: logging.Logger) -> None:
        self.cap = cap
        self.overflow = overflow
        self.block = overflow == "block"
        self.max_spill_bytes = max_spill_bytes
        self.logger = logger
        #: Copy-on-write: replaced, never mutated, so the reader's loop over it stays valid.
        self.subs: tuple[PushStream, ...] = ()
        self.backlog: PushStream | None = None
        self.spilled = 0  # bytes held past the bounds, over every stream
        self.dropped = 0
        self.blocked = False
        self.closed = False
        self._last_drop_log = 0.0
        self._wake: asyncio.Future[None] | None = None
        self._new_backlog()

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, topic: str | None, events: frozenset[str] | None) -> PushStream:
        """A new stream: the backlog itself for the first unfiltered one, else a fresh
        stream holding a copy of the backlog's matching pushes (nothing missed)."""
        backlog = self.backlog
        if topic is None and events is None and backlog is not None:
            self.backlog = None  # handed over: the caller now reads it
            stream = backlog
        else:
            stream = PushStream(self, self.cap, topic, events)
            if backlog is not None:
                for push in backlog._buf:
                    if stream.matches(push):
                        self.append_nowait(stream, push, push_size(push))
            if not self.closed:
                self.subs = (*self.subs, stream)
        if self.closed:
            self.unsubscribe(stream)
            stream.ended = True
        self.wake()  # the reader re-decides: a backlog beside iterators never pauses
        return stream

    def unsubscribe(self, stream: PushStream) -> None:
        """Forget ``stream``; with no stream left a new backlog starts (not after close)."""
        stream.ended = True  # a reader blocked on its space must not wait again
        if stream in self.subs:
            self.subs = tuple(s for s in self.subs if s is not stream)
        if self.backlog is stream:
            self.backlog = None
        space = stream.space_waiter
        if space is not None and not space.done():
            space.set_result(None)
        if not self.subs and not self.closed:
            self._new_backlog()
        self.wake()

    def _new_backlog(self) -> None:
        self.backlog = PushStream(self, self.cap, None, None)
        self.subs = (*self.subs, self.backlog)

    def end_all(self) -> None:
        """The session is over: every stream ends after its buffered pushes."""
        self.closed = True
        for sub in self.subs:
            sub._end()
        self.subs = ()
        self.wake()

    # ------------------------------------------------------------------ accounting

    def unspill(self, stream: PushStream) -> None:
        """The oldest spilled push of ``stream`` now fits within its bound."""
        if stream._sizes:
            self.spilled -= stream._sizes.popleft()

    def clear_spill(self, stream: PushStream) -> None:
        self.spilled -= sum(stream._sizes)
        stream._sizes.clear()

    def append_nowait(self, stream: PushStream, push: Any, size: int) -> None:
        """Append without ever waiting (client-made pushes, hand-overs), within the bounds."""
        buf = stream._buf
        if len(buf) >= stream._cap:
            if not self.block:
                if self.drop(stream, push):
                    return
            else:
                stream._sizes.append(size)
                self.spilled += size
                limit = self.max_spill_bytes
                while limit is not None and self.spilled > limit and len(buf) > stream._cap:
                    self._drop_oldest(stream)
        buf.append(push)
        stream._wake()

    def deliver_synthetic(self, push: Any) -> None:
        """Deliver a client-made push to every stream it matches."""
        for sub in self.subs:
            if not sub.ended and (not sub.filtered or sub.matches(push)):
                self.append_nowait(sub, push, SYNTHETIC_SIZE)

    def drop(self, stream: PushStream, push: Any) -> bool:
        """A full buffer under a dropping policy: True when the new push is the one dropped."""
        if self.overflow == "drop_newest":
            self._count_drop(stream, push)
            return True
        self._drop_oldest(stream)
        return False

    def _drop_oldest(self, stream: PushStream) -> None:
        push = stream._buf.popleft()
        if len(stream._buf) >= stream._cap:
            self.unspill(stream)
        self._count_drop(stream, push)

    def _count_drop(self, stream: PushStream, push: Any) -> None:
        if stream is self.backlog and any(
                s is not stream and not s.ended and s.matches(push) for s in self.subs):
            return  # an iterator received it: only the copy kept for a later one is gone
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= 1.0:
            self._last_drop_log = now
            what = ("pushes no iterator subscribed to" if stream is self.backlog
                    else f"push buffer full ({stream._cap}), {self.overflow}")
            self.logger.warning("dropped %s; %d dropped so far", what, self.dropped)

    # ------------------------------------------------------------------ backpressure

    def overflow_action(self, awaiting_reply: bool) -> Action:
        """Decide, after a push went past a bound under ``block``, whether to read on."""
        backlog, limit = self.backlog, self.max_spill_bytes
        alone = backlog is not None and len(self.subs) == 1
        if backlog is not None and len(backlog._buf) > backlog._cap:
            # Unclaimed pushes: trimmed to the limit, and never a reason to stop the others.
            while limit is not None and self.spilled > limit and len(backlog._buf) > backlog._cap:
                self._drop_oldest(backlog)
        over = [s for s in self.subs if len(s._buf) > s._cap and (alone or s is not backlog)]
        if not over:
            self.blocked = False
            return Action.READ
        if limit is not None and self.spilled > limit:
            self.blocked = True
            return Action.BLOCKED
        self.blocked = False
        return Action.READ if awaiting_reply else Action.PAUSE

    async def wait(self) -> None:
        """Pause the reader until a stream drains, the streams change or :meth:`wake`."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wake = fut
        for sub in self.subs:
            if len(sub._buf) > sub._cap:
                sub.space_waiter = fut
        try:
            await fut
        finally:
            self._wake = None
            for sub in self.subs:
                if sub.space_waiter is fut:
                    sub.space_waiter = None

    def wake(self) -> None:
        """Let a paused reader re-decide (a reply is now awaited, streams changed, close)."""
        fut = self._wake
        if fut is not None and not fut.done():
            fut.set_result(None)

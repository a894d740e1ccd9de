"""The delivery rules (fastphx._delivery) without sockets: backlog hand-over, spill
accounting, the read/pause/blocked decision, drop policies and synthetic bounds."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from fastphx._delivery import SYNTHETIC_SIZE, Action, Delivery, PushStream
from fastphx.models import Push

LOG = logging.getLogger("test.delivery")


def push(i: int, topic: str = "t", event: str = "n") -> Push:
    return Push(topic, event, {"i": i})


def offer(delivery: Delivery, item: Any, size: int = 100) -> bool:
    """What the client's reader does with one push; True when a bound was passed."""
    over = False
    for sub in delivery.subs:
        if sub.filtered and not sub.matches(item):
            continue
        if len(sub._buf) >= sub._cap:
            if not delivery.block:
                if delivery.drop(sub, item):
                    continue
            else:
                sub._sizes.append(size)
                delivery.spilled += size
                over = True
        sub._buf.append(item)
    return over


def items(stream: PushStream) -> list[int]:
    return [p.payload["i"] for p in stream._buf]


def test_first_unfiltered_iterator_is_the_backlog() -> None:
    """Pushes kept before any iterator go, all of them and in order, to the first
    unfiltered iterator; the next one starts empty."""
    d = Delivery(4, "block", 1000, LOG)
    for i in range(6):
        offer(d, push(i))
    first = d.subscribe(None, None)
    assert items(first) == list(range(6)) and d.backlog is None
    assert len(d.subscribe(None, None)) == 0


def test_filtered_iterator_copies_matching_and_backlog_stays() -> None:
    """A filtered iterator starts with the kept pushes it matches; the backlog keeps
    everything for a later unfiltered iterator."""
    d = Delivery(8, "block", 1000, LOG)
    offer(d, push(0, event="a"))
    offer(d, push(1, event="b"))
    only_a = d.subscribe(None, frozenset({"a"}))
    assert items(only_a) == [0]
    assert items(d.subscribe(None, None)) == [0, 1]


def test_lone_backlog_pauses_unless_a_reply_is_awaited() -> None:
    """Nobody subscribed: past the bound reading pauses (nothing dropped), or reads on
    while a reply is awaited."""
    d = Delivery(2, "block", 1000, LOG)
    assert [offer(d, push(i)) for i in range(3)] == [False, False, True]
    assert d.overflow_action(awaiting_reply=False) is Action.PAUSE
    assert d.overflow_action(awaiting_reply=True) is Action.READ
    assert d.dropped == 0 and d.spilled == 100


def test_lone_backlog_trims_past_the_spill_limit() -> None:
    """A request/reply-only client drops the oldest unsubscribed pushes past the limit."""
    d = Delivery(2, "block", 250, LOG)
    for i in range(10):
        if offer(d, push(i)):
            assert d.overflow_action(awaiting_reply=True) is Action.READ
    assert d.spilled <= 250 and d.dropped == 6
    assert items(d.subscribe(None, None)) == [6, 7, 8, 9]


def test_full_iterator_blocks_past_the_spill_limit_then_recovers() -> None:
    """A real iterator past the limit: BLOCKED (nothing dropped) until it drains."""
    d = Delivery(2, "block", 250, LOG)
    stream = d.subscribe(None, None)
    for i in range(5):
        offer(d, push(i))
    assert d.overflow_action(awaiting_reply=True) is Action.BLOCKED and d.blocked
    assert d.dropped == 0

    async def drain() -> list[int]:
        return [(await stream.__anext__()).payload["i"] for _ in range(4)]

    assert asyncio.run(drain()) == [0, 1, 2, 3]
    assert d.spilled == 0
    assert d.overflow_action(awaiting_reply=True) is Action.READ and not d.blocked


def test_backlog_beside_iterators_never_pauses() -> None:
    """Unclaimed pushes beside a filtered iterator never stop the reader."""
    d = Delivery(2, "block", 1000, LOG)
    d.subscribe("other", None)
    for i in range(5):
        offer(d, push(i))
    assert d.overflow_action(awaiting_reply=False) is Action.READ


@pytest.mark.parametrize("policy, kept", [("drop_oldest", [3, 4]), ("drop_newest", [0, 1])])
def test_drop_policies_count_every_drop(policy: str, kept: list[int]) -> None:
    """Dropping policies never spill and count each drop once."""
    d = Delivery(2, policy, 1000, LOG)
    stream = d.subscribe(None, None)
    assert not any(offer(d, push(i)) for i in range(5))
    assert items(stream) == kept and d.dropped == 3 and d.spilled == 0


def test_backlog_drop_not_counted_when_an_iterator_got_the_push() -> None:
    """Trimming the backlog copy of a push a filtered iterator received is not a loss."""
    d = Delivery(1, "drop_oldest", 1000, LOG)
    d.subscribe(None, frozenset({"n"}))
    for i in range(3):
        offer(d, push(i))
    assert d.dropped == 2  # the filtered iterator's own drops only


def test_synthetic_pushes_are_bounded() -> None:
    """Client-made pushes spill past the bound and drop the oldest past the limit."""
    d = Delivery(2, "block", SYNTHETIC_SIZE * 3, LOG)
    for i in range(10):
        d.deliver_synthetic(push(i, topic=""))
    backlog = d.backlog
    assert backlog is not None and len(backlog) == 5
    assert d.dropped == 5 and d.spilled == SYNTHETIC_SIZE * 3


def test_aclose_releases_spill_and_a_new_backlog_starts() -> None:
    """Closing the only iterator forgets its spill; a new backlog keeps what follows."""
    d = Delivery(1, "block", 1000, LOG)
    stream = d.subscribe(None, None)
    for i in range(3):
        offer(d, push(i))
    asyncio.run(stream.aclose())
    assert d.spilled == 0 and d.backlog is not None and stream.ended
    offer(d, push(9))
    assert items(d.subscribe(None, None)) == [9]


def test_wait_is_woken_by_drain_and_by_wake() -> None:
    """A paused reader resumes when the iterator drains to half, or on wake()."""
    async def scenario() -> None:
        d = Delivery(2, "block", 1000, LOG)
        stream = d.subscribe(None, None)
        for i in range(3):
            offer(d, push(i))

        async def consume() -> None:
            await stream.__anext__()
            assert d._wake is not None and not d._wake.done()  # 2 left: above half
            await stream.__anext__()

        waiting = asyncio.ensure_future(d.wait())  # tasks run in order: it waits first
        task = asyncio.ensure_future(consume())
        await asyncio.wait_for(waiting, 1)  # the consumer's drain ends it
        await task

        async def wake_soon() -> None:
            d.wake()

        waiting = asyncio.ensure_future(d.wait())
        task = asyncio.ensure_future(wake_soon())
        await asyncio.wait_for(waiting, 1)
        await task

    asyncio.run(scenario())


def test_end_all_ends_streams_after_their_pushes() -> None:
    """After end_all a stream yields what it holds, then stops; new ones are ended."""
    async def scenario() -> list[int]:
        d = Delivery(4, "block", 1000, LOG)
        stream = d.subscribe(None, None)
        offer(d, push(1))
        d.end_all()
        assert d.subscribe(None, None).ended
        return [p.payload["i"] async for p in stream]

    assert asyncio.run(scenario()) == [1]


def test_batches_take_what_is_buffered_with_the_same_accounting() -> None:
    """A batch holds what is buffered (at most max_size, in order), unspills like single
    reads, and a drained stream unblocks the reader: BLOCKED, then READ, spill 0."""
    d = Delivery(2, "block", 250, LOG)
    stream = d.subscribe(None, None)
    for i in range(5):
        offer(d, push(i))
    assert d.overflow_action(awaiting_reply=True) is Action.BLOCKED

    async def read() -> list[list[int]]:
        batches = stream.batches(max_size=4)
        return [[p.payload["i"] for p in await batches.__anext__()] for _ in range(2)]

    assert asyncio.run(read()) == [[0, 1, 2, 3], [4]]
    assert d.spilled == 0 and not stream._sizes
    assert d.overflow_action(awaiting_reply=True) is Action.READ and not d.blocked


def test_batch_wakes_a_paused_reader_and_never_waits_to_fill() -> None:
    """A batch read of a full stream wakes the paused reader (low-water mark); an empty
    stream waits for one push and yields it alone; the iterator ends with the stream."""
    async def scenario() -> list[list[int]]:
        d = Delivery(2, "block", 1000, LOG)
        stream = d.subscribe(None, None)
        for i in range(3):
            offer(d, push(i))
        batches = stream.batches()

        async def numbers() -> list[int]:
            return [p.payload["i"] for p in await batches.__anext__()]

        waiting = asyncio.ensure_future(d.wait())  # tasks run in order: it waits first
        first = asyncio.ensure_future(numbers())
        await asyncio.wait_for(waiting, 1)  # the batch read woke the reader
        got = [await first]
        later = asyncio.ensure_future(numbers())  # the stream is empty: it waits

        async def produce() -> None:
            assert not later.done()
            offer(d, push(3))
            stream._wake()

        await asyncio.ensure_future(produce())
        got.append(await asyncio.wait_for(later, 1))
        d.end_all()
        got.extend([[p.payload["i"] for p in b] async for b in batches])
        return got

    assert asyncio.run(scenario()) == [[0, 1, 2], [3]]


def test_batches_reject_a_size_below_one() -> None:
    """max_size must be at least 1."""
    d = Delivery(2, "block", 1000, LOG)
    with pytest.raises(ValueError, match="max_size"):
        d.subscribe(None, None).batches(max_size=0)

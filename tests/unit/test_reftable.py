"""RefTable: ref allocation and ref -> waiter routing, on both codec builds."""

from __future__ import annotations

import asyncio
from types import ModuleType

import pytest


def test_next_ref_increases_from_one(codec: ModuleType) -> None:
    """next_ref returns "1", "2", "3" ... as decimal strings."""
    table = codec.RefTable()
    assert [table.next_ref() for _ in range(3)] == ["1", "2", "3"]


def test_next_ref_custom_start_and_large_values(codec: ModuleType) -> None:
    """A start value is honoured and refs keep counting past 2**32."""
    table = codec.RefTable(2**32 - 1)
    assert [table.next_ref() for _ in range(2)] == [str(2**32 - 1), str(2**32)]


def test_register_allocates_and_routes(codec: ModuleType) -> None:
    """register allocates the next ref, shares the counter with next_ref, and routes it."""
    table = codec.RefTable()
    a, b = object(), object()
    assert table.register(a) == "1"
    assert table.next_ref() == "2"
    assert table.register(b) == "3"
    assert table.get("1") is a and table.get("3") is b
    assert len(table) == 2 and "1" in table and "2" not in table


def test_pop_removes_once(codec: ModuleType) -> None:
    """pop returns the waiter once, then the default."""
    table = codec.RefTable()
    waiter = object()
    ref = table.register(waiter)
    assert table.pop(ref) is waiter
    assert table.pop(ref) is None
    assert table.pop(ref, "dflt") == "dflt"
    assert len(table) == 0 and ref not in table


def test_none_ref_gives_default(codec: ModuleType) -> None:
    """A None ref (a push or broadcast) is never routed: pop/get return the default."""
    table = codec.RefTable()
    table.register(object())
    assert table.pop(None) is None
    assert table.pop(None, 7) == 7
    assert table.get(None, 8) == 8
    assert None not in table
    assert len(table) == 1


def test_add_replaces_existing_entry(codec: ModuleType) -> None:
    """add on an existing ref replaces its waiter without growing the table."""
    table = codec.RefTable()
    table.add("9", "first")
    table.add("9", "second")
    assert len(table) == 1
    assert table.get("9") == "second"
    assert table.get("10", "missing") == "missing"


def test_drain_in_insertion_order(codec: ModuleType) -> None:
    """drain returns every waiter in ref order and empties the table."""
    table = codec.RefTable()
    waiters = [object() for _ in range(5)]
    for w in waiters:
        table.register(w)
    table.pop("3")
    assert table.drain() == [waiters[0], waiters[1], waiters[3], waiters[4]]
    assert len(table) == 0
    assert table.drain() == []


def test_clear_forgets_without_failing(codec: ModuleType) -> None:
    """clear empties the table and leaves futures untouched; the counter continues."""
    loop = asyncio.new_event_loop()
    try:
        table = codec.RefTable()
        fut = loop.create_future()
        table.register(fut)
        table.clear()
        assert len(table) == 0 and not fut.done()
        assert table.next_ref() == "2"
    finally:
        loop.close()


async def test_fail_all_sets_exception_on_pending_futures_only(codec: ModuleType) -> None:
    """fail_all fails pending futures, skips done ones and non-futures, and counts failures."""
    loop = asyncio.get_running_loop()
    table = codec.RefTable()
    pending = [loop.create_future() for _ in range(3)]
    done = loop.create_future()
    done.set_result("ok")
    cancelled = loop.create_future()
    cancelled.cancel()
    for w in [pending[0], done, "not a future", pending[1], cancelled, pending[2]]:
        table.register(w)
    exc = ConnectionError("lost")
    assert table.fail_all(exc) == 3
    assert len(table) == 0
    for fut in pending:
        assert fut.exception() is exc
    assert done.result() == "ok"
    assert cancelled.cancelled()


async def test_fail_all_on_empty_table(codec: ModuleType) -> None:
    """fail_all on an empty table fails nothing."""
    assert codec.RefTable().fail_all(RuntimeError("x")) == 0


def test_fail_all_duck_typed_waiter(codec: ModuleType) -> None:
    """A waiter with set_exception but no done() is failed too."""

    class Waiter:
        def __init__(self) -> None:
            self.exc: BaseException | None = None

        def set_exception(self, exc: BaseException) -> None:
            self.exc = exc

    table = codec.RefTable()
    w = Waiter()
    table.register(w)
    err = ValueError("v")
    assert table.fail_all(err) == 1
    assert w.exc is err


@pytest.mark.parametrize("count", [1, 1000])
def test_many_refs_route_independently(codec: ModuleType, count: int) -> None:
    """Every registered ref routes to its own waiter."""
    table = codec.RefTable()
    refs = {table.register(i): i for i in range(count)}
    assert len(table) == count
    for ref, i in refs.items():
        assert table.pop(ref) == i
    assert len(table) == 0

"""fastphx.presence without sockets: the pure functions and the PresenceSync tracker.

(Equality with phoenix.js itself is checked in tests/conformance/test_presence_oracle.py.)
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastphx.presence import EVENTS, PresenceSync, list, sync_diff, sync_state


def m(ref: Any, **extra: Any) -> dict[str, Any]:
    return {"phx_ref": ref, **extra}


def p(*metas: dict[str, Any]) -> dict[str, Any]:
    return {"metas": [*metas]}


class Calls:
    def __init__(self) -> None:
        self.log: Any = []

    def join(self, key: str, current: Any, joined: Any) -> None:
        self.log.append(("join", key, copy.deepcopy(current), copy.deepcopy(joined)))

    def leave(self, key: str, current: Any, left: Any) -> None:
        self.log.append(("leave", key, copy.deepcopy(current), copy.deepcopy(left)))

    def sync(self) -> None:
        self.log.append(("sync",))


def test_sync_state_from_empty_joins_every_key() -> None:
    """From an empty state every key joins with its presence, and the result is the state."""
    calls = Calls()
    new = {"u1": p(m("1")), "u2": p(m("2"), m("3"))}
    assert sync_state({}, new, calls.join, calls.leave) == new
    assert calls.log == [("join", "u1", None, p(m("1"))), ("join", "u2", None, p(m("2"), m("3")))]


def test_sync_state_replaces_and_reports_the_difference() -> None:
    """Gone keys leave whole; kept keys join their new refs and leave their gone refs."""
    calls = Calls()
    old = {"gone": p(m("g")), "u": p(m("a"), m("b"))}
    new = {"u": p(m("b"), m("c"))}
    state = sync_state(old, new, calls.join, calls.leave)
    assert state == {"u": p(m("b"), m("c"))}
    assert calls.log == [
        ("join", "u", p(m("a"), m("b")), p(m("c"))),
        ("leave", "gone", p(), p(m("g"))),
        ("leave", "u", p(m("b"), m("c")), p(m("a"))),
    ]


def test_sync_diff_merges_metas_by_phx_ref() -> None:
    """A join adds metas after the current ones (a re-joined ref is replaced, not doubled);
    a leave removes metas by ref and the key when none is left."""
    state = {"u": p(m("a", v=1), m("b"))}
    state = sync_diff(state, {"joins": {"u": p(m("a", v=2), m("c"))}, "leaves": {}})
    assert state == {"u": p(m("b"), m("a", v=2), m("c"))}
    state = sync_diff(state, {"joins": {}, "leaves": {"u": p(m("a"), m("b"))}})
    assert state == {"u": p(m("c"))}
    assert sync_diff(state, {"joins": {}, "leaves": {"u": p(m("c"))}}) == {}


def test_sync_diff_callbacks_joins_then_leaves() -> None:
    """Joins fire before leaves; a leave of a key not present fires nothing."""
    calls = Calls()
    diff = {"joins": {"u": p(m("b"))}, "leaves": {"u": p(m("a")), "nobody": p(m("z"))}}
    state = sync_diff({"u": p(m("a"))}, diff, calls.join, calls.leave)
    assert state == {"u": p(m("b"))}
    assert calls.log == [("join", "u", p(m("a")), p(m("b"))),
                         ("leave", "u", p(m("b")), p(m("a")))]


def test_missing_diff_parts_count_as_empty() -> None:
    """A diff without "joins" or "leaves" (or with null) changes only what it names."""
    assert sync_diff({"u": p(m("a"))}, {"joins": {"v": p(m("b"))}}) == {
        "u": p(m("a")), "v": p(m("b"))}
    assert sync_diff({"u": p(m("a"))}, {"leaves": None}) == {"u": p(m("a"))}


def test_javascript_key_order() -> None:
    """Integer-like keys come first, ascending, as in a JS object; others keep their order."""
    state = {"b": p(), "10": p(), "a": p(), "2": p(), "007": p(), "4294967295": p(), "0": p(),
             "4294967294": p(), "9" * 5000: p()}
    keys = list(state, lambda key, presence: key)
    assert keys == ["0", "2", "10", "4294967294", "b", "a", "007", "4294967295", "9" * 5000]
    calls = Calls()
    sync_state({}, state, calls.join)
    assert [c[1] for c in calls.log] == keys


def test_list_default_is_the_presences() -> None:
    """list() gives the presence objects; a chooser maps (key, presence)."""
    state = {"u": p(m("a"), m("b")), "v": {"metas": [m("c")], "user": {"name": "V"}}}
    assert list(state) == [state["u"], state["v"]]
    assert list(state, lambda k, pres: (k, len(pres["metas"]))) == [("u", 2), ("v", 1)]


def test_missing_and_odd_phx_refs_compare_like_javascript() -> None:
    """A meta without phx_ref matches only another without one; true is not 1."""
    state = {"u": p({"n": 1}, m(True), m(1))}
    out = sync_diff(state, {"leaves": {"u": p({"n": 2}, m(1))}})
    assert out == {"u": p(m(True))}
    out = sync_diff(state, {"leaves": {"u": p(m(None))}})
    assert out == state  # null !== undefined


@pytest.mark.parametrize("diff", [
    [], {"joins": []}, {"joins": {"u": None}}, {"joins": {"u": {"metas": None}}},
    {"joins": {"u": {}}}, {"leaves": {"u": {"metas": [1]}}}, {"joins": {"u": {"metas": "ab"}}},
])
def test_malformed_diff_raises_before_any_callback(diff: Any) -> None:
    """A diff not shaped like Presence raises ValueError, and no callback fired."""
    calls = Calls()
    good = {"joins": {"a": p(m("x"))}, **(diff if isinstance(diff, dict) else {})}
    with pytest.raises(ValueError, match="presence"):
        sync_diff({}, good if isinstance(diff, dict) else diff, calls.join, calls.leave)
    assert calls.log == []


def test_malformed_state_raises() -> None:
    """sync_state checks both states."""
    with pytest.raises(ValueError, match="new state"):
        sync_state({}, {"u": {"metas": [1]}})
    with pytest.raises(ValueError, match="presence state"):
        sync_state({"u": None}, {})


# Several keys (some integer-like), refs from a small pool so that they collide.
metas = st.lists(st.builds(lambda r, n: {"phx_ref": r, "n": n}, st.sampled_from("abcd"),
                           st.integers(0, 2)), max_size=3)
entries = st.dictionaries(st.sampled_from(["u1", "u2", "3", "10"]),
                          st.builds(lambda ms: {"metas": ms}, metas), max_size=4)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(entries, entries, entries, entries)
def test_inputs_never_mutated(state: Any, new_state: Any, joins: Any, leaves: Any) -> None:
    """Neither function changes its inputs, not even nested metas (phoenix.js syncDiff
    changes its state in place; fastphx returns a new one)."""
    inputs = (state, new_state, joins, leaves)
    before = copy.deepcopy(inputs)
    calls = Calls()
    sync_state(state, new_state, calls.join, calls.leave)
    sync_diff(state, {"joins": joins, "leaves": leaves}, calls.join, calls.leave)
    assert inputs == before


@settings(max_examples=200, deadline=None, derandomize=True)
@given(entries, entries)
def test_sync_state_result_holds_the_new_metas(state: Any, new_state: Any) -> None:
    """After sync_state, each key of the new state with metas holds exactly its refs, and
    no other key is left (an empty new presence removes a current key, as in phoenix.js)."""
    out = sync_state(state, new_state)
    assert {k for k, v in new_state.items() if v["metas"]} <= set(out) <= set(new_state)
    for key, presence in out.items():
        refs = {x["phx_ref"] for x in new_state[key]["metas"]}
        assert {x["phx_ref"] for x in presence["metas"]} == refs


# ---------------------------------------------------------------------------- PresenceSync

JOIN_A = {"joins": {"a": p(m("1"))}, "leaves": {}}
LEAVE_A = {"joins": {}, "leaves": {"a": p(m("1"))}}


def _tracker() -> tuple[PresenceSync, Calls]:
    tracker, calls = PresenceSync(), Calls()
    tracker.set_callbacks(calls.join, calls.leave, calls.sync)
    return tracker, calls


def test_diffs_before_the_state_wait_for_it() -> None:
    """Diffs that arrive before presence_state are applied after it, then on_sync once."""
    tracker, calls = _tracker()
    tracker.receive("presence_diff", JOIN_A)
    tracker.receive("presence_diff", {"joins": {"b": p(m("2"))}, "leaves": {}})
    assert tracker.state == {} and calls.log == [] and len(tracker.pending) == 2
    tracker.receive("presence_state", {"a": p(m("1"))})
    assert tracker.state == {"a": p(m("1")), "b": p(m("2"))} and tracker.synced
    assert [c[:2] for c in calls.log] == [("join", "a"), ("join", "a"), ("join", "b"), ("sync",)]
    tracker.receive("presence_diff", LEAVE_A)
    assert tracker.state == {"b": p(m("2"))} and calls.log[-1] == ("sync",)


@pytest.mark.parametrize("event", sorted(EVENTS - {"presence_state", "presence_diff"}))
def test_after_a_rejoin_the_next_state_replaces(event: str) -> None:
    """After rejoined / phx_error / phx_close, diffs wait again and the next state
    replaces the old one, firing leaves for presences that are gone."""
    tracker, calls = _tracker()
    tracker.receive("presence_state", {"a": p(m("1")), "ghost": p(m("g"))})
    tracker.receive(event, {})
    assert not tracker.synced
    tracker.receive("presence_diff", {"joins": {"c": p(m("3"))}, "leaves": {}})
    assert "c" not in tracker.state
    calls.log.clear()
    tracker.receive("presence_state", {"a": p(m("4"))})
    assert tracker.state == {"a": p(m("4")), "c": p(m("3"))}
    assert [c[:2] for c in calls.log] == [
        ("join", "a"), ("leave", "ghost"), ("leave", "a"), ("join", "c"), ("sync",)]


def test_other_events_are_ignored() -> None:
    """Events a Presence does not read change nothing."""
    tracker, calls = _tracker()
    tracker.receive("presence_state", {})
    tracker.receive("new_msg", {"joins": {"x": p(m("1"))}})
    assert tracker.state == {} and tracker.synced and calls.log == [("sync",)]


def test_malformed_pushes_are_counted_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    """A malformed state or diff (early or not) is logged, counted, and changes nothing."""
    tracker, calls = _tracker()
    with caplog.at_level(logging.WARNING, "fastphx.presence"):
        tracker.receive("presence_diff", {"joins": {"a": "nope"}})
        tracker.receive("presence_state", {"a": {"metas": 5}})
        tracker.receive("presence_state", {"a": p(m("1"))})
        tracker.receive("presence_diff", "garbage")
    assert tracker.malformed == 3 and tracker.pending == type(tracker.pending)()
    assert tracker.state == {"a": p(m("1"))}
    assert [c[:2] for c in calls.log] == [("join", "a"), ("sync",)]
    assert caplog.text.count("malformed") == 3


def test_held_diffs_are_bounded() -> None:
    """With no state coming, at most max_pending diffs are held; the oldest are dropped."""
    tracker = PresenceSync(max_pending=3)
    for i in range(10):
        tracker.receive("presence_diff", {"joins": {f"k{i}": p(m(str(i)))}, "leaves": {}})
    assert len(tracker.pending) == 3 and tracker.dropped == 7
    tracker.receive("presence_state", {})
    assert sorted(tracker.state) == ["k7", "k8", "k9"]
    with pytest.raises(ValueError):
        PresenceSync(max_pending=0)


def test_a_raising_callback_is_logged_and_tracking_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    """An exception from a callback does not lose the update or stop later callbacks."""
    tracker = PresenceSync()
    seen: Any = []

    def bad_join(key: str, current: Any, joined: Any) -> None:
        seen.append(key)
        raise RuntimeError("user bug")

    tracker.set_callbacks(on_join=bad_join, on_sync=lambda: 1 / 0)
    with caplog.at_level(logging.ERROR, "fastphx.presence"):
        tracker.receive("presence_state", {"a": p(m("1")), "b": p(m("2"))})
    assert seen == ["a", "b"] and sorted(tracker.state) == ["a", "b"]
    assert caplog.text.count("callback raised") == 3


def test_presence_needs_a_running_loop() -> None:
    """Presence() outside a running event loop raises RuntimeError (nothing subscribed)."""
    import fastphx

    client = fastphx.Client("ws://127.0.0.1:9/socket/websocket")
    with pytest.raises(RuntimeError):
        fastphx.Presence(client, "room:1")
    assert client.pushes() is not None

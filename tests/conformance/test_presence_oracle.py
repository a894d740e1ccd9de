"""fastphx.presence agrees with phoenix.js' own Presence, on sequences Hypothesis generates.

One node process per module runs js/presence_oracle.mjs; each example is one JSON line
there and back. Two modes: "static" feeds the ops to ``Presence.syncState``/``syncDiff``
(fastphx: ``sync_state``/``sync_diff``); "presence" feeds them to a phoenix.js ``Presence``
on a stand-in channel whose joinRef changes on "rejoin" (fastphx: ``PresenceSync``, with
the client's ``rejoined`` push). After every op the callbacks fired (in order), the state,
``list()`` and ``list(chooser)`` must be the same. Keys include integer-like ones ("10",
"007") and prototype names ("__proto__"), metas share a small phx_ref pool (so joins and
leaves of the same key and ref collide), some metas lack a phx_ref, diffs come before
states. The inputs must come out unmutated. Bounded: 300 examples per mode, ~5 s.
"""

from __future__ import annotations

import copy
import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastphx import presence

pytestmark = pytest.mark.conformance

KEYS = ["u1", "u2", "alice", "1", "2", "10", "007", "4294967294", "4294967295", "-1",
        "99999999999999999999", "__proto__", "constructor"]
REFS = ["a", "b", "c", "d", "e"]
ODD_REFS = [1, True, None, "missing"]  # JS: true !== 1, null !== undefined (no phx_ref)
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Oracle:
    """A node process running js/presence_oracle.mjs, one JSON line per case."""

    def __init__(self, script: Path) -> None:
        self.proc = subprocess.Popen(
            ["node", script.name], cwd=script.parent, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.ids = itertools.count()

    def run(self, mode: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """phoenix.js' steps for ``ops`` (one per op); fails on a JS error."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        case_id = next(self.ids)
        self.proc.stdin.write(orjson.dumps({"id": case_id, "mode": mode, "ops": ops}) + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"node exited: {self.proc.stderr.read() if self.proc.stderr else ''!r}"
        out = orjson.loads(line)
        assert out["id"] == case_id
        assert "error" not in out, out["error"]
        steps: list[dict[str, Any]] = out["steps"]
        return steps

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def oracle(node_scenarios: Path) -> Iterator[Oracle]:
    """The node process (skipped without node/phoenix, a failure under CI)."""
    proc = Oracle(node_scenarios.parent / "presence_oracle.mjs")
    yield proc
    proc.close()


def _meta(ref: Any, n: int) -> dict[str, Any]:
    return {"n": n} if ref == "missing" else {"phx_ref": ref, "n": n}


metas = st.lists(st.builds(_meta, st.sampled_from(REFS) | st.sampled_from(ODD_REFS),
                           st.integers(0, 3)), min_size=0, max_size=3)
presences = st.builds(lambda m, extra: {"metas": m, **extra}, metas,
                      st.sampled_from([{}, {}, {"user": {"name": "x"}}]))
entries = st.dictionaries(st.sampled_from(KEYS), presences, max_size=4)
states = st.builds(lambda s: {"op": "state", "payload": s}, entries)
diffs = st.builds(lambda j, lv: {"op": "diff", "payload": {"joins": j, "leaves": lv}},
                  entries, entries)
rejoins = st.just({"op": "rejoin"})


def _chooser(key: str, p: dict[str, Any]) -> list[Any]:
    return [key, [m.get("phx_ref") for m in p["metas"]]]


def _snap(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


class Recorder:
    """Collects callbacks as phoenix.js' side does: JSON snapshots taken when they fire."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def join(self, key: str, current: Any, joined: Any) -> None:
        self.calls.append(["join", key, _snap(current), _snap(joined)])

    def leave(self, key: str, current: Any, left: Any) -> None:
        self.calls.append(["leave", key, _snap(current), _snap(left)])

    def sync(self) -> None:
        self.calls.append(["sync"])

    def step(self, state: dict[str, Any]) -> dict[str, Any]:
        calls, self.calls = self.calls, []
        return {"calls": calls, "state": _snap(state), "list": _snap(presence.list(state)),
                "chosen": _snap(presence.list(state, _chooser))}


def _run_static(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rec = Recorder()
    state: dict[str, Any] = {}
    steps = []
    for op in ops:
        before, payload = copy.deepcopy(state), copy.deepcopy(op["payload"])
        sync = presence.sync_state if op["op"] == "state" else presence.sync_diff
        new_state = sync(state, op["payload"], rec.join, rec.leave)
        assert state == before and op["payload"] == payload, "an input was mutated"
        state = new_state
        steps.append(rec.step(state))
    return steps


def _run_presence(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rec = Recorder()
    tracker = presence.PresenceSync()
    tracker.set_callbacks(rec.join, rec.leave, rec.sync)
    steps = []
    for op in ops:
        if op["op"] == "rejoin":
            tracker.receive("rejoined", {"welcome": "again"})
        else:
            tracker.receive("presence_" + op["op"], op["payload"])
        steps.append(rec.step(tracker.state))
    assert tracker.malformed == 0
    return steps


@SETTINGS
@given(st.lists(states | diffs, min_size=1, max_size=8))
def test_sync_state_and_diff_match_phoenix_js(oracle: Oracle, ops: list[dict[str, Any]]) -> None:
    """sync_state/sync_diff/list give phoenix.js' states, lists and callback sequences."""
    assert _run_static(ops) == oracle.run("static", ops)


@SETTINGS
@given(st.lists(states | diffs | rejoins, min_size=1, max_size=10))
def test_presence_tracker_matches_phoenix_js(oracle: Oracle, ops: list[dict[str, Any]]) -> None:
    """PresenceSync holds early diffs and replaces the state after a rejoin as phoenix.js'
    Presence does: same states, lists and callbacks (sync included) after every push."""
    assert _run_presence(ops) == oracle.run("presence", ops)


def test_oracle_sees_the_order_rules(oracle: Oracle) -> None:
    """A known case: a diff before the state is applied after it, integer keys list first."""
    ops: list[dict[str, Any]] = [
        {"op": "diff", "payload": {"joins": {"u1": {"metas": [_meta("a", 0)]}}, "leaves": {}}},
        {"op": "state", "payload": {"u1": {"metas": [_meta("a", 0)]},
                                    "10": {"metas": [_meta("b", 1)]},
                                    "2": {"metas": [_meta("c", 2)]}}},
    ]
    steps = oracle.run("presence", ops)
    assert steps[0]["calls"] == [] and steps[0]["state"] == {}
    assert [c[:2] for c in steps[1]["calls"]] == [
        ["join", "2"], ["join", "10"], ["join", "u1"], ["join", "u1"], ["sync"]]
    assert [c[1] for c in steps[1]["chosen"]] == [["c"], ["b"], ["a"]]
    assert _run_presence(ops) == steps

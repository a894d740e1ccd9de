"""Phoenix Presence on the client: pure ``sync_state``/``sync_diff``/``list`` and a tracker.

The server side of Phoenix Presence (``Phoenix.Presence``) pushes a channel's joiner one
``presence_state`` (``{key: {"metas": [meta, ...]}}``, every meta carrying a ``phx_ref``)
and then ``presence_diff`` pushes (``{"joins": {...}, "leaves": {...}}``, same shape). The
functions here merge them the way phoenix.js' ``Presence.syncState``/``syncDiff`` do:

- metas are matched by ``phx_ref``; a key whose last meta leaves is removed;
- ``on_join(key, current, new_presence)`` fires per joined key (``current`` is the key's
  presence before the join, or ``None``), then ``on_leave(key, current, left_presence)`` per
  left key that is present (``current`` is what remains; empty metas mean the key is gone);
- keys are visited in JavaScript's property order (integer-like keys such as ``"42"``
  first, ascending, then the others in arrival order), so callbacks fire, and ``list``
  returns, in the order phoenix.js gives. The oracle test (tests/conformance) checks this
  against phoenix.js itself.

Inputs are never mutated: each call returns a new state dict that shares the unchanged
presence and meta dicts with its inputs. Treat states, presences and metas as read-only.
A payload of the wrong shape raises ``ValueError`` before any callback fires.

:class:`Presence` follows one topic of a :class:`fastphx.Client` with these functions.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client, PushStream

__all__ = ["EVENTS", "Presence", "PresenceSync", "list", "sync_diff", "sync_state"]

State = dict[str, Any]
"""``{key: {"metas": [meta, ...], ...}}``: what ``presence_state`` carries."""
JoinCallback = Callable[[str, Any, Any], object]
"""``on_join(key, current_presence_or_None, joined_presence)``."""
LeaveCallback = Callable[[str, Any, Any], object]
"""``on_leave(key, remaining_presence, left_presence)``."""
SyncCallback = Callable[[], object]

_MAX_INDEX = 2**32 - 2  # the largest ECMAScript array index


def _is_index(key: object) -> bool:
    """True for an ECMAScript array index ("0", "42"): JS objects list those keys first."""
    return (isinstance(key, str) and len(key) <= 10 and key.isascii() and key.isdigit()
            and (key == "0" or key[0] != "0") and int(key) <= _MAX_INDEX)


def _js_order(obj: Mapping[str, Any]) -> Iterable[str]:
    """The keys of ``obj`` in JavaScript's own-property order (phoenix.js iterates so)."""
    indexes = [k for k in obj if _is_index(k)]
    if not indexes:
        return obj.keys()
    indexes.sort(key=int)
    return indexes + [k for k in obj if not _is_index(k)]


def _ref(meta: Mapping[str, Any]) -> Any:
    """The ``phx_ref`` of a meta, as phoenix.js compares it (``===``): a missing ref equals
    only a missing ref; an object ref equals nothing (JS clones every object)."""
    ref = meta.get("phx_ref", _ref)  # the function itself marks a missing ref
    if type(ref) is str:  # what Phoenix sends: the fast path
        return ref
    if ref is True or ref is False:
        return (bool, ref)  # JS true !== 1
    try:
        hash(ref)
    except TypeError:
        return object()
    return ref


def _check(presence: object, where: str) -> builtins.list[Any]:
    """Return the metas of ``presence``; ValueError unless it is ``{"metas": [dict, ...]}``."""
    if type(presence) is not dict and not isinstance(presence, Mapping):
        raise ValueError(f"presence {where}: expected an object, got {type(presence).__name__}")
    metas = presence.get("metas")
    if not isinstance(metas, builtins.list):
        raise ValueError(f"presence {where}: 'metas' must be a list, got {type(metas).__name__}")
    for meta in metas:
        if type(meta) is not dict and not isinstance(meta, Mapping):
            raise ValueError(f"presence {where}: every meta must be an object, "
                             f"got {type(meta).__name__}")
    return metas


def _check_map(obj: object, where: str) -> Mapping[str, Any]:
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise ValueError(f"presence {where}: expected an object, got {type(obj).__name__}")
    for key, presence in obj.items():
        _check(presence, f"{where}[{key!r}]")
    return obj


def _check_diff(diff: object) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """Return the joins and leaves of ``diff``; ValueError unless it is Presence-shaped."""
    if not isinstance(diff, Mapping):
        raise ValueError(f"presence diff: expected an object, got {type(diff).__name__}")
    return _check_map(diff.get("joins"), "diff joins"), _check_map(diff.get("leaves"),
                                                                   "diff leaves")


def _join(key: str, current: Any, joined: Any, on_join: JoinCallback | None) -> Any:
    """The presence after ``joined`` merges into ``current`` (phoenix.js: the current metas
    whose phx_ref is not re-joined come first, then the joined ones)."""
    metas = joined["metas"]
    if current is not None:
        refs = {_ref(m) for m in metas}
        kept = [m for m in current["metas"] if _ref(m) not in refs]
        if kept:
            metas = [*kept, *metas]
    merged = {**joined, "metas": builtins.list(metas)}
    if on_join is not None:
        on_join(key, current, joined)
    return merged


def sync_diff(state: Mapping[str, Any], diff: Mapping[str, Any],
              on_join: JoinCallback | None = None,
              on_leave: LeaveCallback | None = None) -> State:
    """Return ``state`` with a ``presence_diff`` applied (phoenix.js ``Presence.syncDiff``).

    Joins are applied first (``on_join`` per key), then leaves (``on_leave`` per key that is
    in the state; a key left with no metas is removed). ``diff`` is
    ``{"joins": {...}, "leaves": {...}}`` (a missing part counts as empty). Neither input is
    mutated. Raises ValueError (before any callback) when ``diff`` or a state entry it
    touches is not shaped like a Presence payload.
    """
    joins, leaves = _check_diff(diff)
    for key in (*joins, *leaves):
        if key in state:
            _check(state[key], f"state[{key!r}]")
    return _apply(state, joins, leaves, on_join, on_leave)


def _apply(state: Mapping[str, Any], joins: Mapping[str, Any], leaves: Mapping[str, Any],
           on_join: JoinCallback | None, on_leave: LeaveCallback | None) -> State:
    """sync_diff on checked input."""
    new_state = dict(state)
    for key in _js_order(joins):
        new_state[key] = _join(key, new_state.get(key), joins[key], on_join)
    for key in _js_order(leaves):
        current = new_state.get(key)
        if current is None:
            continue
        left = leaves[key]
        refs = {_ref(m) for m in left["metas"]}
        remaining = {**current, "metas": [m for m in current["metas"] if _ref(m) not in refs]}
        new_state[key] = remaining
        if on_leave is not None:
            on_leave(key, remaining, left)
        if not remaining["metas"]:
            del new_state[key]
    return new_state


def sync_state(state: Mapping[str, Any], new_state: Mapping[str, Any],
               on_join: JoinCallback | None = None,
               on_leave: LeaveCallback | None = None) -> State:
    """Return ``new_state`` (a ``presence_state``) merged over ``state``, firing callbacks
    for what changed (phoenix.js ``Presence.syncState``).

    Keys missing from ``new_state`` leave whole; for a key in both, the metas whose phx_ref
    is new join and those whose phx_ref is gone leave. The diff is then applied as by
    :func:`sync_diff`, so the result holds exactly the metas of ``new_state``. Neither
    input is mutated. Raises ValueError (before any callback) on a malformed entry.
    """
    _check_map(state, "state")
    _check_map(new_state, "new state")
    joins: dict[str, Any] = {}
    leaves: dict[str, Any] = {key: state[key] for key in _js_order(state) if key not in new_state}
    for key in _js_order(new_state):
        presence, current = new_state[key], state.get(key)
        if current is None:
            joins[key] = presence
            continue
        new_metas, cur_metas = presence["metas"], current["metas"]
        new_refs, cur_refs = [_ref(m) for m in new_metas], [_ref(m) for m in cur_metas]
        new_set, cur_set = set(new_refs), set(cur_refs)
        joined = [m for m, ref in zip(new_metas, new_refs, strict=True) if ref not in cur_set]
        left = [m for m, ref in zip(cur_metas, cur_refs, strict=True) if ref not in new_set]
        if joined:
            joins[key] = {**presence, "metas": joined}
        if left:
            leaves[key] = {**current, "metas": left}
    return _apply(state, joins, leaves, on_join, on_leave)


def list(state: Mapping[str, Any],  # shadows the builtin here: the name phoenix.js uses
         chooser: Callable[[str, Any], Any] | None = None) -> builtins.list[Any]:
    """Return one item per key of ``state`` in phoenix.js order: the presence
    (``{"metas": [...]}``), or ``chooser(key, presence)`` (phoenix.js ``Presence.list``)."""
    if chooser is None:
        return [state[key] for key in _js_order(state)]
    return [chooser(key, state[key]) for key in _js_order(state)]


# ---------------------------------------------------------------------------- the tracker

_STATE = "presence_state"
_DIFF = "presence_diff"
# Events after which the join that the state came from is gone (phoenix.js notices a new
# channel joinRef); the next presence_state replaces the state and diffs wait for it.
_RESET_EVENTS = frozenset({"rejoined", "phx_error", "phx_close"})
EVENTS = frozenset({_STATE, _DIFF, *_RESET_EVENTS})
"""The push events a :class:`Presence` reads from its topic."""


class PresenceSync:
    """The sans-I/O part of :class:`Presence`: state, held diffs, callbacks.

    Feed it a topic's pushes with :meth:`receive`; :class:`Presence` does that from a
    ``client.pushes()`` iterator. A ``presence_diff`` that arrives while no
    ``presence_state`` has been received since the last (re)join is held (at most
    ``max_pending``, oldest dropped first and counted in ``dropped``) and applied right
    after the next state, as phoenix.js does. A callback that raises is logged and does
    not stop the tracking.
    """

    def __init__(self, *, max_pending: int = 1000, logger: logging.Logger | None = None) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        self.state: State = {}
        self.synced = False
        self.pending: deque[Any] = deque()
        self.max_pending = max_pending
        self.dropped = 0
        self.malformed = 0
        self.logger = logger or logging.getLogger("fastphx.presence")
        self._on_join: JoinCallback | None = None
        self._on_leave: LeaveCallback | None = None
        self._on_sync: SyncCallback | None = None

    def set_callbacks(self, on_join: JoinCallback | None = None,
                      on_leave: LeaveCallback | None = None,
                      on_sync: SyncCallback | None = None) -> None:
        """Replace the callbacks that are given (each wrapped so that raising is logged)."""
        if on_join is not None:
            self._on_join = self._guard(on_join, "on_join")
        if on_leave is not None:
            self._on_leave = self._guard(on_leave, "on_leave")
        if on_sync is not None:
            self._on_sync = self._guard(on_sync, "on_sync")

    def _guard(self, callback: Callable[..., object], name: str) -> Callable[..., None]:
        def call(*args: Any) -> None:
            try:
                callback(*args)
            except Exception:
                self.logger.exception("Presence %s callback raised", name)
        return call

    def receive(self, event: str, payload: Any) -> None:
        """Take one push of the topic; events other than :data:`EVENTS` are ignored.

        A malformed Presence payload is logged (WARNING), counted in ``malformed`` and
        skipped: the state is unchanged and no callback fires for it.
        """
        try:
            if event == _STATE:
                self._receive_state(payload)
            elif event == _DIFF:
                self._receive_diff(payload)
            elif event in _RESET_EVENTS:
                self.synced = False
        except ValueError as exc:
            self.malformed += 1
            self.logger.warning("dropped a malformed %s: %s", event, exc)

    def _receive_state(self, payload: Any) -> None:
        state = sync_state(self.state, payload, self._on_join, self._on_leave)
        while self.pending:  # checked when held; our state is well-formed: cannot raise
            state = sync_diff(state, self.pending.popleft(), self._on_join, self._on_leave)
        self.state = state
        self.synced = True
        if self._on_sync is not None:
            self._on_sync()

    def _receive_diff(self, payload: Any) -> None:
        if self.synced:
            self.state = sync_diff(self.state, payload, self._on_join, self._on_leave)
            if self._on_sync is not None:
                self._on_sync()
            return
        _check_diff(payload)
        if len(self.pending) >= self.max_pending:
            self.pending.popleft()
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # log 1, 2, 4, 8... drops: bounded
                self.logger.warning("Presence: %d diffs held with no presence_state; dropped "
                                    "the oldest (%d so far)", self.max_pending, self.dropped)
        self.pending.append(payload)


class Presence:
    """The Presence of one topic of a :class:`fastphx.Client`, kept in sync from the
    topic's ``presence_state`` / ``presence_diff`` pushes (phoenix.js ``new Presence(channel)``).

    Make it **before** joining the topic (for the client's primary topic: before
    ``connect()``), inside a running event loop; it then misses nothing::

        client = fastphx.Client(url, topic="room:1")
        presence = fastphx.Presence(client, "room:1")
        presence.on_sync(lambda: print(presence.list()))
        await client.connect()

    It reads ``client.pushes(topic=topic, events=EVENTS)`` in a task of its own until
    :meth:`close` (or ``async with``) or until the client closes. Diffs that arrive before
    the first ``presence_state`` are held and applied after it. After a rejoin (the
    client's ``rejoined`` push), a ``phx_error`` or a ``phx_close``, the next
    ``presence_state`` replaces the state, firing ``on_leave`` for presences that are gone
    (no ghosts after a reconnect) and ``on_join`` for new ones; diffs wait for it again.

    ``max_pending`` bounds the diffs held while no state has come (oldest dropped first,
    counted in ``dropped``). Callbacks run in the Presence's task; one that raises is
    logged (to ``logger``, default ``logging.getLogger("fastphx.presence")``) and tracking
    goes on. Raises RuntimeError outside a running event loop.
    """

    def __init__(self, client: Client, topic: str, *, max_pending: int = 1000,
                 logger: logging.Logger | None = None) -> None:
        loop = asyncio.get_running_loop()  # RuntimeError outside a loop, before subscribing
        self.topic = topic
        self._sync = PresenceSync(max_pending=max_pending, logger=logger)
        self._stream: PushStream = client.pushes(topic=topic, events=EVENTS)
        self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for push in self._stream:
                self._sync.receive(push.event, push.payload)
        except Exception:  # a bug: say so, and unsubscribe rather than stall the client
            self._sync.logger.exception("Presence of %r stopped", self.topic)
        finally:
            await self._stream.aclose()

    def on_join(self, callback: JoinCallback) -> JoinCallback:
        """Call ``callback(key, current, joined)`` for every joined key (``current`` is the
        key's presence before, or None). Replaces the previous one; returns ``callback``
        (so it works as a decorator)."""
        self._sync.set_callbacks(on_join=callback)
        return callback

    def on_leave(self, callback: LeaveCallback) -> LeaveCallback:
        """Call ``callback(key, remaining, left)`` for every key that lost metas
        (``remaining["metas"]`` empty: the key is gone). Replaces the previous one."""
        self._sync.set_callbacks(on_leave=callback)
        return callback

    def on_sync(self, callback: SyncCallback) -> SyncCallback:
        """Call ``callback()`` after each state (with the held diffs applied) and after
        each diff applied on its own. Replaces the previous one."""
        self._sync.set_callbacks(on_sync=callback)
        return callback

    def list(self, chooser: Callable[[str, Any], Any] | None = None) -> builtins.list[Any]:
        """One item per key: its presence ``{"metas": [...]}`` or ``chooser(key, presence)``."""
        return list(self._sync.state, chooser)

    @property
    def state(self) -> State:
        """The current state ``{key: {"metas": [...]}}`` (replaced on every change; read-only)."""
        return self._sync.state

    @property
    def synced(self) -> bool:
        """True once a ``presence_state`` arrived since the topic was last (re)joined."""
        return self._sync.synced

    @property
    def dropped(self) -> int:
        """Held diffs dropped because ``max_pending`` were already waiting for a state."""
        return self._sync.dropped

    @property
    def malformed(self) -> int:
        """Presence pushes skipped because their payload was not Presence-shaped."""
        return self._sync.malformed

    @property
    def closed(self) -> bool:
        """True once the Presence stopped reading (``close()``, or the client closed)."""
        return self._task.done()

    async def close(self) -> None:
        """Stop tracking: the task ends and its push iterator is closed. Idempotent."""
        self._task.cancel()
        # return_exceptions: the task's own CancelledError is a result; a cancel of the
        # caller still propagates.
        await asyncio.gather(self._task, return_exceptions=True)

    async def __aenter__(self) -> Presence:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<fastphx.Presence {self.topic!r} {len(self._sync.state)} keys>"

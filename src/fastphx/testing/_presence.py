"""Presence, local to the server (``Phoenix.Presence`` without the CRDT or PubSub).

Each tracked meta gets a fresh ``phx_ref`` and belongs to the channel that tracked it
(None: tracked by the server); when that channel ends, its metas leave with a diff.

A channel that tracks itself gets ``presence_state`` and, as everyone on the topic, the
join ``presence_diff``. Phoenix 1.7.21 sent the joiner its own diff *before* the state in 21
of 21 runs (the diff goes through PubSub straight to the socket, the state through the
channel process), so that is the default order; ``state_first`` gives the other one.
Metas are written as Phoenix does: ``phx_ref`` (an atom key) first, then the meta's keys
in order.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from ._connection import Channel, ServerConnection
from ._hub import Hub
from ._wire import phoenix_order

__all__ = ["Presence"]


def _phx_ref() -> str:
    """Return a fresh Presence ``phx_ref`` (16 URL-safe characters, like Phoenix's)."""
    return base64.urlsafe_b64encode(os.urandom(12)).decode("ascii")


class _Meta:
    """One tracked Presence meta and the channel that owns it (None: tracked by the server)."""

    __slots__ = ("meta", "owner")

    def __init__(self, meta: dict[str, Any], owner: Channel | None) -> None:
        self.meta = meta
        self.owner = owner


class Presence:
    """Presence state per topic; sends ``presence_state`` and ``presence_diff``."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._topics: dict[str, dict[str, list[_Meta]]] = {}

    def list(self, topic: str) -> dict[str, Any]:
        """Return the Presence state of ``topic``: ``{key: {"metas": [meta, ...]}}``."""
        state = self._topics.get(topic, {})
        return {key: {"metas": [m.meta for m in metas]} for key, metas in state.items() if metas}

    def _diff(self, topic: str, joins: dict[str, Any], leaves: dict[str, Any]) -> None:
        self._hub.broadcast(topic, "presence_diff", {"joins": joins, "leaves": leaves},
                            ordered=True)

    def track(self, topic: str, key: str, meta: dict[str, Any], owner: Channel | None,
              conn: ServerConnection | None, *, state_first: bool = False) -> None:
        """Track ``key``: the topic gets a join diff and the owner's client (if any)
        ``presence_state``, after the diff unless ``state_first``."""
        entry = _Meta({"phx_ref": _phx_ref(), **phoenix_order(meta)}, owner)
        self._topics.setdefault(topic, {}).setdefault(key, []).append(entry)
        send_state = conn is not None and owner is not None
        if send_state and state_first:
            self._send_state(topic, owner, conn)
        self._diff(topic, {key: {"metas": [entry.meta]}}, {})
        if send_state and not state_first:
            self._send_state(topic, owner, conn)

    def _send_state(self, topic: str, owner: Channel | None,
                    conn: ServerConnection | None) -> None:
        assert owner is not None and conn is not None
        state = dict(sorted(self.list(topic).items()))  # keys sorted, as Jason writes a map
        conn.send(owner.join_ref, None, topic, "presence_state", state, ordered=True)

    def untrack(self, topic: str, key: str, owner: Channel | None) -> None:
        """Untrack ``owner``'s metas of ``key`` (None: all of them) with a leave diff."""
        metas = self._topics.get(topic, {}).get(key, [])
        gone = [m for m in metas if owner is None or m.owner is owner]
        if not gone:
            return
        metas[:] = [m for m in metas if m not in gone]
        self._diff(topic, {}, {key: {"metas": [m.meta for m in gone]}})

    def untrack_owner(self, channel: Channel) -> None:
        """Untrack every meta ``channel`` tracked (it ended)."""
        for key, metas in list(self._topics.get(channel.topic, {}).items()):
            if any(m.owner is channel for m in metas):
                self.untrack(channel.topic, key, channel)

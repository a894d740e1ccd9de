"""``ChannelContext``: what a join or ``handle_in`` handler sees and can do."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._connection import Channel, ServerConnection
from ._wire import WireRef, binary_push, require_map

if TYPE_CHECKING:
    from .server import PhoenixTestServer

__all__ = ["ChannelContext"]


class ChannelContext:
    """What a join or ``handle_in`` handler sees: the topic, refs, params and actions.

    ``ref`` is the ref of the message being handled, exactly as the client sent it (a str,
    or an int if the client sent an integer); ``event`` is its event (``"phx_join"`` in a
    join handler; what a ``"*"`` handler was called for). Side effects called while a join
    handler runs (push, broadcast, track...) are sent right after the join reply, as Phoenix
    apps do with ``send(self(), :after_join)``.
    """

    def __init__(self, server: PhoenixTestServer, connection: ServerConnection,
                 channel: Channel, ref: WireRef, event: Any = "phx_join") -> None:
        self.server = server
        self.connection = connection
        self._channel = channel
        self.topic = channel.topic
        self.join_ref = channel.join_ref
        self.ref = ref
        self.event = event
        self.params = channel.params

    def _effect(self, action: Callable[[], object]) -> None:
        """Run ``action`` now, or after the join reply while the join is running."""
        if self._channel.closed:
            return
        if not self._channel.joined:
            self._channel.deferred.append(action)
        else:
            action()

    async def push(self, event: str, payload: Any) -> None:
        """Push ``event`` to this client with this channel's join_ref (ref null).

        Raises ``TypeError`` if ``payload`` is not a dict (Phoenix's ``push/3`` takes a map):
        raised in a handler, it crashes the channel as in Phoenix.
        """
        require_map(payload, "push")
        self._effect(lambda: self.connection.send(self.join_ref, None, self.topic, event,
                                                  payload))

    async def push_binary(self, event: str, data: bytes) -> None:
        """Push a binary event (kind 0) to this client (nothing on a V1 connection)."""
        frame = binary_push(self.join_ref, self.topic, event, data)
        self._effect(lambda: self.connection.send_binary(frame))

    async def broadcast(self, event: str, payload: Any) -> None:
        """Send ``event`` to every connection joined to this topic (null join_ref).

        Raises ``TypeError`` if ``payload`` is not a dict: in a handler that crashes the
        channel (``phx_error``), as a non-map broadcast does in Phoenix.
        """
        require_map(payload, "broadcast")
        self._effect(lambda: self.server._hub.broadcast(self.topic, event, payload))

    async def reply(self, ref: WireRef, status: str, response: Any = None) -> None:
        """Send a late reply to the message with ``ref`` (after a handler returned NO_REPLY)."""
        from ._channels import reply

        if not self._channel.closed:
            await reply(self.server, self.connection, self.join_ref, ref, self.topic,
                        status, response)

    def track(self, key: str, meta: dict[str, Any], *, state_first: bool | None = None) -> None:
        """Track ``key`` with ``meta`` on this topic (owned by this channel): everyone on the
        topic gets ``presence_diff`` and this client ``presence_state``, after its diff as
        Phoenix does (``state_first=True``: before; None: the server's ``presence_order``)."""
        if state_first is None:
            state_first = self.server.presence_order == "state_first"
        first = state_first
        self._effect(lambda: self.server._presence.track(
            self.topic, key, meta, self._channel, self.connection, state_first=first))

    def untrack(self, key: str) -> None:
        """Untrack this channel's metas of ``key``: everyone on the topic gets a leave diff."""
        self._effect(lambda: self.server._presence.untrack(self.topic, key, self._channel))

    def presence_list(self) -> dict[str, Any]:
        """Return this topic's Presence state ``{key: {"metas": [...]}}``."""
        return self.server.presence_list(self.topic)

    async def stop(self) -> None:
        """Stop this channel: the client gets ``phx_close``."""
        self._end("phx_close")

    async def crash(self) -> None:
        """Crash this channel: the client gets ``phx_error``; the channel is gone."""
        self._end("phx_error")

    def _end(self, event: str) -> None:
        from ._channels import end_channel

        self._effect(lambda: end_channel(self.server, self.connection, self._channel, event))


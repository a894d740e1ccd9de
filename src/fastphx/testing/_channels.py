"""Channels on a connection: join, handle_in, leave, stop, crash (``Phoenix.Channel.Server``).

Each joined channel handles its messages in order in its own task (its "process"); joins
run in the connection's task, as Phoenix joins are synchronous in the socket process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ._connection import Channel, Inbound, ServerConnection
from ._context import ChannelContext
from ._handlers import NO_REPLY, ServerReply, StopChannel, call, status_of
from ._routes import Route
from ._wire import WireRef, binary_reply

if TYPE_CHECKING:
    from .server import PhoenixTestServer

__all__ = ["deliver", "disconnected", "end_channel", "join", "reply", "unmatched"]

log = logging.getLogger("fastphx.testing")


async def reply(server: PhoenixTestServer, conn: ServerConnection, join_ref: WireRef,
                ref: WireRef, topic: str, status: str, response: Any) -> None:
    """Write a ``phx_reply`` (binary kind 1 if ``response`` is bytes), after ``reply_delay``.

    A ``None`` response is sent as ``{}`` (Phoenix's ``{:reply, :ok, socket}``), or as
    ``null`` (``{:reply, {:ok, nil}, socket}``) when the server has ``none_reply="null"``.
    """
    if server.reply_delay > 0:
        await asyncio.sleep(server.reply_delay)
    if isinstance(response, bytes | bytearray | memoryview):
        conn.send_binary(binary_reply(join_ref, ref, topic, status, bytes(response)))
    else:
        if response is None and server.none_reply == "{}":
            response = {}
        conn.send_reply(join_ref, ref, topic, status, response)


async def unmatched(server: PhoenixTestServer, conn: ServerConnection, msg: Inbound) -> None:
    """Answer a message for a topic with no channel (join_ref null, as Phoenix)."""
    await reply(server, conn, None, msg.ref, msg.topic, "error", {"reason": "unmatched topic"})


async def join(server: PhoenixTestServer, conn: ServerConnection, msg: Inbound,
               old: Channel | None) -> None:
    """Handle ``phx_join``: a duplicate join closes the old channel after the new reply."""
    if old is not None:
        drop_channel(server, conn, old)
    route = server._routes.match(msg.topic)
    if route is None or route.join is None:
        await unmatched(server, conn, msg)
    elif server.max_channels is not None and len(conn._channels) >= server.max_channels:
        await reply(server, conn, msg.join_ref, msg.ref, msg.topic, "error",
                    {"reason": "too many channels joined"})
    else:
        await _run_join(server, conn, msg, route)
    if old is not None:
        conn.send(old.join_ref, old.join_ref, old.topic, "phx_close", {})


async def _run_join(server: PhoenixTestServer, conn: ServerConnection, msg: Inbound,
                    route: Route) -> None:
    """Call the join handler; reply ok (channel added) or error."""
    assert route.join is not None
    channel = Channel(msg.topic, msg.join_ref, msg.payload, route)
    ctx = ChannelContext(server, conn, channel, msg.ref)
    try:
        result = await call(route.join, ctx, msg.payload)
    except Exception:
        log.info("join of %s crashed", msg.topic, exc_info=True)
        result = ServerReply("error", {"reason": "join crashed"})
    status, response = status_of(result)
    if status != "ok":
        channel.closed = True
        await reply(server, conn, msg.join_ref, msg.ref, msg.topic, status, response)
        return
    conn._channels[msg.topic] = channel
    await reply(server, conn, msg.join_ref, msg.ref, msg.topic, "ok", response)
    channel.joined = True
    server._hub.joins[msg.topic] += 1
    server._hub.notify()
    deferred, channel.deferred = channel.deferred, []
    for action in deferred:
        action()


def deliver(server: PhoenixTestServer, conn: ServerConnection, channel: Channel,
            msg: Inbound) -> None:
    """Queue ``msg`` for the channel's own task (started on first use)."""
    channel.inbox.append(msg)
    if channel.worker is None or channel.worker.done():
        channel.worker = asyncio.get_running_loop().create_task(
            _channel_worker(server, conn, channel))
        channel.worker.add_done_callback(_log_worker_failure)


async def _channel_worker(server: PhoenixTestServer, conn: ServerConnection,
                          channel: Channel) -> None:
    """Handle the channel's queued messages in order; stop when the channel ends
    (messages still queued for an ended channel are lost, as in a dead process's mailbox)."""
    while channel.inbox and not channel.closed:
        msg = channel.inbox.pop(0)
        if msg.event == "phx_leave":
            await reply(server, conn, channel.join_ref, msg.ref, msg.topic, "ok", {})
            end_channel(server, conn, channel, "phx_close")
        else:
            await _handle_in(server, conn, channel, msg)


def _log_worker_failure(task: asyncio.Task[None]) -> None:
    """Log a channel task that failed outside its handlers (a bug in this package)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("channel task failed", exc_info=task.exception())


async def _handle_in(server: PhoenixTestServer, conn: ServerConnection, channel: Channel,
                     msg: Inbound) -> None:
    """Call the event's handler; reply, stay silent, stop or crash the channel."""
    handler = channel.route.handler(msg.event)
    ctx = ChannelContext(server, conn, channel, msg.ref, msg.event)
    try:
        if handler is None:  # a Phoenix channel with no matching handle_in clause crashes
            raise LookupError(f"no handler for {msg.event!r} on {msg.topic!r}")
        result = await call(handler, ctx, msg.payload)
    except StopChannel as stop:
        if stop.reply is not NO_REPLY:
            await reply(server, conn, channel.join_ref, msg.ref, msg.topic,
                        *status_of(stop.reply))
        end_channel(server, conn, channel, "phx_close")
        return
    except Exception:
        log.info("channel %s crashed", msg.topic, exc_info=True)
        end_channel(server, conn, channel, "phx_error")
        return
    if result is not NO_REPLY:
        await reply(server, conn, channel.join_ref, msg.ref, msg.topic, *status_of(result))


def drop_channel(server: PhoenixTestServer, conn: ServerConnection, channel: Channel) -> None:
    """Remove a channel from its connection (its task is cancelled, as Phoenix kills the
    channel process) and untrack its Presence metas."""
    channel.closed = True
    worker = channel.worker
    if worker is not None and worker is not asyncio.current_task():
        worker.cancel()
    if conn._channels.get(channel.topic) is channel:
        del conn._channels[channel.topic]
    server._presence.untrack_owner(channel)
    server._hub.notify()


def end_channel(server: PhoenixTestServer, conn: ServerConnection, channel: Channel,
                event: str) -> None:
    """End a channel: ``phx_close`` (stop, leave) or ``phx_error`` (crash), ref = join_ref.

    ``phx_error`` carries the profile's payload: ``{}`` (1.7), ``{"reason": "channel_crash"}``
    (1.8.10+).
    """
    if channel.closed:
        return
    channel.closed = True
    if conn._channels.get(channel.topic) is channel:
        del conn._channels[channel.topic]
    payload = server.profile.crash_payload if event == "phx_error" else {}
    conn.send(channel.join_ref, channel.join_ref, channel.topic, event, payload)
    server._presence.untrack_owner(channel)
    server._hub.notify()


def disconnected(server: PhoenixTestServer, conn: ServerConnection) -> None:
    """Forget a closed connection: its channels end silently (their Presence leaves)."""
    server._hub.conns.pop(conn.id, None)
    for channel in list(conn._channels.values()):
        drop_channel(server, conn, channel)
    server._hub.notify()

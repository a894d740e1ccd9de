"""Server-side sends to every connection joined to a topic, including the fast paths
(``blast``, ``push_many``) that frame once and write large batches straight to the
transport, waiting for drains.

Each connection gets frames in its own serializer (V1 or V2); binary sends skip V1
connections (V1 has no binary frames). Payloads must be maps (dicts), as Phoenix requires.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._connection import Channel, ServerConnection
from ._hub import Hub
from ._wire import binary_broadcast, binary_push, require_map

__all__ = ["blast", "broadcast", "broadcast_binary", "push", "push_binary", "push_many",
           "send_raw"]

_BLAST_BATCH_BYTES = 256 * 1024  # bytes per transport.write in blast()
_PUSH_MANY_CHUNK = 1024  # payloads framed per batch in push_many()


def push(hub: Hub, topic: str, event: str, payload: Any) -> int:
    """Push to every joiner of ``topic`` with its join_ref; return the count."""
    require_map(payload, "push")
    sent = 0
    for conn, channel in hub.subscribers(topic):
        sent += conn.send(channel.join_ref, None, topic, event, payload)
    return sent


def broadcast(hub: Hub, topic: str, event: str, payload: Any) -> int:
    """Broadcast (null join_ref) to every joiner of ``topic``; return the count."""
    require_map(payload, "broadcast")
    return hub.broadcast(topic, event, payload)


def push_binary(hub: Hub, topic: str, event: str, data: bytes) -> int:
    """Binary push (kind 0, each joiner's join_ref) to ``topic``; return the count."""
    sent = 0
    for conn, channel in hub.subscribers(topic):
        sent += conn.send_binary(binary_push(channel.join_ref, topic, event, data))
    return sent


def broadcast_binary(hub: Hub, topic: str, event: str, data: bytes) -> int:
    """Binary broadcast (kind 2) to every joiner of ``topic``; return the count."""
    return hub.write_binary(topic, binary_broadcast(topic, event, data))


def send_raw(hub: Hub, data: bytes | str, binary: bool) -> int:
    """Write ``data`` as one raw TEXT (or BINARY) frame to every connection."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return sum(conn.write(raw, binary) for conn in list(hub.conns.values()))


async def blast(hub: Hub, topic: str, event: str, payload: Any, count: int,
                join_ref: str | None, as_broadcast: bool) -> int:
    """Write ``count`` identical pushes to every joiner of ``topic``; return frames written."""
    require_map(payload, "blast")
    sent = 0
    for conn, channel in hub.subscribers(topic):
        jr = None if as_broadcast else (channel.join_ref if join_ref is None else join_ref)
        frame = conn.frame(conn.serializer.message(jr, None, topic, event, payload))
        sent += await _blast_one(conn, frame, count)
    return sent


async def _blast_one(conn: ServerConnection, frame: bytes, count: int) -> int:
    """Write ``count`` copies of ``frame`` to ``conn`` in large batches; return how many."""
    per_batch = max(1, _BLAST_BATCH_BYTES // len(frame))
    batch = frame * per_batch
    sent = 0
    while sent < count:
        n = min(per_batch, count - sent)
        if not conn.write_framed(batch if n == per_batch else frame * n):
            break
        sent += n
        await conn.drain()
    return sent


async def push_many(hub: Hub, topic: str, event: str, payloads: Iterable[Any],
                    join_ref: str | None) -> int:
    """Push one frame per payload, in order, to every joiner of ``topic``, in batches."""
    subscribers = hub.subscribers(topic)
    sent = 0
    chunk: list[Any] = []
    for payload in payloads:
        require_map(payload, "push_many")
        chunk.append(payload)
        if len(chunk) == _PUSH_MANY_CHUNK:
            sent += await _push_chunk(subscribers, topic, event, chunk, join_ref)
            chunk = []
    if chunk:
        sent += await _push_chunk(subscribers, topic, event, chunk, join_ref)
    return sent


async def _push_chunk(subscribers: list[tuple[ServerConnection, Channel]], topic: str,
                      event: str, chunk: list[Any], join_ref: str | None) -> int:
    sent = 0
    for conn, channel in subscribers:
        jr = channel.join_ref if join_ref is None else join_ref
        message = conn.serializer.message
        data = b"".join(conn.frame(message(jr, None, topic, event, p)) for p in chunk)
        if conn.write_framed(data):
            sent += len(chunk)
            await conn.drain()
    return sent

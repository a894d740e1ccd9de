"""Blast server for the end-to-end benchmark, run in its own process by ``bench/e2e.py``.

``python bench/e2e_server.py [--impl testing|raw] [--port 0]`` prints the socket URL on
stdout, then serves until stdin closes (the parent's exit) or SIGTERM.

Both implementations answer ``phx_join`` and ``heartbeat`` with an ok reply, and answer a
``blast`` push ``{"count": N}`` with an ok reply followed by N identical pre-encoded pushes
(event ``stream``, a ~100-byte payload) to the pushing connection. The raw server also
blasts N pushes right after the join reply of a topic ``room:blast:N:<anything>``:

- ``testing``: ``fastphx.testing.PhoenixTestServer`` and its ``server.blast`` (the default).
- ``raw``: a minimal aiohttp server that writes pre-built WebSocket frames straight to the
  transport in large batches; it needs nothing from fastphx, so it also serves as a check
  that the test server's blast is not the bottleneck. It also speaks the V1 JSON serializer
  (``vsn=1.0.0``: object frames) for peers that know nothing else (supabase ``realtime``):
  there a join of ``realtime:room:blast:N:*`` blasts N Supabase-style ``broadcast``
  messages wrapping the same payload (``bench/e2e_peers.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import orjson
from aiohttp import WSMsgType, web

__all__ = ["BLAST_PAYLOAD", "main"]

#: The payload of every blasted push: a small realistic event object of about 100 bytes.
BLAST_PAYLOAD: dict[str, Any] = {
    "id": "evt_01HZX3K9Q7",
    "kind": "item.updated",
    "ts": 1764340000.125,
    "item": {"id": 4242, "state": "open", "tags": ["a", "b"]},
    "seq": 1,
}

_BATCH = 512  # frames per transport write
_HIGH_WATER = 1 << 20  # bytes buffered in the transport before waiting for a drain


def _ws_frame(text: bytes) -> bytes:
    """Return one unmasked server-to-client TEXT frame (FIN set) holding ``text``."""
    size = len(text)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + text


def _blast_text(join_ref: Any, topic: str, v1: bool) -> bytes:
    """One blasted push: V2 ``[join_ref, null, topic, "stream", payload]``, or V1 a
    Supabase broadcast object wrapping the same payload."""
    if v1:
        return orjson.dumps({"topic": topic, "event": "broadcast", "ref": None,
                             "join_ref": join_ref, "payload": {
                                 "type": "broadcast", "event": "stream",
                                 "payload": BLAST_PAYLOAD}})
    return orjson.dumps([join_ref, None, topic, "stream", BLAST_PAYLOAD])


async def _raw_blast(ws: web.WebSocketResponse, join_ref: Any, topic: str, count: int,
                     v1: bool = False) -> None:
    """Write ``count`` pre-encoded pushes to ``ws`` in batches, waiting for drains."""
    frame = _ws_frame(_blast_text(join_ref, topic, v1))
    writer: Any = ws._writer  # the bench reaches under aiohttp to write batches directly
    transport = writer.transport
    protocol = writer.protocol
    batch = frame * _BATCH
    sent = 0
    while sent < count and not transport.is_closing():
        n = min(_BATCH, count - sent)
        transport.write(batch if n == _BATCH else frame * n)
        sent += n
        if transport.get_write_buffer_size() > _HIGH_WATER:
            await protocol._drain_helper()


def _blast_count(event: str, topic: str, payload: Any) -> int:
    """Pushes to blast for this message: a ``blast`` push's count, or N from a join of
    ``room:blast:N:*`` (for clients with no push API), else 0."""
    if event == "blast":
        return int(payload["count"])
    topic = topic.removeprefix("realtime:")
    if event == "phx_join" and topic.startswith("room:blast:"):
        return int(topic.split(":")[2])
    return 0


async def _raw_handler(request: web.Request) -> web.WebSocketResponse:
    """Serve one raw-protocol socket: joins, heartbeats and blasts."""
    ws = web.WebSocketResponse(compress=False, max_msg_size=0)
    await ws.prepare(request)
    v1 = request.query.get("vsn") == "1.0.0"
    tasks: set[asyncio.Task[None]] = set()
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            continue
        reply = {"status": "ok", "response": {}}
        if v1:
            obj = orjson.loads(msg.data)
            join_ref, ref, topic, event, payload = (obj.get("join_ref"), obj.get("ref"),
                                                    obj["topic"], obj["event"], obj["payload"])
            await ws.send_str(orjson.dumps({"topic": topic, "event": "phx_reply", "ref": ref,
                                            "join_ref": join_ref, "payload": reply}).decode())
        else:
            join_ref, ref, topic, event, payload = orjson.loads(msg.data)
            await ws.send_str(orjson.dumps([join_ref, ref, topic, "phx_reply", reply]).decode())
        count = _blast_count(event, topic, payload)
        if count:
            task = asyncio.create_task(_raw_blast(ws, join_ref, topic, count, v1))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    return ws


async def _serve_raw(port: int) -> tuple[str, Any]:
    """Start the raw server; return its URL and a stop coroutine function."""
    app = web.Application()
    app.router.add_get("/socket/websocket", _raw_handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    return f"ws://127.0.0.1:{bound}/socket/websocket", runner.cleanup


async def _serve_testing(port: int, max_channels: int = 100) -> tuple[str, Any]:
    """Start a ``fastphx.testing.PhoenixTestServer`` with a ``blast`` handler."""
    from fastphx.testing import PhoenixTestServer

    server = PhoenixTestServer(port=port, max_channels=max_channels)
    tasks: set[asyncio.Task[Any]] = set()

    async def blast(ctx: Any, payload: Any) -> Any:
        count = int(payload["count"])
        task = asyncio.get_running_loop().create_task(
            server.blast(ctx.topic, "stream", BLAST_PAYLOAD, count, join_ref=ctx.join_ref)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return {"count": count}

    server.add_channel("room:*", join=lambda ctx, params: {}, handlers={"blast": blast})
    await server.start()
    return server.url, server.stop


async def _run(impl: str, port: int, max_channels: int) -> None:
    """Serve until stdin reaches EOF or SIGTERM/SIGINT arrives."""
    if impl == "raw":
        url, stop = await _serve_raw(port)
    else:
        url, stop = await _serve_testing(port, max_channels)
    print(url, flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.add_reader(sys.stdin.fileno(), lambda: done.set() if not sys.stdin.read(1) else None)
    await done.wait()
    await stop()


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("testing", "raw"), default="testing")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-channels", type=int, default=100,
                        help="the testing server's channels per connection (100)")
    args = parser.parse_args(argv)
    asyncio.run(_run(args.impl, args.port, args.max_channels))


if __name__ == "__main__":
    main()

"""One measured client run of the end-to-end benchmark, in its own process.

``python bench/e2e_client.py MODE URL COUNT`` joins a fresh ``room:bench:*`` topic, asks the
server to blast COUNT pushes, receives them all, and prints one JSON line:
``{"mode", "count", "seconds", "cpu", "rate", "impl"}``. ``seconds`` and ``cpu`` (the
client process's ``time.process_time``) run from the ``blast`` push to the last push.

Modes:
- ``bare``: aiohttp's own receive loop (``async for msg in ws``), counting messages, with
  ``decode_text=False`` like fastphx (text frames stay bytes): the floor.
- ``bare_str``: the same loop with aiohttp's default ``decode_text=True`` (str messages).
- ``bare_decode``: ``bare`` plus ``fastphx.codec.decode`` of every message (no delivery).
- ``bare_queue``: ``bare`` reading aiohttp's private reader queue directly (no ``receive()``
  per message): what a client that bypasses ``receive()`` could reach.
- ``bare_orjson``: ``bare`` plus ``orjson.loads`` of every message (a naive reader's cost).
- ``lazy``: ``fastphx.Client``, every push through ``client.pushes()``, payloads unread.
- ``eager``: ``fastphx.Client(eager_payloads=True)``, reading every ``push.payload``.
- ``read``: ``fastphx.Client()`` (lazy payloads), reading every ``push.payload`` in the
  consumer (parsed there, freed right after use).
- ``lazy_receive`` / ``read_receive``: ``lazy`` / ``read`` with the reader taking every
  message through ``ws.receive()`` (its fast path off): the A/B of that fast path.
- ``picows_lazy`` / ``picows_read`` / ``picows_eager``: the same on ``transport="picows"``.
- ``lazy_batch`` / ``read_batch`` / ``picows_lazy_batch`` / ``picows_read_batch``: the
  consumer reads ``client.pushes().batches(max_size=1024)`` instead of one push per await.
- ``bare_picows``: picows' own frame callback counting messages (``get_payload_as_bytes``
  of each, as fastphx does): picows' floor.
Run ``lazy`` with ``FASTPHX_NO_EXTENSIONS=1`` in the environment for the pure-Python codec;
any mode with ``FASTPHX_BENCH_UVLOOP=1`` runs on uvloop's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import aiohttp
import orjson

__all__ = ["main", "run_bare", "run_fastphx"]

_TIMEOUT = 120.0


async def _queue_reads(ws: Any) -> Any:
    """Yield ``ws``'s messages; a data message already parsed comes straight from aiohttp's
    reader queue (``_reader.read()``: no ``receive()`` per message), anything else (control
    frames, waiting, EOF) through ``ws.receive()`` with its full semantics."""
    queue = ws._reader
    buffer, read, receive = queue._buffer, queue.read, ws.receive
    data_types = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
    while True:
        if buffer and buffer[0][0].type in data_types:
            yield await read()
        else:
            yield await receive()


async def run_bare(url: str, count: int, topic: str, *, decode_text: bool,
                   decode: Any = None, reader_queue: bool = False) -> tuple[float, float]:
    """Receive ``count`` blasted pushes with a bare aiohttp loop; return (seconds, cpu).

    With ``decode`` (a codec's ``decode``), every message is also decoded to a frame.
    """
    sep = "&" if "?" in url else "?"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url + sep + "vsn=2.0.0", decode_text=decode_text) as ws,
    ):
        await ws.send_str(orjson.dumps(["1", "1", topic, "phx_join", {}]).decode())
        await ws.receive(timeout=_TIMEOUT)  # the join reply
        t0, c0 = time.perf_counter(), time.process_time()
        await ws.send_str(orjson.dumps(["1", "2", topic, "blast", {"count": count}]).decode())
        expected = count + 1  # the blast's reply plus every push
        received = 0
        source: Any = _queue_reads(ws) if reader_queue else ws
        async for msg in source:
            if msg.type is aiohttp.WSMsgType.TEXT:
                if decode is not None:
                    decode(msg.data)
                received += 1
                if received == expected:
                    break
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if received != expected:
        raise SystemExit(f"bare loop: got {received} of {expected} messages")
    return seconds, cpu


async def run_bare_picows(url: str, count: int, topic: str) -> tuple[float, float]:
    """Receive ``count`` blasted pushes in picows' frame callback; return (seconds, cpu)."""
    import picows

    expected = count + 1  # the blast's reply plus every push
    done = asyncio.get_running_loop().create_future()

    class Listener(picows.WSListener):  # type: ignore[misc]
        received = 0

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type is picows.WSMsgType.TEXT:
                frame.get_payload_as_bytes()
                self.received += 1
                if self.received == expected and not done.done():
                    done.set_result(None)

    sep = "&" if "?" in url else "?"
    transport, listener = await picows.ws_connect(Listener, url + sep + "vsn=2.0.0")
    try:
        transport.send(picows.WSMsgType.TEXT, orjson.dumps(["1", "1", topic, "phx_join", {}]))
        listener.received -= 1  # the join reply is not counted
        t0, c0 = time.perf_counter(), time.process_time()
        transport.send(picows.WSMsgType.TEXT,
                       orjson.dumps(["1", "2", topic, "blast", {"count": count}]))
        await done
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        transport.disconnect()
    return seconds, cpu


async def run_fastphx(url: str, count: int, topic: str, *, eager: bool,
                      read: bool = False, transport: str = "aiohttp",
                      batch: bool = False) -> tuple[float, float]:
    """Receive ``count`` blasted pushes via ``fastphx.Client.pushes()`` (one per await, or
    ``batches()``); return (seconds, cpu)."""
    import fastphx

    async with fastphx.Client(url, topic=topic, eager_payloads=eager,
                              transport=transport) as client:  # type: ignore[arg-type]
        t0, c0 = time.perf_counter(), time.process_time()
        # Push concurrently: with overflow="block" a full buffer would otherwise stall the reader.
        reply_task = asyncio.ensure_future(client.push(topic, "blast", {"count": count}))
        received = 0
        if batch:
            async for pushes in client.pushes().batches(max_size=1024):
                for push in pushes:
                    if push.event == "stream":
                        if read:
                            push.payload  # noqa: B018  (reading it is what is measured)
                        received += 1
                if received >= count:
                    break
        else:
            async for push in client.pushes():
                if push.event == "stream":
                    if read:
                        push.payload  # noqa: B018  (reading it is what is measured)
                    received += 1
                    if received == count:
                        break
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        await reply_task
    return seconds, cpu


def main(argv: list[str] | None = None) -> None:
    """Run one mode and print its JSON result line."""
    mode, url, count_text = (argv if argv is not None else sys.argv[1:])[:3]
    count = int(count_text)
    topic = f"room:bench:{os.getpid()}"
    if mode in ("bare", "bare_str"):
        coro = run_bare(url, count, topic, decode_text=(mode == "bare_str"))
    elif mode == "bare_queue":
        coro = run_bare(url, count, topic, decode_text=False, reader_queue=True)
    elif mode == "bare_orjson":
        coro = run_bare(url, count, topic, decode_text=False, decode=orjson.loads)
    elif mode == "bare_decode":
        from fastphx.codec import decode

        coro = run_bare(url, count, topic, decode_text=False, decode=decode)
    elif mode == "bare_picows":
        coro = run_bare_picows(url, count, topic)
    elif mode in ("lazy_receive", "read_receive"):  # A/B: every message through ws.receive()
        import fastphx._transport_aiohttp

        fastphx._transport_aiohttp.message_queue = lambda ws: None  # type: ignore[assignment]
        base = mode.removesuffix("_receive")
        coro = run_fastphx(url, count, topic, eager=False, read=(base != "lazy"))
    else:
        transport = "picows" if mode.startswith("picows_") else "aiohttp"
        base = mode.removeprefix("picows_").removesuffix("_batch")
        if base not in ("lazy", "eager", "read"):
            raise SystemExit(f"unknown mode {mode!r}")
        coro = run_fastphx(url, count, topic, eager=(base == "eager"), read=(base != "lazy"),
                           transport=transport, batch=mode.endswith("_batch"))
    if os.environ.get("FASTPHX_BENCH_UVLOOP") == "1":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    seconds, cpu = asyncio.run(asyncio.wait_for(coro, _TIMEOUT))
    impl = "-"
    if not mode.startswith("bare") or mode == "bare_decode":
        import fastphx

        impl = fastphx.IMPLEMENTATION
    result = {"mode": mode, "count": count, "seconds": seconds, "cpu": cpu,
              "rate": count / seconds, "impl": impl}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

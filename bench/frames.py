"""Sample V2 frames shared by the codec benchmarks: small (~60 B), 1 KB and 64 KB."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

__all__ = ["SIZES", "Envelope", "frame", "payload"]

SIZES = ("small", "1KB", "64KB")


def _item(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "user": f"user-{i}",
        "price": 1234.5 + i,
        "qty": i * 7,
        "ok": i % 2 == 0,
        "tags": ["alpha", "beta", "gamma"],
        "note": "caf\u00e9 \u2014 plain text with an \"escape\"" if i % 5 == 0 else None,
    }


def payload(size: str) -> Any:
    """A realistic payload: objects, strings, ints, floats, bools, nulls, one escape."""
    if size == "small":
        return {"body": "hi", "n": 1}
    target = 1024 if size == "1KB" else 65536
    items: list[dict[str, Any]] = []
    while len(orjson.dumps({"items": items})) < target - 120:
        items.append(_item(len(items)))
    return {"items": items}


def frame(size: str) -> bytes:
    """The encoded frame of a channel push for that size class."""
    return orjson.dumps(["3", None, "room:lobby", "new_msg", payload(size)])


class Envelope(msgspec.Struct, array_like=True):
    """The strongest existing envelope decoder: a 5-field array, payload kept as raw JSON."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: msgspec.Raw

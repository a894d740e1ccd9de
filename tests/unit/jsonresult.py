"""Strict comparison of JSON results for the codec tests and fuzz harnesses."""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["tagged"]


def tagged(v: Any) -> list[Any]:
    """A flat list equal for two values exactly when they are the same JSON result: types,
    float bits and key order count. Iterative: payloads nest 1024 deep."""
    out: list[Any] = []
    stack = [v]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is float:
            out.append(("f", struct.pack("<d", x)))
        elif t is dict:
            out.append(("d", len(x)))
            for k, item in reversed(list(x.items())):
                stack.extend((item, k))
        elif t is list:
            out.append(("l", len(x)))
            stack.extend(reversed(x))
        elif t in (int, str, bool) or x is None:
            out.append((t.__name__, x))
        else:
            raise AssertionError(f"unexpected type {t!r}")
    return out

"""Shared by the codec tests: the hypothesis profile and a strict comparison of JSON results
(also used by the fuzz harnesses)."""

from __future__ import annotations

import os
import struct
from typing import Any

__all__ = ["tagged"]  # and PROFILE, built on first use (__getattr__)

def __getattr__(name: str) -> Any:
    """``PROFILE``: the Hypothesis settings of the codec property tests (the profile that
    FASTPHX_HYPOTHESIS_PROFILE names, registered in tests/unit/conftest.py). Built on first
    use, so the fuzz harnesses can import ``tagged`` without Hypothesis profiles."""
    if name != "PROFILE":
        raise AttributeError(name)
    from hypothesis import HealthCheck, settings

    return settings(
        settings.get_profile(os.environ.get("FASTPHX_HYPOTHESIS_PROFILE", "codec-ci")),
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


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

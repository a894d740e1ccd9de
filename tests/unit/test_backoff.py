"""Delay schedules: phoenix.js reconnect and rejoin schedules, full-jitter backoff."""

from __future__ import annotations

import itertools
import random

import pytest

from fastphx.backoff import (
    backoff,
    full_jitter_delay,
    phoenix_reconnect_delay,
    phoenix_rejoin_delay,
    schedule_delay,
)


def test_phoenix_reconnect_schedule() -> None:
    """Reconnect delays are 10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms, then 5000 ms."""
    delays = [phoenix_reconnect_delay(n) for n in range(1, 13)]
    assert delays == [0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 5.0, 5.0]


def test_phoenix_rejoin_schedule() -> None:
    """Rejoin delays are 1 s, 2 s, 5 s, then 10 s forever."""
    assert [phoenix_rejoin_delay(n) for n in range(1, 7)] == [1.0, 2.0, 5.0, 10.0, 10.0, 10.0]


def test_schedule_delay_rejects_bad_input() -> None:
    """An empty schedule or an attempt below 1 is a ValueError."""
    with pytest.raises(ValueError):
        schedule_delay((), 1)
    with pytest.raises(ValueError):
        schedule_delay((1.0,), 0)


def test_full_jitter_bounds() -> None:
    """Full jitter stays within [0, min(cap, base * 2**(n-1))]."""
    assert full_jitter_delay(1, base=0.1, cap=30, rng=lambda: 0.999999) < 0.1
    assert full_jitter_delay(4, base=0.1, cap=30, rng=lambda: 1.0) == pytest.approx(0.8)
    assert full_jitter_delay(20, base=0.1, cap=30, rng=lambda: 1.0) == 30
    assert full_jitter_delay(5000, base=0.1, cap=30, rng=lambda: 0.5) == 15
    assert full_jitter_delay(3, rng=lambda: 0.0) == 0.0


def test_full_jitter_spreads_values() -> None:
    """Jittered delays of the same attempt differ (no thundering herd)."""
    rng = random.Random(7).random
    values = {full_jitter_delay(6, base=0.1, cap=30, rng=rng) for _ in range(20)}
    assert len(values) == 20 and all(0 <= v <= 3.2 for v in values)


def test_backoff_generator_is_capped() -> None:
    """backoff() yields forever and never exceeds the cap."""
    delays = list(itertools.islice(backoff(base=1.0, cap=4.0, rng=lambda: 1.0), 6))
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_full_jitter_rejects_bad_input() -> None:
    """Attempt 0 or a negative cap is a ValueError."""
    with pytest.raises(ValueError):
        full_jitter_delay(0)
    with pytest.raises(ValueError):
        full_jitter_delay(1, cap=-1)

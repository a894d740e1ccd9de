"""Delay schedules for reconnects and rejoins (pure functions, no clock, no I/O).

- :func:`phoenix_reconnect_delay` mirrors the official JS client's socket schedule:
  10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms, then 5000 ms (no jitter).
- :func:`phoenix_rejoin_delay` mirrors its channel rejoin schedule: 1 s, 2 s, 5 s, then 10 s.
- :func:`full_jitter_delay` / :func:`backoff` give exponential backoff with full jitter
  (AWS "Exponential Backoff And Jitter"): each delay is uniform in ``[0, min(cap, base * 2**n)]``,
  which spreads a thundering herd of clients after a server restart.

Attempts are 1-based everywhere: attempt 1 is the first retry.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "PHOENIX_RECONNECT_SCHEDULE",
    "PHOENIX_REJOIN_SCHEDULE",
    "DelayFunction",
    "backoff",
    "full_jitter_delay",
    "phoenix_reconnect_delay",
    "phoenix_rejoin_delay",
    "schedule_delay",
]

#: A delay schedule: attempt number (1-based) -> seconds to wait before that attempt.
DelayFunction = Callable[[int], float]

PHOENIX_RECONNECT_SCHEDULE: tuple[float, ...] = (
    0.010, 0.050, 0.100, 0.150, 0.200, 0.250, 0.500, 1.0, 2.0, 5.0,
)
PHOENIX_REJOIN_SCHEDULE: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)


def schedule_delay(schedule: Sequence[float], attempt: int) -> float:
    """Return ``schedule[attempt - 1]``, repeating the last entry once the list runs out.

    Raises ``ValueError`` on an empty schedule or an attempt below 1.
    """
    if not schedule:
        raise ValueError("empty delay schedule")
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    return float(schedule[min(attempt, len(schedule)) - 1])


def phoenix_reconnect_delay(attempt: int) -> float:
    """Seconds before reconnect ``attempt`` on the phoenix.js socket schedule."""
    return schedule_delay(PHOENIX_RECONNECT_SCHEDULE, attempt)


def phoenix_rejoin_delay(attempt: int) -> float:
    """Seconds before rejoin ``attempt`` on the phoenix.js channel schedule."""
    return schedule_delay(PHOENIX_REJOIN_SCHEDULE, attempt)


def full_jitter_delay(
    attempt: int,
    *,
    base: float = 0.1,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before ``attempt``: uniform in ``[0, min(cap, base * 2 ** (attempt - 1))]``.

    ``rng`` returns a float in ``[0, 1)`` (pass a seeded ``random.Random().random`` in tests).
    Raises ``ValueError`` for an attempt below 1 or a negative base/cap.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must be >= 0")
    # min() before the power would overflow: 2**1100 is a float overflow.
    ceiling = cap if attempt > 64 else min(cap, base * 2.0 ** (attempt - 1))
    return ceiling * rng()


def backoff(
    *,
    base: float = 0.1,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Yield full-jitter exponential delays forever (attempt 1, 2, ...)."""
    attempt = 0
    while True:
        attempt += 1
        yield full_jitter_delay(attempt, base=base, cap=cap, rng=rng)

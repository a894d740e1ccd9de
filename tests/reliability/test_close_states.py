"""close() in every state (during connect, a join, backoff, a redial, with 10,000 pending
pushes, with blocked iterators, twice at once): prompt, every waiter ends typed, and stderr
is empty under asyncio debug mode with warnings as errors (a subprocess per state)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from relsuite import SECRETS, TIMEOUT

SCRIPT = Path(__file__).with_name("close_states.py")
STATES = ["connect", "join", "backoff", "redial", "pending_pushes", "blocked_iterators",
          "twice"]


def run_state(state: str, transport: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(SCRIPT), state, transport],
        capture_output=True, text=True, timeout=12 * TIMEOUT, check=False)


@pytest.mark.parametrize("state", STATES)
def test_close_in_state(state: str, transport: str) -> None:
    """close() in this state is prompt, ends every waiter typed, and leaves stderr empty."""
    result = run_state(state, transport)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert result.stdout.rstrip().endswith(f"OK {state} {transport}")
    assert not any(secret in result.stdout for secret in SECRETS)

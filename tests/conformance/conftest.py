"""Conformance fixtures: the official Phoenix JS client run by node against our test server.

``node_scenarios`` is the path of ``js/scenarios.mjs`` once node and
``js/node_modules/phoenix`` + ``ws`` are found; without them the test is skipped with the
reason, except when the ``CI`` environment variable is set, where it fails instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def node_scenarios() -> Path:
    """Path of js/scenarios.mjs; skips (fails under CI) when node or node_modules is missing."""
    missing = []
    if shutil.which("node") is None:
        missing.append("the `node` executable")
    for package in ("phoenix", "ws"):
        if not (JS_DIR / "node_modules" / package / "package.json").exists():
            missing.append(f"tests/conformance/js/node_modules/{package} (run `npm ci` there)")
    if missing:
        message = "conformance needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + " [CI forbids skipping]")
        pytest.skip(message)
    return JS_DIR / "scenarios.mjs"

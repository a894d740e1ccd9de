"""pytest-benchmark wrapper of the end-to-end bench (``bench/e2e.py`` is the full report).

Each round runs one client variant in a fresh process against a blast server process; the
timing is the whole client process (start-up included), and ``extra_info`` carries the
in-process receive rate and CPU seconds that ``bench/e2e.py`` reports.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e  # a sibling script, not a package

COUNT = 50_000


@pytest.fixture(scope="module")
def blast_url() -> Iterator[str]:
    """The URL of a raw blast server process, for the module."""
    proc, url = e2e.start_server("raw")
    try:
        yield url
    finally:
        e2e.stop_server(proc)


@pytest.mark.parametrize("key", ["bare", "lazy", "read", "eager"])
def test_e2e_receive(benchmark: Any, blast_url: str, key: str) -> None:
    """Every blasted push reaches the client variant; its rate is recorded."""
    variant = next(v for v in e2e.VARIANTS if v.key == key)
    if variant.needs_fastphx and not e2e.fastphx_client_available():
        pytest.skip("fastphx.Client is not available")
    results: list[dict[str, float]] = []

    def once() -> None:
        result = e2e.run_variant(variant, blast_url, COUNT)
        assert result is not None, f"{key} run failed"
        results.append(result)

    benchmark.pedantic(once, rounds=3, iterations=1)
    best = max(results, key=lambda r: r["rate"])
    assert best["count"] == COUNT
    benchmark.extra_info.update(rate=best["rate"], cpu=best["cpu"])

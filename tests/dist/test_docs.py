"""The docs site builds strictly, its nav points at real pages, and the benchmark chart works."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def script(name: str) -> ModuleType:
    """Imports scripts/<name>.py (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def plot_bench() -> ModuleType:
    """scripts/plot_bench.py as a module."""
    return script("plot_bench")


def nav_files(node: Any) -> list[str]:
    """Every markdown file named in a mkdocs nav tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [f for value in node.values() for f in nav_files(value)]
    return [f for item in node for f in nav_files(item)]


def test_every_nav_page_exists() -> None:
    """Each page in mkdocs.yml's nav exists under docs/ (strict mode fails otherwise)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = nav_files(config["nav"])
    assert "api.md" in pages and "protocol.md" in pages
    assert not [p for p in pages if not (ROOT / "docs" / p).is_file()]


def test_committed_benchmark_data_is_valid_and_chart_is_committed() -> None:
    """docs/benchmarks.json passes the plot script's validation and docs/img/bench.png is a PNG."""
    bench = plot_bench().load(ROOT / "docs" / "benchmarks.json")
    assert bench.groups and all(group.bars for group in bench.groups)
    assert (ROOT / "docs" / "img" / "bench.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("data", [
    {}, {"groups": []}, {"groups": [{"name": "x", "unit": "ns", "bars": []}]},
    {"groups": [{"name": "x", "unit": "ns", "bars": [{"label": "a", "value": -1}]}]},
    {"groups": [{"name": "x", "bars": [{"label": "a", "value": 1}]}]},
])
def test_plot_script_rejects_malformed_data(data: Any) -> None:
    """Missing groups, empty bars, non-positive values or a missing unit raise ValueError."""
    with pytest.raises(ValueError):
        plot_bench().parse(data)


def test_plot_script_writes_a_png(tmp_path: Path) -> None:
    """plot_bench.py draws the committed data into a PNG file."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "img" / "bench.png"
    assert plot_bench().main(["--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_hook_drops_sphinx_roles_before_code() -> None:
    """The MkDocs hook turns ``:class:<code>X</code>`` into ``<code>X</code>``, nothing else."""
    hook = script("mkdocs_hooks").on_page_content
    html = "a :class:<code>X</code>, :meth:<code>y</code> and :note: plain"
    assert hook(html) == "a <code>X</code>, <code>y</code> and :note: plain"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds and renders the API reference from the docstrings."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = (site / "api" / "index.html").read_text()
    assert 'id="fastphx.errors.FastphxError"' in api
    assert 'id="fastphx.codec.IMPLEMENTATION"' in api
    assert 'id="fastphx.client.Client"' in api
    assert ":class:<code>" not in api


"""Type checkers read the pure-Python codec source; the compiled build has the same surface.

There is no ``.pyi`` stub: ``fastphx.codec`` imports ``_codec_py`` under TYPE_CHECKING, and
Cython compiles that same file as ``_codec_c``. These tests hold the compiled module to the
source's names, signatures and class members, and run mypy --strict on a typed use.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pytest


def _public(names: Iterable[str]) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def test_compiled_all_matches_source(codec_c: ModuleType, codec_py: ModuleType) -> None:
    """The compiled module exports exactly the source's __all__."""
    assert sorted(codec_c.__all__) == sorted(codec_py.__all__)
    assert all(hasattr(codec_c, name) for name in codec_py.__all__)


def test_compiled_functions_match_source_signatures(
    codec_c: ModuleType, codec_py: ModuleType
) -> None:
    """Every exported function takes the source's parameter names in the same order."""
    for name in codec_py.__all__:
        py = getattr(codec_py, name)
        if inspect.isclass(py):
            continue
        c_params = list(inspect.signature(getattr(codec_c, name)).parameters)
        assert c_params == list(inspect.signature(py).parameters), name


@pytest.mark.parametrize("cls", ["Frame", "RefTable"])
def test_compiled_class_members_match_source(
    codec_c: ModuleType, codec_py: ModuleType, cls: str
) -> None:
    """A compiled class has exactly the source class's public attributes and methods."""
    assert _public(dir(getattr(codec_c, cls))) == _public(dir(getattr(codec_py, cls)))


def test_mypy_strict_accepts_typed_use(tmp_path: Path) -> None:
    """mypy --strict checks a typed use of the codec (read from its Python source) cleanly."""
    api = pytest.importorskip("mypy.api")
    use = tmp_path / "use_codec.py"
    use.write_text(
        "from fastphx.codec import Frame, RefTable, decode, encode, parse_reply\n"
        "from fastphx._types import RawJSON, Reply\n"
        "f: Frame = decode(b'[null,null,\"t\",\"e\",{}]')\n"
        "jr: str | None = f.join_ref\n"
        "raw: bytes = f.raw_payload\n"
        "out: bytes = encode(None, '1', 't', 'e', RawJSON(b'{}'))\n"
        "t = RefTable()\n"
        "ref: str = t.register(object())\n"
        "n: int = len(t)\n"
        "r: Reply = parse_reply(f)\n",
        encoding="utf-8",
    )
    stdout, stderr, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(use)]
    )
    assert status == 0, stdout + stderr


def test_pure_build_runs_without_cython() -> None:
    """Without Cython installed, the pure-Python source imports (its Cython class decorators
    come from a no-op shim) and decodes a frame."""
    code = (
        "import sys; sys.modules['cython'] = None\n"
        "from fastphx import _codec_py as py\n"
        "assert py.cython.__module__ == 'fastphx._cython_shim', py.cython\n"
        "f = py.decode(b'[null,null,\"t\",\"e\",{\"a\":1}]')\n"
        "assert (f.topic, f.payload) == ('t', {'a': 1}), f\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr

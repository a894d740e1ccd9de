"""The ``_codec.pyi`` stub matches the compiled extension, and mypy --strict accepts it."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pytest

import fastphx

STUB = Path(fastphx.__file__).with_name("_codec.pyi")


def _stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"))


def _stub_all(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError("the stub declares no __all__")


def _stub_defs(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def _public(names: Iterable[str]) -> set[str]:
    return {n for n in names if not n.startswith("_")}


@pytest.fixture
def ext(codec_c: ModuleType) -> ModuleType:
    """The compiled build (skipped, or failed under CI, when it is not built)."""
    return codec_c


def test_stub_all_matches_extension_all(ext: ModuleType) -> None:
    """The stub's __all__ lists exactly the extension's __all__, and defines every name."""
    tree = _stub_tree()
    assert sorted(_stub_all(tree)) == sorted(ext.__all__)
    assert set(ext.__all__) <= set(_stub_defs(tree.body))


def test_stub_functions_match_extension_signatures(ext: ModuleType) -> None:
    """Every stubbed module-level function takes the extension's parameter names."""
    defs = _stub_defs(_stub_tree().body)
    for name in ext.__all__:
        node = defs[name]
        if not isinstance(node, ast.FunctionDef):
            continue
        stub_params = [a.arg for a in node.args.args]
        ext_params = list(inspect.signature(getattr(ext, name)).parameters)
        assert stub_params == ext_params, name


@pytest.mark.parametrize("cls", ["Frame", "RefTable"])
def test_stub_class_members_match_extension(ext: ModuleType, cls: str) -> None:
    """A stubbed class has exactly the extension class's public attributes and methods."""
    node = _stub_defs(_stub_tree().body)[cls]
    assert isinstance(node, ast.ClassDef)
    stubbed = _public(_stub_defs(node.body))
    assert stubbed == _public(dir(getattr(ext, cls)))


def test_mypy_strict_accepts_stub_and_typed_use(tmp_path: Path) -> None:
    """mypy --strict checks the stub and a typed use of it without an error."""
    api = pytest.importorskip("mypy.api")
    use = tmp_path / "use_codec.py"
    use.write_text(
        "from fastphx._codec import Frame, RefTable, decode, encode, parse_reply\n"
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
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         str(STUB), str(use)]
    )
    assert status == 0, stdout + stderr

"""Contents of the built sdist and wheels (the artefacts ``scripts/check_dist.sh`` makes).

These tests build nothing: they inspect ``$FASTPHX_DIST_DIR`` (an sdist and a wheel, and
auditwheel's repaired wheels in ``$FASTPHX_DIST_DIR/wheelhouse``) and are skipped when it
is not set. Run them with ``make dist-check``.
"""

from __future__ import annotations

import os
import re
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

DIST_DIR = os.environ.get("FASTPHX_DIST_DIR")

pytestmark = pytest.mark.skipif(
    not DIST_DIR, reason="FASTPHX_DIST_DIR not set: run `make dist-check` to build and inspect"
)

WHEEL_MUST_HAVE = {"fastphx/__init__.py", "fastphx/py.typed", "fastphx/_codec_py.py",
                   "fastphx/_text_py.py", "fastphx/codec.py", "fastphx/_version.py",
                   "fastphx/testing/__init__.py", "fastphx/testing/pytest_plugin.py"}
SDIST_MUST_HAVE = {"src/fastphx/_codec_py.py", "src/fastphx/_codec_c.pxd",
                   "src/fastphx/_text.pyx", "src/fastphx/_text.pxd", "src/fastphx/_text_py.py",
                   "src/fastphx/_jsonscan.h", "src/fastphx/_jsonbuild.h",
                   "src/fastphx/py.typed", "README.md", "LICENSE", "pyproject.toml",
                   "setup.py", "tests/conftest.py", "CHANGELOG.md"}
BUILD_LEFTOVERS = (".c", ".pyx", ".pxd", ".h", ".o", ".pyc")


def dist_path() -> Path:
    """The artefact directory named by ``FASTPHX_DIST_DIR``."""
    assert DIST_DIR is not None
    return Path(DIST_DIR)


def wheels() -> list[Path]:
    """Every fastphx wheel: the one ``python -m build`` made and the repaired ones."""
    found = sorted(dist_path().glob("fastphx-*.whl")) + sorted(
        dist_path().glob("wheelhouse/fastphx-*.whl"))
    assert found, f"no wheel in {dist_path()}"
    return found


def sdist_names() -> set[str]:
    """The sdist's member names, without the leading ``fastphx-<version>/``."""
    (sdist,) = dist_path().glob("fastphx-*.tar.gz")
    with tarfile.open(sdist) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


def wheel_names(wheel: Path) -> set[str]:
    """The member names of one wheel."""
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def extension_modules(names: set[str]) -> list[str]:
    """The compiled extension modules among a wheel's members."""
    return [n for n in names if n.endswith((".so", ".pyd")) or ".dylib" in n]


@pytest.mark.parametrize("wheel", wheels() if DIST_DIR else [], ids=lambda p: p.name)
def test_wheel_has_package_marker_and_extensions(wheel: Path) -> None:
    """A wheel carries the package (both codec builds' Python source), ``py.typed`` and the two
    extensions: the compiled codec and its text kernel."""
    names = wheel_names(wheel)
    assert WHEEL_MUST_HAVE <= names, WHEEL_MUST_HAVE - names
    modules = sorted(n.rsplit("/", 1)[-1].split(".")[0] for n in extension_modules(names))
    assert modules == ["_codec_c", "_text"]


@pytest.mark.parametrize("wheel", wheels() if DIST_DIR else [], ids=lambda p: p.name)
def test_wheel_has_no_tests_or_build_leftovers(wheel: Path) -> None:
    """A wheel has no tests, no ``.c``/``.pyx``/``.pxd``/``.h`` sources and no object files."""
    names = wheel_names(wheel)
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/"))]
    assert not [n for n in names if n.endswith(BUILD_LEFTOVERS)]


@pytest.mark.parametrize("wheel", wheels() if DIST_DIR else [], ids=lambda p: p.name)
def test_wheel_extension_matches_its_tags(wheel: Path) -> None:
    """Each extension in a wheel is built for the wheel's own CPython and, on Linux, arch."""
    python_tag, abi_tag, platform_tag = wheel.stem.split("-")[-3:]
    assert python_tag.startswith("cp") and abi_tag == python_tag, wheel.name
    for ext in extension_modules(wheel_names(wheel)):
        assert python_tag[2:] in ext.rsplit("/", 1)[-1], (ext, python_tag)
        if "linux" in platform_tag:
            arch = re.sub(r"^(many|musl)?linux(_\d+_\d+|\d+)?_", "", platform_tag.split(".")[0])
            assert f"-{arch}-linux" in ext, (ext, arch)


def test_repaired_wheel_is_manylinux() -> None:
    """``auditwheel repair`` produced a manylinux-tagged wheel with the extension."""
    if not sys.platform.startswith("linux"):
        pytest.skip("auditwheel runs on Linux only")
    repaired = sorted(dist_path().glob("wheelhouse/fastphx-*manylinux*.whl"))
    assert len(repaired) == 1, repaired
    assert extension_modules(wheel_names(repaired[0]))


def test_sdist_has_sources_tests_readme_license() -> None:
    """The sdist has the codec source, the ``.pyx``/``.pxd`` files and C headers, the tests,
    README and LICENSE."""
    names = sdist_names()
    assert SDIST_MUST_HAVE <= names, SDIST_MUST_HAVE - names
    assert any(n.startswith("tests/unit/test_") for n in names)


def test_sdist_has_no_generated_or_compiled_files() -> None:
    """The sdist carries no generated ``.c``, compiled objects, caches or node_modules."""
    names = sdist_names()
    assert not [n for n in names if n.endswith((".c", ".so", ".pyd", ".o", ".pyc"))]
    assert not [n for n in names if "node_modules/" in n or "__pycache__" in n]

"""The ``[tool.cibuildwheel]`` configuration selects exactly the wheels we promise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ["cp310", "cp311", "cp312", "cp313", "cp314"]
EXPECTED = {
    "linux": {f"{py}-{libc}_{arch}" for py in PYTHONS for libc in ("manylinux", "musllinux")
              for arch in ("x86_64", "aarch64")},
    "macos": {f"{py}-macosx_{arch}" for py in PYTHONS for arch in ("x86_64", "arm64")},
    "windows": {f"{py}-win_amd64" for py in PYTHONS},
}


def identifiers(platform: str) -> set[str]:
    """The build identifiers cibuildwheel would build on ``platform`` with our config."""
    try:
        import cibuildwheel  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("cibuildwheel (dev extra) is required in CI")
        pytest.skip("cibuildwheel is not installed (pip install -e '.[dev]')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    proc = subprocess.run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
         "--platform", platform, str(ROOT)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


@pytest.mark.parametrize("platform", sorted(EXPECTED))
def test_cibuildwheel_builds_cpython_310_to_314_on_every_platform(platform: str) -> None:
    """cibuildwheel selects CPython 3.10-3.14 for each promised platform/arch, no PyPy."""
    assert identifiers(platform) == EXPECTED[platform]

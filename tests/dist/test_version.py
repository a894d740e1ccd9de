"""The version comes from one place, ``fastphx/_version.py``, and everything agrees with it."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import fastphx
from fastphx import _version

ROOT = Path(__file__).resolve().parents[2]


def test_version_equals_installed_metadata() -> None:
    """``fastphx.__version__`` equals the version in the installed distribution's metadata."""
    assert fastphx.__version__ == importlib.metadata.version("fastphx")


def test_version_is_the_one_in_version_module() -> None:
    """The package re-exports ``_version.__version__`` rather than keeping its own copy."""
    assert fastphx.__version__ is _version.__version__


def test_changelog_has_a_section_for_the_version() -> None:
    """CHANGELOG.md (Keep a Changelog) has a ``## [<version>]`` section and a link for it."""
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{fastphx.__version__}]" in changelog
    assert f"[{fastphx.__version__}]: " in changelog

"""Shared fixtures: the ``codec`` fixture runs a test on both codec builds ("c" and "py");
the ``transport`` fixture runs a client test on every transport ("aiohttp" and "picows").

A missing C extension skips the "c" run with a reason, except under ``CI`` or
``FASTPHX_REQUIRE_EXTENSION=1``, where it fails: CI must never silently skip the C build.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import pytest

CODEC_MODULES = {"c": "fastphx._codec_c", "py": "fastphx._codec_py"}
TRANSPORTS = ("aiohttp", "picows")  # fastphx._transport.TRANSPORTS (the fixture checks)


def extension_required() -> bool:
    """True when a missing C extension must fail the run instead of skipping."""
    return bool(os.environ.get("CI")) or os.environ.get("FASTPHX_REQUIRE_EXTENSION") == "1"


def load_codec(name: str) -> ModuleType:
    """Imports one codec build by name ("c" or "py"); skips or fails if "c" is not built."""
    try:
        return importlib.import_module(CODEC_MODULES[name])
    except ImportError as exc:
        if name == "py":
            raise
        message = f"C extension fastphx._codec_c is not built ({exc}); run `make test`"
        if extension_required():
            pytest.fail(message + " [CI / FASTPHX_REQUIRE_EXTENSION forbid skipping]")
        pytest.skip(message)


@pytest.fixture(params=["c", "py"])
def codec(request: pytest.FixtureRequest) -> ModuleType:
    """The codec module under test: ``fastphx._codec_c`` ("c") or ``fastphx._codec_py`` ("py")."""
    return load_codec(request.param)


@pytest.fixture
def codec_c() -> ModuleType:
    """The C build (skipped or failed like the "c" run of ``codec`` when it is not built)."""
    return load_codec("c")


@pytest.fixture
def codec_py() -> ModuleType:
    """The pure-Python build."""
    return load_codec("py")


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Each client test runs on every transport (the behaviour must be the same); one whose
    library is not installed (picows is optional) is skipped."""
    from fastphx._transport import TRANSPORTS as CLIENT_TRANSPORTS

    assert TRANSPORTS == CLIENT_TRANSPORTS, "a transport is missing from the fixture"
    name: str = request.param
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed (pip install 'fastphx[{name}]')")
    return name

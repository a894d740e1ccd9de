"""Builds the optional Cython extension ``fastphx._codec``.

Environment:
- ``FASTPHX_NO_EXTENSIONS=1``: do not build the extension (the pure-Python twin is used).
- ``FASTPHX_BUILD_EXTENSION=yes``: the extension is mandatory; a failed build fails the
  install instead of silently falling back (wheels and CI use this).
Without either, a failed build prints a warning and installs the pure-Python package.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_EXTENSIONS = bool(os.environ.get("FASTPHX_NO_EXTENSIONS"))
REQUIRE_EXTENSION = os.environ.get("FASTPHX_BUILD_EXTENSION", "").lower() in {"1", "yes", "true"}


class OptionalBuildExt(build_ext):
    """build_ext that tolerates a failure unless the extension is mandatory."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure
            self._fail(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if REQUIRE_EXTENSION:
            raise
        print(f"WARNING: fastphx._codec was not built ({exc}); using the pure-Python codec",
              file=sys.stderr)


def extensions() -> list[Extension]:
    if NO_EXTENSIONS and not REQUIRE_EXTENSION:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if REQUIRE_EXTENSION:
            raise
        print("WARNING: Cython is missing; using the pure-Python codec", file=sys.stderr)
        return []
    ext = Extension(
        "fastphx._codec",
        ["src/fastphx/_codec.pyx"],
        depends=["src/fastphx/_jsonscan.h", "src/fastphx/_jsonenc.h", "src/fastphx/_jsonbuild.h"],
    )
    return cythonize(
        [ext],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})

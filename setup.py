"""Builds the optional compiled codec: ``fastphx._codec_c`` and its text kernel ``fastphx._text``.

Environment:
- ``FASTPHX_NO_EXTENSIONS=1``: do not build the extensions (the pure-Python codec is used).
- ``FASTPHX_BUILD_EXTENSION=yes``: the extensions are mandatory; a failed build fails the
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
        print(f"WARNING: the fastphx codec extensions were not built ({exc}); using the pure-Python codec",
              file=sys.stderr)


# The compiled build, in one place: its modules, the C headers they include, Cython directives.
# fastphx._codec_c is _codec_py.py compiled through _codec_c.pxd (Python semantics kept: no
# unchecked indexing there); fastphx._text is the C text kernel, whose every read is bounds-
# checked by hand (_jsonscan.h), so it turns Cython's checks off.
SRC = "src/fastphx/"
HEADERS = [SRC + "_jsonscan.h", SRC + "_jsonbuild.h"]
DIRECTIVES = {"language_level": "3", "freethreading_compatible": False, "annotation_typing": False}
KERNEL_DIRECTIVES = {**DIRECTIVES, "boundscheck": False, "wraparound": False, "cdivision": True}


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
    kernel = Extension("fastphx._text", [SRC + "_text.pyx"], depends=[SRC + "_text.pxd", *HEADERS])
    codec = Extension("fastphx._codec_c", [SRC + "_codec_py.py"],
                      depends=[SRC + "_codec_c.pxd", SRC + "_text.pxd"])
    return [
        *cythonize([kernel], compiler_directives=KERNEL_DIRECTIVES, include_path=["src"]),
        *cythonize([codec], compiler_directives=DIRECTIVES, include_path=["src"]),
    ]


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})

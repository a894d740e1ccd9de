"""Cython's pure-mode class decorators as no-ops: ``_codec_py.py`` runs without Cython.

Cython reads the decorators when it compiles ``_codec_py.py`` as ``fastphx._codec_c``; the
pure-Python build imports this module in their place when Cython is not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["cython"]

T = TypeVar("T")


def _same(cls: T) -> T:
    return cls


class cython:  # lower case: it stands in for the module of that name
    """The decorators ``_codec_py.py`` uses, each returning the class unchanged."""

    cclass = staticmethod(_same)
    no_gc = staticmethod(_same)

    @staticmethod
    def freelist(size: int) -> Callable[[T], T]:
        return _same

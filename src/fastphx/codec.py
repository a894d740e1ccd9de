"""Selects the codec build: compiled (``fastphx._codec_c``) or pure Python (``fastphx._codec_py``).

Both come from one source, ``_codec_py.py`` (Cython compiles it through ``_codec_c.pxd``).
``FASTPHX_NO_EXTENSIONS=1`` (any non-empty value) forces the pure-Python build; so does a
missing extension. ``IMPLEMENTATION`` says which one was loaded: ``"c"`` or ``"py"``.
Type checkers read the pure-Python source.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._types import RawJSON, Reply
from .errors import FrameDecodeError

__all__ = [
    "IMPLEMENTATION",
    "Frame",
    "FrameDecodeError",
    "RawJSON",
    "RefTable",
    "Reply",
    "decode",
    "decode_binary",
    "decode_eager",
    "encode",
    "encode_binary",
    "parse_reply",
]

IMPLEMENTATION: str = "py"

if TYPE_CHECKING or os.environ.get("FASTPHX_NO_EXTENSIONS"):
    from . import _codec_py as _build
else:
    try:
        from . import _codec_c as _build

        IMPLEMENTATION = "c"
    except ImportError:  # the extension is not built: use the pure-Python build
        from . import _codec_py as _build

Frame = _build.Frame
RefTable = _build.RefTable
decode = _build.decode
decode_binary = _build.decode_binary
decode_eager = _build.decode_eager
encode = _build.encode
encode_binary = _build.encode_binary
parse_reply = _build.parse_reply
Router = _build.Router  # internal: the client's per-message routing and counting

"""Selects the codec build: the Cython extension, or its pure-Python twin.

``FASTPHX_NO_EXTENSIONS=1`` (any non-empty value) forces the pure-Python twin; so does a
missing extension. ``IMPLEMENTATION`` says which one was loaded: ``"c"`` or ``"py"``.
"""

from __future__ import annotations

import os

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

IMPLEMENTATION: str

if not os.environ.get("FASTPHX_NO_EXTENSIONS"):
    try:
        from ._codec import (
            Frame,
            RefTable,
            decode,
            decode_binary,
            decode_eager,
            encode,
            encode_binary,
            parse_reply,
        )

        IMPLEMENTATION = "c"
    except ImportError:  # the extension is not built: use the twin
        IMPLEMENTATION = "py"
else:
    IMPLEMENTATION = "py"

if IMPLEMENTATION == "py":
    from ._codec_py import (  # type: ignore[assignment]
        Frame,
        RefTable,
        decode,
        decode_binary,
        decode_eager,
        encode,
        encode_binary,
        parse_reply,
    )

"""Small value types shared by both codec builds (pure Python, imported by the extension)."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["UNPARSED", "RawJSON", "Reply"]

# A text Frame's payload before its first read (shared by both builds and both scanners).
UNPARSED: Any = object()


class Reply(NamedTuple):
    """A ``phx_reply`` payload: ``status`` ("ok", "error", ...) and the decoded ``response``.

    For a binary reply (binary serializer, kind 1) ``response`` is ``bytes``.
    """

    status: str
    response: Any


class RawJSON:
    """Pre-encoded JSON spliced verbatim into an encoded frame as its payload.

    ``encode(..., RawJSON(b'{"a":1}'))`` writes the bytes as they are, without
    parsing or re-encoding them, so a fan-out sender pays payload encoding once.
    The bytes are trusted: they are not validated.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray | memoryview | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.data: bytes = bytes(data)

    def __repr__(self) -> str:
        return f"RawJSON({self.data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawJSON) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)

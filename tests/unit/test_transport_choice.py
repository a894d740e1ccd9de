"""Choosing a transport: names, the optional picows extra, and aiohttp-only options."""

from __future__ import annotations

import sys

import aiohttp
import pytest

import fastphx


def test_unknown_transport_is_refused() -> None:
    """An unknown transport name raises ValueError at construction."""
    with pytest.raises(ValueError, match="transport must be one of aiohttp, picows"):
        fastphx.Client("ws://127.0.0.1:9/socket/websocket", transport="tornado")  # type: ignore[arg-type]


def test_picows_missing_raises_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for picows when it is not installed names the extra to install."""
    monkeypatch.setitem(sys.modules, "picows", None)  # import picows -> ImportError
    monkeypatch.delitem(sys.modules, "fastphx._transport_picows", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'fastphx\[picows\]'"):
        fastphx.Client("ws://127.0.0.1:9/socket/websocket", transport="picows")


async def test_session_is_aiohttp_only() -> None:
    """A caller's aiohttp session with another transport is a ValueError, not ignored."""
    pytest.importorskip("picows")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match=r"session= .* needs transport='aiohttp'"):
            fastphx.Client("ws://127.0.0.1:9/socket/websocket", transport="picows",
                           session=session)
        client = fastphx.Client("ws://127.0.0.1:9/socket/websocket", session=session)
        assert client._transport.name == "aiohttp"


def test_compress_is_aiohttp_only() -> None:
    """permessage-deflate with picows (which does not implement it) is a ValueError."""
    pytest.importorskip("picows")
    with pytest.raises(ValueError, match=r"compress=True .* needs transport='aiohttp'"):
        fastphx.Client("ws://127.0.0.1:9/socket/websocket", transport="picows", compress=True)

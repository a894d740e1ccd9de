"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import fastphx
from fastphx.testing import PhoenixTestServer

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


async def test_readme_test_server_example(phx_server: PhoenixTestServer) -> None:
    """The README's phx_server example passes against the real fixture."""
    (block,) = [b for b in _python_blocks() if "phx_server" in b]
    namespace: dict[str, Any] = {"fastphx": fastphx}
    exec(compile(block, str(README), "exec"), namespace)
    await namespace["test_echo"](phx_server)
    assert phx_server.joins["room:1"] == 1


def test_readme_usage_example_compiles() -> None:
    """The README's client usage example is valid Python naming real API."""
    (block,) = [b for b in _python_blocks() if "asyncio.run(main())" in b]
    compile(block, str(README), "exec")
    client = fastphx.Client("ws://127.0.0.1:9/socket/websocket")  # no I/O until connect()
    for name in re.findall(r"client\.(\w+)", block):
        assert hasattr(client, name), name

"""The WebSocket upgrade as Phoenix answers it: the serializer for ``vsn``, the connect
params (the last of a repeated parameter), the token subprotocol, and the refusals.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING

from aiohttp import web

from ._wire import V1, V2, Serializer

if TYPE_CHECKING:
    from .server import PhoenixTestServer

__all__ = ["AUTH_TOKEN_PREFIX", "negotiate_serializer", "refusal", "token_from_header"]

AUTH_TOKEN_PREFIX = "base64url.bearer.phx."


def decode_token(encoded: str) -> str:
    """Decode a ``base64url.bearer.phx.`` token (standard or URL alphabet, padding optional).

    Raises ``ValueError`` if it is not base64.
    """
    text = encoded.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except binascii.Error as exc:
        raise ValueError("the token subprotocol is not base64") from exc


def token_from_header(header: str | None) -> str | None:
    """Return the token carried in a ``Sec-WebSocket-Protocol`` header, or None."""
    if not header:
        return None
    for item in header.split(","):
        item = item.strip()
        if item.startswith(AUTH_TOKEN_PREFIX):
            return decode_token(item[len(AUTH_TOKEN_PREFIX):])
    return None


_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


def negotiate_serializer(vsn: str | None) -> Serializer | None:
    """The serializer for ``vsn`` as Phoenix negotiates it (no vsn means "1.0.0"; V1 serves
    ``~> 1.0.0``, V2 ``~> 2.0.0``); None (HTTP 403) for any other or invalid version."""
    match = _SEMVER.fullmatch("1.0.0" if vsn is None else vsn)
    if match is None or (match[4] and match[3] == "0"):  # x.y.0-pre is below ~> x.y.0
        return None
    serializers: dict[tuple[str, str], Serializer] = {("1", "0"): V1, ("2", "0"): V2}
    return serializers.get((match[1], match[2]))


def refusal(server: PhoenixTestServer, request: web.Request
            ) -> web.Response | tuple[dict[str, str], str | None, Serializer]:
    """Return an HTTP refusal, or the connect params, token and serializer of an upgrade.

    Repeated query parameters: the last value counts (Plug's query decoding).
    """
    status = server._faults.take_refusal()
    if status is not None:
        server._hub.notify()
        return web.Response(status=status)
    params = dict(request.query.items())  # a repeated key keeps its last value
    serializer = negotiate_serializer(params.pop("vsn", None))
    if serializer is None:
        return web.Response(status=403)  # Phoenix: no serializer matches the version
    token = None
    if server.profile.token_subprotocol:
        try:
            token = token_from_header(request.headers.get("Sec-WebSocket-Protocol"))
        except ValueError:
            return web.Response(status=500)  # Phoenix's Base.decode64! raises
    return params, token, serializer

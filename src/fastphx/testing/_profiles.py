"""The Phoenix releases the test server imitates: ``PhoenixTestServer(phoenix="1.8" | "1.7")``.

Each profile is the set of wire behaviours that differ between the two release lines, with
the release that introduced each (read from Phoenix's ``lib/phoenix/socket.ex`` history and
its CHANGELOG; 1.7.21 was also observed frame by frame):

=====================================  ===========================  =====================
behaviour                              ``"1.7"`` (1.7.21)           ``"1.8"`` (1.8.12)
=====================================  ===========================  =====================
push with a stale join_ref             delivered                    dropped (1.8.3)
push or leave with a null join_ref     push delivered, leave        accepted (1.8.12;
                                       ignored (no reply)           1.8.3-1.8.11 dropped it)
joined channels per socket             no limit (100 from 1.7.24)   100 (1.8.9)
``phx_error`` payload                  ``{}``                       ``{"reason":
                                                                    "channel_crash"}``
                                                                    (1.8.10)
token in ``Sec-WebSocket-Protocol``    ignored, no subprotocol      read, ``phoenix``
                                       selected                     selected (1.8.0)
=====================================  ===========================  =====================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PROFILES", "PhoenixProfile", "profile"]


@dataclass(frozen=True)
class PhoenixProfile:
    """How one Phoenix release line behaves where the lines differ (see the module table)."""

    name: str
    #: The release the profile imitates exactly.
    release: str
    #: Drop a non-join message whose join_ref is neither null nor the channel's (1.8.3+).
    drops_stale_join_ref: bool
    #: A ``phx_leave`` with a null join_ref leaves the channel (1.8.12+); else it is ignored.
    leave_accepts_null_join_ref: bool
    #: The default of ``max_channels`` (None: no limit).
    max_channels: int | None
    #: The payload of ``phx_error`` when a channel crashes.
    crash_payload: dict[str, Any]
    #: Read the ``base64url.bearer.phx.`` token and select the ``phoenix`` subprotocol.
    token_subprotocol: bool


PROFILES: dict[str, PhoenixProfile] = {
    "1.7": PhoenixProfile(
        name="1.7", release="1.7.21", drops_stale_join_ref=False,
        leave_accepts_null_join_ref=False, max_channels=None, crash_payload={},
        token_subprotocol=False),
    "1.8": PhoenixProfile(
        name="1.8", release="1.8.12", drops_stale_join_ref=True,
        leave_accepts_null_join_ref=True, max_channels=100,
        crash_payload={"reason": "channel_crash"}, token_subprotocol=True),
}


def profile(name: str) -> PhoenixProfile:
    """Return the profile called ``name`` ("1.7" or "1.8"); raise ``ValueError`` otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"phoenix={name!r}: expected one of {sorted(PROFILES)}") from None

"""The package exports what the docs say (README, docs/client.md, notes' client contract)."""

from __future__ import annotations

import inspect

import fastphx

DOCUMENTED = {
    # client
    "Client", "PushStream", "Push", "Status", "ChannelErrorCode", "SwitchTeamReply",
    "ScopeBlock", "SwitchedTeam", "SwitchedStreamSet", "Reply", "RawJSON",
    # presence
    "Presence",
    # errors
    "FastphxError", "FrameDecodeError", "LocalProtocolError", "NotJoinedError", "ConnectError",
    "AuthError", "ConnectionLostError", "ClientClosedError", "FastphxTimeout", "ConnectTimeout",
    "JoinTimeout", "PushTimeout", "ChannelError", "ChannelClosedError", "ChannelCrashedError",
    "ReplyBlockedError", "EnvelopeError", "DEFAULT_TOPIC", "RECONNECTING_EVENT",
    "REJOINED_EVENT",
    # codec
    "IMPLEMENTATION", "Frame", "decode", "decode_binary", "encode", "encode_binary",
    "parse_reply", "__version__",
}


def test_all_is_true() -> None:
    """Every name in fastphx.__all__ exists, and __all__ has no duplicates."""
    assert len(set(fastphx.__all__)) == len(fastphx.__all__)
    for name in fastphx.__all__:
        assert hasattr(fastphx, name), name


def test_documented_names_exported() -> None:
    """Every documented public name is in fastphx.__all__."""
    assert DOCUMENTED <= set(fastphx.__all__)


def test_client_contract_signature() -> None:
    """Client takes the documented keyword options and has the documented methods."""
    params = inspect.signature(fastphx.Client).parameters
    for name in ("url", "api_key", "topic", "join_params", "params", "auth_token",
                 "heartbeat_interval", "push_buffer_size", "overflow", "reconnect", "logger",
                 "session", "ssl", "connect_timeout", "reply_timeout", "eager_payloads"):
        assert name in params, name
    assert params["topic"].default == "console:lobby"
    assert params["heartbeat_interval"].default == 30.0
    assert params["push_buffer_size"].default == 256
    assert params["reply_timeout"].default == 10.0
    for method in ("connect", "close", "join_topic", "leave_topic", "push", "push_binary",
                   "pushes", "switch_team"):
        assert callable(getattr(fastphx.Client, method)), method


def test_status_and_codes() -> None:
    """Status members and str(), ChannelErrorCode values, as documented."""
    assert [str(s) for s in fastphx.Status] == [
        "init", "connecting", "connected", "reconnecting", "closed"]
    assert {c.value for c in fastphx.ChannelErrorCode} == {
        "forbidden", "not_found", "noop", "invalid", "rate_limited"}


def test_frame_is_a_push() -> None:
    """A decoded Frame counts as a fastphx.Push (it is what pushes() delivers)."""
    frame = fastphx.decode(b'[null,null,"t","e",{"a":1}]')
    assert isinstance(frame, fastphx.Push)
    push = fastphx.Push("t", "e", {"a": 1})
    assert push.raw_payload == b'{"a":1}' and push.binary is False


def test_timeouts_are_builtin_timeouts() -> None:
    """Every fastphx timeout is a TimeoutError; connect errors are ConnectionErrors."""
    assert issubclass(fastphx.PushTimeout, TimeoutError)
    assert issubclass(fastphx.JoinTimeout, TimeoutError)
    assert issubclass(fastphx.ConnectTimeout, TimeoutError)
    assert issubclass(fastphx.AuthError, ConnectionError)


def test_presence_module_exports() -> None:
    """fastphx.presence exports the documented Presence names; fastphx.Presence is its class."""
    from fastphx import presence

    assert {"Presence", "PresenceSync", "sync_state", "sync_diff", "list", "EVENTS"} <= set(
        presence.__all__)
    assert fastphx.Presence is presence.Presence
    for name in ("on_join", "on_leave", "on_sync", "list", "close"):
        assert callable(getattr(fastphx.Presence, name)), name
    assert isinstance(fastphx.Presence.state, property)

"""The reference's product envelope (fastphx.console) and the client's construction-time
checks: strict switch_team parsing, zero values, URL validation, RFC 3339 stamps."""

from __future__ import annotations

from typing import Any

import pytest

import fastphx
from fastphx.client import rfc3339_nano
from fastphx.console import SwitchTeamReply

GOOD: dict[str, Any] = {
    "scope": {"user_id": "u1", "team_id": "t1", "plan": "pro"},
    "team": {"id": "t1", "name": "Acme", "personal": False, "ownership_model": "org"},
    "role": "owner",
    "streams": {"catalog": ["catalog:t1"], "items": ["item:9"]},
    "extra": {"ignored": True},
}


def test_switch_team_reply_parses_a_good_envelope() -> None:
    """Every field lands in its typed slot; unknown fields are ignored."""
    reply = SwitchTeamReply.from_response(GOOD)
    assert reply.scope == fastphx.ScopeBlock("u1", "t1", "pro")
    assert reply.team == fastphx.SwitchedTeam("t1", "Acme", False, "org")
    assert reply.role == "owner"
    assert reply.streams == fastphx.SwitchedStreamSet(("catalog:t1",), ("item:9",))


@pytest.mark.parametrize("response", [None, {}, {"scope": None, "team": {"personal": None}}])
def test_missing_or_null_fields_take_zero_values(response: Any) -> None:
    """As Go's encoding/json: missing and null fields are zero values, not errors."""
    reply = SwitchTeamReply.from_response(response)
    assert reply.team.personal is False and reply.scope.user_id == "" and reply.role == ""


@pytest.mark.parametrize("path, value, field", [
    (("scope",), "x", "scope"),
    (("team",), [1], "team"),
    (("streams",), 3, "streams"),
    (("team", "personal"), "yes", "team.personal"),
    (("team", "personal"), 1, "team.personal"),
    (("scope", "user_id"), 42, "scope.user_id"),
    (("role",), {"a": 1}, "response.role"),
    (("streams", "catalog"), "catalog:t1", "streams.catalog"),
    (("streams", "items"), ["ok", 7], "streams.items[1]"),
])
def test_wrong_json_type_raises_envelope_error(path: tuple[str, ...], value: Any,
                                               field: str) -> None:
    """A field of the wrong JSON type raises EnvelopeError naming it."""
    response: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v)
                                for k, v in GOOD.items()}
    target = response
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(fastphx.EnvelopeError) as info:
        SwitchTeamReply.from_response(response)
    assert info.value.field == field and field in str(info.value)
    assert isinstance(info.value, ValueError)


def test_response_not_an_object_raises() -> None:
    """A success reply whose response is a list is not a switch_team envelope."""
    with pytest.raises(fastphx.EnvelopeError) as info:
        SwitchTeamReply.from_response([1, 2])
    assert info.value.field == "response" and info.value.got == "array"


def test_zero_values_mean_defaults() -> None:
    """topic "" -> console:lobby, push_buffer_size <= 0 -> 256, heartbeat <= 0 -> 30 s."""
    client = fastphx.Client("ws://127.0.0.1:9/socket/websocket", topic="",
                            push_buffer_size=0, heartbeat_interval=-1)
    assert client.topic == fastphx.DEFAULT_TOPIC == "console:lobby"
    assert client.push_buffer_size == 256 and client.heartbeat_interval == 30.0


@pytest.mark.parametrize("url, message", [
    ("", "empty"),
    ("   ", "empty"),
    ("ftp://127.0.0.1/socket", "scheme"),
    ("127.0.0.1:4000/socket/websocket", "scheme"),
    ("ws:///socket/websocket", "no host"),
])
def test_url_validated_at_construction(url: str, message: str) -> None:
    """A bad URL raises ValueError saying what is wrong, before any I/O."""
    with pytest.raises(ValueError, match=message) as info:
        fastphx.Client(url)
    assert str(info.value).startswith("invalid URL")


def test_url_error_does_not_echo_credentials() -> None:
    """The URL (which may hold an api_key) is not repeated in the error."""
    with pytest.raises(ValueError) as info:
        fastphx.Client("ftp://host/x?api_key=sk-live-abc123")
    assert "sk-live-abc123" not in str(info.value)


@pytest.mark.parametrize("given, shown", [
    ("http://127.0.0.1:4000/socket/websocket", "ws://127.0.0.1:4000/socket/websocket"),
    ("https://example.test/socket/websocket", "wss://example.test/socket/websocket"),
    ("WSS://example.test/socket/websocket", "wss://example.test/socket/websocket"),
])
def test_http_schemes_map_to_websocket(given: str, shown: str) -> None:
    """http/https become ws/wss, as phoenix.js does."""
    assert fastphx.Client(given).url == shown


@pytest.mark.parametrize("epoch_ns, text", [
    (1_796_000_000_000_000_000, "2026-11-30T00:53:20Z"),
    (1_796_000_000_500_000_000, "2026-11-30T00:53:20.5Z"),
    (1_796_000_000_123_456_789, "2026-11-30T00:53:20.123456789Z"),
    (1_796_000_000_000_001_000, "2026-11-30T00:53:20.000001Z"),
])
def test_rfc3339_nano_like_go(epoch_ns: int, text: str) -> None:
    """next_attempt_at is formatted like Go's time.RFC3339Nano: zeros trimmed."""
    assert rfc3339_nano(epoch_ns) == text

"""The test server's pure pieces, without sockets: JSON as Jason reads and writes it, the
serializers, vsn negotiation, and which messages a joined channel takes per Phoenix profile."""

from __future__ import annotations

from typing import Any

import pytest

from fastphx.testing import PROFILES
from fastphx.testing._connection import Inbound
from fastphx.testing._socket import _is_current
from fastphx.testing._upgrade import negotiate_serializer
from fastphx.testing._wire import V1, V2, dumps, loads


@pytest.mark.parametrize(("text", "value"), [
    ('{"a":1,"a":2}', {"a": 1}),
    ('{"n":18446744073709551617}', {"n": 18446744073709551617}),
    ('[1, 2.5, "é", null, true]', [1, 2.5, "é", None, True]),
    ('["\\ud83d\\ude00"]', ["😀"]),
])
def test_loads_reads_as_jason(text: str, value: Any) -> None:
    """The first duplicate key wins, big integers stay exact, escapes and spaces are read."""
    assert loads(text) == value
    assert loads(text.encode()) == value


@pytest.mark.parametrize("text", ["[NaN]", "[Infinity]", '["\\ud800"]', "[1,", ""])
def test_loads_refuses_what_jason_refuses(text: str) -> None:
    """NaN, Infinity, a lone surrogate and broken JSON raise ValueError."""
    with pytest.raises(ValueError):
        loads(text)


def test_dumps_sorts_keys_and_keeps_big_integers() -> None:
    """sort_keys sorts every map; integers beyond 64 bits are written exactly."""
    assert dumps({"b": {"d": 1, "c": 2}, "a": 2**70}, sort_keys=True) == (
        b'{"a":1180591620717411303424,"b":{"c":2,"d":1}}')
    assert dumps({"b": 1, "a": 2}) == b'{"b":1,"a":2}'
    with pytest.raises(TypeError):
        dumps({1: 2})


def test_serializers_lay_out_frames_as_phoenix() -> None:
    """V2 writes arrays, V1 objects without join_ref; replies are {"response", "status"}."""
    assert V2.message("1", None, "t", "e", {"b": 1, "a": 2}) == b'["1",null,"t","e",{"a":2,"b":1}]'
    assert V2.reply("1", 2, "t", "ok", None) == (
        b'["1",2,"t","phx_reply",{"response":null,"status":"ok"}]')
    assert V1.message("1", None, "t", "e", {}) == (
        b'{"event":"e","payload":{},"ref":null,"topic":"t"}')
    assert V1.reply(None, "1", "room:v1", "ok", {"welcome": "room:v1"}) == (
        b'{"event":"phx_reply","payload":{"response":{"welcome":"room:v1"},"status":"ok"},'
        b'"ref":"1","topic":"room:v1"}')
    assert V2.message(None, None, "t", "e", {"k": 2, "b": 1}, ordered=True) == (
        b'[null,null,"t","e",{"k":2,"b":1}]')


@pytest.mark.parametrize(("vsn", "serializer"), [
    (None, V1), ("1.0.0", V1), ("1.0.7", V1), ("2.0.0", V2), ("2.0.3", V2), ("2.0.1-rc.1", V2),
    ("2.1.0", None), ("3.0.0", None), ("abc", None), ("2.0", None), ("2.0.0-rc.1", None),
    ("", None), ("1.1.0", None),
])
def test_vsn_negotiation(vsn: str | None, serializer: Any) -> None:
    """~> 1.0.0 is V1, ~> 2.0.0 is V2 (no vsn means 1.0.0); anything else is refused (403)."""
    assert negotiate_serializer(vsn) is serializer


@pytest.mark.parametrize(("event", "join_ref", "takes_17", "takes_18"), [
    ("echo", "1", True, True),
    ("echo", None, True, True),
    ("echo", "0", True, False),
    ("echo", 1, True, False),  # an integer is not the string "1" (===)
    ("phx_leave", "1", True, True),
    ("phx_leave", None, False, True),
    ("phx_leave", "0", False, False),
])
def test_which_messages_a_joined_channel_takes(event: str, join_ref: Any, takes_17: bool,
                                               takes_18: bool) -> None:
    """The join_ref rules of socket.ex: 1.7.21 delivers stale pushes and ignores a leave
    without the current join_ref; 1.8.3+ drops stale pushes; 1.8.12+ takes null join_refs."""
    msg = Inbound(join_ref, "5", "room:x", event, {})
    assert _is_current(PROFILES["1.7"], msg, "1") is takes_17
    assert _is_current(PROFILES["1.8"], msg, "1") is takes_18
    assert _is_current(PROFILES["1.8"], msg, None)  # a V1 join has no join_ref

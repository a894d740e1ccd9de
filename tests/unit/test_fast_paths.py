"""Fast paths stay exact: header caches (interleaved streams, near-identical headers) and
encode's choice between splicing and one orjson.dumps (alternating payload sizes)."""

from __future__ import annotations

from types import ModuleType

import orjson
import pytest

from fastphx._types import RawJSON
from fastphx.errors import FrameDecodeError

STREAM_A = b'["3",null,"room:a","tick",{"i":1}]'
STREAM_B = b'["4",null,"room:b","tick",{"i":2}]'


def test_interleaved_streams_keep_their_headers(codec: ModuleType) -> None:
    """Alternating two streams yields each frame's own header, whichever was decoded last."""
    for _ in range(3):
        a, b = codec.decode(STREAM_A), codec.decode(STREAM_B)
        assert (a.join_ref, a.topic, a.payload) == ("3", "room:a", {"i": 1})
        assert (b.join_ref, b.topic, b.payload) == ("4", "room:b", {"i": 2})


def test_same_header_other_payload(codec: ModuleType) -> None:
    """A repeated header with a new payload yields the new payload bytes."""
    codec.decode(STREAM_A)
    frame = codec.decode(b'["3",null,"room:a","tick",  [1, 2] ]')
    assert frame.topic == "room:a"
    assert frame.raw_payload == b"[1, 2]"


@pytest.mark.parametrize(
    "data",
    [
        b'["3",null,"room:a","tick",',  # exactly the cached header, nothing after it
        b'["3",null,"room:a","tick",]',
        b'["3",null,"room:a","tick",{"i":1}',
        b'["3",null,"room:a","tick",{"i":1}]]',
    ],
)
def test_cached_header_does_not_hide_payload_errors(codec: ModuleType, data: bytes) -> None:
    """A frame that starts with the cached header bytes is still fully checked."""
    codec.decode(STREAM_A)
    with pytest.raises(FrameDecodeError):
        codec.decode(data)
    with pytest.raises(FrameDecodeError):
        codec.decode_eager(data)


def test_header_prefix_of_another_header_is_not_confused(codec: ModuleType) -> None:
    """A header whose bytes extend a cached one (longer event) decodes as itself."""
    codec.decode(b'[null,null,"t","e",1]')
    frame = codec.decode(b'[null,null,"t","e",2,3]'[:-3] + b"]")
    assert frame.event == "e" and frame.raw_payload == b"2"
    frame = codec.decode(b'[null,null,"t","ev",1]')
    assert frame.event == "ev"
    frame = codec.decode(b'[null,null,"t","e" ,1]')
    assert frame.event == "e"


def test_long_header_over_cache_limit(codec: ModuleType) -> None:
    """A header longer than any cache limit decodes correctly twice in a row."""
    topic = "room:" + "x" * 300
    data = b'["1","2","' + topic.encode() + b'","e",{}]'
    for _ in range(2):
        frame = codec.decode(data)
        assert frame.topic == topic and frame.ref == "2"


def test_encode_alternating_payload_sizes(codec: ModuleType) -> None:
    """Small and big payloads in any order encode exactly like orjson.dumps of the list."""
    small = {"a": "caf\u00e9\n"}
    big = {"rows": ["x" * 100] * 100}
    for body in (small, big, big, small, small, big, RawJSON(b"[1]"), big, small):
        out = codec.encode("1", "2", "t\"\x01", "ev", body)
        value = orjson.loads(out[-4:-1]) if isinstance(body, RawJSON) else body
        assert out == orjson.dumps(["1", "2", "t\"\x01", "ev", value])


@pytest.mark.parametrize("first", [{"k": 1}, {"rows": ["x" * 100] * 100}])
def test_encode_errors_after_either_path(codec: ModuleType, first: dict[str, object]) -> None:
    """Wrong types and lone surrogates raise TypeError whichever way the last call took."""
    codec.encode(None, None, "t", "e", first)
    with pytest.raises(TypeError):
        codec.encode(None, None, 1, "e", {})
    with pytest.raises(TypeError):
        codec.encode(None, None, "t\ud800", "e", {})
    with pytest.raises(TypeError):
        codec.encode(None, None, "t", "e", {"k": object()})


def test_encode_alternating_topics_and_events(codec: ModuleType) -> None:
    """Changing topic or event between pushes (equal text, other objects) encodes exactly."""
    topics = ["room:a", "room:\u00e9", "room:a", "t\"\n", "".join(["room:", "a"])]
    events = ["new", "new", "other", "new", "new"]
    for _ in range(2):
        for topic, event in zip(topics, events, strict=True):
            out = codec.encode("1", None, topic, event, {"k": 1})
            assert out == orjson.dumps(["1", None, topic, event, {"k": 1}])
            raw = codec.encode("1", None, topic, event, RawJSON(b"[]"))
            assert raw == orjson.dumps(["1", None, topic, event, []])

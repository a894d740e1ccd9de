"""Header caches: interleaved streams and near-identical headers decode to their own values."""

from __future__ import annotations

from types import ModuleType

import pytest

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

"""fastphx's codec agrees with the official phoenix.js serializer, on both codec builds.

All cases go to one node process per module (js/serializer_oracle.mjs), which runs them
through a phoenix ``Socket``'s default encode/decode. Without node or node_modules the
module is skipped, except under ``CI`` where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from fastphx._types import RawJSON

pytestmark = pytest.mark.conformance

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "serializer_oracle.mjs"

UNICODE = "\u00e9\u65e5\u672c\U0001f600\u2028\u2029\x7f"
CONTROLS = "".join(chr(i) for i in range(32))

# (join_ref, ref, topic, event, payload): values JSON.stringify and orjson spell alike.
ENCODE = [
    ("1", "1", "room:lobby", "phx_join", {}),
    (None, "2", "phoenix", "heartbeat", {}),
    ("3", "4", "room:lobby", "new_msg", {"body": "hi", "n": [1, -2, 0, True, False, None]}),
    ("5", "6", "room:" + UNICODE, "ev" + UNICODE, {"k" + UNICODE: UNICODE}),
    (None, None, 'q"uo\\te/' + CONTROLS, CONTROLS, {CONTROLS: CONTROLS}),
    ("", "", "", "", ""),
    ("7", "8", "t", "e", [[], {}, [[[]]], {"a": {"b": {"c": []}}}]),
    ("9", "10", "t", "e", [2**53 - 1, -(2**53 - 1), 1.5, 0.1, -0.25, 3.14159, 123456.789]),
    ("11", "12", "t", "e", [1e-7, 5e-324, 1e21, 1.7976931348623157e308, 2.5e-5]),
    ("13", None, "t", "e", "just a string"),
    ("14", "15", "t", "e", [None]),  # a bare null payload crashes phoenix.js encode
    ("16", "17", "t", "e", {"dup": 1, "z": 2, "a": 3, "m": [{"x": "y"}]}),
    (None, "18", "t", "e", {"zwj": "\U0001f468\u200d\U0001f469\u200d\U0001f467", "bom": "\ufeff"}),
]  # fmt: skip
# Floats both sides read back as the same value but spell differently (orjson "100.0",
# JS "100"; orjson "1e16"-style vs JS digits).
FLOAT_SPELLING = [100.0, 1e20, 1e16, 1e-6, -0.0]

ENCODE_BINARY = [
    ("1", "7", "room:lobby", "echo_bin", "000102feff"),
    ("12", "345", "room:" + UNICODE, "\u00e9v", ""),
    ("", "", "", "", "ff" * 300),
    ("j" * 255, "r" * 255, "t" * 255, "e" * 255, "00"),
    ("1", "2", "\u00e9" * 127, "e", "01"),
]

DECODE = [
    '["1","1","room:lobby","phx_reply",{"response":{"welcome":"room:lobby"},"status":"ok"}]',
    '[null,"2","phoenix","phx_reply",{"response":{},"status":"ok"}]',
    '[null,null,"room:lobby","shout",{"m":"hi"}]',
    '["1",null,"room:lobby","stream",{"data":"xxx","i":1}]',
    '["1",2,"room:lobby","phx_reply",{"response":{},"status":"ok"}]',
    '[3,-4,"t","e",[]]',
    ' \n[ "1" ,\t"2" ,\r\n"t" , "e" , { "a" : [ 1 , 2.5 , true ] } ] \n',
    '["\\u0041\\u00e9\\ud83d\\ude00","\\"\\\\\\/\\b\\f\\n\\r\\t","t\\u2028","e",'
    '{"k\\u0000":"\\ud83d\\ude00"}]',
    '[null,null,"' + UNICODE + '","e",{"' + UNICODE + '":"' + UNICODE + '"}]',
    '[null,null,"t","e",{"a":1,"a":2}]',
    '[null,null,"t","e",[1e2,1E-2,-0.5e+3,0,-0,123456789012]]',
]
# Frames JSON.parse rejects: fastphx must reject them too.
DECODE_INVALID = [
    "", "[", "[1,2", '["1","1","t","e",{}', '["1","1","t","e",{}] x', '["1","1","t","e",{]]',
    '["1","1","t","e",[1,]]', "[01,1,\"t\",\"e\",{}]", '["1","1","t","e",NaN]',
    "['1','1','t','e',{}]", '["1","1","t","e",{"a":1,}]', '["1","1","t","e","\\x"]',
    '["1","1","t","e","\\u12"]', '["1","1","t","e",+1]', '["1","1","t","e",.5]',
    '["1","1","t\u0001","e",{}]', '["1","1","t","e",{}]]',
]  # fmt: skip

DECODE_BINARY = [
    "00010a0331726f6f6d3a6c6f62627962696e010203ff",
    "0101010a023137726f6f6d3a6c6f6262796f6b000102feff",
    (bytes([2, 4, 3]) + b"roomevt" + b"\x00data").hex(),
    (bytes([0, 0, 1, 1]) + b"te").hex(),
    (bytes([1, 2, 3, 7, 5]) + b"12345" + "r\u00e9\U0001f600".encode() + b"error").hex(),
    (bytes([2, 255, 255]) + b"t" * 255 + b"e" * 255 + b"\xff" * 1000).hex(),
    (bytes([0, 2, 3, 3]) + b"11" + "\u65e5".encode() + b"evt").hex(),
]


def _build_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for i, (jr, ref, topic, event, payload) in enumerate(ENCODE):
        cases.append({"id": f"encode-{i}", "op": "encode", "join_ref": jr, "ref": ref,
                      "topic": topic, "event": event, "payload": payload})  # fmt: skip
    for i, value in enumerate(FLOAT_SPELLING):
        cases.append({"id": f"float-{i}", "op": "encode", "join_ref": "1", "ref": "1",
                      "topic": "t", "event": "e", "payload": [value]})  # fmt: skip
    for i, (jr, ref, topic, event, hexdata) in enumerate(ENCODE_BINARY):
        case = {"id": f"encode_binary-{i}", "op": "encode_binary", "join_ref": jr, "ref": ref}
        cases.append({**case, "topic": topic, "event": event, "payload_hex": hexdata})
    for i, text in enumerate(DECODE):
        cases.append({"id": f"decode-{i}", "op": "decode", "text": text})
    for i, text in enumerate(DECODE_INVALID):
        cases.append({"id": f"invalid-{i}", "op": "decode", "text": text})
    for i, hexdata in enumerate(DECODE_BINARY):
        cases.append({"id": f"decode_binary-{i}", "op": "decode_binary", "hex": hexdata})
    cases.append({"id": "null-join-ref", "op": "encode_binary", "join_ref": None, "ref": "7",
                  "topic": "t", "event": "e", "payload_hex": ""})  # fmt: skip
    return cases


def _node_or_skip() -> str:
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (JS_DIR / "node_modules" / "phoenix").is_dir():
        missing = f"{JS_DIR}/node_modules/phoenix is missing (run `make js`)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; the serializer oracle must run in CI")
        pytest.skip(missing)
    assert node is not None
    return node


@pytest.fixture(scope="module")
def oracle() -> dict[str, dict[str, Any]]:
    """Every case's phoenix.js result, by case id (one node run per module)."""
    node = _node_or_skip()
    cases = _build_cases()
    proc = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(cases, ensure_ascii=False),
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=JS_DIR,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # split on "\n" only: str.splitlines() would also split inside raw U+2028 / U+2029
    results = [json.loads(line) for line in proc.stdout.split("\n") if line.strip()]
    assert len(results) == len(cases)
    return {r["id"]: r for r in results}


def _js_ref(value: Any) -> str | None:
    """A JS-decoded ref as fastphx exposes it: an integer becomes its decimal text."""
    return None if value is None else str(value)


@pytest.mark.parametrize("i", range(len(ENCODE)))
def test_encode_matches_json_stringify(codec: ModuleType, oracle: Any, i: int) -> None:
    """fastphx.encode writes the same bytes as phoenix.js's default encoder."""
    expected = oracle[f"encode-{i}"]["text"].encode("utf-8")
    assert codec.encode(*ENCODE[i]) == expected


@pytest.mark.parametrize("i", range(len(ENCODE)))
def test_encode_raw_json_matches_json_stringify(codec: ModuleType, oracle: Any, i: int) -> None:
    """A payload pre-encoded as RawJSON gives the same bytes as phoenix.js."""
    jr, ref, topic, event, payload = ENCODE[i]
    expected = oracle[f"encode-{i}"]["text"].encode("utf-8")
    assert codec.encode(jr, ref, topic, event, RawJSON(orjson.dumps(payload))) == expected


@pytest.mark.parametrize("i", range(len(FLOAT_SPELLING)))
def test_encode_float_spelling_same_value(codec: ModuleType, oracle: Any, i: int) -> None:
    """Integral floats are spelt differently from JS (orjson keeps ".0") but read back equal."""
    ours = codec.encode("1", "1", "t", "e", [FLOAT_SPELLING[i]])
    theirs = oracle[f"float-{i}"]["text"].encode("utf-8")
    assert orjson.loads(ours) == orjson.loads(theirs)
    assert codec.decode(ours).payload == codec.decode(theirs).payload


@pytest.mark.parametrize("i", range(len(ENCODE_BINARY)))
def test_encode_binary_matches_phoenix(codec: ModuleType, oracle: Any, i: int) -> None:
    """fastphx.encode_binary writes the same bytes as phoenix.js's binary encoder."""
    jr, ref, topic, event, hexdata = ENCODE_BINARY[i]
    out = codec.encode_binary(jr, ref, topic, event, bytes.fromhex(hexdata))
    assert out.hex() == oracle[f"encode_binary-{i}"]["hex"]


@pytest.mark.parametrize("i", range(len(DECODE)))
def test_decode_matches_phoenix(codec: ModuleType, oracle: Any, i: int) -> None:
    """fastphx.decode and decode_eager read a frame as phoenix.js does (integer refs as text)."""
    js = oracle[f"decode-{i}"]
    assert "error" not in js, js
    data = DECODE[i].encode("utf-8")
    for fn in (codec.decode, codec.decode_eager):
        frame = fn(data)
        assert frame.join_ref == _js_ref(js["join_ref"])
        assert frame.ref == _js_ref(js["ref"])
        assert (frame.topic, frame.event) == (js["topic"], js["event"])
        assert frame.payload == js["payload"]


@pytest.mark.parametrize("i", range(len(DECODE_INVALID)))
def test_decode_rejects_what_json_parse_rejects(codec: ModuleType, oracle: Any, i: int) -> None:
    """A frame phoenix.js cannot parse raises FrameDecodeError in fastphx."""
    assert "error" in oracle[f"invalid-{i}"]
    data = DECODE_INVALID[i].encode("utf-8")
    for fn in (codec.decode, codec.decode_eager):
        with pytest.raises(ValueError):
            fn(data)


@pytest.mark.parametrize("i", range(len(DECODE_BINARY)))
def test_decode_binary_matches_phoenix(codec: ModuleType, oracle: Any, i: int) -> None:
    """fastphx.decode_binary reads server binary frames exactly as phoenix.js does."""
    js = oracle[f"decode_binary-{i}"]
    frame = codec.decode_binary(bytes.fromhex(DECODE_BINARY[i]))
    assert (frame.join_ref, frame.ref) == (js["join_ref"], js["ref"])
    assert (frame.topic, frame.event) == (js["topic"], js["event"])
    assert frame.binary is True
    if "payload_hex" in js:
        assert frame.payload.hex() == js["payload_hex"]
    else:
        reply = js["payload"]
        assert frame.payload == {"status": reply["status"],
                                 "response": bytes.fromhex(reply["response_hex"])}  # fmt: skip
        assert codec.parse_reply(frame) == (reply["status"], bytes.fromhex(reply["response_hex"]))


def test_phoenix_binary_encode_of_null_join_ref_is_literal_null(
    codec: ModuleType, oracle: Any
) -> None:
    """Documented divergence: phoenix.js writes a null join_ref as the text "null", fastphx
    as an empty field (phoenix.js never sends a binary push without a join_ref)."""
    js = bytes.fromhex(oracle["null-join-ref"]["hex"])
    assert js[1] == 4 and js[5:9] == b"null"
    assert codec.encode_binary(None, "7", "t", "e", b"")[1] == 0

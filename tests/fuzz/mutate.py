"""Coverage-free mutation fuzzing of the codec from a corpus (for sanitizer builds).

libFuzzer gets no coverage feedback when the extension is built with gcc's AddressSanitizer
(see README.md), so this driver replays every corpus file and then mutates random corpus
entries (byte flips, inserted/deleted runs, dictionary tokens, splices) for a fixed time,
running the same checks as ``fuzz_codec.py``.

    python tests/fuzz/mutate.py SECONDS CORPUS_DIR [CORPUS_DIR ...]
"""

from __future__ import annotations

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fuzz_codec import test_one_input

TOKENS = [
    b"[", b"]", b"{", b"}", b",", b":", b'"', b"null", b"true", b"false", b"-0", b"1e400",
    b"1.5e-3", b"\\u", b"\\ud83d\\ude00", b"\\ud800", b"\\n", b"\\\\", b"\xc3\xa9", b"\xed\xa0\x80",
    b"\xf0\x9f\x98\x80", b"\xf4\x90\x80\x80", b" ", b"\t", b"\x00", b"[" * 1030, b"]" * 1030,
    b"9" * 400, b'[null,null,"t","e",',
]


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One to four random edits of data."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 2:
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 4:
            other = rng.choice(corpus)
            cut = rng.randint(0, len(other))
            buf[pos:] = other[cut:]
        else:
            buf = buf[:pos]
    return bytes(buf[:8192])


def main() -> None:
    """Replays the corpus, then mutates it until the time is up; prints the run count."""
    seconds = float(sys.argv[1])
    corpus: list[bytes] = []
    for d in sys.argv[2:]:
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                corpus.append(f.read())
    for data in corpus:
        test_one_input(data)
    rng = random.Random(1234)
    runs, deadline = len(corpus), time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            test_one_input(mutate(rng, rng.choice(corpus), corpus))
        runs += 100
    print(f"mutate.py: {runs} runs in {seconds:.0f} s, no failure")


if __name__ == "__main__":
    main()

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=False
"""Cython build of the fastphx codec: Phoenix V2 text and binary frames, ref routing.

Same contract as the pure-Python twin ``fastphx._codec_py`` (see notes/CODEC_SPEC.md); both
accept and reject exactly the same inputs. The text decoder reads the header straight from
the input buffer and validates the payload with a structural C scan (``_jsonscan.h``) that
accepts exactly what ``orjson.loads`` accepts, without creating any Python object for it;
``Frame.payload`` parses it on first access with a one-pass C builder (``_jsonbuild.h``)
that gives exactly ``orjson.loads``' result or hands the bytes to orjson.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memcpy

import orjson

from ._types import RawJSON, Reply
from .errors import FrameDecodeError

__all__ = [
    "Frame",
    "RefTable",
    "decode",
    "decode_eager",
    "decode_binary",
    "encode",
    "encode_binary",
    "parse_reply",
]

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    object PyUnicode_DecodeASCII(const char* s, Py_ssize_t size, const char* errors)
    object PyUnicode_FromString(const char* s)
    object PyUnicode_FromFormat(const char* fmt, ...)
    bint PyUnicode_Check(object o)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    void* PyUnicode_DATA(object o)
    bint PyBytes_Check(object o)
    bint PyByteArray_Check(object o)
    bint PyMemoryView_Check(object o)
    bint PyDict_CheckExact(object o)
    ctypedef struct PyTypeObject
    bint PyObject_TypeCheck(object o, PyTypeObject* t)

cdef extern from "_jsonscan.h":
    ctypedef unsigned char fpx_u8
    ctypedef struct fpx_err:
        const char* reason
        const fpx_u8* at
    const fpx_u8* fpx_skip_ws(const fpx_u8* p, const fpx_u8* end)
    const fpx_u8* fpx_scan_string(const fpx_u8* p, const fpx_u8* end, int* flags, fpx_err* e)
    Py_ssize_t fpx_unescape(const fpx_u8* p, const fpx_u8* q, char* out)
    const fpx_u8* fpx_scan_value(const fpx_u8* p, const fpx_u8* end, fpx_err* e)
    uint64_t fpx_hash_short(const fpx_u8* p, Py_ssize_t n)
    bint fpx_eq_short(const fpx_u8* a, const fpx_u8* b, Py_ssize_t n)
    Py_ssize_t fpx_slot_offset(object descr)
    object fpx_slot_get(object obj, Py_ssize_t offset)
    object fpx_make_room(PyObject* body, Py_ssize_t front, Py_ssize_t back)
    Py_ssize_t fpx_escaped_len(const fpx_u8* s, Py_ssize_t n, const unsigned char* extra_tbl)
    const fpx_u8* fpx_utf8_seq "fpx_utf8" (const fpx_u8* p, const fpx_u8* end, fpx_err* e)

cdef extern from "_jsonenc.h":
    ctypedef struct fpx_enc:
        char* p
    char* fpx_enc_open(fpx_enc* w, Py_ssize_t n, Py_ssize_t limit, PyObject* dumps)
    int fpx_enc_reserve(fpx_enc* w, Py_ssize_t need)
    int fpx_enc_value(fpx_enc* w, PyObject* v, int depth)
    object fpx_enc_result(fpx_enc* w)
    void fpx_enc_release()

cdef extern from "_jsonbuild.h":
    # New reference to the value, or to Ellipsis when orjson must decide (bail)
    object fpb_build(const fpx_u8* p, const fpx_u8* end, const fpx_u8** out)
    object fpb_build_all(const fpx_u8* p, Py_ssize_t n)


cdef object _loads = orjson.loads
cdef object _dumps = orjson.dumps
cdef object _JSONDecodeError = orjson.JSONDecodeError
cdef object _RawJSON = RawJSON
cdef object _Reply = Reply
cdef object _FrameDecodeError = FrameDecodeError
cdef object _UNSET = object()
cdef object _BAIL = Ellipsis  # fpb_build's "ask orjson" answer
# _decode modes: validate the payload with the C scan (decode), or orjson.loads the payload
# slice (decode_eager).
DEF _VALIDATE = 0
DEF _SLICE = 1
cdef str _PHX_REPLY = "phx_reply"


# ---------------------------------------------------------------------------------------------
# Frame


@cython.freelist(64)
@cython.no_gc
cdef class Frame:
    """One Phoenix V2 message: ``[join_ref, ref, topic, event, payload]``.

    ``raw_payload`` holds the payload's JSON bytes exactly as they stood in a text frame (or
    the binary payload); ``payload`` parses them on first access (exactly
    ``orjson.loads(raw_payload)``) and caches the result.
    """

    cdef readonly object join_ref
    cdef readonly object ref
    cdef readonly object topic
    cdef readonly object event
    cdef readonly bytes raw_payload
    cdef readonly bint binary
    cdef object _payload

    def __init__(self, join_ref, ref, topic, event, raw_payload, binary=False):
        if not (join_ref is None or PyUnicode_Check(join_ref)):
            raise TypeError("join_ref must be a str or None")
        if not (ref is None or PyUnicode_Check(ref)):
            raise TypeError("ref must be a str or None")
        if not PyUnicode_Check(topic) or not PyUnicode_Check(event):
            raise TypeError("topic and event must be str")
        if not PyBytes_Check(raw_payload):
            if PyUnicode_Check(raw_payload):
                raise TypeError("raw_payload must be bytes-like, not str")
            raw_payload = bytes(raw_payload)
        self.join_ref = join_ref
        self.ref = ref
        self.topic = topic
        self.event = event
        self.raw_payload = raw_payload
        self.binary = bool(binary)
        self._payload = raw_payload if self.binary else _UNSET

    @property
    def payload(self):
        """The decoded payload (text: ``orjson.loads(raw_payload)``, cached; binary: bytes).

        Raises orjson.JSONDecodeError only for a Frame built by hand with invalid JSON.
        """
        if self._payload is _UNSET:
            self._payload = _parse_payload(self.raw_payload)
        return self._payload

    def __eq__(self, other):
        if not isinstance(other, Frame):
            return NotImplemented
        cdef Frame o = <Frame>other
        return (self.join_ref == o.join_ref and self.ref == o.ref and self.topic == o.topic
                and self.event == o.event and self.raw_payload == o.raw_payload
                and self.binary == o.binary)

    def __ne__(self, other):
        r = self.__eq__(other)
        if r is NotImplemented:
            return r
        return not r

    __hash__ = None

    def __repr__(self):
        raw = self.raw_payload
        shown = repr(raw[:80]) + ("..." if len(raw) > 80 else "")
        return (f"Frame(join_ref={self.join_ref!r}, ref={self.ref!r}, topic={self.topic!r}, "
                f"event={self.event!r}, raw_payload={shown}, binary={bool(self.binary)!r})")


cdef object _parse_payload(bytes raw):
    """orjson.loads(raw): the C builder (_jsonbuild.h) builds the same objects in one pass,
    and hands anything unusual (or invalid: orjson raises) to orjson itself."""
    v = fpb_build_all(<const fpx_u8*>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
    if v is _BAIL:
        return _loads(raw)
    return v


cdef inline Frame _new_frame(object join_ref, object ref, object topic, object event,
                             bytes raw, bint binary, object payload):
    cdef Frame f = Frame.__new__(Frame)
    f.join_ref = join_ref
    f.ref = ref
    f.topic = topic
    f.event = event
    f.raw_payload = raw
    f.binary = binary
    f._payload = payload
    return f


# ---------------------------------------------------------------------------------------------
# Errors and the header-string cache


cdef int _raise(const char* reason, Py_ssize_t offset) except -1:
    raise _FrameDecodeError(PyUnicode_FromString(reason), offset)


# Direct-mapped cache of short ASCII header strings (topic, event, join_ref): a stream repeats
# them on every message, so a hit costs a hash of <= 16 bytes and one memcmp instead of a str
# allocation. Entries are verified byte for byte, so a collision is only a miss.
DEF _CACHE_SIZE = 512
DEF _CACHE_MAX_LEN = 64
cdef PyObject* _cache[_CACHE_SIZE]


cdef inline object _ascii_str(const fpx_u8* p, Py_ssize_t n, bint cached):
    cdef Py_ssize_t i
    cdef PyObject* hit
    if not cached or n > _CACHE_MAX_LEN:
        return PyUnicode_DecodeASCII(<const char*>p, n, NULL)
    i = <Py_ssize_t>(fpx_hash_short(p, n) & (_CACHE_SIZE - 1))
    hit = _cache[i]
    if hit != NULL and PyUnicode_GET_LENGTH(<object>hit) == n and fpx_eq_short(
            <const fpx_u8*>PyUnicode_DATA(<object>hit), p, n):
        return <object>hit
    s = PyUnicode_DecodeASCII(<const char*>p, n, NULL)
    Py_INCREF(s)
    _cache[i] = <PyObject*>s
    Py_XDECREF(hit)
    return s


cdef object _json_string(const fpx_u8* p, const fpx_u8* end, const fpx_u8* base,
                         const fpx_u8** out, bint cached):
    """Decodes the JSON string whose opening quote is at p; *out = byte after the closing quote."""
    cdef int fl = 0
    cdef fpx_err e
    cdef const fpx_u8* q = fpx_scan_string(p + 1, end, &fl, &e)
    cdef Py_ssize_t n, m
    cdef char small[256]
    cdef char* tmp
    if q == NULL:
        _raise(e.reason, e.at - base)
    out[0] = q + 1
    n = q - p - 1
    if fl == 0:
        return _ascii_str(p + 1, n, cached)
    if fl == 2:
        return PyUnicode_DecodeUTF8(<const char*>(p + 1), n, NULL)
    if n <= 256:
        tmp = &small[0]
    else:
        tmp = <char*>PyMem_Malloc(<size_t>n)
    if tmp == NULL:
        raise MemoryError()
    try:
        m = fpx_unescape(p + 1, q, tmp)
        return PyUnicode_DecodeUTF8(tmp, m, "surrogatepass")
    finally:
        if tmp != &small[0]:
            PyMem_Free(tmp)


cdef inline bint _is_digit(fpx_u8 c):
    return <fpx_u8>(c - 48) < 10


cdef object _ref_value(const fpx_u8* p, const fpx_u8* end, const fpx_u8* base,
                       const fpx_u8** out, const char* what, bint cached):
    """join_ref / ref: a JSON string, null, or an integer exposed as its decimal text."""
    cdef const fpx_u8* q
    cdef fpx_u8 c = p[0]
    if c == 34:  # '"'
        return _json_string(p, end, base, out, cached)
    if c == 110:  # 'n'
        if end - p >= 4 and memcmp(p, b"null", 4) == 0:
            out[0] = p + 4
            return None
    elif c == 45 or _is_digit(c):  # '-' or digit: -?(0|[1-9][0-9]*)
        q = p + 1 if c == 45 else p
        if q < end and q[0] == 48:
            q += 1
        elif q < end and _is_digit(q[0]):
            while q < end and _is_digit(q[0]):
                q += 1
        else:
            _raise(what, p - base)
        if q < end and (q[0] == 46 or q[0] == 101 or q[0] == 69 or _is_digit(q[0])):
            _raise(what, p - base)
        out[0] = q
        return PyUnicode_DecodeASCII(<const char*>p, q - p, NULL)
    _raise(what, p - base)


cdef inline const fpx_u8* _separator(const fpx_u8* p, const fpx_u8* end, const fpx_u8* base,
                                     int count) except NULL:
    """Skips whitespace and the ',' after element number `count` (1-based)."""
    p = fpx_skip_ws(p, end)
    if p >= end:
        _raise("unexpected end of frame", end - base)
    if p[0] == 44:  # ','
        return fpx_skip_ws(p + 1, end)
    if p[0] == 93:  # ']'
        raise _FrameDecodeError(f"expected 5 elements, got {count}", p - base)
    _raise("expected ',' or ']'", p - base)


cdef inline const fpx_u8* _element_start(const fpx_u8* p, const fpx_u8* end,
                                         const fpx_u8* base) except NULL:
    if p >= end:
        _raise("unexpected end of frame", end - base)
    return p


# ---------------------------------------------------------------------------------------------
# Text decode


cdef inline const fpx_u8* _rskip_ws(const fpx_u8* start, const fpx_u8* p):
    """Moves p back over RFC 8259 whitespace, not before start."""
    cdef fpx_u8 c
    while p > start:
        c = (p - 1)[0]
        if c != 32 and c != 10 and c != 13 and c != 9:
            break
        p -= 1
    return p


# One-entry cache of the last header: its bytes up to and including the 4th comma, and the
# (join_ref, ref, topic, event) they parse to.
DEF _HDR_MAX = 256
cdef char _hdr[_HDR_MAX]
cdef Py_ssize_t _hdr_len = 0
cdef tuple _hdr_vals = None


cdef tuple _parse_header(const fpx_u8* base, const fpx_u8* end, const fpx_u8** out):
    """Parses `[join_ref, ref, topic, event,`; *out = the byte after the 4th comma."""
    global _hdr_len, _hdr_vals
    cdef const fpx_u8* p = fpx_skip_ws(base, end)
    if p >= end or p[0] != 91:  # '['
        _raise("expected '['", p - base)
    p = fpx_skip_ws(p + 1, end)
    if p < end and p[0] == 93:
        _raise("expected 5 elements, got 0", p - base)
    p = _element_start(p, end, base)
    join_ref = _ref_value(p, end, base, &p, "join_ref must be a string, integer or null", True)
    p = _element_start(_separator(p, end, base, 1), end, base)
    ref = _ref_value(p, end, base, &p, "ref must be a string, integer or null", False)
    p = _element_start(_separator(p, end, base, 2), end, base)
    if p[0] != 34:
        _raise("topic must be a string", p - base)
    topic = _json_string(p, end, base, &p, True)
    p = _element_start(_separator(p, end, base, 3), end, base)
    if p[0] != 34:
        _raise("event must be a string", p - base)
    event = _json_string(p, end, base, &p, True)
    p = fpx_skip_ws(p, end)
    if p >= end:
        _raise("unexpected end of frame", end - base)
    if p[0] == 93:
        raise _FrameDecodeError("expected 5 elements, got 4", p - base)
    if p[0] != 44:
        _raise("expected ',' or ']'", p - base)
    p += 1
    out[0] = p
    head = (join_ref, ref, topic, event)
    _hdr_len = 0
    if p - base <= _HDR_MAX:
        memcpy(_hdr, base, <size_t>(p - base))
        _hdr_vals = head
        _hdr_len = p - base
    return head


cdef Frame _decode_buf(const fpx_u8* base, Py_ssize_t size, int mode, object data):
    """Scans one V2 text frame. One long function on purpose: it is the per-message hot path
    (bench/test_bench_codec.py); splitting it costs calls and re-checks per element."""
    cdef const fpx_u8* end = base + size
    cdef const fpx_u8* p = base
    cdef const fpx_u8* ps
    cdef const fpx_u8* pe
    cdef fpx_err e
    cdef object join_ref, ref, topic, event
    cdef tuple head
    if size == 0:
        _raise("empty frame", 0)
    # A stream repeats the same header bytes (`["3",null,"room:lobby","new_msg",`) on every
    # push: equal bytes parse to equal values, so one memcmp replaces the header parse.
    if _hdr_len != 0 and size > _hdr_len and memcmp(base, _hdr, <size_t>_hdr_len) == 0:
        p = base + _hdr_len
        head = _hdr_vals
    else:
        head = _parse_header(base, end, &p)
    join_ref = head[0]
    ref = head[1]
    topic = head[2]
    event = head[3]
    ps = _element_start(fpx_skip_ws(p, end), end, base)
    if mode != _VALIDATE:
        # The C builder parses the payload in place; when it bails (or the frame does not
        # end right after the payload), orjson decides on the slice as below.
        pe = ps
        payload = fpb_build(ps, end, &pe)
        if payload is not _BAIL:
            p = fpx_skip_ws(pe, end)
            if p < end and p[0] == 93 and fpx_skip_ws(p + 1, end) == end:
                raw = PyBytes_FromStringAndSize(<const char*>ps, pe - ps)
                return _new_frame(join_ref, ref, topic, event, raw, False, payload)
        # The frame is valid iff it ends with ']' (plus whitespace) and what stands between
        # the 4th comma and that ']' is one JSON value: orjson.loads of that slice decides.
        pe = _rskip_ws(ps, end)
        if pe > ps and (pe - 1)[0] == 93:
            pe = _rskip_ws(ps, pe - 1)
            if pe > ps:
                raw = PyBytes_FromStringAndSize(<const char*>ps, pe - ps)
                try:
                    payload = _loads(raw)
                except _JSONDecodeError as exc:
                    _raise_like_decode(data, exc)
                return _new_frame(join_ref, ref, topic, event, raw, False, payload)
        _raise_like_decode(data, None)
    pe = fpx_scan_value(ps, end, &e)
    if pe == NULL:
        _raise(e.reason, e.at - base)
    p = fpx_skip_ws(pe, end)
    if p >= end:
        _raise("unexpected end of frame", end - base)
    if p[0] == 44:
        _raise("expected 5 elements, got more", p - base)
    if p[0] != 93:
        _raise("expected ',' or ']'", p - base)
    p = fpx_skip_ws(p + 1, end)
    if p != end:
        _raise("trailing bytes after frame", p - base)
    raw = PyBytes_FromStringAndSize(<const char*>ps, pe - ps)
    return _new_frame(join_ref, ref, topic, event, raw, False, _UNSET)


cdef int _raise_like_decode(object data, object cause) except -1:
    """decode_eager's error path: the validating decoder names the reason and offset."""
    try:
        _decode(data, _VALIDATE)
    except FrameDecodeError as err:
        if cause is not None:
            raise err from cause
        raise
    # unreachable while the C validator and orjson agree; never accept what orjson rejects
    raise _FrameDecodeError("invalid JSON in payload", None) from cause


cdef Frame _decode(object data, int mode):
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef const char* buf
    if PyBytes_Check(data):
        return _decode_buf(<const fpx_u8*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                           mode, data)
    if PyUnicode_Check(data):
        try:
            buf = PyUnicode_AsUTF8AndSize(data, &n)
        except UnicodeEncodeError as exc:
            offset = len((<str>data)[:exc.start].encode("utf-8"))
            raise _FrameDecodeError("invalid UTF-8", offset) from exc
        return _decode_buf(<const fpx_u8*>buf, n, mode, data)
    if not (PyByteArray_Check(data) or PyMemoryView_Check(data)):
        raise TypeError(
            f"decode() expects bytes, bytearray, memoryview or str, not {type(data).__name__}")
    try:
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    except (BufferError, ValueError, TypeError):
        return _decode(bytes(data), mode)  # a non-contiguous or non-byte memoryview
    try:
        return _decode_buf(<const fpx_u8*>view.buf, view.len, mode, data)
    finally:
        PyBuffer_Release(&view)


def decode(data):
    """Decodes a V2 text frame ``[join_ref, ref, topic, event, payload]`` into a Frame.

    The header is parsed and the payload validated (exactly what orjson accepts) without
    creating payload objects. Raises FrameDecodeError for a malformed frame, TypeError for an
    input that is not bytes, bytearray, memoryview or str.
    """
    return _decode(data, _VALIDATE)


def decode_eager(data):
    """Decodes like decode() (same results, same errors) with the payload parsed right away.

    For consumers who read every payload: one pass of the payload builder (or orjson.loads of
    the payload slice when the builder hands over) replaces the validating scan plus a later
    parse. Raises FrameDecodeError (chained from orjson's error
    when orjson rejected the payload) or TypeError, like decode().
    """
    # Strategy (callgrind instructions per call incl. reading .payload, so machine load does
    # not matter; bench/frames.py frames and the ~80 B e2e-like payload; the builder is
    # _jsonbuild.h, bails go to orjson.loads of the slice):
    #                        orjson.loads   C: header scan +   D: header scan +     E: header
    #                        (payload)      orjson.loads       C scan, then         scan + build
    #                                       (slice) [before]   build the slice      in place
    #   ~80 B payload             6,380          7,350              6,380              5,390
    #   1 KB frame               52,100         52,350                  -             49,600
    # E (this one) wins: one pass over the payload, no orjson fixed cost (~150 ns); wall time
    # on the small frame 0.58-0.61x of orjson.loads(frame), at 1 KB and 64 KB on par (per
    # object the builder costs about what orjson costs). Before the builder, C beat
    # orjson.loads(frame) + header type checks at every size (441/512/581 ns small frame).
    return _decode(data, _SLICE)


# ---------------------------------------------------------------------------------------------
# Binary decode (Phoenix binary serializer, server -> client kinds 0, 1, 2)


cdef object _binary_str(const fpx_u8* base, Py_ssize_t start, Py_ssize_t n):
    cdef int fl = 0
    cdef fpx_err e
    cdef const fpx_u8* p = base + start
    cdef const fpx_u8* end = p + n
    cdef fpx_u8 c
    while p < end:
        c = p[0]
        if c < 0x80:
            p += 1
            continue
        fl = 2
        p = fpx_utf8_seq(p, end, &e)
        if p == NULL:
            _raise("invalid UTF-8", e.at - base)
    if fl == 0:
        return _ascii_str(base + start, n, n <= _CACHE_MAX_LEN)
    return PyUnicode_DecodeUTF8(<const char*>(base + start), n, NULL)


cdef Frame _decode_binary_buf(const fpx_u8* b, Py_ssize_t size):
    cdef Py_ssize_t hdr, pos, i
    cdef Py_ssize_t lens[4]
    cdef int kind, nf
    if size == 0:
        _raise("empty frame", 0)
    kind = b[0]
    if kind == 0:
        nf = 3   # join_ref, topic, event
    elif kind == 1:
        nf = 4   # join_ref, ref, topic, status
    elif kind == 2:
        nf = 2   # topic, event
    else:
        raise _FrameDecodeError(f"unknown binary frame kind {kind}", 0)
    hdr = 1 + nf
    if size < hdr:
        _raise("unexpected end of frame", size)
    pos = hdr
    for i in range(nf):
        lens[i] = b[1 + i]
        pos += lens[i]
    if size < pos:
        _raise("unexpected end of frame", size)
    raw = PyBytes_FromStringAndSize(<const char*>(b + pos), size - pos)
    pos = hdr
    if kind == 0:
        join_ref = _binary_str(b, pos, lens[0])
        topic = _binary_str(b, pos + lens[0], lens[1])
        event = _binary_str(b, pos + lens[0] + lens[1], lens[2])
        return _new_frame(join_ref, None, topic, event, raw, True, raw)
    if kind == 1:
        join_ref = _binary_str(b, pos, lens[0])
        pos += lens[0]
        ref = _binary_str(b, pos, lens[1])
        pos += lens[1]
        topic = _binary_str(b, pos, lens[2])
        status = _binary_str(b, pos + lens[2], lens[3])
        return _new_frame(join_ref, ref, topic, _PHX_REPLY, raw, True,
                          {"status": status, "response": raw})
    topic = _binary_str(b, pos, lens[0])
    event = _binary_str(b, pos + lens[0], lens[1])
    return _new_frame(None, None, topic, event, raw, True, raw)


def decode_binary(data):
    """Decodes a Phoenix binary frame (kind 0 push, 1 reply, 2 broadcast) into a Frame.

    Raises FrameDecodeError for an empty, truncated or unknown-kind frame or a header string
    that is not UTF-8; TypeError for an input that is not bytes, bytearray or memoryview.
    """
    cdef Py_buffer view
    if PyBytes_Check(data):
        return _decode_binary_buf(<const fpx_u8*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    if not (PyByteArray_Check(data) or PyMemoryView_Check(data)):
        raise TypeError(
            f"decode_binary() expects bytes, bytearray or memoryview, not {type(data).__name__}")
    try:
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    except (BufferError, ValueError, TypeError):
        return decode_binary(bytes(data))
    try:
        return _decode_binary_buf(<const fpx_u8*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


# ---------------------------------------------------------------------------------------------
# Encode


# Extra output bytes per input byte when escaped like JSON.stringify: '"' and '\\' and
# \b \f \n \r \t take 2 bytes, other controls < 0x20 take 6 (\u00xx, lowercase hex).
cdef unsigned char _esc_extra[256]
cdef char _esc_char[256]
cdef int _i
for _i in range(32):
    _esc_extra[_i] = 5
_esc_extra[34] = 1
_esc_extra[92] = 1
for _i, _c in ((8, b"b"), (12, b"f"), (10, b"n"), (13, b"r"), (9, b"t"), (34, b'"'),
               (92, b"\\")):
    _esc_extra[_i] = 1
    _esc_char[_i] = (<bytes>_c)[0]
cdef const char* _HEX = b"0123456789abcdef"


cdef inline Py_ssize_t _escaped_len(const fpx_u8* s, Py_ssize_t n):
    return fpx_escaped_len(s, n, _esc_extra)


cdef inline char* _put_string(char* o, const fpx_u8* s, Py_ssize_t n, Py_ssize_t esc_len):
    cdef Py_ssize_t i
    cdef fpx_u8 c
    o[0] = 34
    o += 1
    if esc_len == n + 2:
        memcpy(o, s, <size_t>n)
        o += n
    else:
        for i in range(n):
            c = s[i]
            if _esc_extra[c] == 0:
                o[0] = <char>c
                o += 1
            elif _esc_extra[c] == 1:
                o[0] = 92
                o[1] = _esc_char[c]
                o += 2
            else:
                memcpy(o, b"\\u00", 4)
                o[4] = _HEX[c >> 4]
                o[5] = _HEX[c & 15]
                o += 6
    o[0] = 34
    return o + 1


DEF _DIRECT_MAX = 1 << 20
# RawJSON has __slots__ = ("data",): read the slot at its offset, no attribute lookup
cdef Py_ssize_t _rawjson_data_offset = fpx_slot_offset(RawJSON.__dict__["data"])
cdef bint _enc_whole = False


def encode(join_ref, ref, topic, event, payload):
    """Encodes ``[join_ref, ref, topic, event, payload]`` as compact JSON text bytes.

    Byte-identical to the official JS client's ``JSON.stringify`` for the same values, and
    to ``orjson.dumps`` of the five values. A RawJSON payload is spliced verbatim.
    Raises TypeError for a wrong argument type, an unserialisable payload or a str holding a
    lone surrogate (orjson's JSONEncodeError is a TypeError).
    """
    if not (join_ref is None or PyUnicode_Check(join_ref)):
        raise TypeError(f"join_ref must be a str or None, not {type(join_ref).__name__}")
    if not (ref is None or PyUnicode_Check(ref)):
        raise TypeError(f"ref must be a str or None, not {type(ref).__name__}")
    if not PyUnicode_Check(topic):
        raise TypeError(f"topic must be a str, not {type(topic).__name__}")
    if not PyUnicode_Check(event):
        raise TypeError(f"event must be a str, not {type(event).__name__}")
    # PyObject_TypeCheck, not isinstance(): no __instancecheck__ lookup for every dict payload
    global _enc_whole
    cdef _Head h
    cdef PyObject* owned
    cdef fpx_enc w
    cdef char* o
    cdef bint ok
    if PyObject_TypeCheck(payload, <PyTypeObject*>_RawJSON):
        body = fpx_slot_get(payload, _rawjson_data_offset) if type(payload) is _RawJSON \
            else payload.data
        if not PyBytes_Check(body):
            raise TypeError("RawJSON.data must be bytes")
        _prep_head(&h, join_ref, ref, topic, event)
        Py_INCREF(body)  # the reference _splice steals
        owned = <PyObject*>body
        return _splice(&h, owned, topic, event)
    # Two byte-identical ways (orjson escapes strings exactly like JSON.stringify: \b \f \n
    # \r \t, \u00xx lowercase for other controls, non-ASCII raw UTF-8):
    # - direct: the header written here (cached topic/event piece) and the payload by the C
    #   writer (_jsonenc.h) into one scratch buffer, copied out as the result: one pass,
    #   no intermediate bytes. It handles exact dict/list/tuple/str/int/float/bool/None and
    #   gives up (no exception) on anything else, on nesting deeper than 64, or when the
    #   output passes _DIRECT_MAX bytes.
    # - whole: orjson.dumps of the 5-tuple, when the writer gave up: orjson writes its own
    #   bytes or raises its own error (also for a header str it cannot encode). The writer is
    #   skipped on the call after one that gave up (a stream's payloads are alike), retried
    #   on the next unless the output was over _DIRECT_MAX bytes.
    if _enc_whole:
        out = _dumps((join_ref, ref, topic, event, payload))
        _enc_whole = PyBytes_GET_SIZE(out) > _DIRECT_MAX
        return out
    try:
        _prep_head(&h, join_ref, ref, topic, event)
        ok = True
    except TypeError:
        ok = False
    if ok:
        o = fpx_enc_open(&w, _head_len(&h), _DIRECT_MAX, <PyObject*>_dumps)
        if o != NULL:
            w.p = _put_head(&h, o, topic, event)
            if fpx_enc_value(&w, <PyObject*>payload, 0) == 0 and fpx_enc_reserve(&w, 1) == 0:
                w.p[0] = 93  # ']'
                w.p += 1
                return fpx_enc_result(&w)
            fpx_enc_release()
    _enc_whole = True
    return _dumps((join_ref, ref, topic, event, payload))


cdef struct _Head:
    const char* s[4]   # UTF-8 of join_ref, ref, topic, event (NULL: null)
    Py_ssize_t n[4]    # their byte lengths
    Py_ssize_t esc[4]  # their escaped lengths with quotes (4 for null)
    bint te_hit        # topic and event are the cached ones: copy _te_buf


# One-entry cache of the encoded `"topic","event",` piece: pushes on a channel repeat both
# objects, so a hit is two identity checks and one memcpy. The cache holds references to
# the two strs, so identity implies equal contents.
DEF _TE_MAX = 256
cdef char _te_buf[_TE_MAX]
cdef Py_ssize_t _te_len = 0
cdef object _te_topic = None
cdef object _te_event = None


cdef inline int _head_field(_Head* h, int i, object v) except -1:
    if v is None:
        h.s[i] = NULL
        h.esc[i] = 4
    else:
        if PyUnicode_IS_COMPACT_ASCII(v):  # the usual header string: its data is its UTF-8
            h.s[i] = <const char*>PyUnicode_DATA(v)
            h.n[i] = PyUnicode_GET_LENGTH(v)
        else:
            h.s[i] = PyUnicode_AsUTF8AndSize(v, &h.n[i])
        h.esc[i] = _escaped_len(<const fpx_u8*>h.s[i], h.n[i])
    return 0


cdef int _prep_head(_Head* h, object join_ref, object ref, object topic,
                    object event) except -1:
    """UTF-8 and escaped length of each header string (types already checked)."""
    try:
        _head_field(h, 0, join_ref)
        _head_field(h, 1, ref)
        h.te_hit = _te_len != 0 and topic is _te_topic and event is _te_event
        if not h.te_hit:
            _head_field(h, 2, topic)
            _head_field(h, 3, event)
    except UnicodeEncodeError as exc:
        # the same error type orjson.dumps raises on the dict-payload path
        raise TypeError(f"str is not valid UTF-8: {exc.reason}") from exc
    return 0


cdef inline Py_ssize_t _head_len(_Head* h):
    """Bytes of `[join_ref,ref,"topic","event",` as _put_head writes them."""
    return h.esc[0] + h.esc[1] + 3 + (_te_len if h.te_hit else h.esc[2] + h.esc[3] + 2)


cdef char* _put_head(_Head* h, char* o, object topic, object event):
    """Writes `[join_ref,ref,"topic","event",` at o (_head_len bytes); returns the end."""
    global _te_len, _te_topic, _te_event
    cdef Py_ssize_t te
    cdef char* t0
    cdef int i
    o[0] = 91  # '['
    o += 1
    for i in range(2):
        if h.s[i] == NULL:
            memcpy(o, b"null", 4)
            o += 4
        else:
            o = _put_string(o, <const fpx_u8*>h.s[i], h.n[i], h.esc[i])
        o[0] = 44  # ','
        o += 1
    if h.te_hit:
        memcpy(o, _te_buf, <size_t>_te_len)
        return o + _te_len
    t0 = o
    o = _put_string(o, <const fpx_u8*>h.s[2], h.n[2], h.esc[2])
    o[0] = 44
    o = _put_string(o + 1, <const fpx_u8*>h.s[3], h.n[3], h.esc[3])
    o[0] = 44
    o += 1
    te = o - t0
    _te_len = 0
    if te <= _TE_MAX:
        memcpy(_te_buf, t0, <size_t>te)
        _te_topic = topic
        _te_event = event
        _te_len = te
    return o


cdef object _splice(_Head* h, PyObject* owned, object topic, object event):
    """Steals `owned` (payload bytes); returns `[header,payload]` as one bytes object."""
    cdef Py_ssize_t npl = PyBytes_GET_SIZE(<object>owned)
    out = fpx_make_room(owned, _head_len(h), 1)
    cdef char* o = _put_head(h, PyBytes_AS_STRING(out), topic, event)
    o[npl] = 93  # ']'
    return out


cdef inline bytes _field_bytes(object s, const char* what):
    if s is None:
        return b""
    if not PyUnicode_Check(s):
        raise TypeError(f"{what.decode()} must be a str or None, not {type(s).__name__}")
    b = (<str>s).encode("utf-8")
    if PyBytes_GET_SIZE(b) > 255:
        raise ValueError(f"{what.decode()} is {PyBytes_GET_SIZE(b)} UTF-8 bytes; "
                         "the binary format allows at most 255")
    return b


def encode_binary(join_ref, ref, topic, event, payload):
    """Encodes a client binary push (kind 0): ``[0, jr_len, ref_len, topic_len, event_len]``
    then join_ref, ref, topic, event and the payload bytes. join_ref/ref None -> empty field.

    Raises TypeError for a non-bytes-like payload or a non-str field, ValueError for a field
    over 255 UTF-8 bytes.
    """
    cdef Py_buffer view
    cdef char* o
    if not PyUnicode_Check(topic):
        raise TypeError(f"topic must be a str, not {type(topic).__name__}")
    if not PyUnicode_Check(event):
        raise TypeError(f"event must be a str, not {type(event).__name__}")
    bjr = _field_bytes(join_ref, "join_ref")
    bref = _field_bytes(ref, "ref")
    btop = _field_bytes(topic, "topic")
    bev = _field_bytes(event, "event")
    if not (PyBytes_Check(payload) or PyByteArray_Check(payload) or PyMemoryView_Check(payload)):
        raise TypeError(
            f"payload must be bytes, bytearray or memoryview, not {type(payload).__name__}")
    if PyMemoryView_Check(payload) and not (<memoryview>payload).c_contiguous:
        payload = bytes(payload)
    PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
    try:
        head = bytes((0, len(bjr), len(bref), len(btop), len(bev))) + bjr + bref + btop + bev
        out = PyBytes_FromStringAndSize(NULL, len(head) + view.len)
        o = PyBytes_AS_STRING(out)
        memcpy(o, PyBytes_AS_STRING(head), <size_t>len(head))
        memcpy(o + len(head), view.buf, <size_t>view.len)
        return out
    finally:
        PyBuffer_Release(&view)


# ---------------------------------------------------------------------------------------------
# Replies and ref routing


def parse_reply(Frame frame not None):
    """Reads a ``phx_reply`` frame as Reply(status, response).

    Text: the payload must be an object whose "status" is a str; a missing "response" gives
    None (phoenix.js would read it as undefined). Binary reply: response is the payload bytes.
    Raises FrameDecodeError for another event or a malformed reply payload.
    """
    if frame.event != _PHX_REPLY:
        raise _FrameDecodeError(f"not a phx_reply frame: event {frame.event!r}", None)
    try:
        payload = frame.payload
    except _JSONDecodeError as exc:
        raise _FrameDecodeError("invalid JSON in payload", None) from exc
    if not isinstance(payload, dict) or "status" not in payload:
        raise _FrameDecodeError("phx_reply payload has no status", None)
    status = (<dict>payload)["status"]
    if not PyUnicode_Check(status):
        raise _FrameDecodeError("phx_reply status must be a string", None)
    return _Reply(status, (<dict>payload).get("response"))


cdef class RefTable:
    """Ref allocation and ref -> waiter routing (one table per socket), O(1) per operation."""

    cdef dict _waiters
    cdef long long _next

    def __init__(self, long long start=1):
        self._waiters = {}
        self._next = start

    cpdef str next_ref(self):
        """Returns the next decimal ref ("1", "2", ...); also used for join_refs."""
        r = PyUnicode_FromFormat("%lld", self._next)
        self._next += 1
        return r

    cpdef add(self, ref, waiter):
        """Routes `ref` to `waiter` (replacing an existing entry)."""
        self._waiters[ref] = waiter

    cpdef str register(self, waiter):
        """Allocates the next ref, routes it to `waiter` and returns it."""
        r = self.next_ref()
        self._waiters[r] = waiter
        return r

    cpdef pop(self, ref, default=None):
        """Removes and returns the waiter of `ref`, or `default` (also for a None ref)."""
        if ref is None:
            return default
        return self._waiters.pop(ref, default)

    def get(self, ref, default=None):
        """Returns the waiter of `ref` without removing it, or `default`."""
        if ref is None:
            return default
        return self._waiters.get(ref, default)

    def __contains__(self, ref):
        return ref is not None and ref in self._waiters

    def __len__(self):
        return len(self._waiters)

    def drain(self):
        """Removes and returns all waiters, in insertion (ref) order."""
        waiters = list(self._waiters.values())
        self._waiters.clear()
        return waiters

    def fail_all(self, exc):
        """Drains the table and sets `exc` on every waiter that is a pending Future-like.

        Returns how many waiters were failed.
        """
        cdef int failed = 0
        for w in self.drain():
            set_exception = getattr(w, "set_exception", None)
            if set_exception is None:
                continue
            done = getattr(w, "done", None)
            if done is not None and done():
                continue
            set_exception(exc)
            failed += 1
        return failed

    def clear(self):
        """Forgets every waiter without failing them."""
        self._waiters.clear()

    def __repr__(self):
        return f"<RefTable pending={len(self._waiters)} next={self._next}>"

"""The text-frame kernel of the compiled codec build (``_codec_c``): C over the frame bytes.

Its pure-Python counterpart is ``_text_py.py``; the codec calls the same three functions in
both builds (``_codec_c.pxd`` cimports them, so the compiled codec calls them in C):

- ``scan_text(data, eager)``: the header read straight from the input buffer, the payload
  validated by a structural C scan (``_jsonscan.h``) that accepts exactly what
  ``orjson.loads`` accepts without creating any Python object for it (``eager``: parsed
  instead). Errors name the reason and the byte offset (docs/codec.md).
- ``splice(join_ref, ref, topic, event, body)``: the header written once into the output
  (with a one-entry cache of the ``"topic","event",`` piece) around the payload's JSON.
- ``load_payload(data, start, end)``: exactly ``orjson.loads(data[start:end])``, built in
  one pass by ``_jsonbuild.h`` when it can.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memcpy

import orjson

from ._types import UNPARSED
from .errors import FrameDecodeError

__all__ = ["load_payload", "scan_text", "splice"]

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    object PyUnicode_DecodeASCII(const char* s, Py_ssize_t size, const char* errors)
    object PyUnicode_FromString(const char* s)
    bint PyUnicode_Check(object o)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    void* PyUnicode_DATA(object o)
    bint PyBytes_Check(object o)
    bint PyBytes_CheckExact(object o)
    bint PyByteArray_Check(object o)
    bint PyMemoryView_Check(object o)

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
    Py_ssize_t fpx_escaped_len(const fpx_u8* s, Py_ssize_t n, const unsigned char* extra_tbl)

cdef extern from "_jsonbuild.h":
    # New reference to the value, or to Ellipsis when orjson must decide (bail)
    object fpb_build(const fpx_u8* p, const fpx_u8* end, const fpx_u8** out)
    object fpb_build_all(const fpx_u8* p, Py_ssize_t n)


cdef object _loads = orjson.loads
cdef object _JSONDecodeError = orjson.JSONDecodeError
cdef object _FrameDecodeError = FrameDecodeError
cdef object _UNPARSED = UNPARSED
cdef object _BAIL = Ellipsis  # fpb_build's "ask orjson" answer


cpdef object load_payload(bytes data, Py_ssize_t start, Py_ssize_t end):
    """orjson.loads(data[start:end]): the C builder (_jsonbuild.h) builds the same objects in
    one pass, in place, and hands anything unusual (or invalid: orjson raises) to orjson
    itself. ValueError for a range outside ``data``."""
    if not 0 <= start <= end <= PyBytes_GET_SIZE(data):
        raise ValueError("payload range outside the frame")
    v = fpb_build_all(<const fpx_u8*>PyBytes_AS_STRING(data) + start, end - start)
    if v is _BAIL:
        if start == 0 and end == PyBytes_GET_SIZE(data):
            return _loads(data)
        return _loads(data[start:end])
    return v


# ---------------------------------------------------------------------------------------------
# Errors and the header-string cache


cdef int _raise(const char* reason, Py_ssize_t offset) except -1:
    """Raises FrameDecodeError(reason, offset)."""
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


cdef inline tuple _parts(tuple head, object data, const fpx_u8* base, const fpx_u8* ps,
                         const fpx_u8* pe, object payload):
    """scan_text's answer: the message's own bytes with the payload's offsets when the input
    is a bytes object (no copy), else a copy of the payload's bytes."""
    if PyBytes_CheckExact(data):
        return (head[0], head[1], head[2], head[3], data, ps - base, pe - base, payload)
    raw = PyBytes_FromStringAndSize(<const char*>ps, pe - ps)
    return (head[0], head[1], head[2], head[3], raw, 0, pe - ps, payload)


cdef tuple _scan_buf(const fpx_u8* base, Py_ssize_t size, bint eager, object data):
    """Scans one V2 text frame into its parts. One long function on purpose: it is the
    per-message hot path (bench/codec_ratios.py); splitting it costs calls and re-checks per
    element."""
    cdef const fpx_u8* end = base + size
    cdef const fpx_u8* p = base
    cdef const fpx_u8* ps
    cdef const fpx_u8* pe
    cdef fpx_err e
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
    ps = _element_start(fpx_skip_ws(p, end), end, base)
    if eager:
        # The C builder parses the payload in place; when it bails (or the frame does not
        # end right after the payload), orjson decides on the slice as below.
        pe = ps
        payload = fpb_build(ps, end, &pe)
        if payload is not _BAIL:
            p = fpx_skip_ws(pe, end)
            if p < end and p[0] == 93 and fpx_skip_ws(p + 1, end) == end:
                return _parts(head, data, base, ps, pe, payload)
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
                return (head[0], head[1], head[2], head[3], raw, 0, pe - ps, payload)
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
    return _parts(head, data, base, ps, pe, _UNPARSED)



cdef int _raise_like_decode(object data, object cause) except -1:
    """The eager scan's error path: the validating scan names the reason and offset."""
    try:
        _scan(data, False)
    except FrameDecodeError as err:
        if cause is not None:
            raise err from cause
        raise
    # unreachable while the C validator and orjson agree; never accept what orjson rejects
    raise _FrameDecodeError("invalid JSON in payload", None) from cause


cdef tuple _scan(object data, bint eager):
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef const char* buf
    if PyBytes_Check(data):
        return _scan_buf(<const fpx_u8*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                         eager, data)
    if PyUnicode_Check(data):
        try:
            buf = PyUnicode_AsUTF8AndSize(data, &n)
        except UnicodeEncodeError as exc:
            offset = len((<str>data)[:exc.start].encode("utf-8"))
            raise _FrameDecodeError("invalid UTF-8", offset) from exc
        return _scan_buf(<const fpx_u8*>buf, n, eager, data)
    if not (PyByteArray_Check(data) or PyMemoryView_Check(data)):
        raise TypeError(
            f"decode() expects bytes, bytearray, memoryview or str, not {type(data).__name__}")
    try:
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    except (BufferError, ValueError, TypeError):
        return _scan(bytes(data), eager)  # a non-contiguous or non-byte memoryview
    try:
        return _scan_buf(<const fpx_u8*>view.buf, view.len, eager, data)
    finally:
        PyBuffer_Release(&view)


cpdef tuple scan_text(object data, bint eager):
    """``(join_ref, ref, topic, event, data, start, end, payload)`` of the V2 text frame
    `data`: the payload's bytes are ``data[start:end]`` (``data`` is the input itself when
    it is a bytes object, else a copy of just the payload's bytes).

    The payload is validated and left UNPARSED, or (``eager``) built in place by the C
    builder, or parsed by ``orjson.loads`` of its slice when the builder hands over; one pass
    either way. Raises FrameDecodeError (reason and byte offset; chained from orjson's error
    when orjson rejected an eager payload) or TypeError for a wrong input type.
    """
    return _scan(data, eager)


# ---------------------------------------------------------------------------------------------
# Encode: the header around a payload's JSON


# Extra output bytes per input byte when escaped like JSON.stringify (and orjson): '"' and
# '\\' and \b \f \n \r \t take 2 bytes, other controls < 0x20 take 6 (\u00xx, lowercase hex).
cdef unsigned char _esc_extra[256]
cdef char _esc_char[256]
cdef int _i
for _i in range(32):
    _esc_extra[_i] = 5
for _i, _c in ((8, b"b"), (12, b"f"), (10, b"n"), (13, b"r"), (9, b"t"), (34, b'"'),
               (92, b"\\")):
    _esc_extra[_i] = 1
    _esc_char[_i] = (<bytes>_c)[0]
cdef const char* _HEX = b"0123456789abcdef"


cdef inline char* _put_string(char* o, const fpx_u8* s, Py_ssize_t n, Py_ssize_t esc_len):
    """Writes s (n UTF-8 bytes, esc_len bytes once quoted and escaped) as a JSON string."""
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
        h.esc[i] = fpx_escaped_len(<const fpx_u8*>h.s[i], h.n[i], _esc_extra)
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
        # the error type orjson.dumps raises for a lone surrogate
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


cpdef bytes splice(object join_ref, object ref, object topic, object event, bytes body):
    """``[join_ref,ref,"topic","event",`` + body + ``]`` in one allocation, the header
    escaped like orjson. The strs are type-checked by the caller; TypeError for one that
    cannot be UTF-8 encoded (a lone surrogate)."""
    cdef _Head h
    cdef Py_ssize_t n = PyBytes_GET_SIZE(body)
    cdef Py_ssize_t hl
    _prep_head(&h, join_ref, ref, topic, event)
    hl = _head_len(&h)
    out = PyBytes_FromStringAndSize(NULL, hl + n + 1)
    cdef char* o = PyBytes_AS_STRING(out)
    _put_head(&h, o, topic, event)
    memcpy(o + hl, PyBytes_AS_STRING(body), <size_t>n)
    o[hl + n] = 93  # ']'
    return out

/* One-pass JSON -> Python object builder of the compiled text kernel (_text.pyx), for
 * Frame.payload and decode_eager.
 *
 * Contract: fpb_build either returns exactly what orjson.loads returns for the same bytes
 * (same types, same float bits, same dict key order; a duplicate key keeps its first
 * position and its last value, as PyDict_SetItem does), or it BAILS and the caller runs
 * orjson.loads instead. It never accepts input that orjson rejects: everything it accepts
 * is validated here (grammar, UTF-8, control characters, escapes) with the same checks as
 * the structural scanner in _jsonscan.h. Anything unusual bails rather than being handled:
 * integers of more than 18 digits, floats that need more than the Clinger fast path and
 * whose correctly rounded value (PyOS_string_to_double) is not finite, nesting deeper than
 * FPB_MAX_DEPTH, a failed UTF-8 decode.
 *
 * Internally every function returns a new reference, or NULL for "bail" (no exception set)
 * or "error" (an exception set: MemoryError), and releases whatever it built before
 * returning NULL. fpb_build turns a bail into a new reference to Py_Ellipsis (which no JSON
 * value decodes to), so callers can declare it as returning an object.
 *
 * Every read is bounds-checked against `end` (the input is not NUL-terminated).
 */
#ifndef FASTPHX_JSONBUILD_H
#define FASTPHX_JSONBUILD_H

#include "_jsonscan.h"
#include <math.h>

#define FPB_MAX_DEPTH 128
#define FPB_KEY_CACHE 1024 /* entries, a power of two */
#define FPB_KEY_MAX 64     /* longest cached key, in bytes */
#define FPB_STACK_ITEMS 16 /* array items collected on the C stack before going to the heap */

/* Two-way set-associative cache of short ASCII object keys: a stream repeats the same keys
 * on every message, so a hit costs a hash, a compare or two and an INCREF instead of a str
 * allocation and a later hash computation (cached strs carry their hash). Entries are
 * verified byte for byte, so a collision is only a miss; two ways keep two keys that share
 * a pair of slots from evicting each other on every message. Holds one reference per entry
 * (never released: the extension module is never unloaded). */
static PyObject *fpb_keys[FPB_KEY_CACHE];

/* Powers of ten that are exact doubles (10^22 is the largest). */
static const double fpb_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static PyObject *fpb_value(const fpx_u8 **pp, const fpx_u8 *end, int depth);

/* A str of n ASCII bytes (no escapes, no control characters). */
FPX_INLINE PyObject *fpb_ascii(const fpx_u8 *p, Py_ssize_t n) {
    PyObject *s;
    if (n == 1) return PyUnicode_FromOrdinal(p[0]); /* CPython's cached 1-char strs */
    s = PyUnicode_New(n, 127);
    if (FPX_LIKELY(s != NULL)) memcpy(PyUnicode_DATA(s), p, (size_t)n);
    return s;
}

/* Decodes a string body [p, q) that fpx_scan_string validated, with flags fl (bit 1:
 * escapes, bit 2: non-ASCII). NULL with no exception set: bail. */
static PyObject *fpb_string_slow(const fpx_u8 *p, const fpx_u8 *q, int fl) {
    Py_ssize_t n = q - p, m;
    char small[256];
    char *tmp;
    PyObject *s;
    if (!(fl & 1)) {
        s = PyUnicode_DecodeUTF8((const char *)p, n, NULL);
        if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) PyErr_Clear();
        return s;
    }
    /* escapes: no escape expands, so n bytes of room suffice */
    tmp = n <= (Py_ssize_t)sizeof(small) ? small : (char *)PyMem_Malloc((size_t)n);
    if (tmp == NULL) return PyErr_NoMemory();
    m = fpx_unescape(p, q, tmp);
    s = NULL;
    if (m >= 0) { /* escapes decoded to UTF-8 (surrogate pairs combined, lone ones rejected) */
        s = PyUnicode_DecodeUTF8(tmp, m, NULL);
        if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) PyErr_Clear();
    }
    if (tmp != small) PyMem_Free(tmp);
    return s;
}

/* A string value; *pp is at the opening quote and moves past the closing one. */
FPX_INLINE PyObject *fpb_string(const fpx_u8 **pp, const fpx_u8 *end) {
    fpx_err e;
    int fl = 0;
    const fpx_u8 *p = *pp + 1;
    const fpx_u8 *q = fpx_scan_string(p, end, &fl, &e);
    if (FPX_UNLIKELY(q == NULL)) return NULL; /* invalid: bail, orjson names the error */
    *pp = q + 1;
    if (FPX_LIKELY(fl == 0)) return fpb_ascii(p, q - p);
    return fpb_string_slow(p, q, fl);
}

/* An object key; *pp is at the opening quote and moves past the closing one. Short ASCII
 * keys come from fpb_keys. */
FPX_INLINE PyObject *fpb_key(const fpx_u8 **pp, const fpx_u8 *end) {
    fpx_err e;
    int fl = 0;
    const fpx_u8 *p = *pp + 1;
    const fpx_u8 *q = fpx_scan_string(p, end, &fl, &e);
    Py_ssize_t n;
    int i;
    PyObject *s, *hit, **slot;
    if (FPX_UNLIKELY(q == NULL)) return NULL;
    *pp = q + 1;
    n = q - p;
    if (FPX_UNLIKELY(fl != 0)) return fpb_string_slow(p, q, fl);
    if (FPX_UNLIKELY(n > FPB_KEY_MAX)) return fpb_ascii(p, n);
    /* two-way: keys whose hashes share a pair of slots (e.g. "price" and "qty") both stay */
    slot = &fpb_keys[fpx_hash_short(p, n) & (FPB_KEY_CACHE - 2)];
    for (i = 0; i < 2; i++) {
        hit = slot[i];
        if (FPX_LIKELY(hit != NULL) && PyUnicode_GET_LENGTH(hit) == n &&
            fpx_eq_short((const fpx_u8 *)PyUnicode_DATA(hit), p, n)) {
            Py_INCREF(hit);
            return hit;
        }
    }
    s = PyUnicode_New(n, 127);
    if (s == NULL) return NULL;
    memcpy(PyUnicode_DATA(s), p, (size_t)n);
    if (PyObject_Hash(s) == -1) { /* cannot fail for a str; computed once, kept in the str */
        Py_DECREF(s);
        return NULL;
    }
    /* the newest key goes first, the older one second, the oldest is dropped */
    Py_INCREF(s);
    hit = slot[1];
    slot[1] = slot[0];
    slot[0] = s;
    Py_XDECREF(hit);
    return s;
}

/* Correctly rounded double of the number token [start, stop) (JSON grammar already checked),
 * or -1 with *ok = 0 when not finite or on failure (bail). */
static double fpb_parse_double(const fpx_u8 *start, const fpx_u8 *stop, int *ok) {
    Py_ssize_t n = stop - start;
    char small[64];
    char *buf, *endp = NULL;
    double d;
    *ok = 0;
    buf = n < (Py_ssize_t)sizeof(small) ? small : (char *)PyMem_Malloc((size_t)n + 1);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1.0;
    }
    memcpy(buf, start, (size_t)n);
    buf[n] = 0;
    d = PyOS_string_to_double(buf, &endp, NULL); /* overflow: +-HUGE_VAL, no exception */
    if (d == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) PyErr_Clear(); /* else MemoryError */
    } else if (endp == buf + n && Py_IS_FINITE(d)) {
        *ok = 1;
    }
    if (buf != small) PyMem_Free(buf);
    return d;
}

/* A number; *pp is at '-' or a digit. Integers of up to 18 digits -> int ("-0" -> 0),
 * longer integers bail (orjson gives an int up to u64 and a float beyond), anything with a
 * fraction or exponent -> float. */
FPX_INLINE PyObject *fpb_number(const fpx_u8 **pp, const fpx_u8 *end) {
    const fpx_u8 *start = *pp, *p = *pp, *d;
    uint64_t m = 0;
    int neg = 0, sig = 0, ok;
    long long e10 = 0, ex = 0;
    double v;
    if (*p == '-') {
        neg = 1;
        p++;
        if (FPX_UNLIKELY(p >= end)) return NULL;
    }
    d = p;
    if (*p == '0') {
        p++;
    } else if (FPX_IS_DIGIT(*p)) {
        do {
            m = m * 10 + (uint64_t)(*p - '0');
            p++;
        } while (p < end && FPX_IS_DIGIT(*p) && p - d < 19);
        if (FPX_UNLIKELY(p < end && FPX_IS_DIGIT(*p))) return NULL; /* > 19 digits: bail */
    } else {
        return NULL;
    }
    sig = (int)(p - d); /* significant digits so far ("0" counts as none below) */
    if (m == 0) sig = 0;
    if (FPX_LIKELY(p >= end || (*p != '.' && *p != 'e' && *p != 'E'))) {
        if (FPX_UNLIKELY(p < end && FPX_IS_DIGIT(*p))) return NULL; /* leading zero */
        if (FPX_UNLIKELY(p - d > 18)) return NULL;
        *pp = p;
        return PyLong_FromLongLong(neg ? -(long long)m : (long long)m);
    }
    if (*p == '.') {
        p++;
        if (FPX_UNLIKELY(p >= end || !FPX_IS_DIGIT(*p))) return NULL;
        do {
            if (m == 0 && *p == '0') {
                e10--; /* leading fraction zeros: exponent only */
            } else if (sig < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                sig++;
                e10--;
            } else {
                sig = 99; /* too many digits for the fast path; the slow path reads them */
            }
            p++;
        } while (p < end && FPX_IS_DIGIT(*p));
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (FPX_UNLIKELY(p >= end || !FPX_IS_DIGIT(*p))) return NULL;
        do {
            if (ex < 100000000LL) ex = ex * 10 + (*p - '0');
            p++;
        } while (p < end && FPX_IS_DIGIT(*p));
        e10 += eneg ? -ex : ex;
    }
    *pp = p;
    if (m == 0) return PyFloat_FromDouble(neg ? -0.0 : 0.0); /* all digits zero */
    /* Clinger's fast path: m and 10^|e10| are exact doubles, one rounding */
    if (sig <= 19 && m <= (1ULL << 53) && e10 >= -22 && e10 <= 22) {
        v = (double)m;
        v = e10 < 0 ? v / fpb_pow10[-e10] : v * fpb_pow10[e10];
        return PyFloat_FromDouble(neg ? -v : v);
    }
    v = fpb_parse_double(start, p, &ok);
    if (!ok) return NULL;
    return PyFloat_FromDouble(v);
}

static PyObject *fpb_array(const fpx_u8 **pp, const fpx_u8 *end, int depth) {
    PyObject *stack[FPB_STACK_ITEMS];
    PyObject **items = stack, *list = NULL, *v;
    Py_ssize_t n = 0, cap = FPB_STACK_ITEMS, i;
    const fpx_u8 *p = fpx_skip_ws(*pp + 1, end);
    if (p < end && *p == ']') {
        *pp = p + 1;
        return PyList_New(0);
    }
    for (;;) {
        v = fpb_value(&p, end, depth);
        if (FPX_UNLIKELY(v == NULL)) goto fail;
        if (FPX_UNLIKELY(n == cap)) {
            PyObject **grown;
            if (items == stack) {
                grown = (PyObject **)PyMem_Malloc(sizeof(PyObject *) * (size_t)cap * 2);
                if (grown) memcpy(grown, stack, sizeof(stack));
            } else {
                grown = (PyObject **)PyMem_Realloc(items, sizeof(PyObject *) * (size_t)cap * 2);
            }
            if (grown == NULL) {
                Py_DECREF(v);
                PyErr_NoMemory();
                goto fail;
            }
            items = grown;
            cap *= 2;
        }
        items[n++] = v;
        p = fpx_skip_ws(p, end);
        if (FPX_UNLIKELY(p >= end)) goto fail;
        if (*p == ',') {
            p = fpx_skip_ws(p + 1, end);
            continue;
        }
        if (FPX_LIKELY(*p == ']')) break;
        goto fail;
    }
    list = PyList_New(n);
    if (list == NULL) goto fail;
    for (i = 0; i < n; i++) PyList_SET_ITEM(list, i, items[i]);
    if (items != stack) PyMem_Free(items);
    *pp = p + 1;
    return list;
fail:
    for (i = 0; i < n; i++) Py_DECREF(items[i]);
    if (items != stack) PyMem_Free(items);
    return NULL;
}

static PyObject *fpb_object(const fpx_u8 **pp, const fpx_u8 *end, int depth) {
    PyObject *d = PyDict_New(), *k, *v;
    const fpx_u8 *p = fpx_skip_ws(*pp + 1, end);
    int r;
    if (d == NULL) return NULL;
    if (p < end && *p == '}') {
        *pp = p + 1;
        return d;
    }
    for (;;) {
        if (FPX_UNLIKELY(p >= end || *p != '"')) goto fail;
        k = fpb_key(&p, end);
        if (FPX_UNLIKELY(k == NULL)) goto fail;
        if (FPX_UNLIKELY(p >= end || *p != ':')) {
            p = fpx_skip_ws(p, end);
            if (p >= end || *p != ':') {
                Py_DECREF(k);
                goto fail;
            }
        }
        p++;
        v = fpb_value(&p, end, depth);
        if (FPX_UNLIKELY(v == NULL)) {
            Py_DECREF(k);
            goto fail;
        }
        r = PyDict_SetItem(d, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (FPX_UNLIKELY(r < 0)) goto fail;
        p = fpx_skip_ws(p, end);
        if (FPX_UNLIKELY(p >= end)) goto fail;
        if (*p == ',') {
            p = fpx_skip_ws(p + 1, end);
            continue;
        }
        if (FPX_LIKELY(*p == '}')) break;
        goto fail;
    }
    *pp = p + 1;
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

/* One value after optional whitespace; *pp moves past it. */
static PyObject *fpb_value(const fpx_u8 **pp, const fpx_u8 *end, int depth) {
    const fpx_u8 *p = fpx_skip_ws(*pp, end);
    fpx_u8 c;
    if (FPX_UNLIKELY(p >= end)) return NULL;
    c = *p;
    *pp = p;
    if (c == '"') return fpb_string(pp, end);
    if (FPX_IS_DIGIT(c) || c == '-') return fpb_number(pp, end);
    if (c == '{') {
        if (FPX_UNLIKELY(depth >= FPB_MAX_DEPTH)) return NULL;
        return fpb_object(pp, end, depth + 1);
    }
    if (c == '[') {
        if (FPX_UNLIKELY(depth >= FPB_MAX_DEPTH)) return NULL;
        return fpb_array(pp, end, depth + 1);
    }
    if (c == 't' && end - p >= 4 && memcmp(p, "true", 4) == 0) {
        *pp = p + 4;
        Py_RETURN_TRUE;
    }
    if (c == 'f' && end - p >= 5 && memcmp(p, "false", 5) == 0) {
        *pp = p + 5;
        Py_RETURN_FALSE;
    }
    if (c == 'n' && end - p >= 4 && memcmp(p, "null", 4) == 0) {
        *pp = p + 4;
        Py_RETURN_NONE;
    }
    return NULL;
}

/* Builds the JSON value at p (whitespace before it skipped); *out = the byte after it.
 * Returns a new reference; NULL with an exception set (MemoryError); or a new reference to
 * Py_Ellipsis when the input is not valid JSON or needs orjson (bail). */
static PyObject *fpb_build(const fpx_u8 *p, const fpx_u8 *end, const fpx_u8 **out) {
    PyObject *v = fpb_value(&p, end, 0);
    if (FPX_UNLIKELY(v == NULL)) {
        if (PyErr_Occurred()) return NULL;
        Py_INCREF(Py_Ellipsis);
        return Py_Ellipsis;
    }
    *out = p;
    return v;
}

/* The whole buffer [p, p + n) as one JSON value (whitespace allowed around it), else bail. */
static PyObject *fpb_build_all(const fpx_u8 *p, Py_ssize_t n) {
    const fpx_u8 *end = p + n, *q = p;
    PyObject *v = fpb_build(p, end, &q);
    if (v == NULL || v == Py_Ellipsis) return v;
    if (FPX_UNLIKELY(fpx_skip_ws(q, end) != end)) {
        Py_DECREF(v);
        Py_INCREF(Py_Ellipsis);
        return Py_Ellipsis;
    }
    return v;
}

#endif

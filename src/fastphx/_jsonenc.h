/* Direct JSON writer for fastphx._codec.encode: writes a payload made of the common exact
 * types straight after the frame header, byte-identical to orjson.dumps.
 *
 * Handled: exact dict (exact str keys, insertion order), list, tuple (an array, like
 * orjson), str, int within int64, True/False/None and float. Anything else (a subclass, an
 * int beyond int64, a str holding a surrogate, nesting deeper than FPX_ENC_MAX_DEPTH, ...)
 * makes the writer give up with FPX_ENC_ABORT and no exception set: the caller then runs
 * orjson, which writes orjson's own bytes or raises orjson's own error. FPX_ENC_BIG means
 * the output outgrew the caller's budget (big payloads go to orjson whole).
 *
 * Strings are escaped like orjson and JSON.stringify: '"' '\\' and \b \f \n \r \t in their
 * short forms, other controls below 0x20 as \u00xx (lowercase hex), everything else raw
 * (0x7f included, non-ASCII as UTF-8, transcoded here from the str's PEP 393 data so no
 * UTF-8 copy is cached in the str).
 *
 * Floats: orjson writes the shortest round-trip digits, positionally for these magnitudes
 * ("1234.5", "100.0", "0.001"; "1e-6" and "1e+16" outside). For 1e-3 <= |x| < 1e15 the
 * digits are found here: for k = 0, 1, 2, ... the integer m nearest the computed x * 10^k
 * (while m < 2^50) is the answer at the first k where m / 10^k (one correctly rounded IEEE
 * division of two exact values) gives x back; the first such k has the fewest digits. At
 * that k the product is computed within 2^-53 * 2^50 = 1/8 of its exact value, and an
 * integer that round-trips lies within half an ulp of x times 10^k, also under 1/8, of the
 * exact value: so it is m, and m - 1 and m + 1 cannot round-trip (they are still checked,
 * as a belt and braces). Other floats (nan, inf, tiny, huge, 17 digits) are formatted by
 * orjson.dumps itself: its output for one value does not depend on where the value sits.
 * 0.0 and -0.0 are written here.
 *
 * The output goes to one scratch buffer reused across calls (the caller holds the GIL and
 * no Python code runs during a walk: no hashing, no comparisons, no attribute access;
 * orjson.dumps of a float runs none either). A buffer grown past FPX_ENC_KEEP is freed after
 * the call.
 */
#ifndef FASTPHX_JSONENC_H
#define FASTPHX_JSONENC_H

#include "_jsonscan.h"
#include <float.h>
#include <math.h>

/* The float fast path needs plain IEEE double arithmetic (no x87 extended precision). */
#if (defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0) || defined(_M_X64) || defined(_M_ARM64)
#define FPX_ENC_FAST_FLOAT 1
#else
#define FPX_ENC_FAST_FLOAT 0
#endif

#define FPX_ENC_OK 0
#define FPX_ENC_ABORT 1 /* not a type handled here: fall back to orjson (no exception set) */
#define FPX_ENC_BIG 2   /* the output would exceed the budget */

#define FPX_ENC_MAX_DEPTH 64
#define FPX_ENC_STATIC 4096
#define FPX_ENC_KEEP (256 * 1024)
#define FPX_ENC_SLACK 16 /* bytes past the end the bulk string copy may store */

typedef struct {
    char *p;          /* write position */
    char *end;        /* end of the buffer */
    Py_ssize_t limit; /* the budget: total bytes the buffer may be grown to hold */
    PyObject *dumps;  /* orjson.dumps (borrowed), for the floats formatted by orjson */
} fpx_enc;

static char fpx_enc_static[FPX_ENC_STATIC];
static char *fpx_enc_base = fpx_enc_static;
static Py_ssize_t fpx_enc_cap = FPX_ENC_STATIC;

#if defined(__GNUC__)
#define FPX_COLD static __attribute__((noinline, cold))
#else
#define FPX_COLD static
#endif

/* Makes room for `need` more bytes at w->p (moving the buffer). FPX_ENC_BIG when the output
 * so far plus `need` exceeds the budget, FPX_ENC_ABORT when memory runs out. */
FPX_COLD int fpx_enc_grow(fpx_enc *w, Py_ssize_t need) {
    Py_ssize_t used = w->p - fpx_enc_base, cap = fpx_enc_cap;
    char *nb;
    if (need > w->limit - used) return FPX_ENC_BIG;
    while (cap - used < need) cap *= 2;
    if (fpx_enc_base == fpx_enc_static) {
        nb = (char *)PyMem_Malloc((size_t)cap);
        if (nb) memcpy(nb, fpx_enc_base, (size_t)used);
    } else {
        nb = (char *)PyMem_Realloc(fpx_enc_base, (size_t)cap);
    }
    if (!nb) return FPX_ENC_ABORT; /* orjson gets its chance (and raises MemoryError) */
    fpx_enc_base = nb;
    fpx_enc_cap = cap;
    w->p = nb + used;
    w->end = nb + cap;
    return FPX_ENC_OK;
}

FPX_INLINE int fpx_enc_reserve(fpx_enc *w, Py_ssize_t need) {
    if (FPX_LIKELY(w->end - w->p >= need)) return FPX_ENC_OK;
    return fpx_enc_grow(w, need);
}

/* Starts a walk with room for n bytes (the header), which the caller writes at the
 * returned pointer before setting w->p past them. NULL: out of memory (no exception). */
static char *fpx_enc_open(fpx_enc *w, Py_ssize_t n, Py_ssize_t limit, PyObject *dumps) {
    w->p = fpx_enc_base;
    w->end = fpx_enc_base + fpx_enc_cap;
    w->limit = limit > n + 64 ? limit : n + 64;
    w->dumps = dumps;
    if (fpx_enc_reserve(w, n + 64) != FPX_ENC_OK) return NULL;
    return w->p;
}

/* Ends a walk: frees a buffer that grew large. */
static void fpx_enc_release(void) {
    if (fpx_enc_cap > FPX_ENC_KEEP) {
        PyMem_Free(fpx_enc_base);
        fpx_enc_base = fpx_enc_static;
        fpx_enc_cap = FPX_ENC_STATIC;
    }
}

/* The bytes written so far as a new bytes object (NULL with MemoryError), then release. */
static PyObject *fpx_enc_result(fpx_enc *w) {
    PyObject *out = PyBytes_FromStringAndSize(fpx_enc_base, w->p - fpx_enc_base);
    fpx_enc_release();
    return out;
}

/* ---------------------------------------------------------------------------------------
 * Strings */

/* 1: the ASCII byte c needs an escape ('"', '\\', a control). */
static const unsigned char fpx_enc_needs[128] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0};

static char *fpx_enc_escape(char *o, unsigned int c) {
    static const char hex[] = "0123456789abcdef";
    char s = 0;
    switch (c) {
    case '"': s = '"'; break;
    case '\\': s = '\\'; break;
    case '\b': s = 'b'; break;
    case '\f': s = 'f'; break;
    case '\n': s = 'n'; break;
    case '\r': s = 'r'; break;
    case '\t': s = 't'; break;
    default: break;
    }
    o[0] = '\\';
    if (s) {
        o[1] = s;
        return o + 2;
    }
    memcpy(o + 1, "u00", 3);
    o[4] = hex[c >> 4];
    o[5] = hex[c & 15];
    return o + 6;
}

/* Flags (high bit of each byte lane) the bytes of v that are '"', '\\', below 0x20 or
 * non-ASCII; the lowest flagged lane is exact (borrows only propagate upwards). */
FPX_INLINE uint64_t fpx_enc_flags8(uint64_t v) {
    uint64_t q = v ^ (FPX_ONES * '"'), b = v ^ (FPX_ONES * '\\');
    uint64_t ctl = (v - FPX_ONES * 0x20) & ~v;
    q = (q - FPX_ONES) & ~q;
    b = (b - FPX_ONES) & ~b;
    return (v | ctl | q | b) & FPX_HIGHS;
}

/* Bulk steps of the string writers: store the next FPX_BULK1 one-byte chars (FPX_BULK2
 * two-byte chars, as bytes) at o and return how many of them lead that need no look (all
 * of them: plain ASCII); the bytes stored past those are overwritten afterwards. */
#if defined(__SSE2__) && defined(__GNUC__)
#define FPX_BULK1 16
#define FPX_BULK2 8
FPX_INLINE unsigned int fpx_enc_mask16(__m128i v) {
    /* the signed compare flags bytes >= 0x80 along with the controls */
    return (unsigned int)_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                     _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
}
FPX_INLINE Py_ssize_t fpx_enc_bulk1(const Py_UCS1 *s, char *o) {
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    unsigned int m;
    _mm_storeu_si128((__m128i *)o, v);
    m = fpx_enc_mask16(v);
    return m ? __builtin_ctz(m) : 16;
}
FPX_INLINE Py_ssize_t fpx_enc_bulk2(const Py_UCS2 *s, char *o) {
    /* unsigned saturation maps 0x100-0x7fff to 0xff, 0x8000-0xffff (signed) to 0: flagged */
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    __m128i b = _mm_packus_epi16(v, v);
    unsigned int m = fpx_enc_mask16(b) & 0xFF;
    _mm_storel_epi64((__m128i *)o, b);
    return m ? __builtin_ctz(m) : 8;
}
#elif FPX_LITTLE && defined(__GNUC__)
#define FPX_BULK1 8
#define FPX_BULK2 0
FPX_INLINE Py_ssize_t fpx_enc_bulk1(const Py_UCS1 *s, char *o) {
    uint64_t v, m;
    memcpy(&v, s, 8);
    memcpy(o, &v, 8);
    m = fpx_enc_flags8(v);
    return m ? __builtin_ctzll(m) >> 3 : 8;
}
#define fpx_enc_bulk2(s, o) 0
#else
#define FPX_BULK1 0
#define FPX_BULK2 0
#define fpx_enc_bulk1(s, o) 0
#define fpx_enc_bulk2(s, o) 0
#endif
#define fpx_enc_bulk4(s, o) 0
#define FPX_BULK4 0

/* A string of n chars of type T (ASCII: MAXB 1; else the widest UTF-8 form of a char):
 * bulk steps over plain ASCII, one char at a time otherwise. Room is reserved for the
 * widest form of every remaining char, again after each escape (up to 6 bytes). */
#define FPX_ENC_STRING(NAME, T, MAXB, BULK, CH)                                              \
    static int NAME(fpx_enc *w, const T *s, Py_ssize_t n) {                              \
        Py_ssize_t i = 0;                                                                   \
        char *o;                                                                            \
        int rc = fpx_enc_reserve(w, n * MAXB + 2 + FPX_ENC_SLACK);                          \
        if (rc) return rc;                                                                  \
        o = w->p;                                                                           \
        *o++ = '"';                                                                         \
        while (i < n) {                                                                     \
            uint32_t c;                                                                     \
            if (CH && n - i >= CH) {                                                        \
                Py_ssize_t k = BULK(s + i, o);                                              \
                i += k;                                                                     \
                o += k;                                                                     \
                if (k == CH) continue;                                                      \
            }                                                                               \
            c = s[i++];                                                                     \
            if (c < 0x80) {                                                                 \
                if (FPX_LIKELY(!fpx_enc_needs[c])) {                                        \
                    *o++ = (char)c;                                                         \
                    continue;                                                               \
                }                                                                           \
                w->p = o;                                                                   \
                rc = fpx_enc_reserve(w, (n - i) * MAXB + 7 + FPX_ENC_SLACK);                \
                if (rc) return rc;                                                          \
                o = fpx_enc_escape(w->p, c);                                                \
            } else if (c < 0x800) {                                                         \
                o[0] = (char)(0xC0 | (c >> 6));                                             \
                o[1] = (char)(0x80 | (c & 0x3F));                                           \
                o += 2;                                                                     \
            } else if (c < 0x10000) {                                                       \
                if (FPX_UNLIKELY(c >= 0xD800 && c <= 0xDFFF)) return FPX_ENC_ABORT;         \
                o[0] = (char)(0xE0 | (c >> 12));                                            \
                o[1] = (char)(0x80 | ((c >> 6) & 0x3F));                                    \
                o[2] = (char)(0x80 | (c & 0x3F));                                           \
                o += 3;                                                                     \
            } else {                                                                        \
                o[0] = (char)(0xF0 | (c >> 18));                                            \
                o[1] = (char)(0x80 | ((c >> 12) & 0x3F));                                   \
                o[2] = (char)(0x80 | ((c >> 6) & 0x3F));                                    \
                o[3] = (char)(0x80 | (c & 0x3F));                                           \
                o += 4;                                                                     \
            }                                                                               \
        }                                                                                   \
        *o++ = '"';                                                                         \
        w->p = o;                                                                           \
        return FPX_ENC_OK;                                                                  \
    }

FPX_ENC_STRING(fpx_enc_ascii_any, Py_UCS1, 1, fpx_enc_bulk1, FPX_BULK1)
FPX_ENC_STRING(fpx_enc_ucs1, Py_UCS1, 2, fpx_enc_bulk1, FPX_BULK1)
FPX_ENC_STRING(fpx_enc_ucs2, Py_UCS2, 3, fpx_enc_bulk2, FPX_BULK2)
FPX_ENC_STRING(fpx_enc_ucs4, Py_UCS4, 4, fpx_enc_bulk4, FPX_BULK4)

/* A str that is not compact ASCII. */
static int fpx_enc_wide(fpx_enc *w, PyObject *s) {
#if PY_VERSION_HEX < 0x030C0000
    if (FPX_UNLIKELY(PyUnicode_READY(s) < 0)) {
        PyErr_Clear();
        return FPX_ENC_ABORT;
    }
#endif
    switch (PyUnicode_KIND(s)) {
    case PyUnicode_1BYTE_KIND:
        return fpx_enc_ucs1(w, PyUnicode_1BYTE_DATA(s), PyUnicode_GET_LENGTH(s));
    case PyUnicode_2BYTE_KIND:
        return fpx_enc_ucs2(w, PyUnicode_2BYTE_DATA(s), PyUnicode_GET_LENGTH(s));
    default:
        return fpx_enc_ucs4(w, PyUnicode_4BYTE_DATA(s), PyUnicode_GET_LENGTH(s));
    }
}

/* An exact str. Short compact ASCII strings without escapes (most keys and values) take
 * two overlapping loads and stores; the rest go to the general writers. */
FPX_INLINE int fpx_enc_str(fpx_enc *w, PyObject *str) {
    const fpx_u8 *s;
    Py_ssize_t n;
    char *o;
    if (FPX_UNLIKELY(!PyUnicode_IS_COMPACT_ASCII(str))) return fpx_enc_wide(w, str);
    s = (const fpx_u8 *)PyUnicode_DATA(str);
    n = PyUnicode_GET_LENGTH(str);
#if FPX_LITTLE && defined(__GNUC__)
    if (n <= 16 && w->end - w->p >= 19) {
        o = w->p;
        if (n >= 8) {
            uint64_t a, b;
            memcpy(&a, s, 8);
            memcpy(&b, s + n - 8, 8);
            if (fpx_enc_flags8(a) | fpx_enc_flags8(b)) goto general;
            memcpy(o + 1, &a, 8);
            memcpy(o + 1 + n - 8, &b, 8);
        } else if (n >= 4) {
            uint32_t a, b;
            memcpy(&a, s, 4);
            memcpy(&b, s + n - 4, 4);
            if (fpx_enc_flags8(a | ((uint64_t)b << 32))) goto general;
            memcpy(o + 1, &a, 4);
            memcpy(o + 1 + n - 4, &b, 4);
        } else if (n > 0) {
            /* chars 0, n/2 and n-1 cover 1 to 3; the other lanes hold a plain 'a' */
            uint64_t v = (uint64_t)s[0] | ((uint64_t)s[n >> 1] << 8) |
                         ((uint64_t)s[n - 1] << 16) | 0x6161616161000000ULL;
            if (fpx_enc_flags8(v)) goto general;
            o[1] = (char)s[0];
            o[1 + (n >> 1)] = (char)s[n >> 1];
            o[n] = (char)s[n - 1];
        }
        o[0] = '"';
        o[n + 1] = '"';
        w->p = o + n + 2;
        return FPX_ENC_OK;
    }
general:
#else
    (void)o;
#endif
    return fpx_enc_ascii_any(w, s, n);
}

/* ---------------------------------------------------------------------------------------
 * Numbers */

static const char fpx_enc_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* The decimal digits of v, ending at `end`; returns their start. */
FPX_INLINE char *fpx_enc_digits(char *end, uint64_t v) {
    while (v >= 100) {
        uint64_t r = v % 100;
        v /= 100;
        end -= 2;
        memcpy(end, fpx_enc_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        end -= 2;
        memcpy(end, fpx_enc_pairs + 2 * v, 2);
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

/* Up to 20 digits and a sign; stores 25 bytes (room reserved by the caller). The digits
 * are built at the middle of tmp so that fixed-size copies (no memcpy call) stay inside. */
FPX_INLINE char *fpx_enc_i64(char *o, long long v) {
    char tmp[48];
    char *e = tmp + 24, *b;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        *o++ = '-';
        u = 0 - u;
    }
    b = fpx_enc_digits(e, u);
    memcpy(o, b, 24);
    return o + (e - b);
}

FPX_COLD int fpx_enc_bigint(fpx_enc *w, PyObject *v) {
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) return FPX_ENC_ABORT; /* orjson writes u64 and rejects the rest */
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return FPX_ENC_ABORT;
    }
    w->p = fpx_enc_i64(w->p, x);
    return FPX_ENC_OK;
}

/* An exact int: one-digit ints read in place, the rest through PyLong_AsLongLong. */
FPX_INLINE int fpx_enc_int(fpx_enc *w, PyObject *v) {
    long long x;
    int rc = fpx_enc_reserve(w, 32);
    if (rc) return rc;
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Long_IsCompact((PyLongObject *)v)) return fpx_enc_bigint(w, v);
    x = (long long)PyUnstable_Long_CompactValue((PyLongObject *)v);
#else
    {
        Py_ssize_t size = Py_SIZE(v);
        if (size < -1 || size > 1) return fpx_enc_bigint(w, v);
        x = size * (long long)((PyLongObject *)v)->ob_digit[0];
    }
#endif
    w->p = fpx_enc_i64(w->p, x);
    return FPX_ENC_OK;
}

static const double fpx_enc_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Shortest round-trip positional form of a, 1e-3 <= a < 1e15, written at o (stores up to
 * 40 bytes). Returns NULL when the digits are not found here. */
static char *fpx_enc_fixed(char *o, double a) {
#if FPX_ENC_FAST_FLOAT
    const double two50 = 1125899906842624.0, two52 = 4503599627370496.0;
    int k;
    for (k = 0; k <= 18; k++) { /* t < 2^50 ends it first: a >= 1e-3 */
        double t = a * fpx_enc_pow10[k], r;
        if (t >= two50) break;
        /* t rounded to an integer, exactly (t < 2^50); were a * 10^k fused into the add,
         * r would be the integer nearest the exact product, which the bounds allow too */
        r = (t + two52) - two52;
        /* a round-tripping integer lies within 1/4 of t: skip the division otherwise */
        if (fabs(t - r) <= 0.25 && r / fpx_enc_pow10[k] == a) {
            /* m < 2^50 has nd <= 16 digits, k <= 18: fixed-size copies from the middle of
             * tmp stay inside it */
            char tmp[48];
            char *e = tmp + 24, *b;
            Py_ssize_t nd;
            if ((r - 1) / fpx_enc_pow10[k] == a || (r + 1) / fpx_enc_pow10[k] == a)
                return NULL; /* not unique: cannot happen (see the top), leave it to orjson */
            b = fpx_enc_digits(e, (uint64_t)r);
            nd = e - b;
            if (k == 0) {
                memcpy(o, b, 16);
                memcpy(o + nd, ".0", 2);
                return o + nd + 2;
            }
            if (nd > k) {
                memcpy(o, b, 16);
                o += nd - k;
                *o++ = '.';
                memcpy(o, e - k, 24);
                return o + k;
            }
            memcpy(o, "0.", 2);
            memset(o + 2, '0', 24);
            o += 2 + k - nd;
            memcpy(o, b, 16);
            return o + nd;
        }
    }
#else
    (void)o;
    (void)a;
#endif
    return NULL;
}

/* A float formatted by orjson.dumps itself (room for 48 bytes reserved). */
FPX_COLD int fpx_enc_float_orjson(fpx_enc *w, PyObject *v) {
    Py_ssize_t n;
    int rc;
    PyObject *b = PyObject_CallOneArg(w->dumps, v);
    if (!b) {
        PyErr_Clear();
        return FPX_ENC_ABORT;
    }
    n = PyBytes_GET_SIZE(b);
    rc = n <= 48 ? FPX_ENC_OK : FPX_ENC_ABORT; /* it is at most 24 */
    if (!rc) {
        memcpy(w->p, PyBytes_AS_STRING(b), (size_t)n);
        w->p += n;
    }
    Py_DECREF(b);
    return rc;
}

static int fpx_enc_float(fpx_enc *w, PyObject *v) {
    double x = PyFloat_AS_DOUBLE(v), a = fabs(x);
    int rc = fpx_enc_reserve(w, 48);
    if (rc) return rc;
    if (a >= 1e-3 && a < 1e15) {
        char *o = w->p;
        if (x < 0) *o++ = '-';
        o = fpx_enc_fixed(o, a);
        if (o) {
            w->p = o;
            return FPX_ENC_OK;
        }
    } else if (x == 0.0) {
        if (signbit(x)) {
            memcpy(w->p, "-0.0", 4);
            w->p += 4;
        } else {
            memcpy(w->p, "0.0", 3);
            w->p += 3;
        }
        return FPX_ENC_OK;
    }
    return fpx_enc_float_orjson(w, v);
}

/* ---------------------------------------------------------------------------------------
 * Values */

static int fpx_enc_value(fpx_enc *w, PyObject *v, int depth);

/* A str, int, float, bool or None (written inline in the container loops); -1 for any
 * other value.
 *
 * Every writer leaves room for at least one more byte after the value it wrote (strings
 * reserve FPX_ENC_SLACK or 3 bytes more than they write, numbers and literals reserve more
 * than their longest form, a closing bracket reserves 2): the ':' after a key and the ','
 * after a value are stored without a check. */
FPX_INLINE int fpx_enc_leaf(fpx_enc *w, PyObject *v) {
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type) return fpx_enc_str(w, v);
    if (t == &PyLong_Type) return fpx_enc_int(w, v);
    if (v == Py_None || v == Py_True || v == Py_False) {
        int rc = fpx_enc_reserve(w, 8);
        if (rc) return rc;
        if (v == Py_False) {
            memcpy(w->p, "false", 5);
            w->p += 5;
        } else {
            memcpy(w->p, v == Py_None ? "null" : "true", 4);
            w->p += 4;
        }
        return FPX_ENC_OK;
    }
    if (t == &PyFloat_Type) return fpx_enc_float(w, v);
    return -1;
}

static int fpx_enc_dict(fpx_enc *w, PyObject *d, int depth) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int rc;
    if ((rc = fpx_enc_reserve(w, 2))) return rc;
    *w->p++ = '{';
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (FPX_UNLIKELY(!PyUnicode_CheckExact(k))) return FPX_ENC_ABORT;
        if ((rc = fpx_enc_str(w, k))) return rc;
        *w->p++ = ':';
        rc = fpx_enc_leaf(w, v);
        if (rc < 0) rc = fpx_enc_value(w, v, depth);
        if (rc) return rc;
        *w->p++ = ',';
    }
    if (w->p[-1] == ',') w->p--; /* the '{' when empty */
    if ((rc = fpx_enc_reserve(w, 2))) return rc;
    *w->p++ = '}';
    return FPX_ENC_OK;
}

static int fpx_enc_array(fpx_enc *w, PyObject *const *items, Py_ssize_t n, int depth) {
    Py_ssize_t i;
    int rc;
    if ((rc = fpx_enc_reserve(w, 2))) return rc;
    *w->p++ = '[';
    for (i = 0; i < n; i++) {
        PyObject *v = items[i];
        rc = fpx_enc_leaf(w, v);
        if (rc < 0) rc = fpx_enc_value(w, v, depth);
        if (rc) return rc;
        *w->p++ = ',';
    }
    if (w->p[-1] == ',') w->p--; /* the '[' when empty */
    if ((rc = fpx_enc_reserve(w, 2))) return rc;
    *w->p++ = ']';
    return FPX_ENC_OK;
}

static int fpx_enc_value(fpx_enc *w, PyObject *v, int depth) {
    PyTypeObject *t = Py_TYPE(v);
    int rc = fpx_enc_leaf(w, v);
    if (rc >= 0) return rc;
    if (depth >= FPX_ENC_MAX_DEPTH) return FPX_ENC_ABORT; /* deep or circular: orjson's error */
    /* the item arrays are read during the walk: no Python code runs that could resize them */
    if (t == &PyDict_Type) return fpx_enc_dict(w, v, depth + 1);
    if (t == &PyList_Type)
        return fpx_enc_array(w, ((PyListObject *)v)->ob_item, PyList_GET_SIZE(v), depth + 1);
    if (t == &PyTuple_Type)
        return fpx_enc_array(w, ((PyTupleObject *)v)->ob_item, PyTuple_GET_SIZE(v), depth + 1);
    return FPX_ENC_ABORT;
}

#endif

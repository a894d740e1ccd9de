/* Structural JSON scanner of the compiled text kernel (_text.pyx): validates without creating
 * objects. The contract it implements is docs/codec.md.
 *
 * Accepts exactly what orjson.loads accepts for one JSON value (checked by tests against
 * orjson itself): RFC 8259 grammar, strings that are valid UTF-8 with no raw control
 * characters and no lone surrogate escapes, numbers whose double value is finite
 * (orjson rejects 1e400 and 400-digit integers as "number is infinity"), nesting depth
 * at most 1024 (orjson's own limit), duplicate keys allowed.
 *
 * Every read is bounds-checked against `end` (the extension is compiled with Cython's
 * boundscheck off, so this file carries the whole burden). Errors set fpx_err.reason to a
 * static English phrase and fpx_err.at to the offending byte.
 */
#ifndef FASTPHX_JSONSCAN_H
#define FASTPHX_JSONSCAN_H

#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define FPX_MAX_DEPTH 1024

typedef unsigned char fpx_u8;

typedef struct {
    const char *reason;
    const fpx_u8 *at;
} fpx_err;

#define FPX_ONES 0x0101010101010101ULL
#define FPX_HIGHS 0x8080808080808080ULL

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FPX_LITTLE 1
#else
#define FPX_LITTLE 0
#endif

#if defined(__GNUC__)
#define FPX_INLINE static inline __attribute__((always_inline))
#define FPX_LIKELY(x) __builtin_expect(!!(x), 1)
#define FPX_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define FPX_INLINE static inline
#define FPX_LIKELY(x) (x)
#define FPX_UNLIKELY(x) (x)
#endif

FPX_INLINE const fpx_u8 *fpx_skip_ws(const fpx_u8 *p, const fpx_u8 *end) {
    /* compact JSON has no whitespace: one compare in the common case */
    if (FPX_LIKELY(p < end && *p > ' ')) return p;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

static inline const fpx_u8 *fpx_fail(fpx_err *e, const char *reason, const fpx_u8 *at) {
    e->reason = reason;
    e->at = at;
    return NULL;
}

static inline int fpx_hex(fpx_u8 c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Reads 4 hex digits at p (caller guarantees p + 4 <= end); -1 if not hex. */
static inline long fpx_hex4(const fpx_u8 *p) {
    int a = fpx_hex(p[0]), b = fpx_hex(p[1]), c = fpx_hex(p[2]), d = fpx_hex(p[3]);
    if ((a | b | c | d) < 0) return -1;
    return ((long)a << 12) | ((long)b << 8) | ((long)c << 4) | (long)d;
}

/* Parses one escape at p (p[0] == '\\'). Returns the byte after it, or NULL. When cp is not
 * NULL it receives the code point (surrogate pairs combined). */
static inline const fpx_u8 *fpx_escape(const fpx_u8 *p, const fpx_u8 *end, long *cp, fpx_err *e) {
    long c, lo;
    if (end - p < 2) return fpx_fail(e, "unexpected end of frame", end);
    switch (p[1]) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u':
        if (end - p < 6) return fpx_fail(e, "unexpected end of frame", end);
        c = fpx_hex4(p + 2);
        if (c < 0) return fpx_fail(e, "invalid escape", p);
        if (c >= 0xDC00 && c <= 0xDFFF) return fpx_fail(e, "lone surrogate escape", p);
        if (c >= 0xD800 && c <= 0xDBFF) {
            if (end - p < 12) return fpx_fail(e, "lone surrogate escape", p);
            if (p[6] != '\\' || p[7] != 'u') return fpx_fail(e, "lone surrogate escape", p);
            lo = fpx_hex4(p + 8);
            if (lo < 0xDC00 || lo > 0xDFFF) return fpx_fail(e, "lone surrogate escape", p);
            if (cp) *cp = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
            return p + 12;
        }
        if (cp) *cp = c;
        return p + 6;
    default:
        return fpx_fail(e, "invalid escape", p);
    }
    if (cp) *cp = c;
    return p + 2;
}

/* Validates one UTF-8 sequence whose lead byte (>= 0x80) is at p; returns the next byte. */
static inline const fpx_u8 *fpx_utf8(const fpx_u8 *p, const fpx_u8 *end, fpx_err *e) {
    fpx_u8 c = p[0];
    Py_ssize_t left = end - p;
    if (c >= 0xC2 && c <= 0xDF) {
        if (left >= 2 && (p[1] & 0xC0) == 0x80) return p + 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        fpx_u8 lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;
        else if (c == 0xED) hi = 0x9F;
        if (left >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80) return p + 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
        fpx_u8 lo = 0x80, hi = 0xBF;
        if (c == 0xF0) lo = 0x90;
        else if (c == 0xF4) hi = 0x8F;
        if (left >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80
                && (p[3] & 0xC0) == 0x80)
            return p + 4;
    }
    return fpx_fail(e, "invalid UTF-8", p);
}

/* Scans a JSON string body; p is just after the opening quote. Returns a pointer to the
 * closing quote, or NULL. *flags gets bit 1 for "has escapes", bit 2 for "has non-ASCII". */
FPX_INLINE const fpx_u8 *fpx_scan_string(const fpx_u8 *p, const fpx_u8 *end, int *flags,
                                            fpx_err *e) {
    int fl = 0;
    fpx_u8 c;
    for (;;) {
#if defined(__SSE2__) && defined(__GNUC__)
        /* 16 bytes at a time: a signed "< 0x20" compare flags controls and non-ASCII bytes
         * together; the first flagged byte is the first one needing a look. */
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i sp = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            unsigned int m = (unsigned int)_mm_movemask_epi8(sp);
            if (m) {
                /* the usual stop is the closing quote: answer without reloading the byte */
                unsigned int q = (unsigned int)_mm_movemask_epi8(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
                int at = __builtin_ctz(m);
                p += at;
                if (FPX_LIKELY(q & (1u << at))) {
                    *flags = fl;
                    return p;
                }
                goto special;
            }
            p += 16;
        }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
        /* 8 bytes at a time; the lowest flagged byte is exactly the first quote, backslash,
         * control or non-ASCII byte (borrows only propagate upwards from a real match). */
        while (end - p >= 8) {
            uint64_t v, q, b, ctl, m;
            memcpy(&v, p, 8);
            q = v ^ (FPX_ONES * '"');
            b = v ^ (FPX_ONES * '\\');
            ctl = (v - FPX_ONES * 0x20) & ~v;
            q = (q - FPX_ONES) & ~q;
            b = (b - FPX_ONES) & ~b;
            m = (v | ctl | q | b) & FPX_HIGHS;
            if (m) {
                p += __builtin_ctzll(m) >> 3;
                goto special;
            }
            p += 8;
        }
#endif
        while (p < end && (c = *p) >= 0x20 && c < 0x80 && c != '"' && c != '\\') p++;
        if (p >= end) return fpx_fail(e, "unexpected end of frame", end);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
    special:
#endif
        c = *p;
        if (c == '"') {
            *flags = fl;
            return p;
        }
        if (c == '\\') {
            p = fpx_escape(p, end, NULL, e);
            if (!p) return NULL;
            fl |= 1;
        } else if (c < 0x20) {
            return fpx_fail(e, "control character in string", p);
        } else if (c < 0x80) {
            p++; /* not reached: plain bytes are skipped above */
        } else {
            p = fpx_utf8(p, end, e);
            if (!p) return NULL;
            fl |= 2;
        }
    }
}

/* Decodes a validated string body [p, q) that has escapes into UTF-8 at out (which has room
 * for q - p bytes: no escape expands). Returns the number of bytes written. */
static Py_ssize_t fpx_unescape(const fpx_u8 *p, const fpx_u8 *q, char *out) {
    char *o = out;
    fpx_err e;
    while (p < q) {
        if (*p != '\\') {
            *o++ = (char)*p++;
            continue;
        }
        long cp = 0;
        const fpx_u8 *n = fpx_escape(p, q, &cp, &e);
        if (!n) return -1; /* cannot happen after fpx_scan_string */
        p = n;
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xE0 | (cp >> 12));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (cp >> 18));
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o - out;
}

/* Exact overflow test for a number token whose decimal magnitude is 10^308: orjson parses it
 * as a correctly rounded double and rejects infinity, and so does PyOS_string_to_double. */
static int fpx_number_is_inf(const fpx_u8 *start, const fpx_u8 *stop) {
    Py_ssize_t n = stop - start;
    char small[64];
    char *buf = n < 64 ? small : (char *)PyMem_Malloc((size_t)n + 1);
    double d;
    if (!buf) {
        PyErr_Clear();
        return 1;
    }
    memcpy(buf, start, (size_t)n);
    buf[n] = 0;
    d = PyOS_string_to_double(buf, NULL, NULL);
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        d = Py_HUGE_VAL;
    }
    if (buf != small) PyMem_Free(buf);
    return Py_IS_INFINITY(d);
}

#define FPX_IS_DIGIT(c) ((fpx_u8)((c) - '0') < 10)

/* Scans a JSON number at p (p < end, *p is '-' or a digit). Returns the byte after it. */
FPX_INLINE const fpx_u8 *fpx_scan_number(const fpx_u8 *p, const fpx_u8 *end, fpx_err *e) {
    const fpx_u8 *start = p, *d;
    Py_ssize_t int_digits, lead_frac_zeros = 0;
    int nonzero = 0, simple = 1;
    long long exp = 0, mag;
    if (*p == '-') {
        p++;
        if (p >= end) return fpx_fail(e, "unexpected end of frame", end);
    }
    d = p;
    if (*p == '0') {
        p++;
    } else if (FPX_IS_DIGIT(*p)) {
        nonzero = 1;
        p++;
        while (p < end && FPX_IS_DIGIT(*p)) p++;
        /* common case: a plain integer (any length up to 308 digits is a finite double) */
        if (FPX_LIKELY(p >= end || (*p != '.' && *p != 'e' && *p != 'E'))) {
            if (FPX_LIKELY(p - d <= 308)) return p;
        }
    } else if (0) {
        nonzero = 1;
        p++;
        while (p < end && FPX_IS_DIGIT(*p)) p++;
    } else {
        return fpx_fail(e, "invalid number", p);
    }
    int_digits = p - d;
    if (p < end && *p == '.') {
        p++;
        if (p >= end) return fpx_fail(e, "unexpected end of frame", end);
        if (!FPX_IS_DIGIT(*p)) return fpx_fail(e, "invalid number", p);
        simple = 0;
        d = p;
        while (p < end && *p == '0') p++;
        lead_frac_zeros = p - d;
        while (p < end && FPX_IS_DIGIT(*p)) {
            nonzero = 1;
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int neg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            neg = *p == '-';
            p++;
        }
        if (p >= end) return fpx_fail(e, "unexpected end of frame", end);
        if (!FPX_IS_DIGIT(*p)) return fpx_fail(e, "invalid number", p);
        simple = 0;
        while (p < end && FPX_IS_DIGIT(*p)) {
            if (exp < 100000000LL) exp = exp * 10 + (*p - '0');
            p++;
        }
        if (neg) exp = -exp;
    }
    if (!nonzero || (simple && int_digits <= 308)) return p;
    /* decimal magnitude: value lies in [10^mag, 10^(mag+1)) */
    if (start[start[0] == '-'] != '0')
        mag = (long long)int_digits - 1 + exp;
    else
        mag = -(long long)lead_frac_zeros - 1 + exp;
    if (mag < 308) return p;
    if (mag > 308 || fpx_number_is_inf(start, p))
        return fpx_fail(e, "number is infinity when parsed as double", start);
    return p;
}

static inline const fpx_u8 *fpx_literal(const fpx_u8 *p, const fpx_u8 *end, const char *lit,
                                        Py_ssize_t n, fpx_err *e) {
    if (end - p < n) {
        if (memcmp(p, lit, (size_t)(end - p)) == 0)
            return fpx_fail(e, "unexpected end of frame", end);
        return fpx_fail(e, "invalid JSON in payload", p);
    }
    if (memcmp(p, lit, (size_t)n) != 0) return fpx_fail(e, "invalid JSON in payload", p);
    return p + n;
}

/* Validates one JSON value starting at p (whitespace before it is skipped). Returns the byte
 * after the value, or NULL. Iterative: nesting uses a bit stack, not the C stack. */
static const fpx_u8 *fpx_scan_value(const fpx_u8 *p, const fpx_u8 *end, fpx_err *e) {
    unsigned char is_obj[FPX_MAX_DEPTH + 1];
    int depth = 0, fl, in_obj = 0;
    fpx_u8 c;
    /* Branches are ordered by how often each token occurs in typical payloads (strings,
     * numbers, then containers); a switch compiled to a jump table mispredicted more. */
value:
    p = fpx_skip_ws(p, end);
    if (FPX_UNLIKELY(p >= end)) return fpx_fail(e, "unexpected end of frame", end);
    c = *p;
    if (c == '"') {
        p = fpx_scan_string(p + 1, end, &fl, e);
        if (FPX_UNLIKELY(!p)) return NULL;
        p++;
    } else if (FPX_IS_DIGIT(c) || c == '-') {
        p = fpx_scan_number(p, end, e);
        if (FPX_UNLIKELY(!p)) return NULL;
    } else if (c == '{') {
        if (FPX_UNLIKELY(depth >= FPX_MAX_DEPTH)) return fpx_fail(e, "nesting too deep", p);
        is_obj[depth++] = 1;
        in_obj = 1;
        p = fpx_skip_ws(p + 1, end);
        if (p < end && *p == '}') {
            p++;
            goto close;
        }
        goto key;
    } else if (c == '[') {
        if (FPX_UNLIKELY(depth >= FPX_MAX_DEPTH)) return fpx_fail(e, "nesting too deep", p);
        is_obj[depth++] = 0;
        in_obj = 0;
        p = fpx_skip_ws(p + 1, end);
        if (p < end && *p == ']') {
            p++;
            goto close;
        }
        goto value;
    } else if (c == 't' || c == 'n') {
        /* true / null: one 4-byte compare in the common case */
        uint32_t w, lit = c == 't' ? 0x65757274u : 0x6c6c756eu;
        if (FPX_LIKELY(end - p >= 4)) {
            memcpy(&w, p, 4);
            if (FPX_LIKELY(w == lit && FPX_LITTLE)) {
                p += 4;
                goto after;
            }
        }
        p = fpx_literal(p, end, c == 't' ? "true" : "null", 4, e);
        if (!p) return NULL;
    } else if (c == 'f') {
        p = fpx_literal(p, end, "false", 5, e);
        if (!p) return NULL;
    } else {
        return fpx_fail(e, "invalid JSON in payload", p);
    }
after:
    if (depth == 0) return p;
    p = fpx_skip_ws(p, end);
    if (FPX_UNLIKELY(p >= end)) return fpx_fail(e, "unexpected end of frame", end);
    c = *p;
    if (c == ',') {
        p = fpx_skip_ws(p + 1, end);
        if (in_obj) goto key;
        goto value;
    }
    if (c == (in_obj ? '}' : ']')) {
        p++;
        goto close;
    }
    return fpx_fail(e, "invalid JSON in payload", p);
close:
    depth--;
    in_obj = depth > 0 && is_obj[depth - 1];
    goto after;
key:
    if (FPX_UNLIKELY(p >= end)) return fpx_fail(e, "unexpected end of frame", end);
    if (FPX_UNLIKELY(*p != '"')) return fpx_fail(e, "invalid JSON in payload", p);
    p = fpx_scan_string(p + 1, end, &fl, e);
    if (FPX_UNLIKELY(!p)) return NULL;
    p++;
    if (FPX_LIKELY(p < end && *p == ':')) {
        p++;
        goto value;
    }
    p = fpx_skip_ws(p, end);
    if (FPX_UNLIKELY(p >= end)) return fpx_fail(e, "unexpected end of frame", end);
    if (FPX_UNLIKELY(*p != ':')) return fpx_fail(e, "invalid JSON in payload", p);
    p++;
    goto value;
}

/* Equality of two short byte strings without a libc call (header strings are short). */
FPX_INLINE int fpx_eq_short(const fpx_u8 *a, const fpx_u8 *b, Py_ssize_t n) {
    uint64_t x, y;
    uint32_t x1, y1, x2, y2;
    Py_ssize_t i;
    if (n >= 8) {
        for (i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return 0;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        memcpy(&x1, a, 4);
        memcpy(&y1, b, 4);
        memcpy(&x2, a + n - 4, 4);
        memcpy(&y2, b + n - 4, 4);
        return x1 == y1 && x2 == y2;
    }
    for (i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Length of s (n UTF-8 bytes) as a JSON string with quotes, escaped like JSON.stringify;
 * extra_tbl gives each byte's extra length. Chunks without a quote, backslash or control
 * byte are skipped 8 at a time (non-ASCII bytes are written raw). */
FPX_INLINE Py_ssize_t fpx_escaped_len(const fpx_u8 *s, Py_ssize_t n,
                                      const unsigned char *extra_tbl) {
    Py_ssize_t i = 0, extra = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= n; i += 8) {
        uint64_t v, q, b, ctl;
        memcpy(&v, s + i, 8);
        q = v ^ (FPX_ONES * '"');
        b = v ^ (FPX_ONES * '\\');
        ctl = (v - FPX_ONES * 0x20) & ~v;
        q = (q - FPX_ONES) & ~q;
        b = (b - FPX_ONES) & ~b;
        if ((ctl | q | b) & FPX_HIGHS) break; /* counted exactly below */
    }
#endif
    for (; i < n; i++) extra += extra_tbl[s[i]];
    return n + 2 + extra;
}

/* Cheap hash of a short byte string for the header-string cache (collisions only cost a
 * miss: entries are verified with memcmp). */
static inline uint64_t fpx_hash_short(const fpx_u8 *p, Py_ssize_t n) {
    uint64_t a = 0, b = 0, h;
    if (n >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
    } else {
        Py_ssize_t i;
        for (i = 0; i < n; i++) a |= (uint64_t)p[i] << (8 * i);
    }
    h = (a * 0x9E3779B97F4A7C15ULL) ^ (b * 0xC2B2AE3D27D4EB4FULL) ^ (uint64_t)n;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 32);
}

#endif

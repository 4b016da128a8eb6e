/* The compiled converter of a run of BSON documents to Extended JSON v2 lines
 * (mongoarchive/_extjson.py holds the reference converters and the caller).
 *
 * It writes exactly the text bson.json_util writes (json.dumps layout,
 * ensure_ascii=False) for the documents it handles, and it handles only what it
 * can convert exactly: double, string, document, array, binary (not the old
 * subtype 2), ObjectId, bool, datetime, null, regex (options as json_util spells
 * them), JavaScript code without scope, int32, timestamp, int64, decimal128
 * (finite, canonical coefficient), min and max key.  On anything else -- another type, a key starting with '$' (DBRef and
 * other Extended JSON look-alikes), invalid UTF-8 or a NUL inside a string, a
 * bool byte other than 0 or 1, any length that does not fit, nesting deeper
 * than MAX_DEPTH -- it stops before that document and reports where, so the
 * reference converter takes that document: its text, or its error (code,
 * message), stay exactly those of the pure path.
 *
 * Memory safety on hostile input: the buffer is borrowed through the buffer
 * protocol before the position is converted (a bytearray resized meanwhile
 * raises BufferError); every read is checked against the end of the innermost
 * enclosing document, itself checked against its parent's; lengths are
 * compared as differences, so no sum can overflow; recursion stops at
 * MAX_DEPTH.  Spec/archive.md section 2: a document is its int32 length, its
 * elements and a NUL byte.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MIN_SIZE 5
/* Deeper documents go to the reference converter (pymongo and libbson have their own limits). */
#define MAX_DEPTH 100
/* json_util writes ISO-8601 dates from the epoch to the end of year 9999 (its _MAX_UTC_MS). */
#define MAX_ISO_MS 253402300799999LL

typedef struct {
    char *p;
    size_t len;
    size_t cap;
} Out;

/* Room for n more bytes; -1 (MemoryError set) when it cannot grow. */
static int
reserve(Out *o, size_t n)
{
    if (o->cap - o->len >= n)
        return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap - o->len < n) {
        if (cap > ((size_t)PY_SSIZE_T_MAX) / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *p = PyMem_Realloc(o->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->p = p;
    o->cap = cap;
    return 0;
}

#define PUT(o, s, n)                                \
    do {                                            \
        if (reserve((o), (n)) < 0)                  \
            return -1;                              \
        memcpy((o)->p + (o)->len, (s), (n));        \
        (o)->len += (n);                            \
    } while (0)
#define PUTS(o, lit) PUT(o, lit, sizeof(lit) - 1)

/* Results of the converters below: 0 done, STOP not handled here, -1 a Python error. */
#define STOP 1

static inline int32_t
load_i32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return (int32_t)v;
}

static inline uint64_t
load_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* 1 for the bytes a JSON string takes as they are (json.dumps, ensure_ascii=False):
 * printable ASCII but '"' and '\\'; bytes >= 0x80 are checked as UTF-8 apart. */
static unsigned char plain[256];

static void
init_tables(void)
{
    for (int c = 0x20; c < 0x80; c++)
        plain[c] = 1;
    plain['"'] = 0;
    plain['\\'] = 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid: Python's strict
 * decoder's rules (no overlong forms, no surrogates, nothing above U+10FFFF). */
static inline Py_ssize_t
utf8_seq(const unsigned char *s, Py_ssize_t n)
{
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) {
        if (n >= 2 && (s[1] & 0xC0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* 1 if s[0:n] is valid UTF-8. */
static int
valid_utf8(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        Py_ssize_t k = utf8_seq(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* s[0:n] as a quoted JSON string; STOP on invalid UTF-8 or a NUL. */
static int
put_string(Out *o, const unsigned char *s, Py_ssize_t n)
{
    static const char hex[] = "0123456789abcdef";
    PUTS(o, "\"");
    Py_ssize_t i = 0;
    while (i < n) {
        /* A stretch written as it is: printable ASCII and valid UTF-8 sequences. */
        Py_ssize_t j = i;
        while (j < n) {
            if (plain[s[j]]) {
                j++;
                continue;
            }
            if (s[j] < 0x80)
                break;
            Py_ssize_t k = utf8_seq(s + j, n - j);
            if (k == 0)
                return STOP;
            j += k;
        }
        PUT(o, s + i, (size_t)(j - i));
        if (j == n)
            break;
        unsigned char c = s[j];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case 0: return STOP;
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        PUT(o, esc, len);
        i = j + 1;
    }
    PUTS(o, "\"");
    return 0;
}

static int
put_int(Out *o, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof(tmp), *d = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--d = '-';
    PUT(o, d, (size_t)(e - d));
    return 0;
}

/* As put_int, in quotes: the text of $numberInt and $numberLong. */
static int
put_quoted_int(Out *o, int64_t v)
{
    PUTS(o, "\"");
    if (put_int(o, v) < 0)
        return -1;
    PUTS(o, "\"");
    return 0;
}

/* repr(float): the shortest text that reads back to the same double, as json_util writes it. */
static int
put_double(Out *o, double v, int canonical)
{
    if (v != v || v == Py_HUGE_VAL || v == -Py_HUGE_VAL) {
        if (v != v)
            PUTS(o, "{\"$numberDouble\": \"NaN\"}");
        else if (v > 0)
            PUTS(o, "{\"$numberDouble\": \"Infinity\"}");
        else
            PUTS(o, "{\"$numberDouble\": \"-Infinity\"}");
        return 0;
    }
    char *text = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL)
        return -1;
    size_t n = strlen(text);
    int rc = reserve(o, n + 24);
    if (rc == 0) {
        if (canonical) {
            memcpy(o->p + o->len, "{\"$numberDouble\": \"", 19);
            o->len += 19;
        }
        memcpy(o->p + o->len, text, n);
        o->len += n;
        if (canonical) {
            memcpy(o->p + o->len, "\"}", 2);
            o->len += 2;
        }
    }
    PyMem_Free(text);
    return rc;
}

static inline char *
digits(char *d, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        d[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return d + width;
}

/* {"$date": ...}: ISO-8601 in relaxed mode from 1970 to 9999 (json_util's range), else $numberLong. */
static int
put_date(Out *o, int64_t ms, int canonical)
{
    if (canonical || ms < 0 || ms > MAX_ISO_MS) {
        PUTS(o, "{\"$date\": {\"$numberLong\": ");
        if (put_quoted_int(o, ms) < 0)
            return -1;
        PUTS(o, "}}");
        return 0;
    }
    int64_t days = ms / 86400000, rest = ms % 86400000;
    unsigned msec = (unsigned)(rest % 1000), secs = (unsigned)(rest / 1000);
    /* Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil inverse); days >= 0. */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned day = doy - (153 * mp + 2) / 5 + 1;
    unsigned month = mp < 10 ? mp + 3 : mp - 9;
    if (month <= 2)
        y++;
    char buf[48];
    char *d = buf;
    memcpy(d, "{\"$date\": \"", 11);
    d += 11;
    d = digits(d, (unsigned)y, 4);
    *d++ = '-';
    d = digits(d, month, 2);
    *d++ = '-';
    d = digits(d, day, 2);
    *d++ = 'T';
    d = digits(d, secs / 3600, 2);
    *d++ = ':';
    d = digits(d, secs / 60 % 60, 2);
    *d++ = ':';
    d = digits(d, secs % 60, 2);
    if (msec) {
        *d++ = '.';
        d = digits(d, msec, 3);
    }
    memcpy(d, "Z\"}", 3);
    d += 3;
    PUT(o, buf, (size_t)(d - buf));
    return 0;
}

static int
put_base64(Out *o, const unsigned char *s, Py_ssize_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t need = ((size_t)n + 2) / 3 * 4;
    if (reserve(o, need) < 0)
        return -1;
    char *d = o->p + o->len;
    Py_ssize_t i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8) | s[i + 2];
        *d++ = abc[v >> 18];
        *d++ = abc[(v >> 12) & 63];
        *d++ = abc[(v >> 6) & 63];
        *d++ = abc[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *d++ = abc[v >> 18];
        *d++ = abc[(v >> 12) & 63];
        *d++ = '=';
        *d++ = '=';
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8);
        *d++ = abc[v >> 18];
        *d++ = abc[(v >> 12) & 63];
        *d++ = abc[(v >> 6) & 63];
        *d++ = '=';
    }
    o->len = (size_t)(d - o->p);
    return 0;
}

/* {"$numberDecimal": str(Decimal128)}: Python's to-scientific-string of the coefficient and exponent.
 * Only the common encoding (BSON decimal128, IEEE 754-2008 BID, a coefficient of at most 34 digits):
 * NaN, infinities, the other combination form and larger coefficients are left to the reference. */
static int
put_decimal(Out *o, const unsigned char *b)
{
#ifdef __SIZEOF_INT128__
    uint64_t low = load_u64(b), high = load_u64(b + 8);
    if ((high & (3ULL << 61)) == (3ULL << 61))
        return STOP;
    int exponent = (int)((high >> 49) & 0x3FFF) - 6176;
    unsigned __int128 coefficient = ((unsigned __int128)(high & 0x1FFFFFFFFFFFFULL) << 64) | low;
    unsigned __int128 max = 1;
    for (int i = 0; i < 34; i++)
        max *= 10;
    if (coefficient >= max)
        return STOP; /* pymongo reads it as 0 with that exponent */
    char digits_[40];
    int n = 0;
    do { /* least significant first */
        digits_[n++] = (char)('0' + (int)(coefficient % 10));
        coefficient /= 10;
    } while (coefficient);
    char d[40];
    for (int i = 0; i < n; i++)
        d[i] = digits_[n - 1 - i];
    int left = exponent + n; /* digits before the decimal point, in plain notation */
    int dot = (exponent <= 0 && left > -6) ? left : 1;
    char buf[128];
    char *w = buf;
    memcpy(w, "{\"$numberDecimal\": \"", 20);
    w += 20;
    if (high >> 63)
        *w++ = '-';
    if (dot <= 0) {
        *w++ = '0';
        *w++ = '.';
        for (int i = 0; i < -dot; i++)
            *w++ = '0';
        memcpy(w, d, (size_t)n);
        w += n;
    } else if (dot >= n) {
        memcpy(w, d, (size_t)n);
        w += n;
        for (int i = 0; i < dot - n; i++) /* Python's algorithm; never runs (plain: exponent <= 0) */
            *w++ = '0';
    } else {
        memcpy(w, d, (size_t)dot);
        w += dot;
        *w++ = '.';
        memcpy(w, d + dot, (size_t)(n - dot));
        w += n - dot;
    }
    if (left != dot)
        w += sprintf(w, "E%+d", left - dot);
    memcpy(w, "\"}", 2);
    w += 2;
    PUT(o, buf, (size_t)(w - buf));
    return 0;
#else
    (void)o;
    (void)b;
    return STOP;
#endif
}

/* True if the regex options o[0:n] are some of "ilmsux" in that order: what json_util
 * writes back unchanged (it drops other letters and sorts these). */
static int
plain_options(const unsigned char *s, Py_ssize_t n)
{
    static const char order[] = "ilmsux";
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        while (order[at] && order[at] != (char)s[i])
            at++;
        if (!order[at])
            return 0;
        at++;
    }
    return 1;
}

/* Length of the C string at s within n bytes (its NUL excluded), -1 if it has no NUL. */
static inline Py_ssize_t
cstring(const unsigned char *s, Py_ssize_t n)
{
    const unsigned char *z = memchr(s, 0, (size_t)n);
    return z == NULL ? -1 : (Py_ssize_t)(z - s);
}

/* A BSON string (int32 length, bytes, NUL) at s within n bytes: its content and length. */
static inline int
bson_string(const unsigned char *s, Py_ssize_t n, const unsigned char **text, Py_ssize_t *len)
{
    if (n < 4)
        return STOP;
    int32_t size = load_i32(s);
    if (size < 1 || size > n - 4 || s[4 + size - 1] != 0)
        return STOP;
    *text = s + 4;
    *len = size - 1;
    return 0;
}

static int put_document(Out *o, const unsigned char *b, Py_ssize_t n, int array, int canonical, int depth);

/* The value of type t at b (n bytes to the end of its document): writes it, sets *used. */
static int
put_value(Out *o, unsigned char t, const unsigned char *b, Py_ssize_t n, int canonical, int depth,
          Py_ssize_t *used)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *text;
    Py_ssize_t len;
    int rc;
    switch (t) {
    case 0x01: { /* double */
        if (n < 8)
            return STOP;
        uint64_t bits = load_u64(b);
        double v;
        memcpy(&v, &bits, 8);
        *used = 8;
        return put_double(o, v, canonical);
    }
    case 0x02: /* string */
        if ((rc = bson_string(b, n, &text, &len)) != 0)
            return rc;
        *used = 4 + len + 1;
        return put_string(o, text, len);
    case 0x0D: /* JavaScript code without scope */
        if ((rc = bson_string(b, n, &text, &len)) != 0)
            return rc;
        *used = 4 + len + 1;
        PUTS(o, "{\"$code\": ");
        if ((rc = put_string(o, text, len)) != 0)
            return rc;
        PUTS(o, "}");
        return 0;
    case 0x03: /* document */
    case 0x04: { /* array */
        if (n < 4)
            return STOP;
        int32_t size = load_i32(b);
        if (size < MIN_SIZE || size > n)
            return STOP;
        *used = size;
        return put_document(o, b, size, t == 0x04, canonical, depth + 1);
    }
    case 0x05: { /* binary */
        if (n < 5)
            return STOP;
        int32_t size = load_i32(b);
        unsigned char subtype = b[4];
        if (size < 0 || size > n - 5 || subtype == 0x02)
            return STOP;
        *used = 5 + (Py_ssize_t)size;
        PUTS(o, "{\"$binary\": {\"base64\": \"");
        if (put_base64(o, b + 5, size) < 0)
            return -1;
        char sub[] = "\", \"subType\": \"00\"}}";
        sub[15] = hex[subtype >> 4];
        sub[16] = hex[subtype & 15];
        PUT(o, sub, sizeof(sub) - 1);
        return 0;
    }
    case 0x07: { /* ObjectId */
        if (n < 12)
            return STOP;
        char oid[] = "{\"$oid\": \"000000000000000000000000\"}";
        for (int i = 0; i < 12; i++) {
            oid[10 + 2 * i] = hex[b[i] >> 4];
            oid[11 + 2 * i] = hex[b[i] & 15];
        }
        *used = 12;
        PUT(o, oid, sizeof(oid) - 1);
        return 0;
    }
    case 0x08: /* bool */
        if (n < 1 || b[0] > 1)
            return STOP;
        *used = 1;
        if (b[0])
            PUTS(o, "true");
        else
            PUTS(o, "false");
        return 0;
    case 0x09: /* UTC datetime, ms since the epoch */
        if (n < 8)
            return STOP;
        *used = 8;
        return put_date(o, (int64_t)load_u64(b), canonical);
    case 0x0A: /* null */
        *used = 0;
        PUTS(o, "null");
        return 0;
    case 0x0B: { /* regex: pattern and options, two C strings */
        Py_ssize_t plen = cstring(b, n);
        if (plen < 0)
            return STOP;
        Py_ssize_t olen = cstring(b + plen + 1, n - plen - 1);
        if (olen < 0 || !plain_options(b + plen + 1, olen))
            return STOP;
        *used = plen + 1 + olen + 1;
        PUTS(o, "{\"$regularExpression\": {\"pattern\": ");
        if ((rc = put_string(o, b, plen)) != 0)
            return rc;
        PUTS(o, ", \"options\": \"");
        PUT(o, b + plen + 1, (size_t)olen);
        PUTS(o, "\"}}");
        return 0;
    }
    case 0x10: /* int32 */
        if (n < 4)
            return STOP;
        *used = 4;
        if (!canonical)
            return put_int(o, load_i32(b));
        PUTS(o, "{\"$numberInt\": ");
        if (put_quoted_int(o, load_i32(b)) < 0)
            return -1;
        PUTS(o, "}");
        return 0;
    case 0x11: { /* timestamp: increment (low 32 bits), then time */
        if (n < 8)
            return STOP;
        uint64_t v = load_u64(b);
        *used = 8;
        PUTS(o, "{\"$timestamp\": {\"t\": ");
        if (put_int(o, (int64_t)(v >> 32)) < 0)
            return -1;
        PUTS(o, ", \"i\": ");
        if (put_int(o, (int64_t)(v & 0xFFFFFFFFu)) < 0)
            return -1;
        PUTS(o, "}}");
        return 0;
    }
    case 0x12: /* int64 */
        if (n < 8)
            return STOP;
        *used = 8;
        if (!canonical)
            return put_int(o, (int64_t)load_u64(b));
        PUTS(o, "{\"$numberLong\": ");
        if (put_quoted_int(o, (int64_t)load_u64(b)) < 0)
            return -1;
        PUTS(o, "}");
        return 0;
    case 0x13: /* decimal128 */
        if (n < 16)
            return STOP;
        *used = 16;
        return put_decimal(o, b);
    case 0xFF:
        *used = 0;
        PUTS(o, "{\"$minKey\": 1}");
        return 0;
    case 0x7F:
        *used = 0;
        PUTS(o, "{\"$maxKey\": 1}");
        return 0;
    default: /* symbol, undefined, DBPointer, code with scope, unknown */
        return STOP;
    }
}

/* The document of n bytes at b (n already checked >= 5 and within the parent). */
static int
put_document(Out *o, const unsigned char *b, Py_ssize_t n, int array, int canonical, int depth)
{
    if (depth > MAX_DEPTH || load_i32(b) != n || b[n - 1] != 0)
        return STOP;
    Py_ssize_t pos = 4, last = n - 1; /* the elements end at the final NUL */
    int first = 1;
    if (array)
        PUTS(o, "[");
    else
        PUTS(o, "{");
    while (pos < last) {
        unsigned char t = b[pos++];
        if (t == 0)
            return STOP; /* an end inside the document */
        Py_ssize_t klen = cstring(b + pos, last - pos);
        if (klen < 0)
            return STOP;
        if (!first)
            PUTS(o, ", ");
        first = 0;
        if (array) {
            /* Not written, but libbson refuses a document whose array keys are not UTF-8. */
            if (!valid_utf8(b + pos, klen))
                return STOP;
        } else {
            if (klen > 0 && b[pos] == '$')
                return STOP;
            int rc = put_string(o, b + pos, klen);
            if (rc != 0)
                return rc;
            PUTS(o, ": ");
        }
        pos += klen + 1;
        Py_ssize_t used = 0;
        int rc = put_value(o, t, b + pos, last - pos, canonical, depth, &used);
        if (rc != 0)
            return rc;
        pos += used;
    }
    if (pos != last)
        return STOP;
    if (array)
        PUTS(o, "]");
    else
        PUTS(o, "}");
    return 0;
}

PyDoc_STRVAR(lines_doc,
"lines(buf, pos, canonical) -> (text, stop, count)\n\n"
"The documents of buf[pos:] as Extended JSON lines (UTF-8, each ending in a newline), up to the\n"
"first one this converter does not handle exactly; stop is where that one starts (len(buf)\n"
"when all were converted) and count how many were converted.");

static PyObject *
lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "lines() takes exactly 3 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = NULL;
    Out o = {NULL, 0, 0};
    Py_ssize_t pos = PyNumber_AsSsize_t(args[1], NULL);
    if (pos == -1 && PyErr_Occurred())
        goto done;
    int canonical = PyObject_IsTrue(args[2]);
    if (canonical < 0)
        goto done;
    if (pos < 0 || pos > view.len) {
        PyErr_SetString(PyExc_ValueError, "pos is outside the buffer");
        goto done;
    }
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t end = view.len, count = 0;
    while (end - pos >= 4) {
        int32_t size = load_i32(b + pos);
        if (size < MIN_SIZE || size > end - pos)
            break;
        size_t mark = o.len;
        int rc = put_document(&o, b + pos, size, 0, canonical, 0);
        if (rc < 0)
            goto done;
        if (rc == STOP) {
            o.len = mark;
            break;
        }
        if (reserve(&o, 1) < 0)
            goto done;
        o.p[o.len++] = '\n';
        pos += size;
        count++;
    }
    PyObject *text = PyBytes_FromStringAndSize(o.p ? o.p : "", (Py_ssize_t)o.len);
    if (text != NULL) {
        result = Py_BuildValue("(Nnn)", text, pos, count);
    }
done:
    PyMem_Free(o.p);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"lines", (PyCFunction)(void (*)(void))lines, METH_FASTCALL, lines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "mongoarchive._extjson_c",
    "The compiled converter of runs of BSON documents to Extended JSON lines (see mongoarchive._extjson).",
    0,
    methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__extjson_c(void)
{
    init_tables();
    return PyModule_Create(&module_def);
}

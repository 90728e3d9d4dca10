/* logcorr._fastparse: the compiled fast path of ingest's parse phase.
 *
 * parse_line(line, seq, file_id, line_no) takes one NDJSON line and returns the staging rows the
 * Python path (orjson.loads -> detect -> the format's adapter -> stage.staged_rows) would build for
 * it, or None when it does not claim the line. It claims only what it reproduces exactly:
 *
 *   - one JSON object, strictly valid (what orjson accepts), no duplicate keys at any level,
 *     nesting under 64 levels, integers of at most 18 digits, `\u` surrogate escapes only in pairs (orjson
 *     refuses the line otherwise); keys without escapes that spell a plain ASCII character (`\u0061`);
 *   - the formats browser-v1, browser-v2, worker-record, cf-logpush and convex-stream (topics `console`
 *     and `function_execution`),
 *     detected by the same key cascade as logcorr.sources.detect;
 *   - every value it copies as JSON (a context object, an object console argument) in the form
 *     orjson.dumps writes but for whitespace between its tokens (` ` `\t` `\r` `\n`, as json.dumps and
 *     `jq` write it), which the copy leaves out (`put_json`), and for escapes orjson writes otherwise (`\u`
 *     and `\/`, as Python's json.dumps writes non-ASCII text) the characters they stand for, escaped again as
 *     orjson escapes (`put_str`); no floats;
 *   - timestamps as integers, or ISO strings of the form YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|+HH:MM];
 *   - text the trace-id rules read without a character their regexes match otherwise than its class says
 *     (`shadow_text`: İ ı ſ K, which IGNORECASE matches to ASCII letters; decimal digits beyond ASCII).
 *
 * Everything else (and every record the Python path would reject or skip) returns None and goes the
 * Python way, which stays the reference: tests/test_fastparse_differential.py compares the two.
 *
 * parse_lines(..., batch) puts the rows it claims into a StageBatch (below) instead of returning them: the
 * stager's batch, built straight into Arrow buffers.
 * logcorr/sources/fast.py decides whether this module is used (LOGCORR_NO_FASTPATH=1 turns it off).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* the digest of this file it was built from (setup.py defines it; native.py compares it with the file beside the
   module, so a module built from an older version of this file is not used). A build by hand leaves it empty */
#ifndef LOGCORR_SOURCE
#define LOGCORR_SOURCE ""
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* JSON tokens                                                                                     */

enum { T_OBJ, T_ARR, T_STR, T_INT, T_FLOAT, T_TRUE, T_FALSE, T_NULL };

#define F_ESC 1      /* a string holding backslash escapes */
#define F_NONASCII 2 /* a string holding bytes >= 0x80 */
#define F_NONCANON 4 /* a float (or a container holding one): orjson.dumps may write it otherwise */
#define F_WS 8       /* whitespace between the tokens of a container (or of one inside it): orjson.dumps writes
                        the bytes without it, when F_NONCANON is not set too */
#define F_REESC 16   /* a `\u` or `\/` escape in a string (or in a container, keys too): orjson.dumps writes the
                        character it stands for as the rest of the text (`put_str`) */
#define F_ALIAS 32   /* a string with a `\u` escape of a printable ASCII character other than " \ /: it may be a
                        name spelled without escapes (`mess\u0061ge`), which lookups compare as written */

typedef struct {
    uint8_t type;
    uint8_t flags;
    int32_t start; /* byte offsets in the line; strings include their quotes */
    int32_t end;
    int32_t next; /* index of the first token after this value's subtree */
    int32_t n;    /* objects: key/value pairs; arrays: elements */
    int64_t ival;
} Tok;

#define MAX_TOKS 1024
#define MAX_DEPTH 64
#define MAX_KEYS 64

typedef struct {
    const unsigned char *s;
    Py_ssize_t len;
    Py_ssize_t pos;
    Tok toks[MAX_TOKS];
    int ntok;
    /* scratch for decoded strings and built text (never more than a few times the line) */
    char *arena;
    Py_ssize_t arena_cap;
    Py_ssize_t arena_used;
    char *extra; /* overflow blocks of this call */
} P;

/* parse results */
#define OK 0
#define BAIL (-1) /* not claimed: the Python path handles the line */
#define ERR (-2)  /* a Python exception is set */

static inline int is_jws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int parse_value(P *p, int depth);

static int new_tok(P *p, int type, Py_ssize_t start) {
    if (p->ntok >= MAX_TOKS) return BAIL;
    Tok *t = &p->toks[p->ntok];
    t->type = (uint8_t)type;
    t->flags = 0;
    t->start = (int32_t)start;
    t->end = (int32_t)start;
    t->next = p->ntok + 1;
    t->n = 0;
    t->ival = 0;
    return p->ntok++;
}

/* skip JSON whitespace; returns how many bytes were skipped */
static inline Py_ssize_t skip_ws(P *p) {
    Py_ssize_t start = p->pos;
    while (p->pos < p->len && is_jws(p->s[p->pos])) p->pos++;
    return p->pos - start;
}

/* the length of a valid UTF-8 sequence at s (of at most `left` bytes), or 0 */
static int utf8_len(const unsigned char *s, Py_ssize_t left) {
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) {
        return (left >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* the value of the 4 hex digits at s (of at most `left` bytes), or -1 */
static int hex4(const unsigned char *s, Py_ssize_t left) {
    if (left < 4) return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* the character of the escape at s[*k] (a backslash, in a string parse_string accepted), *k moved past it: a
   surrogate pair is one character */
static unsigned int escaped_char(const unsigned char *s, Py_ssize_t *k) {
    unsigned char e = s[*k + 1];
    *k += 2;
    switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case 'b': return '\b';
        case 'f': return '\f';
        case 'u': {
            unsigned int v = (unsigned int)hex4(s + *k, 4);
            *k += 4;
            if (v >= 0xD800 && v <= 0xDBFF) { /* its low half follows (parse_string made sure) */
                unsigned int w = (unsigned int)hex4(s + *k + 2, 4);
                *k += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
            }
            return v;
        }
        default: return e; /* " \ / */
    }
}

/* whether any of the 8 bytes in x may be one parse_string must look at: a quote, a backslash, a control
   character or a byte >= 0x80 (exact when there is none; a byte after one may be reported too) */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline int special8(const unsigned char *at) {
    uint64_t x;
    memcpy(&x, at, 8);
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    return ((((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x) | x) & HIGHS) != 0;
}

static int parse_string(P *p) {
    int i = new_tok(p, T_STR, p->pos);
    if (i < 0) return BAIL;
    Tok *t = &p->toks[i];
    Py_ssize_t pos = p->pos + 1; /* after the opening quote */
    const unsigned char *s = p->s;
    Py_ssize_t len = p->len;
    uint8_t flags = 0;
    for (;;) {
        while (pos + 8 <= len && !special8(s + pos)) pos += 8; /* plain ASCII, 8 bytes at a time */
        if (pos >= len) return BAIL;
        unsigned char c = s[pos];
        if (c == '"') break;
        if (c < 0x20) return BAIL; /* control characters must be escaped */
        if (c == '\\') {
            if (pos + 1 >= len) return BAIL;
            unsigned char e = s[pos + 1];
            flags |= F_ESC;
            switch (e) {
                case '"': case '\\': case 'n': case 'r': case 't': case 'b': case 'f':
                    pos += 2;
                    break;
                case '/':
                    flags |= F_REESC;
                    pos += 2;
                    break;
                case 'u': {
                    int v = hex4(s + pos + 2, len - pos - 2);
                    if (v < 0) return BAIL;
                    if (v >= 0xD800 && v <= 0xDBFF) {
                        /* a pair, high then low: anything else (a lone half, halves reversed, a high one followed by
                           another character) orjson refuses, and the Python path rejects the line */
                        if (pos + 12 > len || s[pos + 6] != '\\' || s[pos + 7] != 'u') return BAIL;
                        int w = hex4(s + pos + 8, len - pos - 8);
                        if (w < 0xDC00 || w > 0xDFFF) return BAIL;
                        flags |= F_NONASCII;
                        pos += 12;
                    } else if (v >= 0xDC00 && v <= 0xDFFF) {
                        return BAIL;
                    } else {
                        if (v >= 0x80) flags |= F_NONASCII;
                        if (v > 0x20 && v < 0x7F && v != '"' && v != '\\' && v != '/') flags |= F_ALIAS;
                        pos += 6;
                    }
                    flags |= F_REESC;
                    break;
                }
                default:
                    return BAIL;
            }
            continue;
        }
        if (c >= 0x80) {
            int n = utf8_len(s + pos, len - pos);
            if (n == 0) return BAIL;
            flags |= F_NONASCII;
            pos += n;
            continue;
        }
        pos++;
    }
    t = &p->toks[i];
    t->flags = flags;
    t->end = (int32_t)(pos + 1);
    p->pos = pos + 1;
    return i;
}

static int parse_number(P *p) {
    const unsigned char *s = p->s;
    Py_ssize_t pos = p->pos, len = p->len, start = pos;
    int neg = 0, is_float = 0;
    if (s[pos] == '-') {
        neg = 1;
        pos++;
    }
    if (pos >= len || s[pos] < '0' || s[pos] > '9') return BAIL;
    Py_ssize_t dstart = pos;
    if (s[pos] == '0') {
        pos++;
    } else {
        while (pos < len && s[pos] >= '0' && s[pos] <= '9') pos++;
    }
    Py_ssize_t ndigits = pos - dstart;
    if (pos < len && s[pos] == '.') {
        is_float = 1;
        pos++;
        if (pos >= len || s[pos] < '0' || s[pos] > '9') return BAIL;
        while (pos < len && s[pos] >= '0' && s[pos] <= '9') pos++;
    }
    if (pos < len && (s[pos] == 'e' || s[pos] == 'E')) {
        is_float = 1;
        pos++;
        if (pos < len && (s[pos] == '+' || s[pos] == '-')) pos++;
        if (pos >= len || s[pos] < '0' || s[pos] > '9') return BAIL;
        while (pos < len && s[pos] >= '0' && s[pos] <= '9') pos++;
    }
    int i = new_tok(p, is_float ? T_FLOAT : T_INT, start);
    if (i < 0) return BAIL;
    Tok *t = &p->toks[i];
    t->end = (int32_t)pos;
    if (is_float) {
        t->flags = F_NONCANON;
        /* orjson refuses the whole line when a number overflows a double ("number is infinity") */
        char *end = NULL;
        double d = PyOS_string_to_double((const char *)s + start, &end, NULL);
        if (end != (const char *)s + pos || (d == -1.0 && PyErr_Occurred())) {
            PyErr_Clear();
            return BAIL;
        }
        if (isinf(d)) return BAIL;
    } else {
        if (ndigits > 18) return BAIL; /* orjson turns integers beyond 64 bits into floats */
        int64_t v = 0;
        for (Py_ssize_t k = dstart; k < pos; k++) v = v * 10 + (s[k] - '0');
        if (neg && v == 0) return BAIL; /* -0 reads back as 0 */
        t->ival = neg ? -v : v;
    }
    p->pos = pos;
    return i;
}

static int parse_literal(P *p, const char *word, int type) {
    size_t n = strlen(word);
    if (p->pos + (Py_ssize_t)n > p->len || memcmp(p->s + p->pos, word, n) != 0) return BAIL;
    int i = new_tok(p, type, p->pos);
    if (i < 0) return BAIL;
    p->pos += (Py_ssize_t)n;
    p->toks[i].end = (int32_t)p->pos;
    return i;
}

/* the character at s[*k] of a string parse_string accepted (escapes and UTF-8 decoded), *k moved past it */
static unsigned int next_char(const unsigned char *s, Py_ssize_t *k) {
    unsigned char c = s[*k];
    if (c == '\\') return escaped_char(s, k);
    if (c < 0x80) {
        (*k)++;
        return c;
    }
    int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    unsigned int v = c & (0x7F >> n);
    for (int j = 1; j < n; j++) v = v << 6 | (s[*k + j] & 0x3F);
    *k += n;
    return v;
}

/* whether two keys, one holding escapes, are the same text: character by character */
static int same_chars(P *p, Tok *a, Tok *b) {
    Py_ssize_t i = a->start + 1, j = b->start + 1, ie = a->end - 1, je = b->end - 1;
    while (i < ie && j < je) {
        if (next_char(p->s, &i) != next_char(p->s, &j)) return 0;
    }
    return i == ie && j == je;
}

/* whether two keys are the same text: as written, or when either holds escapes, by their characters */
static inline int keys_equal(P *p, Tok *a, Tok *b) {
    int32_t la = a->end - a->start, lb = b->end - b->start;
    if ((a->flags | b->flags) & F_ESC) return same_chars(p, a, b);
    return la == lb && memcmp(p->s + a->start, p->s + b->start, (size_t)la) == 0;
}

static int parse_container(P *p, int depth, int is_obj) {
    if (depth >= MAX_DEPTH) return BAIL;
    int i = new_tok(p, is_obj ? T_OBJ : T_ARR, p->pos);
    if (i < 0) return BAIL;
    uint8_t flags = 0;
    int n = 0;
    int keys[MAX_KEYS];
    unsigned char close = is_obj ? '}' : ']';
    p->pos++;
    if (skip_ws(p)) flags |= F_WS;
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            if (is_obj) {
                if (p->pos >= p->len || p->s[p->pos] != '"') return BAIL;
                int k = parse_string(p);
                if (k < 0) return k;
                Tok *kt = &p->toks[k];
                /* a key spelling a plain character with an escape may be a name looked up as written: Python's.
                   Other escapes (`\u00e9`, `\"`) make a key no name this module looks up; keys_equal compares their
                   characters */
                if (kt->flags & F_ALIAS) return BAIL;
                flags |= kt->flags & F_REESC;
                if (n >= MAX_KEYS) return BAIL;
                for (int j = 0; j < n; j++) {
                    if (keys_equal(p, &p->toks[keys[j]], kt)) return BAIL; /* orjson keeps the last */
                }
                keys[n] = k;
                if (skip_ws(p)) flags |= F_WS;
                if (p->pos >= p->len || p->s[p->pos] != ':') return BAIL;
                p->pos++;
                if (skip_ws(p)) flags |= F_WS;
            }
            int v = parse_value(p, depth + 1);
            if (v < 0) return v;
            flags |= p->toks[v].flags & (F_NONCANON | F_WS | F_REESC);
            n++;
            if (skip_ws(p)) flags |= F_WS;
            if (p->pos >= p->len) return BAIL;
            unsigned char c = p->s[p->pos];
            if (c == ',') {
                p->pos++;
                if (skip_ws(p)) flags |= F_WS;
                continue;
            }
            if (c == close) {
                p->pos++;
                break;
            }
            return BAIL;
        }
    }
    Tok *t = &p->toks[i];
    t->flags = flags;
    t->n = n;
    t->end = (int32_t)p->pos;
    t->next = p->ntok;
    return i;
}

static int parse_value(P *p, int depth) {
    if (p->pos >= p->len) return BAIL;
    switch (p->s[p->pos]) {
        case '{': return parse_container(p, depth, 1);
        case '[': return parse_container(p, depth, 0);
        case '"': return parse_string(p);
        case 't': return parse_literal(p, "true", T_TRUE);
        case 'f': return parse_literal(p, "false", T_FALSE);
        case 'n': return parse_literal(p, "null", T_NULL);
        default: return parse_number(p);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* lookups and text                                                                                */

/* the value token of `key` in object `obj`, or -1 */
static int get(P *p, int obj, const char *key) {
    if (obj < 0) return -1;
    size_t klen = strlen(key);
    int k = obj + 1;
    for (int j = 0; j < p->toks[obj].n; j++) {
        Tok *kt = &p->toks[k];
        if ((size_t)(kt->end - kt->start - 2) == klen && memcmp(p->s + kt->start + 1, key, klen) == 0) {
            return k + 1;
        }
        k = p->toks[k + 1].next;
    }
    return -1;
}

static inline int has(P *p, int obj, const char *key) { return get(p, obj, key) >= 0; }

/* `key`'s value when it is an object (and not null), else -1: `sub()` and `isinstance(v, dict)` */
static int get_obj(P *p, int obj, const char *key) {
    int v = get(p, obj, key);
    return (v >= 0 && p->toks[v].type == T_OBJ) ? v : -1;
}

typedef struct {
    const char *s;
    Py_ssize_t n;
    int ascii;
} Text;

/* decoded text goes to the parser's own buffer (kept between calls); what does not fit goes to blocks
   chained for the length of one call, so text handed out earlier never moves. NULL: MemoryError set */
static char *arena_alloc(P *p, Py_ssize_t n) {
    if (p->arena_used + n <= p->arena_cap) {
        char *out = p->arena + p->arena_used;
        p->arena_used += n;
        return out;
    }
    char *block = PyMem_Malloc(sizeof(char *) + (size_t)n);
    if (block == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *(char **)block = p->extra;
    p->extra = block;
    return block + sizeof(char *);
}

static void arena_reset(P *p) {
    char *block = p->extra;
    while (block != NULL) {
        char *prev = *(char **)block;
        PyMem_Free(block);
        block = prev;
    }
    p->extra = NULL;
    p->arena_used = 0;
}

static void put_utf8(char **out, unsigned int v) {
    char *o = *out;
    if (v < 0x80) {
        *o++ = (char)v;
    } else if (v < 0x800) {
        *o++ = (char)(0xC0 | (v >> 6));
        *o++ = (char)(0x80 | (v & 0x3F));
    } else if (v < 0x10000) {
        *o++ = (char)(0xE0 | (v >> 12));
        *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
        *o++ = (char)(0x80 | (v & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (v >> 18));
        *o++ = (char)(0x80 | ((v >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
        *o++ = (char)(0x80 | (v & 0x3F));
    }
    *out = o;
}

/* the decoded UTF-8 text of string token i */
static int str_text(P *p, int i, Text *out) {
    Tok *t = &p->toks[i];
    const char *raw = (const char *)p->s + t->start + 1;
    Py_ssize_t n = t->end - t->start - 2;
    out->ascii = !(t->flags & F_NONASCII);
    if (!(t->flags & F_ESC)) {
        out->s = raw;
        out->n = n;
        return OK;
    }
    char *buf = arena_alloc(p, n);
    if (buf == NULL) return ERR;
    char *o = buf;
    for (Py_ssize_t k = 0; k < n;) {
        if (raw[k] != '\\') {
            *o++ = raw[k++];
            continue;
        }
        put_utf8(&o, escaped_char((const unsigned char *)raw, &k)); /* never longer than the escape */
    }
    out->s = buf;
    out->n = o - buf;
    return OK;
}

static PyObject *text_obj(Text *t) {
    if (t->ascii) {
        PyObject *u = PyUnicode_New(t->n, 127);
        if (u != NULL) memcpy(PyUnicode_1BYTE_DATA(u), t->s, (size_t)t->n);
        return u;
    }
    return PyUnicode_DecodeUTF8(t->s, t->n, "strict");
}

/* string token i (a key too) as orjson.dumps writes it, at o: its bytes, or with `\u` or `\/` escapes (F_REESC)
   the characters they stand for, escaped as orjson escapes (" \ and the control characters, \b \t \n \f \r
   or \u00xx) and else as UTF-8; the escapes orjson writes itself kept. Never longer than the string. */
static char *put_str(P *p, int i, char *o) {
    const unsigned char *s = p->s;
    const Tok *t = &p->toks[i];
    if (!(t->flags & F_REESC)) {
        memcpy(o, s + t->start, (size_t)(t->end - t->start));
        return o + (t->end - t->start);
    }
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t k = t->start + 1, end = t->end - 1;
    *o++ = '"';
    while (k < end) {
        if (s[k] != '\\') {
            *o++ = (char)s[k++];
            continue;
        }
        if (s[k + 1] != 'u' && s[k + 1] != '/') { /* \" \\ \n \r \t \b \f: orjson's own */
            *o++ = '\\';
            *o++ = (char)s[k + 1];
            k += 2;
            continue;
        }
        unsigned int v = escaped_char(s, &k);
        if (v == '"' || v == '\\') {
            *o++ = '\\';
            *o++ = (char)v;
        } else if (v < 0x20) {
            *o++ = '\\';
            switch (v) {
                case '\b': *o++ = 'b'; break;
                case '\t': *o++ = 't'; break;
                case '\n': *o++ = 'n'; break;
                case '\f': *o++ = 'f'; break;
                case '\r': *o++ = 'r'; break;
                default:
                    memcpy(o, "u00", 3);
                    o[3] = hex[v >> 4];
                    o[4] = hex[v & 15];
                    o += 5;
            }
        } else {
            put_utf8(&o, v);
        }
    }
    *o++ = '"';
    return o;
}

/* the JSON of token i (not flagged F_NONCANON) as orjson.dumps writes it, at o, where there is room for its
   bytes in the line: those bytes, or for a container spelled with whitespace between its tokens (F_WS) the
   bytes without that whitespace, and its strings (keys too) as put_str writes them: numbers, literals and
   punctuation hold no whitespace. Returns the end of what it wrote. */
static char *put_json(P *p, int i, char *o) {
    const unsigned char *s = p->s;
    int32_t pos = p->toks[i].start, end = p->toks[i].end;
    if (!(p->toks[i].flags & (F_WS | F_REESC))) {
        memcpy(o, s + pos, (size_t)(end - pos));
        return o + (end - pos);
    }
    if (p->toks[i].type == T_STR) return put_str(p, i, o);
    for (int k = i + 1; k < p->toks[i].next; k++) {
        const Tok *t = &p->toks[k];
        if (t->type != T_STR) continue;
        for (; pos < t->start; pos++) {
            if (!is_jws(s[pos])) *o++ = (char)s[pos];
        }
        o = put_str(p, k, o);
        pos = t->end;
    }
    for (; pos < end; pos++) {
        if (!is_jws(s[pos])) *o++ = (char)s[pos];
    }
    return o;
}

/* the JSON text of token i as orjson.dumps writes it (put_json), in the line or in the arena; BAIL when
   orjson would write it otherwise than put_json does (F_NONCANON: floats) */
static int json_text(P *p, int i, Text *out) {
    Tok *t = &p->toks[i];
    if (t->flags & F_NONCANON) return BAIL;
    if (t->flags & (F_WS | F_REESC)) {
        char *buf = arena_alloc(p, t->end - t->start);
        if (buf == NULL) return ERR;
        out->s = buf;
        out->n = put_json(p, i, buf) - buf;
    } else {
        out->s = (const char *)p->s + t->start;
        out->n = t->end - t->start;
    }
    /* the JSON of a container may hold non-ASCII in strings: decoded as UTF-8 then */
    out->ascii = 1;
    for (Py_ssize_t k = 0; k < out->n; k++) {
        if ((unsigned char)out->s[k] >= 0x80) {
            out->ascii = 0;
            break;
        }
    }
    return OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* values: the exact meaning of model.to_ms, norm_level, norm_system, opt_str                       */

static PyObject *S_BROWSER, *S_WORKER, *S_BACKEND, *S_CONVEX, *S_LEVELS[5], *S_FIELD, *S_HEADER, *S_MESSAGE,
    *S_NONE, *S_REQUEST_ID, *S_INVOCATION, *S_FUNCTION_EXECUTION, *F_V1, *F_V2, *F_WREC, *F_CONVEX, *F_LOGPUSH;

enum { SYS_BROWSER, SYS_WORKER, SYS_BACKEND, SYS_OTHER };
enum { L_DEBUG, L_INFO, L_LOG, L_WARN, L_ERROR };

#define MIN_TS_MS 946684800000LL
#define MAX_TS_MS 4102444800000LL
#define TS_NONE 1 /* to_ms gave None */

static inline int is_pyspace(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 28 && c <= 31); }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* str.strip() of ASCII text (Python's whitespace: \t-\r, \x1c-\x1f, space) */
static void strip(Text *t) {
    while (t->n > 0 && is_pyspace((unsigned char)t->s[0])) {
        t->s++;
        t->n--;
    }
    while (t->n > 0 && is_pyspace((unsigned char)t->s[t->n - 1])) t->n--;
}

static int digits(const char *s, int n, int *out) {
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (!is_digit((unsigned char)s[k])) return 0;
        v = v * 10 + (s[k] - '0');
    }
    *out = v;
    return 1;
}

static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dim[m - 1];
}

/* datetime.fromisoformat(s) -> int(dt.timestamp() * 1000), for YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|±HH:MM];
   BAIL for any other form */
static int iso_ms(const char *s, Py_ssize_t n, int64_t *out) {
    int y, mo, d, h, mi, sec, us = 0;
    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return BAIL;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return BAIL;
    Py_ssize_t k = 19;
    if (k < n && s[k] == '.') {
        k++;
        int nd = 0;
        while (k < n && is_digit((unsigned char)s[k]) && nd < 7) {
            us = us * 10 + (s[k] - '0');
            nd++;
            k++;
        }
        if (nd == 0 || nd > 6) return BAIL;
        for (; nd < 6; nd++) us *= 10;
    }
    int64_t offset_s = 0;
    if (k < n && s[k] == 'Z') {
        k++;
    } else if (k < n && (s[k] == '+' || s[k] == '-')) {
        int oh, om;
        if (n - k != 6 || s[k + 3] != ':' || !digits(s + k + 1, 2, &oh) || !digits(s + k + 4, 2, &om)) return BAIL;
        if (oh > 23 || om > 59) return BAIL;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (s[k] == '-' ? -1 : 1);
        k += 6;
    }
    if (k != n) return BAIL;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return BAIL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    int64_t total_us = secs * 1000000 + us;
    if (total_us > (1LL << 53) || total_us < -(1LL << 53)) return BAIL;
    /* timedelta.total_seconds() is total_us / 10**6 (correctly rounded), then * 1000, truncated */
    double seconds = (double)total_us / 1e6;
    *out = (int64_t)(seconds * 1000.0);
    return OK;
}

/* model.to_ms(value of token i): OK with *out, TS_NONE, or BAIL */
static int to_ms(P *p, int i, int64_t *out) {
    if (i < 0) return TS_NONE;
    Tok *t = &p->toks[i];
    if (t->type == T_INT) {
        int64_t v = t->ival;
        if (v >= 100000000000LL && v < 100000000000000LL) {
            *out = v;
            return OK;
        }
        if (v >= (1LL << 53) || v <= -(1LL << 53)) return BAIL;
        int64_t a = v < 0 ? -v : v;
        if (a >= 100000000000000LL) { /* µs: int(v // 1_000) */
            *out = v >= 0 ? v / 1000 : -((-v + 999) / 1000);
        } else if (a >= 100000000000LL) {
            *out = v;
        } else {
            *out = v * 1000; /* round(v * 1000) of an integer below 1e11 is exact */
        }
        return OK;
    }
    if (t->type == T_STR) {
        Text tx;
        if (str_text(p, i, &tx) != OK) return ERR;
        if (!tx.ascii) return BAIL;
        strip(&tx);
        const char *s = tx.s;
        Py_ssize_t n = tx.n;
        if (n == 0) return TS_NONE;
        if (!is_digit((unsigned char)s[0])) return BAIL;
        for (Py_ssize_t k = 0; k < n; k++) {
            if (s[k] == '.' && k != 19) return BAIL; /* a number, or a fraction where ISO has none */
            if (s[k] == 'e' || s[k] == 'E') return BAIL;
        }
        return iso_ms(s, n, out);
    }
    if (t->type == T_FLOAT) return BAIL;
    return TS_NONE; /* null, bool, object, array */
}

/* require_ts: a valid event time, else BAIL (Python rejects the record) */
static int require_ts(P *p, int i, int64_t *out) {
    int r = to_ms(p, i, out);
    if (r != OK) return r == ERR ? ERR : BAIL;
    if (*out < MIN_TS_MS || *out >= MAX_TS_MS) return BAIL;
    return OK;
}

static int word_is(const char *s, Py_ssize_t n, const char *w) {
    size_t wn = strlen(w);
    if ((size_t)n != wn) return 0;
    for (size_t k = 0; k < wn; k++) {
        if (lower((unsigned char)s[k]) != (unsigned char)w[k]) return 0;
    }
    return 1;
}

/* norm_level(value of token i, default): an index into S_LEVELS, or BAIL */
static int norm_level(P *p, int i, int dflt) {
    if (i < 0 || p->toks[i].type != T_STR) return dflt;
    Text t;
    if (str_text(p, i, &t) != OK) return ERR;
    if (t.n == 0) return dflt;
    if (!t.ascii) return BAIL;
    static const struct {
        const char *w;
        int level;
    } map[] = {{"debug", L_DEBUG}, {"trace", L_DEBUG}, {"verbose", L_DEBUG}, {"info", L_INFO},
               {"information", L_INFO}, {"notice", L_INFO}, {"log", L_LOG}, {"warn", L_WARN},
               {"warning", L_WARN}, {"error", L_ERROR}, {"err", L_ERROR}, {"exception", L_ERROR},
               {"fatal", L_ERROR}, {"critical", L_ERROR}, {"crit", L_ERROR}, {"alert", L_ERROR},
               {"emergency", L_ERROR}};
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
        if (word_is(t.s, t.n, map[k].w)) return map[k].level;
    }
    return dflt;
}

/* norm_system of a label's text: SYS_* (SYS_OTHER means "the default"), or BAIL */
static int norm_system(Text *t) {
    if (!t->ascii) return BAIL;
    static const struct {
        const char *w;
        int sys;
    } map[] = {{"browser", SYS_BROWSER}, {"client", SYS_BROWSER}, {"web", SYS_BROWSER},
               {"frontend", SYS_BROWSER}, {"manual", SYS_BROWSER}, {"worker", SYS_WORKER},
               {"workers", SYS_WORKER}, {"cloudflare", SYS_WORKER}, {"edge", SYS_WORKER},
               {"convex", SYS_BACKEND}, {"backend", SYS_BACKEND}, {"server", SYS_BACKEND}};
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
        if (word_is(t->s, t->n, map[k].w)) return map[k].sys;
    }
    return SYS_OTHER;
}

/* opt_str(value of token i): OK with *text (n > 0), TS_NONE for None, or BAIL */
static int opt_text(P *p, int i, Text *out) {
    if (i < 0) return TS_NONE;
    Tok *t = &p->toks[i];
    if (t->type == T_STR) {
        if (t->end - t->start == 2) return TS_NONE;
        return str_text(p, i, out);
    }
    if (t->type == T_INT) {
        out->s = (const char *)p->s + t->start;
        out->n = t->end - t->start;
        out->ascii = 1;
        return OK;
    }
    if (t->type == T_FLOAT) return BAIL;
    return TS_NONE;
}

/* opt_str as a new reference (Py_None when absent), or NULL with *rc set */
static PyObject *opt_str(P *p, int i, int *rc) {
    Text t;
    int r = opt_text(p, i, &t);
    if (r == TS_NONE) Py_RETURN_NONE;
    if (r != OK) {
        *rc = r;
        return NULL;
    }
    PyObject *o = text_obj(&t);
    if (o == NULL) *rc = ERR;
    return o;
}

/* ---------------------------------------------------------------------------------------------- */
/* trace ids: logcorr.sources.traceid                                                              */

static const char *FIELD_NAMES[] = {"trace_id", "traceId", "traceID", "trace-id", "correlation_id", "correlationId"};
static const char *NOT_IDS[] = {"null", "undefined", "none", "unknown", "", "n/a", "nan", "nil", "true", "false",
                                "[object object]", "(null)", "<nil>", "<null>", "%s"};

/* traceid.placeholder: a word of NOT_IDS, a template never filled in (`${`, `{{`), or only `0` and `-` */
static int not_an_id(const char *s, Py_ssize_t n) {
    for (size_t k = 0; k < sizeof NOT_IDS / sizeof NOT_IDS[0]; k++) {
        if (word_is(s, n, NOT_IDS[k])) return 1;
    }
    if (n >= 2 && (s[0] == '$' || s[0] == '{') && s[1] == '{') return 1;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (s[k] != '0' && s[k] != '-') return 0;
    }
    return 1;
}

/* clean_id(value of token i): OK with *out, TS_NONE, or BAIL */
static int clean_id(P *p, int i, Text *out) {
    Tok *t = &p->toks[i];
    if (t->type == T_INT) {
        out->s = (const char *)p->s + t->start;
        out->n = t->end - t->start;
        out->ascii = 1;
        return not_an_id(out->s, out->n) ? TS_NONE : OK; /* 0 (or -0) is a placeholder; never long */
    }
    if (t->type != T_STR) return TS_NONE;
    Text tx;
    if (str_text(p, i, &tx) != OK) return ERR;
    if (!tx.ascii) return BAIL; /* str.strip and str.lower know more than ASCII */
    strip(&tx);
    if (not_an_id(tx.s, tx.n) || tx.n > 256) return TS_NONE;
    *out = tx;
    return OK;
}

/* from_fields(object token obj) */
static int from_fields(P *p, int obj, Text *out) {
    for (size_t k = 0; k < sizeof FIELD_NAMES / sizeof FIELD_NAMES[0]; k++) {
        int v = get(p, obj, FIELD_NAMES[k]);
        if (v < 0) continue;
        int r = clean_id(p, v, out);
        if (r == OK && out->n > 0) return OK;
        if (r == BAIL || r == ERR) return r;
    }
    return TS_NONE;
}

static inline int is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Text beyond ASCII is matched on its shadow (`shadow_text`): one byte a character, ASCII as it is, and each other
   character as the class the regexes put it in. These bytes are no ASCII character, so the ASCII classes below
   (`[A-Za-z0-9_]`, the id's characters, hex, quotes) match none of them; `\b` and `\s`, which know Unicode, do */
#define SH_WORD 0x80  /* \w: str.isalnum() */
#define SH_SPACE 0x81 /* \s: str.isspace() */
#define SH_OTHER 0x82
/* \w of the regexes' `\b` */
static inline int is_reword(unsigned char c) { return is_word(c) || c == SH_WORD; }
/* \s of the regexes */
static inline int is_respace(unsigned char c) { return is_pyspace(c) || c == SH_SPACE; }
static inline int is_alnum(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
static inline int is_idchar(unsigned char c) { return is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '-'; }
static inline int is_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
static inline int is_quote(unsigned char c) { return c == '"' || c == '\''; }

/* _MSG_KEYED at position p (re.IGNORECASE, ASCII text), in the order the regex engine tries:
   (?<![A-Za-z0-9_])(?<![A-Za-z0-9_]-)(?:x-)?trace[_-]?id["']?\s*([:=\s])(["']?)\s*(["']?)([A-Za-z0-9][A-Za-z0-9_.:\-]{0,255});
   *stated as traceid._stated. The key starts a name (traceid._KEY_START: not `prev_trace_id`, `parent-trace-id`,
   `oldTraceId`), optionally the header's `x-` */
static int keyed_at(const unsigned char *s, Py_ssize_t n, Py_ssize_t p, Py_ssize_t *gs, Py_ssize_t *ge,
                    int *stated) {
    static const char trace[] = "trace";
    if (p > 0 && (is_word(s[p - 1]) || (p > 1 && s[p - 1] == '-' && is_word(s[p - 2])))) return 0;
    if (p + 2 <= n && lower(s[p]) == 'x' && s[p + 1] == '-') p += 2; /* (?:x-)? : `trace` cannot start at `x` */
    if (p + 5 > n) return 0;
    for (int k = 0; k < 5; k++) {
        if (lower(s[p + k]) != (unsigned char)trace[k]) return 0;
    }
    Py_ssize_t q0 = p + 5;
    for (int sep = 1; sep >= 0; sep--) {
        if (sep && !(q0 < n && (s[q0] == '_' || s[q0] == '-'))) continue;
        Py_ssize_t q = q0 + sep;
        if (!(q + 2 <= n && lower(s[q]) == 'i' && lower(s[q + 1]) == 'd')) continue;
        Py_ssize_t r0 = q + 2;
        for (int qt = 1; qt >= 0; qt--) {
            if (qt && !(r0 < n && is_quote(s[r0]))) continue;
            Py_ssize_t r = r0 + qt, w = r;
            while (w < n && is_respace(s[w])) w++;
            for (Py_ssize_t k = w; k >= r; k--) {
                if (!(k < n && (s[k] == ':' || s[k] == '=' || is_respace(s[k])))) continue;
                for (int qt1 = 1; qt1 >= 0; qt1--) {
                    if (qt1 && !(k + 1 < n && is_quote(s[k + 1]))) continue;
                    Py_ssize_t t0 = k + 1 + qt1, w2 = t0;
                    while (w2 < n && is_respace(s[w2])) w2++;
                    for (Py_ssize_t k2 = w2; k2 >= t0; k2--) {
                        for (int qt2 = 1; qt2 >= 0; qt2--) {
                            if (qt2 && !(k2 < n && is_quote(s[k2]))) continue;
                            Py_ssize_t g = k2 + qt2;
                            if (g < n && is_alnum(s[g])) {
                                Py_ssize_t e = g + 1, lim = g + 256; /* traceid.MAX_ID */
                                while (e < n && e < lim && is_idchar(s[e])) e++;
                                *gs = g;
                                *ge = e;
                                *stated = s[k] == ':' || s[k] == '=' || qt1 || qt2;
                                return 1;
                            }
                        }
                    }
                }
            }
        }
    }
    return 0;
}

/* _MSG_BARE: \b(trace_\d{10,}_[a-z0-9]+(?:_[a-z0-9]+)*)\b (the repeats greedy: a shorter match would end
   before a word character, so none is tried) */
static int bare_search(const unsigned char *s, Py_ssize_t n, Py_ssize_t from, Py_ssize_t *gs, Py_ssize_t *ge) {
    for (Py_ssize_t p = from; p + 6 <= n; p++) {
        if (memcmp(s + p, "trace_", 6) != 0 || (p > 0 && is_reword(s[p - 1]))) continue;
        Py_ssize_t d = p + 6;
        while (d < n && is_digit(s[d])) d++;
        if (d - (p + 6) < 10 || !(d < n && s[d] == '_')) continue;
        Py_ssize_t e = d + 1;
        while (e < n && ((s[e] >= 'a' && s[e] <= 'z') || is_digit(s[e]))) e++;
        if (e == d + 1) continue;
        while (e + 1 < n && s[e] == '_' && ((s[e + 1] >= 'a' && s[e + 1] <= 'z') || is_digit(s[e + 1]))) {
            e += 2;
            while (e < n && ((s[e] >= 'a' && s[e] <= 'z') || is_digit(s[e]))) e++;
        }
        if (e < n && is_reword(s[e])) continue;
        *gs = p;
        *ge = e;
        return 1;
    }
    return 0;
}

/* traceid._after_a_key: the id at `at` is the value of a key ending in a trace id's name (`prev_trace_id: trace_…`):
   before it only blanks, quotes, `:` and `=`, and before those `traceid`, `trace_id` or `trace-id` */
static int after_a_key(const unsigned char *s, Py_ssize_t at) {
    Py_ssize_t i = at;
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n' || s[i - 1] == '\r' || s[i - 1] == '\v' ||
                     s[i - 1] == '\f' || s[i - 1] == '"' || s[i - 1] == '\'' || s[i - 1] == ':' || s[i - 1] == '='))
        i--;
    if (i == at || i < 7) return 0;
    if (lower(s[i - 2]) != 'i' || lower(s[i - 1]) != 'd') return 0;
    Py_ssize_t t = i - 2;
    if (s[t - 1] == '_' || s[t - 1] == '-') t--;
    if (t < 5) return 0;
    static const char trace[] = "trace";
    for (int k = 0; k < 5; k++) {
        if (lower(s[t - 5 + k]) != (unsigned char)trace[k]) return 0;
    }
    return 1;
}

/* _MSG_TRACEPARENT: \b[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b (group start returned) */
static int traceparent_search(const unsigned char *s, Py_ssize_t n, Py_ssize_t *gs) {
    static const int lens[] = {2, 32, 16, 2};
    for (Py_ssize_t p = 0; p + 55 <= n; p++) {
        if (p > 0 && is_reword(s[p - 1])) continue;
        Py_ssize_t q = p;
        int ok = 1;
        for (int part = 0; part < 4 && ok; part++) {
            for (int k = 0; k < lens[part]; k++, q++) {
                if (!is_hex(s[q])) {
                    ok = 0;
                    break;
                }
            }
            if (ok && part < 3) {
                if (s[q] != '-') ok = 0;
                q++;
            }
        }
        if (!ok || (q < n && is_reword(s[q]))) continue;
        *gs = p + 3;
        return 1;
    }
    return 0;
}

static int has_digit(const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < n; k++) {
        if (is_digit(s[k])) return 1;
    }
    return 0;
}

static Py_ssize_t find_at(const char *s, Py_ssize_t n, const char *w) {
    size_t wn = strlen(w);
    for (Py_ssize_t p = 0; p + (Py_ssize_t)wn <= n; p++) {
        if (memcmp(s + p, w, wn) == 0) return p;
    }
    return -1;
}

static int contains(const char *s, Py_ssize_t n, const char *w) { return find_at(s, n, w) >= 0; }

/* the shadow of UTF-8 text `m` at buf (room for m->n bytes): one byte a character, ASCII as it is, another
   character SH_WORD, SH_SPACE or SH_OTHER by the class `\w` and `\s` give it. BAIL for a character the rules'
   regexes match otherwise: one IGNORECASE matches to an ASCII letter (İ ı ſ and the Kelvin sign K, in `trace`,
   `id` and `[A-Za-z0-9]`; the only ones, tests/test_fastparse_differential.py checks), and a decimal digit
   beyond ASCII (`\d` of the bare id) */
static int shadow_text(const Text *m, char *buf, Text *out) {
    const unsigned char *s = (const unsigned char *)m->s;
    Py_ssize_t n = 0;
    for (Py_ssize_t k = 0; k < m->n;) {
        unsigned char c = s[k];
        if (c < 0x80) {
            buf[n++] = (char)c;
            k++;
            continue;
        }
        int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        Py_UCS4 v = c & (0x7F >> len);
        for (int j = 1; j < len; j++) v = v << 6 | (s[k + j] & 0x3F);
        k += len;
        if (v == 0x130 || v == 0x131 || v == 0x17F || v == 0x212A || Py_UNICODE_ISDECIMAL(v)) return BAIL;
        buf[n++] = (char)(Py_UNICODE_ISALNUM(v) ? SH_WORD : Py_UNICODE_ISSPACE(v) ? SH_SPACE : SH_OTHER);
    }
    out->s = buf;
    out->n = n;
    out->ascii = 1;
    return OK;
}

/* traceid.from_message on text `m`: OK with *out, TS_NONE, or BAIL. Text beyond ASCII is read on its shadow
   (`shadow_text`, at `scratch`: room for m->n bytes; NULL: BAIL) when the rules would look inside it */
static int from_message(Text *m, Text *out, char *scratch) {
    Text shadow;
    if (!m->ascii) {
        /* what the rules look for, on the bytes: `race` in the text, or a `-` in 55 characters or more (the
           text before Logpush's cut, below, holds no more) */
        if (!contains(m->s, m->n, "race") && !contains(m->s, m->n, "RACE") &&
            !(m->n >= 55 && memchr(m->s, '-', (size_t)m->n) != NULL))
            return TS_NONE;
        if (scratch == NULL) return BAIL;
        int r = shadow_text(m, scratch, &shadow);
        if (r != OK) return r;
        m = &shadow;
    }
    const unsigned char *s = (const unsigned char *)m->s;
    Py_ssize_t n = m->n, gs, ge;
    Py_ssize_t cut = find_at(m->s, n, "<<<Logpush: "); /* traceid._LOGPUSH_CUT: the text before it, cut */
    if (cut >= 0) {
        n = cut;
        while (n > 0 && is_idchar(s[n - 1])) n--;
    }
    int race = contains(m->s, n, "race") || contains(m->s, n, "RACE");
    int dash = n >= 55 && memchr(m->s, '-', (size_t)n) != NULL;
    if (!race && !dash) return TS_NONE;
    if (race) {
        int stated;
        for (Py_ssize_t p = 0; p < n; p++) {
            if (keyed_at(s, n, p, &gs, &ge, &stated)) {
                if (ge < n && (is_idchar(s[ge]) || s[ge] == '/')) continue; /* longer than MAX_ID, or N/A: no id */
                while (ge > gs && (s[ge - 1] == '.' || s[ge - 1] == ',' || s[ge - 1] == ':' || s[ge - 1] == ';')) ge--;
                if (ge > gs && !not_an_id(m->s + gs, ge - gs) && (stated || has_digit(s + gs, ge - gs))) {
                    out->s = m->s + gs;
                    out->n = ge - gs;
                    out->ascii = 1;
                    return OK;
                }
            }
        }
        for (Py_ssize_t from = 0; bare_search(s, n, from, &gs, &ge); from = ge) {
            if (after_a_key(s, gs)) continue; /* another trace's id, as `prev_trace_id: trace_…` gives */
            out->s = m->s + gs;
            out->n = ge - gs;
            out->ascii = 1;
            return OK;
        }
    }
    if (dash && traceparent_search(s, n, &gs)) {
        for (int k = 0; k < 32; k++) {
            if (s[gs + k] != '0') {
                out->s = m->s + gs;
                out->n = 32;
                out->ascii = 1;
                return OK;
            }
        }
    }
    return TS_NONE;
}

/* traceid.find(obj, message, context) with no explicit headers: OK (tid, how), or BAIL/ERR.
   ctx is the context object when it is a non-empty dict, else -1. */
static int find_trace(P *p, int obj, Text *message, int ctx, PyObject **tid, PyObject **how) {
    Text t;
    int r;
    *tid = NULL;
    if (obj >= 0) {
        r = from_fields(p, obj, &t);
        if (r == OK) goto found_field;
        if (r != TS_NONE) return r;
    }
    if (ctx >= 0) {
        r = from_fields(p, ctx, &t);
        if (r == OK) goto found_field;
        if (r != TS_NONE) return r;
        int h = get(p, ctx, "headers");
        if (h >= 0 && p->toks[h].type == T_OBJ && p->toks[h].n > 0) return BAIL; /* headers: Python's */
    }
    char *scratch = message->ascii ? NULL : arena_alloc(p, message->n);
    if (!message->ascii && scratch == NULL) return ERR;
    r = from_message(message, &t, scratch);
    if (r == OK) {
        *how = S_MESSAGE;
        goto make;
    }
    if (r != TS_NONE) return r;
    Py_INCREF(Py_None);
    *tid = Py_None;
    Py_INCREF(S_NONE);
    *how = S_NONE;
    return OK;
found_field:
    *how = S_FIELD;
make:
    *tid = text_obj(&t);
    if (*tid == NULL) return ERR;
    Py_INCREF(*how);
    return OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* rows                                                                                            */

typedef struct {
    int64_t ts;
    int has_client;
    int64_t client;
    PyObject *system, *label, *level, *message, *tid, *how, *request_id, *user_id, *context, *stack;
} Row; /* all references owned */

static void row_clear(Row *r) {
    Py_CLEAR(r->system);
    Py_CLEAR(r->label);
    Py_CLEAR(r->level);
    Py_CLEAR(r->message);
    Py_CLEAR(r->tid);
    Py_CLEAR(r->how);
    Py_CLEAR(r->request_id);
    Py_CLEAR(r->user_id);
    Py_CLEAR(r->context);
    Py_CLEAR(r->stack);
}

static PyObject *new_ref(PyObject *o) {
    Py_INCREF(o);
    return o;
}

/* the staging row (stage.staged_rows), stealing the Row's references */
static PyObject *row_tuple(Row *r, long long seq, PyObject *file_id, PyObject *line_no, PyObject *fmt, int part) {
    PyObject *t = PyTuple_New(18);
    if (t == NULL) return NULL;
    PyObject *items[18];
    items[0] = PyLong_FromLongLong(seq + part + 1);
    items[1] = new_ref(file_id);
    items[2] = PyLong_FromLongLong(r->ts);
    items[3] = r->has_client ? PyLong_FromLongLong(r->client) : new_ref(Py_None);
    items[4] = r->system;
    items[5] = r->label;
    items[6] = r->level;
    items[7] = r->message;
    items[8] = r->tid;
    items[9] = r->how;
    items[10] = r->request_id;
    items[11] = r->user_id;
    items[12] = r->context;
    items[13] = r->stack;
    items[14] = new_ref(line_no);
    items[15] = new_ref(fmt);
    items[16] = PyLong_FromLong(part);
    items[17] = new_ref(Py_None);
    memset(&r->system, 0, sizeof(PyObject *) * 10); /* stolen */
    int bad = 0;
    for (int k = 0; k < 18; k++) {
        if (items[k] == NULL) bad = 1;
        PyTuple_SET_ITEM(t, k, items[k]); /* NULL items are fine for Py_DECREF of the tuple */
    }
    if (bad) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

#define CHECK(expr)              \
    do {                         \
        int rc_ = (expr);        \
        if (rc_ < 0) return rc_; \
    } while (0)

#define NEED(obj, rcvar)          \
    do {                          \
        if ((obj) == NULL) return (rcvar); \
    } while (0)

/* the system of a {trace_id, message, level, system, context} body (browser.system_of_request);
   `label` is opt_str(system) (NULL for None); ctx_any is the context when it is a dict (even empty) */
static int request_system(P *p, Text *label, int ctx_any, int dflt_none, PyObject **out) {
    if (label == NULL) {
        *out = new_ref(dflt_none == SYS_WORKER ? S_WORKER : S_BROWSER);
        return OK;
    }
    int sys = norm_system(label);
    if (sys == BAIL) return BAIL;
    if (sys == SYS_BACKEND && ctx_any >= 0 && (has(p, ctx_any, "url") || has(p, ctx_any, "userAgent")))
        sys = SYS_BROWSER;
    *out = new_ref(sys == SYS_WORKER ? S_WORKER : sys == SYS_BACKEND ? S_BACKEND : S_BROWSER);
    return OK;
}

/* browser-v2 (browser.parse_v2) and worker-record (worker._append_record without an outer trace) */
static int request_body(P *p, int obj, int is_worker, Row *r) {
    int rc = ERR;
    int m = get(p, obj, "message");
    if (m < 0 || p->toks[m].type != T_STR) return BAIL; /* missing (rejected) or as_text(): Python's */
    Text msg;
    CHECK(str_text(p, m, &msg));
    int ctx_any = get_obj(p, obj, "context");
    int ctx = (ctx_any >= 0 && p->toks[ctx_any].n > 0) ? ctx_any : -1;
    if (is_worker) {
        CHECK(require_ts(p, get(p, obj, "timestamp"), &r->ts));
        if (ctx >= 0) {
            int c = to_ms(p, get(p, ctx, "timestamp"), &r->client);
            if (c == OK) {
                /* a client time outside 2000..2100 is a broken clock or value, not a time (Python: valid_ts) */
                r->has_client = r->client != r->ts && r->client >= MIN_TS_MS && r->client < MAX_TS_MS;
            } else if (c != TS_NONE) {
                return c;
            }
        }
    } else {
        int c = ctx >= 0 ? to_ms(p, get(p, ctx, "timestamp"), &r->ts) : TS_NONE;
        if (c == TS_NONE) {
            CHECK(require_ts(p, get(p, obj, "timestamp"), &r->ts));
        } else if (c != OK) {
            return c;
        } else if (r->ts < MIN_TS_MS || r->ts >= MAX_TS_MS) {
            return BAIL;
        }
    }
    Text label;
    int lr = opt_text(p, get(p, obj, "system"), &label);
    if (lr != OK && lr != TS_NONE) return lr;
    CHECK(request_system(p, lr == OK ? &label : NULL, ctx_any, is_worker ? SYS_WORKER : SYS_BROWSER, &r->system));
    if (lr == OK) {
        r->label = text_obj(&label);
        NEED(r->label, ERR);
    } else {
        r->label = new_ref(is_worker ? S_WORKER : S_BROWSER);
    }
    int lv = norm_level(p, get(p, obj, "level"), L_LOG);
    if (lv < 0) return lv;
    r->level = new_ref(S_LEVELS[lv]);
    CHECK(find_trace(p, obj, &msg, ctx, &r->tid, &r->how));
    r->message = text_obj(&msg);
    NEED(r->message, ERR);
    r->request_id = new_ref(Py_None);
    r->user_id = opt_str(p, get(p, obj, "user_id"), &rc);
    NEED(r->user_id, rc);
    if (ctx >= 0) {
        Text ct;
        CHECK(json_text(p, ctx, &ct));
        r->context = text_obj(&ct);
        NEED(r->context, ERR);
    } else {
        r->context = new_ref(Py_None);
    }
    r->stack = opt_str(p, get(p, obj, "stack"), &rc);
    NEED(r->stack, rc);
    return OK;
}

/* model.as_text(value of token i): the text a console argument renders as; BAIL for floats (repr) */
static int as_text(P *p, int i, Text *tx) {
    Tok *t = &p->toks[i];
    switch (t->type) {
        case T_STR:
            return str_text(p, i, tx);
        case T_NULL: tx->s = "null"; tx->n = 4; tx->ascii = 1; return OK;
        case T_TRUE: tx->s = "true"; tx->n = 4; tx->ascii = 1; return OK;
        case T_FALSE: tx->s = "false"; tx->n = 5; tx->ascii = 1; return OK;
        case T_INT:
            tx->s = (const char *)p->s + t->start;
            tx->n = t->end - t->start;
            tx->ascii = 1;
            return OK;
        case T_OBJ:
        case T_ARR:
            return json_text(p, i, tx); /* orjson.dumps(value).decode() */
        default:
            return BAIL;
    }
}

/* as_text of one console argument, appended at *o (room for its raw span is there) */
static int append_arg(P *p, int i, char **o, int *ascii) {
    Text tx;
    CHECK(as_text(p, i, &tx));
    memcpy(*o, tx.s, (size_t)tx.n);
    *o += tx.n;
    *ascii &= tx.ascii;
    return OK;
}

/* browser-v1 (browser.parse_v1) */
static int browser_v1(P *p, int obj, Row *r) {
    int rc = ERR;
    int a = get(p, obj, "args");
    if (a < 0) return BAIL;
    Text msg;
    if (p->toks[a].type == T_ARR) {
        /* joined text is at most the raw span (escapes only shrink; null/true/false are as written) */
        Tok *at = &p->toks[a];
        char *buf = arena_alloc(p, at->end - at->start + 1);
        if (buf == NULL) return ERR;
        char *o = buf;
        int ascii = 1;
        int k = a + 1;
        for (int j = 0; j < at->n; j++) {
            if (j) *o++ = ' ';
            CHECK(append_arg(p, k, &o, &ascii));
            k = p->toks[k].next;
        }
        msg.s = buf;
        msg.n = o - buf;
        msg.ascii = ascii;
    } else if (p->toks[a].type == T_STR) {
        CHECK(str_text(p, a, &msg));
    } else {
        return BAIL;
    }
    CHECK(require_ts(p, get(p, obj, "timestamp"), &r->ts));
    Text label;
    int lr = opt_text(p, get(p, obj, "system_area"), &label);
    if (lr == OK) {
        int sys = norm_system(&label);
        if (sys == BAIL) return BAIL;
        r->system = new_ref(sys == SYS_WORKER ? S_WORKER : sys == SYS_BACKEND ? S_BACKEND : S_BROWSER);
        r->label = text_obj(&label);
        NEED(r->label, ERR);
    } else if (lr == TS_NONE) {
        r->system = new_ref(S_BROWSER);
        r->label = new_ref(S_BROWSER);
    } else {
        return lr;
    }
    int lv = norm_level(p, get(p, obj, "level"), L_LOG);
    if (lv < 0) return lv;
    r->level = new_ref(S_LEVELS[lv]);
    CHECK(find_trace(p, obj, &msg, -1, &r->tid, &r->how));
    r->message = text_obj(&msg);
    NEED(r->message, ERR);
    r->request_id = new_ref(Py_None);
    r->user_id = opt_str(p, get(p, obj, "user_id"), &rc);
    NEED(r->user_id, rc);
    r->context = new_ref(Py_None);
    r->stack = opt_str(p, get(p, obj, "stack_trace"), &rc);
    NEED(r->stack, rc);
    return OK;
}

/* convex_stream.unquote_inspect on text (bytes of ' and \ are never inside a UTF-8 sequence) */
static int unquote_inspect(P *p, Text *m) {
    Py_ssize_t n = m->n;
    const char *s = m->s;
    if (n < 2 || s[0] != '\'' || s[n - 1] != '\'') return OK;
    /* ^'((?:[^'\\]|\\.)*)'$ */
    int escaped = 0;
    for (Py_ssize_t k = 1; k < n - 1; k++) {
        if (s[k] == '\'') return OK;
        if (s[k] == '\\') {
            if (k + 1 >= n - 1) return OK; /* the escape would take the closing quote */
            escaped = 1;
            k++;
        }
    }
    if (!escaped) {
        m->s = s + 1;
        m->n = n - 2;
        return OK;
    }
    /* group(1).replace("\\'", "'") */
    char *buf = arena_alloc(p, n);
    if (buf == NULL) return ERR;
    char *o = buf;
    for (Py_ssize_t k = 1; k < n - 1; k++) {
        if (s[k] == '\\' && k + 1 < n - 1 && s[k + 1] == '\'') {
            *o++ = '\'';
            k++;
        } else {
            *o++ = s[k];
        }
    }
    m->s = buf;
    m->n = o - buf;
    return OK;
}

/* one `"key":value` member of a context built as a dict (convex_stream._nn), value token v */
static int put_member(P *p, char **o, int *first, const char *key, int v) {
    if (v < 0 || p->toks[v].type == T_NULL) return OK;
    Tok *t = &p->toks[v];
    if (t->flags & F_NONCANON) return BAIL;
    size_t kn = strlen(key);
    char *w = *o;
    if (!*first) *w++ = ',';
    *first = 0;
    *w++ = '"';
    memcpy(w, key, kn);
    w += kn;
    *w++ = '"';
    *w++ = ':';
    *o = put_json(p, v, w);
    return OK;
}

/* convex_stream.backend_event: a Convex line's message, its trace id (from the text only), system and label */
static int backend_event(P *p, Row *r, Text *msg) {
    Text t;
    char *scratch = msg->ascii ? NULL : arena_alloc(p, msg->n);
    if (!msg->ascii && scratch == NULL) return ERR;
    int tr = from_message(msg, &t, scratch);
    if (tr == OK) {
        r->tid = text_obj(&t);
        NEED(r->tid, ERR);
        r->how = new_ref(S_MESSAGE);
    } else if (tr == TS_NONE) {
        r->tid = new_ref(Py_None);
        r->how = new_ref(S_NONE);
    } else {
        return tr;
    }
    r->message = text_obj(msg);
    NEED(r->message, ERR);
    r->system = new_ref(S_BACKEND);
    r->label = new_ref(S_CONVEX);
    r->user_id = new_ref(Py_None);
    r->stack = new_ref(Py_None);
    return OK;
}

/* convex-stream format 2, topic "console" (convex_stream.parse_v2 and backend_event) */
static int convex_console(P *p, int obj, Row *r) {
    int rc = ERR;
    CHECK(require_ts(p, get(p, obj, "timestamp"), &r->ts));
    int fn = get_obj(p, obj, "function");
    int dep = get_obj(p, obj, "convex");
    r->request_id = opt_str(p, get(p, fn, "request_id"), &rc);
    NEED(r->request_id, rc);
    int m = get(p, obj, "message");
    if (m < 0 || p->toks[m].type != T_STR) return BAIL;
    Text msg;
    CHECK(str_text(p, m, &msg));
    CHECK(unquote_inspect(p, &msg));
    /* context: function, function_type, component_path, is_truncated (truthy), system_code, deployment */
    int trunc = get(p, obj, "is_truncated");
    if (trunc >= 0) {
        int ty = p->toks[trunc].type;
        if (ty == T_FALSE || ty == T_NULL) {
            trunc = -1;
        } else {
            return BAIL; /* true: its last word may be an id cut short (traceid.from_message's `cut`): Python's */
        }
    }
    int members[6] = {get(p, fn, "path"), get(p, fn, "type"), get(p, fn, "component_path"), trunc,
                      get(p, obj, "system_code"), get(p, dep, "deployment_name")};
    static const char *names[6] = {"function", "function_type", "component_path", "is_truncated", "system_code",
                                   "deployment"};
    Py_ssize_t need = 2;
    for (int k = 0; k < 6; k++) {
        if (members[k] >= 0) need += 20 + (p->toks[members[k]].end - p->toks[members[k]].start);
    }
    char *buf = arena_alloc(p, need);
    if (buf == NULL) return ERR;
    char *o = buf;
    int first = 1;
    *o++ = '{';
    for (int k = 0; k < 6; k++) CHECK(put_member(p, &o, &first, names[k], members[k]));
    *o++ = '}';
    if (first) {
        r->context = new_ref(Py_None);
    } else {
        Text ct = {buf, o - buf, 1};
        for (Py_ssize_t k = 0; k < ct.n; k++) {
            if ((unsigned char)buf[k] >= 0x80) ct.ascii = 0;
        }
        r->context = text_obj(&ct);
        NEED(r->context, ERR);
    }
    int lv = norm_level(p, get(p, obj, "log_level"), L_LOG);
    if (lv < 0) return lv;
    r->level = new_ref(S_LEVELS[lv]);
    CHECK(backend_event(p, r, &msg));
    return OK;
}

static void put_raw_member(char **o, int *first, const char *key, const char *val, Py_ssize_t n, int quote);

/* Python truthiness of a JSON value (absent is falsy); floats are not judged (BAIL) */
static int truthy(P *p, int i) {
    if (i < 0) return 0;
    Tok *t = &p->toks[i];
    switch (t->type) {
        case T_NULL: case T_FALSE: return 0;
        case T_TRUE: return 1;
        case T_STR: return t->end - t->start > 2;
        case T_INT: return t->ival != 0;
        case T_OBJ: case T_ARR: return t->n > 0;
        default: return BAIL;
    }
}

/* f"{value or default}" for a value that is a non-empty str or a non-zero int, else the default */
static int or_text(P *p, int i, const char *dflt, Text *out) {
    int tr = truthy(p, i);
    if (tr < 0) return BAIL;
    if (!tr) {
        out->s = dflt;
        out->n = (Py_ssize_t)strlen(dflt);
        out->ascii = 1;
        return OK;
    }
    int ty = p->toks[i].type;
    if (ty != T_STR && ty != T_INT) return BAIL; /* str() of a bool, dict or list: Python's */
    return as_text(p, i, out);
}

/* convex-stream format 2, topic "function_execution": an event and a usage metric */
static int convex_execution(P *p, int obj, Row *r, PyObject **metric, int64_t *metric_ts) {
    CHECK(require_ts(p, get(p, obj, "timestamp"), &r->ts));
    int fn = get_obj(p, obj, "function");
    int dep = get_obj(p, obj, "convex");
    int usage = get_obj(p, obj, "usage");
    Text rid;
    int rr = opt_text(p, get(p, fn, "request_id"), &rid);
    if (rr != OK && rr != TS_NONE) return rr;
    int status = get(p, obj, "status");
    int ok = 1;
    if (status >= 0 && p->toks[status].type == T_STR) {
        Text st;
        CHECK(str_text(p, status, &st));
        ok = !(st.n == 7 && memcmp(st.s, "failure", 7) == 0);
    }
    /* convex_stream.execution_message */
    int path = get(p, fn, "path"), ftype = get(p, fn, "type"), ms = get(p, obj, "execution_time_ms");
    int error = get(p, obj, "error_message");
    Text ty, pa, er = {"", 0, 1};
    CHECK(or_text(p, ftype, "function", &ty));
    CHECK(or_text(p, path, "?", &pa));
    int et = truthy(p, error);
    if (et < 0) return BAIL;
    if (et) CHECK(as_text(p, error, &er));
    if (ms >= 0 && p->toks[ms].type == T_FLOAT) return BAIL; /* round() of a float: Python's */
    int took = ms >= 0 && p->toks[ms].type == T_INT;
    Py_ssize_t msn = took ? p->toks[ms].end - p->toks[ms].start : 0;
    char *m = arena_alloc(p, ty.n + pa.n + er.n + msn + 32);
    if (m == NULL) return ERR;
    char *o = m;
    memcpy(o, ty.s, (size_t)ty.n);
    o += ty.n;
    *o++ = ' ';
    memcpy(o, pa.s, (size_t)pa.n);
    o += pa.n;
    const char *word = ok ? " success" : " failure";
    memcpy(o, word, 8);
    o += 8;
    if (took) {
        memcpy(o, " in ", 4);
        o += 4;
        memcpy(o, p->s + p->toks[ms].start, (size_t)msn);
        o += msn;
        memcpy(o, " ms", 3);
        o += 3;
    }
    if (et) {
        *o++ = ':';
        *o++ = ' ';
        memcpy(o, er.s, (size_t)er.n);
        o += er.n;
    }
    Text msg = {m, o - m, ty.ascii && pa.ascii && er.ascii};
    /* the event's context */
    int cpath = get(p, fn, "component_path");
    int members[9] = {path, ftype, cpath, status, ms, get(p, fn, "cached"), get(p, obj, "run_reason"),
                      get(p, obj, "occ_info"), get(p, dep, "deployment_name")};
    static const char *names[9] = {"function", "function_type", "component_path", "status", "execution_time_ms",
                                   "cached", "run_reason", "occ_info", "deployment"};
    Py_ssize_t need = 4 + 2 * rid.n * (rr == OK);
    for (int k = 0; k < 9; k++) {
        if (members[k] >= 0) need += 24 + 2 * (p->toks[members[k]].end - p->toks[members[k]].start);
    }
    if (usage >= 0) need += 2 * (p->toks[usage].end - p->toks[usage].start) + 128;
    char *buf = arena_alloc(p, need);
    if (buf == NULL) return ERR;
    o = buf;
    int first = 1;
    *o++ = '{';
    for (int k = 0; k < 9; k++) CHECK(put_member(p, &o, &first, names[k], members[k]));
    *o++ = '}';
    Text ctx = {buf, o - buf, 1};
    int ctx_empty = first;
    /* the metric: type, path, status, cached, execution_time_ms, request_id, then usage's non-null entries */
    char *mb = o;
    first = 1;
    *o++ = '{';
    int mm[6] = {ftype, path, cpath, status, get(p, fn, "cached"), ms};
    static const char *mnames[6] = {"type", "path", "component_path", "status", "cached", "execution_time_ms"};
    for (int k = 0; k < 6; k++) CHECK(put_member(p, &o, &first, mnames[k], mm[k]));
    if (rr == OK) {
        if (!rid.ascii || memchr(rid.s, '"', (size_t)rid.n) || memchr(rid.s, '\\', (size_t)rid.n)) return BAIL;
        for (Py_ssize_t k = 0; k < rid.n; k++) {
            if ((unsigned char)rid.s[k] < 0x20) return BAIL; /* would need escapes */
        }
        put_raw_member(&o, &first, "request_id", rid.s, rid.n, 1);
    }
    if (usage >= 0) {
        static const char *taken[7] = {"type", "path", "component_path", "status", "cached", "execution_time_ms",
                                       "request_id"};
        int k = usage + 1;
        for (int j = 0; j < p->toks[usage].n; j++, k = p->toks[k + 1].next) {
            Tok *kt = &p->toks[k];
            int v = k + 1;
            if (p->toks[v].type == T_NULL) continue;
            for (int q = 0; q < 7; q++) {
                size_t qn = strlen(taken[q]);
                if ((size_t)(kt->end - kt->start - 2) == qn && memcmp(p->s + kt->start + 1, taken[q], qn) == 0)
                    return BAIL; /* a dict merge would keep the first key's place: Python's */
            }
            if (p->toks[v].flags & F_NONCANON) return BAIL;
            if (!first) *o++ = ',';
            first = 0;
            o = put_str(p, k, o);
            *o++ = ':';
            o = put_json(p, v, o);
        }
    }
    *o++ = '}';
    for (char *c = buf; c < o; c++) {
        if ((unsigned char)*c >= 0x80) ctx.ascii = 0;
    }
    Text mt = {mb, o - mb, ctx.ascii};
    CHECK(backend_event(p, r, &msg));
    r->context = ctx_empty ? new_ref(Py_None) : text_obj(&ctx);
    NEED(r->context, ERR);
    r->request_id = rr == OK ? text_obj(&rid) : new_ref(Py_None);
    NEED(r->request_id, ERR);
    r->level = new_ref(S_LEVELS[ok ? L_INFO : L_ERROR]);
    *metric = text_obj(&mt);
    NEED(*metric, ERR);
    *metric_ts = r->ts;
    return OK;
}

/* Cloudflare Logpush workers_trace_events (cloudflare.parse_logpush and _invocation) */

#define MAX_EVENTS 64

/* item.get(K, item.get(k)): the value of `upper` when the key is there (even null), else of `lower_` */
static int get2(P *p, int obj, const char *upper, const char *lower_) {
    int v = get(p, obj, upper);
    return v >= 0 ? v : get(p, obj, lower_);
}

static inline int is_null(P *p, int i) { return i < 0 || p->toks[i].type == T_NULL; }

/* one `"key":value` member of a dict filtered by cloudflare._drop_none (None and "" left out) */
static int put_member_nonempty(P *p, char **o, int *first, const char *key, int v) {
    if (v >= 0 && p->toks[v].type == T_STR && p->toks[v].end - p->toks[v].start == 2) return OK;
    return put_member(p, o, first, key, v);
}

static void put_raw_member(char **o, int *first, const char *key, const char *val, Py_ssize_t n, int quote) {
    char *w = *o;
    size_t kn = strlen(key);
    if (!*first) *w++ = ',';
    *first = 0;
    *w++ = '"';
    memcpy(w, key, kn);
    w += kn;
    *w++ = '"';
    *w++ = ':';
    if (quote) *w++ = '"';
    memcpy(w, val, (size_t)n);
    w += n;
    if (quote) *w++ = '"';
    *o = w;
}

/* cloudflare._join_message(parts): the text, and a trace id from an object argument (field) */
static int join_message(P *p, int parts, Text *msg, Text *tid, int *has_tid) {
    *has_tid = 0;
    if (is_null(p, parts)) {
        msg->s = "";
        msg->n = 0;
        msg->ascii = 1;
        return OK;
    }
    Tok *t = &p->toks[parts];
    if (t->type == T_ARR) {
        char *buf = arena_alloc(p, t->end - t->start + 1);
        if (buf == NULL) return ERR;
        char *o = buf;
        int ascii = 1, k = parts + 1;
        for (int j = 0; j < t->n; j++) {
            if (!*has_tid && p->toks[k].type == T_OBJ) {
                int r = from_fields(p, k, tid);
                if (r == OK) {
                    *has_tid = 1;
                } else if (r != TS_NONE) {
                    return r;
                }
            }
            if (j) *o++ = ' ';
            CHECK(append_arg(p, k, &o, &ascii));
            k = p->toks[k].next;
        }
        msg->s = buf;
        msg->n = o - buf;
        msg->ascii = ascii;
        return OK;
    }
    if (t->type == T_OBJ) {
        int r = from_fields(p, parts, tid);
        if (r == OK) {
            *has_tid = 1;
        } else if (r != TS_NONE) {
            return r;
        }
    }
    return as_text(p, parts, msg);
}

/* a line's own time when it is a valid one, else the invocation's (`lts if valid_ts(lts) else ts`) */
static int line_time(P *p, int item, int64_t ts, int64_t *out) {
    int r = to_ms(p, get2(p, item, "TimestampMs", "timestampms"), out);
    if (r == ERR || r == BAIL) return r;
    if (r == TS_NONE || *out < MIN_TS_MS || *out >= MAX_TS_MS) *out = ts;
    return OK;
}

static int logpush(P *p, int obj, Row *rows, int *nrows, PyObject **metric, int64_t *metric_ts) {
    int64_t ts;
    CHECK(require_ts(p, get(p, obj, "EventTimestampMs"), &ts));
    int event = get_obj(p, obj, "Event");
    int request = get_obj(p, event, "Request");
    int response = get_obj(p, event, "Response");
    int headers = get(p, request, "Headers");
    if (headers >= 0 && p->toks[headers].type == T_OBJ && p->toks[headers].n > 0) return BAIL; /* from_headers */
    /* ray_id: value.split("-")[0].lower() of a non-empty string, else None */
    int ray = get(p, event, "RayID");
    const char *rid = NULL;
    Py_ssize_t rid_n = 0;
    if (ray >= 0 && p->toks[ray].type == T_STR && p->toks[ray].end - p->toks[ray].start > 2) {
        if (p->toks[ray].flags & F_NONASCII) return BAIL; /* str.lower() knows more than ASCII */
        Text rt;
        CHECK(str_text(p, ray, &rt));
        Py_ssize_t k = 0;
        while (k < rt.n && rt.s[k] != '-') k++;
        char *low = arena_alloc(p, k + 1);
        if (low == NULL) return ERR;
        for (Py_ssize_t j = 0; j < k; j++) {
            unsigned char c = (unsigned char)rt.s[j];
            if (c == '"' || c == '\\' || c < 0x20) return BAIL; /* written into the context as it is: no escapes */
            low[j] = (char)lower(c);
        }
        rid = low;
        rid_n = k;
    }
    int logs = get(p, obj, "Logs"), exceptions = get(p, obj, "Exceptions");
    if (!is_null(p, logs) && p->toks[logs].type != T_ARR) return BAIL;             /* RecordError */
    if (!is_null(p, exceptions) && p->toks[exceptions].type != T_ARR) return BAIL; /* RecordError */
    int nlogs = is_null(p, logs) ? 0 : p->toks[logs].n;
    int nexc = is_null(p, exceptions) ? 0 : p->toks[exceptions].n;
    if (nlogs + nexc > MAX_EVENTS) return BAIL;

    /* context and metric (both _drop_none'd dicts, written as orjson would) */
    int script = get(p, obj, "ScriptName"), etype = get(p, obj, "EventType"), outcome = get(p, obj, "Outcome");
    int dns = get(p, obj, "DispatchNamespace"), entry = get(p, obj, "Entrypoint");
    int url = get(p, request, "URL"), method = get(p, request, "Method"), status = get(p, response, "Status");
    int cpu = get(p, obj, "CPUTimeMs"), wall = get(p, obj, "WallTimeMs");
    Py_ssize_t need = 320 + 2 * rid_n;
    int spans[] = {script, dns, entry, etype, outcome, url, method, status, cpu, wall};
    for (size_t k = 0; k < sizeof spans / sizeof spans[0]; k++) {
        if (spans[k] >= 0) need += 2 * (p->toks[spans[k]].end - p->toks[spans[k]].start);
    }
    char *buf = arena_alloc(p, need);
    if (buf == NULL) return ERR;
    char *o = buf;
    int first = 1;
    *o++ = '{';
    CHECK(put_member_nonempty(p, &o, &first, "script", script));
    CHECK(put_member_nonempty(p, &o, &first, "dispatch_namespace", dns));
    CHECK(put_member_nonempty(p, &o, &first, "entrypoint", entry));
    CHECK(put_member_nonempty(p, &o, &first, "event_type", etype));
    CHECK(put_member_nonempty(p, &o, &first, "outcome", outcome));
    CHECK(put_member_nonempty(p, &o, &first, "url", url));
    CHECK(put_member_nonempty(p, &o, &first, "method", method));
    CHECK(put_member_nonempty(p, &o, &first, "status", status));
    if (rid != NULL && rid_n > 0) put_raw_member(&o, &first, "ray_id", rid, rid_n, 1);
    *o++ = '}';
    Text ctx = {buf, o - buf, 1};
    int ctx_empty = first;
    char *mbuf = o;
    first = 1;
    *o++ = '{';
    CHECK(put_member_nonempty(p, &o, &first, "script", script));
    CHECK(put_member_nonempty(p, &o, &first, "dispatch_namespace", dns));
    CHECK(put_member_nonempty(p, &o, &first, "entrypoint", entry));
    CHECK(put_member_nonempty(p, &o, &first, "outcome", outcome));
    CHECK(put_member_nonempty(p, &o, &first, "event_type", etype));
    CHECK(put_member_nonempty(p, &o, &first, "cpu_ms", cpu));
    CHECK(put_member_nonempty(p, &o, &first, "wall_ms", wall));
    if (rid != NULL && rid_n > 0) put_raw_member(&o, &first, "ray_id", rid, rid_n, 1);
    char num[24];
    int nn = snprintf(num, sizeof num, "%d", nlogs);
    put_raw_member(&o, &first, "logs", num, nn, 0);
    nn = snprintf(num, sizeof num, "%d", nexc);
    put_raw_member(&o, &first, "exceptions", num, nn, 0);
    *o++ = '}';
    for (char *c = buf; c < o; c++) {
        if ((unsigned char)*c >= 0x80) ctx.ascii = 0;
    }
    Text mt = {mbuf, o - mbuf, ctx.ascii};
    PyObject *context = NULL, *request_id = NULL;

    int n = 0, rc = OK;
    int item = is_null(p, logs) ? -1 : logs + 1;
    for (int j = 0; j < nlogs; j++, item = p->toks[item].next) {
        if (p->toks[item].type != T_OBJ) { /* an event of its own text: the Python adapter's */
            rc = BAIL;
            goto fail;
        }
        Row *r = &rows[n];
        memset(r, 0, sizeof *r);
        Text msg, tid;
        int has_tid;
        rc = join_message(p, get2(p, item, "Message", "message"), &msg, &tid, &has_tid);
        if (rc != OK) goto fail;
        if (has_tid) {
            r->how = new_ref(S_FIELD);
        } else {
            char *scratch = msg.ascii ? NULL : arena_alloc(p, msg.n);
            if (!msg.ascii && scratch == NULL) goto fail_err;
            rc = from_message(&msg, &tid, scratch);
            if (rc == OK) {
                has_tid = 1;
                r->how = new_ref(S_MESSAGE);
            } else if (rc == TS_NONE) {
                r->how = new_ref(S_NONE);
                rc = OK;
            } else {
                goto fail;
            }
        }
        n++; /* from here on the row is cleaned up with the others */
        r->tid = has_tid ? text_obj(&tid) : new_ref(Py_None);
        r->message = text_obj(&msg);
        if (r->tid == NULL || r->message == NULL) goto fail_err;
        rc = line_time(p, item, ts, &r->ts);
        if (rc != OK) goto fail;
        int lv = norm_level(p, get2(p, item, "Level", "level"), L_LOG);
        if (lv < 0) {
            rc = lv;
            goto fail;
        }
        r->level = new_ref(S_LEVELS[lv]);
        r->stack = new_ref(Py_None);
    }
    item = is_null(p, exceptions) ? -1 : exceptions + 1;
    for (int j = 0; j < nexc; j++, item = p->toks[item].next) {
        if (p->toks[item].type != T_OBJ) { /* an event of its own text: the Python adapter's */
            rc = BAIL;
            goto fail;
        }
        Row *r = &rows[n];
        memset(r, 0, sizeof *r);
        int nk = get2(p, item, "Name", "name"), mk = get2(p, item, "Message", "message");
        Text name = {"Error", 5, 1}, text = {"", 0, 1}, msg, tid;
        if (!is_null(p, nk) && (rc = as_text(p, nk, &name)) != OK) goto fail;
        if (!is_null(p, mk) && (rc = as_text(p, mk, &text)) != OK) goto fail;
        if (text.n > 0) {
            char *m = arena_alloc(p, name.n + 2 + text.n);
            if (m == NULL) goto fail_err;
            memcpy(m, name.s, (size_t)name.n);
            m[name.n] = ':';
            m[name.n + 1] = ' ';
            memcpy(m + name.n + 2, text.s, (size_t)text.n);
            msg.s = m;
            msg.n = name.n + 2 + text.n;
            msg.ascii = name.ascii && text.ascii;
        } else {
            msg = name;
        }
        char *scratch = msg.ascii ? NULL : arena_alloc(p, msg.n);
        if (!msg.ascii && scratch == NULL) goto fail_err;
        rc = from_message(&msg, &tid, scratch);
        if (rc != OK && rc != TS_NONE) goto fail;
        int has_tid = rc == OK;
        rc = OK;
        n++;
        r->how = new_ref(has_tid ? S_MESSAGE : S_NONE);
        r->tid = has_tid ? text_obj(&tid) : new_ref(Py_None);
        r->message = text_obj(&msg);
        if (r->tid == NULL || r->message == NULL) goto fail_err;
        rc = line_time(p, item, ts, &r->ts);
        if (rc != OK) goto fail;
        r->level = new_ref(S_LEVELS[L_ERROR]);
        int srk = ERR;
        r->stack = opt_str(p, get(p, item, "Stack"), &srk);
        if (r->stack == NULL) {
            rc = srk;
            goto fail;
        }
    }
    /* the shared parts, and base.propagate_trace: lines without an id take the one their siblings carry,
       only when they carry one (several: none is given) */
    if (ctx_empty) {
        context = new_ref(Py_None);
    } else {
        context = text_obj(&ctx);
    }
    if (rid != NULL) {
        Text rt = {rid, rid_n, 1};
        request_id = text_obj(&rt);
    } else {
        request_id = new_ref(Py_None);
    }
    *metric = text_obj(&mt);
    if (context == NULL || request_id == NULL || *metric == NULL) goto fail_err;
    PyObject *found = NULL;
    for (int j = 0; j < n; j++) {
        if (rows[j].tid == Py_None) continue;
        if (found == NULL) {
            found = rows[j].tid;
            continue;
        }
        int same = PyUnicode_Compare(found, rows[j].tid);
        if (same == -1 && PyErr_Occurred()) goto fail_err;
        if (same != 0) {
            found = NULL; /* ids that disagree: none is given to the other lines */
            break;
        }
    }
    for (int j = 0; j < n; j++) {
        Row *r = &rows[j];
        if (found != NULL && r->tid == Py_None) {
            Py_SETREF(r->tid, new_ref(found));
            Py_SETREF(r->how, new_ref(S_REQUEST_ID));
        }
        r->system = new_ref(S_WORKER);
        r->label = new_ref(S_WORKER);
        r->request_id = new_ref(request_id);
        r->user_id = new_ref(Py_None);
        r->context = new_ref(context);
    }
    Py_DECREF(context);
    Py_DECREF(request_id);
    *metric_ts = ts;
    *nrows = n;
    return OK;
fail_err:
    rc = ERR;
fail:
    Py_XDECREF(context);
    Py_XDECREF(request_id);
    Py_CLEAR(*metric);
    *nrows = n; /* the caller clears the rows begun */
    return rc;
}

/* ---------------------------------------------------------------------------------------------- */
/* detection: the cascade of logcorr.sources.detect.detect, for the formats this module claims     */

enum { FMT_NONE, FMT_V1, FMT_V2, FMT_WREC, FMT_CONVEX, FMT_LOGPUSH };

static int detect(P *p, int obj) {
    if (has(p, obj, "topic")) return FMT_CONVEX;
    if (has(p, obj, "_topic")) return FMT_NONE;
    if (has(p, obj, "EventTimestampMs") || has(p, obj, "Logs") || has(p, obj, "Exceptions") ||
        has(p, obj, "ScriptName"))
        return FMT_LOGPUSH;
    if (has(p, obj, "$metadata") || has(p, obj, "$workers")) return FMT_NONE;
    if (has(p, obj, "eventTimestamp") || (has(p, obj, "outcome") && (has(p, obj, "logs") || has(p, obj, "exceptions"))))
        return FMT_NONE;
    if (has(p, obj, "kind") && (has(p, obj, "logLines") || has(p, obj, "udfType") || has(p, obj, "identifier")))
        return FMT_NONE;
    if (has(p, obj, "_creationTime") || has(p, obj, "_id")) return FMT_NONE;
    if (get_obj(p, obj, "data") >= 0) return FMT_NONE; /* {"data": …} unwrapping: Python's */
    int logs = get(p, obj, "logs");
    if (logs >= 0 && p->toks[logs].type == T_ARR) return FMT_NONE;
    int ctx = get_obj(p, obj, "context");
    if (ctx >= 0 && has(p, ctx, "functionName") && !has(p, obj, "system")) return FMT_NONE;
    if (has(p, obj, "args") && (has(p, obj, "level") || has(p, obj, "timestamp"))) return FMT_V1;
    if (has(p, obj, "system_area") && has(p, obj, "raw_args")) return FMT_NONE;
    if (has(p, obj, "message") && has(p, obj, "timestamp")) return FMT_WREC;
    if (has(p, obj, "message") && (has(p, obj, "level") || has(p, obj, "trace_id"))) return FMT_V2;
    return FMT_NONE;
}

/* ---------------------------------------------------------------------------------------------- */
/* module functions                                                                                */

/* the staging batch a run of lines is parsed into (see StageBatch, below) */
typedef struct Batch Batch;
static PyTypeObject BatchType;
static int batch_put_line(Batch *b, Row *rows, int nrows, long long seq, long long file_id, PyObject *file_id_obj,
                          PyObject *line_obj, PyObject *fmt);

static P *the_parser = NULL;

/* One line into staging rows: on OK, *fmt_out (borrowed), *rows_out and *mrows_out (new lists) are set;
   with a `batch`, the event rows go into it instead (file_id_ll is file_id's value), *rows_out is NULL and
   *nrows_out their number. BAIL leaves the line to Python; ERR has set an exception. */
static int parse_into(const char *buf, Py_ssize_t len, long long seq, PyObject *file_id, PyObject *line_no,
                      PyObject **fmt_out, PyObject **rows_out, PyObject **mrows_out, Batch *batch,
                      long long file_id_ll, Py_ssize_t *nrows_out) {
    if (len == 0 || len > (1 << 30)) return BAIL;
    if (the_parser == NULL) {
        the_parser = PyMem_Calloc(1, sizeof(P));
        if (the_parser == NULL) {
            PyErr_NoMemory();
            return ERR;
        }
    }
    P *p = the_parser;
    p->s = (const unsigned char *)buf;
    p->len = len;
    p->pos = 0;
    p->ntok = 0;
    if (p->arena_cap < 2 * len + 256) {
        PyMem_Free(p->arena);
        p->arena_cap = 2 * len + 256;
        p->arena = PyMem_Malloc((size_t)p->arena_cap);
        if (p->arena == NULL) {
            p->arena_cap = 0;
            PyErr_NoMemory();
            return ERR;
        }
    }
    p->arena_used = 0;
    p->extra = NULL;
    PyObject *fmt = NULL, *metric = NULL, *list = NULL, *mlist = NULL;
    Row rows[MAX_EVENTS];
    int nrows = 1;
    int64_t metric_ts = 0;
    PyObject *metric_system = NULL, *metric_topic = NULL; /* borrowed */
    memset(&rows[0], 0, sizeof(Row));
    int rc = BAIL;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '{') goto done;
    int obj = parse_value(p, 0);
    if (obj < 0) goto done;
    skip_ws(p);
    if (p->pos != p->len) goto done;
    switch (detect(p, obj)) {
        case FMT_V2:
            fmt = F_V2;
            rc = request_body(p, obj, 0, &rows[0]);
            break;
        case FMT_WREC:
            fmt = F_WREC;
            rc = request_body(p, obj, 1, &rows[0]);
            break;
        case FMT_V1:
            fmt = F_V1;
            rc = browser_v1(p, obj, &rows[0]);
            break;
        case FMT_CONVEX: {
            int topic = get(p, obj, "topic");
            Tok *tt = topic >= 0 ? &p->toks[topic] : NULL;
            fmt = F_CONVEX;
            if (tt != NULL && tt->type == T_STR && tt->end - tt->start == 9 &&
                memcmp(p->s + tt->start, "\"console\"", 9) == 0) {
                rc = convex_console(p, obj, &rows[0]);
            } else if (tt != NULL && tt->type == T_STR && tt->end - tt->start == 20 &&
                       memcmp(p->s + tt->start, "\"function_execution\"", 20) == 0) {
                rc = convex_execution(p, obj, &rows[0], &metric, &metric_ts);
                metric_system = S_BACKEND;
                metric_topic = S_FUNCTION_EXECUTION;
            } else {
                rc = BAIL;
            }
            break;
        }
        case FMT_LOGPUSH:
            fmt = F_LOGPUSH;
            metric_system = S_WORKER;
            metric_topic = S_INVOCATION;
            nrows = 0;
            rc = logpush(p, obj, rows, &nrows, &metric, &metric_ts);
            break;
        default:
            rc = BAIL;
    }
    if (rc != OK) goto done;
    rc = ERR;
    if (batch != NULL) {
        int put = batch_put_line(batch, rows, nrows, seq, file_id_ll, file_id, line_no, fmt);
        if (put < 0) goto done;
        if (put > 0) { /* not taken, the batch as it was: the line goes the Python way */
            rc = BAIL;
            goto done;
        }
        *nrows_out = nrows;
    } else {
        list = PyList_New(nrows);
        if (list == NULL) goto done;
        for (int j = 0; j < nrows; j++) {
            PyObject *row = row_tuple(&rows[j], seq, file_id, line_no, fmt, j);
            if (row == NULL) goto done;
            PyList_SET_ITEM(list, j, row);
        }
    }
    mlist = PyList_New(metric != NULL ? 1 : 0);
    if (mlist == NULL) goto done;
    if (metric != NULL) {
        PyObject *ts = PyLong_FromLongLong(metric_ts);
        PyObject *mrow = ts == NULL ? NULL : PyTuple_Pack(7, file_id, line_no, fmt, ts, metric_system, metric_topic, metric);
        Py_XDECREF(ts);
        if (mrow == NULL) goto done;
        PyList_SET_ITEM(mlist, 0, mrow);
    }
    *fmt_out = fmt;
    *rows_out = list;
    *mrows_out = mlist;
    list = mlist = NULL;
    rc = OK;
done:
    Py_XDECREF(list);
    Py_XDECREF(mlist);
    for (int j = 0; j < nrows; j++) row_clear(&rows[j]);
    Py_XDECREF(metric);
    arena_reset(p);
    if (rc == ERR && !PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "_fastparse: a row could not be built");
    if (rc == BAIL && PyErr_Occurred()) rc = ERR;
    return rc;
}

static PyObject *parse_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "parse_line(line, seq, file_id, line_no)");
        return NULL;
    }
    char *buf;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(args[0], &buf, &len) < 0) return NULL;
    long long seq = PyLong_AsLongLong(args[1]);
    if (seq == -1 && PyErr_Occurred()) return NULL;
    PyObject *fmt, *rows, *mrows;
    int rc = parse_into(buf, len, seq, args[2], args[3], &fmt, &rows, &mrows, NULL, 0, NULL);
    if (rc == ERR) return NULL;
    if (rc != OK) Py_RETURN_NONE;
    PyObject *result = PyTuple_Pack(3, fmt, rows, mrows);
    Py_DECREF(rows);
    Py_DECREF(mrows);
    return result;
}

static PyObject *FORMATS[5];

/* parse_lines(buf, pos, end, max_len, seq, file_id, line_no[, batch]): parse_line over the lines of
   buf[pos:end] (lines line_no + 1, …; each ends at a newline, the last at `end`) for as long as each line is
   claimed and at most max_len bytes long. The lines are read where they are: no bytes object per line.
   Returns (lines claimed, the position after them, rows, metric rows, records with events, records without,
   [(format, records)]); with a StageBatch, the event rows go into it, and `rows` is their number. */
static PyObject *parse_lines(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if ((nargs != 7 && nargs != 8) || !PyBytes_Check(args[0]) ||
        (nargs == 8 && args[7] != Py_None && !PyObject_TypeCheck(args[7], &BatchType))) {
        PyErr_SetString(PyExc_TypeError,
                        "parse_lines(buf: bytes, pos, end, max_len, seq, file_id, line_no, batch: StageBatch | None = None)");
        return NULL;
    }
    PyObject *file_id = args[5];
    Batch *batch = nargs == 8 && args[7] != Py_None ? (Batch *)args[7] : NULL;
    const char *buf = PyBytes_AS_STRING(args[0]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    Py_ssize_t max_len = PyLong_AsSsize_t(args[3]);
    long long seq = PyLong_AsLongLong(args[4]);
    long long line_no = PyLong_AsLongLong(args[6]);
    long long file_id_ll = PyLong_AsLongLong(file_id);
    if (PyErr_Occurred()) return NULL;
    if (pos < 0 || end > PyBytes_GET_SIZE(args[0]) || pos > end) {
        PyErr_SetString(PyExc_ValueError, "parse_lines: pos and end must lie within buf, pos <= end");
        return NULL;
    }
    if (batch != NULL && (file_id_ll > INT32_MAX || file_id_ll < INT32_MIN)) {
        PyErr_SetString(PyExc_OverflowError, "parse_lines: a file id beyond int32");
        return NULL;
    }
    PyObject *rows = batch != NULL ? NULL : PyList_New(0), *mrows = PyList_New(0);
    if ((batch == NULL && rows == NULL) || mrows == NULL) goto fail;
    Py_ssize_t taken = 0, with_events = 0, without = 0, events = 0;
    Py_ssize_t per_format[5] = {0, 0, 0, 0, 0};
    while (pos < end) {
        const char *nl = memchr(buf + pos, '\n', (size_t)(end - pos));
        Py_ssize_t stop = nl ? nl - buf : end;
        if (stop - pos > max_len) break;
        PyObject *line = PyLong_FromLongLong(line_no + 1 + taken);
        if (line == NULL) goto fail;
        PyObject *fmt, *one = NULL, *mone;
        Py_ssize_t nrows = 0;
        int rc = parse_into(buf + pos, stop - pos, seq, file_id, line, &fmt, &one, &mone, batch, file_id_ll, &nrows);
        Py_DECREF(line);
        if (rc == ERR) goto fail;
        if (rc != OK) break;
        int bad = 0;
        if (one != NULL) {
            nrows = PyList_GET_SIZE(one);
            bad = PyList_SetSlice(rows, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, one) < 0;
            Py_DECREF(one);
        }
        bad = bad || PyList_SetSlice(mrows, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, mone) < 0;
        Py_DECREF(mone);
        if (bad) goto fail;
        taken++;
        pos = nl ? stop + 1 : end;
        seq += nrows;
        events += nrows;
        if (nrows) with_events++;
        else without++;
        for (int f = 0; f < 5; f++) {
            if (FORMATS[f] == fmt) {
                per_format[f]++;
                break;
            }
        }
    }
    PyObject *counts = PyList_New(0);
    if (counts == NULL) goto fail;
    for (int f = 0; f < 5; f++) {
        if (!per_format[f]) continue;
        PyObject *pair = Py_BuildValue("(On)", FORMATS[f], per_format[f]);
        if (pair == NULL || PyList_Append(counts, pair) < 0) {
            Py_XDECREF(pair);
            Py_DECREF(counts);
            goto fail;
        }
        Py_DECREF(pair);
    }
    if (batch != NULL) return Py_BuildValue("(nnnNnnN)", taken, pos, events, mrows, with_events, without, counts);
    return Py_BuildValue("(nnNNnnN)", taken, pos, rows, mrows, with_events, without, counts);
fail:
    Py_XDECREF(rows);
    Py_XDECREF(mrows);
    return NULL;
}

static PyObject *message_trace(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "message_trace(str)");
        return NULL;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
    if (s == NULL) return NULL;
    Text m = {s, n, PyUnicode_IS_ASCII(arg)};
    Text out;
    char *scratch = m.ascii ? NULL : PyMem_Malloc((size_t)n);
    if (!m.ascii && scratch == NULL) return PyErr_NoMemory();
    int r = from_message(&m, &out, scratch);
    PyObject *tid = r == OK ? text_obj(&out) : NULL;
    PyMem_Free(scratch);
    if (r == BAIL) {
        PyErr_SetString(PyExc_ValueError, "text the compiled matcher does not handle (a character its classes do not)");
        return NULL;
    }
    if (r == TS_NONE) Py_RETURN_NONE;
    return tid;
}

/* ---------------------------------------------------------------------------------------------- */
/* Arrow buffers of staged rows                                                                    */

/* column_buffers(rows, columns): for each (index, kind) in `columns` — kind 's' (string), 'l' (int64)
   or 'i' (int32) — the Arrow buffers of that column of the row tuples: (null_count, validity | None,
   offsets, data) for strings, (null_count, validity | None, data) for integers. Values must be str or
   int (of the column's kind) or None; anything else raises TypeError, and the caller builds the column
   with pyarrow instead. */
/* rows[r][idx], borrowed; NULL with TypeError when the row is not a tuple holding that column */
static PyObject *cell(PyObject *rows, Py_ssize_t r, Py_ssize_t idx) {
    PyObject *row = PyList_GET_ITEM(rows, r);
    if (!PyTuple_Check(row) || idx < 0 || idx >= PyTuple_GET_SIZE(row)) {
        PyErr_SetString(PyExc_TypeError, "rows must be tuples holding the column");
        return NULL;
    }
    return PyTuple_GET_ITEM(row, idx);
}

/* one output column of column_buffers while the rows are walked: its buffers are the bytes objects returned */
typedef struct {
    Py_ssize_t idx;
    int kind; /* 's', 'l' or 'i' */
    Py_ssize_t nulls;
    PyObject *bits_o, *off_o, *data_o; /* validity (a bit per row), strings' n + 1 offsets, the data */
    unsigned char *bits;
    int32_t *off;
    char *data;
    Py_ssize_t size, used; /* strings: the bytes of all values (the first pass), those written */
} Column;

static void columns_free(Column *col, Py_ssize_t ncol) {
    for (Py_ssize_t c = 0; c < ncol; c++) {
        Py_XDECREF(col[c].bits_o);
        Py_XDECREF(col[c].off_o);
        Py_XDECREF(col[c].data_o);
    }
    PyMem_Free(col);
}

/* the UTF-8 of a str cell (cached in the str when it is not ASCII); NULL with TypeError for another type */
static const char *column_text(PyObject *v, Py_ssize_t *len) {
    if (!PyUnicode_CheckExact(v)) {
        PyErr_SetString(PyExc_TypeError, "not a str");
        return NULL;
    }
    return PyUnicode_AsUTF8AndSize(v, len);
}

/* rows[r][col->idx] into the column (a string's bytes were counted by the first pass); -1 with an
   exception set */
static int column_put(Column *col, PyObject *v, Py_ssize_t r) {
    if (v == Py_None) {
        col->nulls++;
        if (col->kind == 's') col->off[r + 1] = (int32_t)col->used;
        else memset(col->data + r * (col->kind == 'l' ? 8 : 4), 0, col->kind == 'l' ? 8 : 4);
        return 0;
    }
    if (col->kind == 's') {
        Py_ssize_t len;
        const char *u = column_text(v, &len);
        if (u == NULL) return -1;
        if (len > col->size - col->used) { /* the rows changed between the passes */
            PyErr_SetString(PyExc_RuntimeError, "column_buffers: a value changed while it was read");
            return -1;
        }
        memcpy(col->data + col->used, u, (size_t)len);
        col->used += len;
        col->off[r + 1] = (int32_t)col->used;
    } else {
        if (!PyLong_CheckExact(v)) {
            PyErr_SetString(PyExc_TypeError, "not an int");
            return -1;
        }
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (col->kind == 'i' && (x > INT32_MAX || x < INT32_MIN))) {
            PyErr_SetString(PyExc_OverflowError, "integer out of the column's range");
            return -1;
        }
        if (col->kind == 'l') {
            int64_t w = (int64_t)x;
            memcpy(col->data + r * 8, &w, 8);
        } else {
            int32_t w = (int32_t)x;
            memcpy(col->data + r * 4, &w, 4);
        }
    }
    col->bits[r >> 3] |= (unsigned char)(1 << (r & 7));
    return 0;
}

/* rows[r], with TypeError unless it is a tuple holding every column */
static PyObject *column_row(PyObject *rows, Py_ssize_t r, Py_ssize_t need) {
    PyObject *row = PyList_GET_ITEM(rows, r);
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) <= need) {
        PyErr_SetString(PyExc_TypeError, "rows must be tuples holding the column");
        return NULL;
    }
    return row;
}

/* Two walks over the rows: the first counts each string column's bytes, so that every buffer is made once,
   at its size, as the bytes object returned (growing a buffer and copying it into bytes at the end wrote
   each batch's text three times). The second puts each row's cells into every column in turn, while the
   row tuple and its values are in the cache. */
static PyObject *column_buffers(PyObject *self, PyObject *args) {
    PyObject *rows, *columns;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &rows, &PyList_Type, &columns)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(rows), ncol = PyList_GET_SIZE(columns);
    Py_ssize_t nbitmap = (n + 7) / 8, need = -1;
    Column *col = PyMem_Calloc(ncol ? (size_t)ncol : 1, sizeof(Column));
    if (col == NULL) return PyErr_NoMemory();
    for (Py_ssize_t c = 0; c < ncol; c++) {
        int kind;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(columns, c), "nC", &col[c].idx, &kind)) goto fail;
        if (kind != 's' && kind != 'l' && kind != 'i') {
            PyErr_SetString(PyExc_ValueError, "column kind must be 's', 'l' or 'i'");
            goto fail;
        }
        if (col[c].idx < 0) {
            PyErr_SetString(PyExc_TypeError, "rows must be tuples holding the column");
            goto fail;
        }
        if (col[c].idx > need) need = col[c].idx;
        col[c].kind = kind;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = column_row(rows, r, need);
        if (row == NULL) goto fail;
        for (Py_ssize_t c = 0; c < ncol; c++) {
            PyObject *v = PyTuple_GET_ITEM(row, col[c].idx);
            if (col[c].kind != 's' || v == Py_None) continue;
            Py_ssize_t len;
            if (column_text(v, &len) == NULL) goto fail;
            if (len > INT32_MAX - col[c].size) {
                PyErr_SetString(PyExc_OverflowError, "string column over 2 GiB");
                goto fail;
            }
            col[c].size += len;
        }
    }
    for (Py_ssize_t c = 0; c < ncol; c++) {
        Column *k = &col[c];
        Py_ssize_t width = k->kind == 's' ? k->size : n * (k->kind == 'l' ? 8 : 4);
        if ((k->bits_o = PyBytes_FromStringAndSize(NULL, nbitmap)) == NULL ||
            (k->data_o = PyBytes_FromStringAndSize(NULL, width)) == NULL ||
            (k->kind == 's' && (k->off_o = PyBytes_FromStringAndSize(NULL, (n + 1) * 4)) == NULL))
            goto fail;
        k->bits = (unsigned char *)PyBytes_AS_STRING(k->bits_o);
        memset(k->bits, 0, (size_t)nbitmap);
        k->data = PyBytes_AS_STRING(k->data_o);
        if (k->kind == 's') {
            k->off = (int32_t *)PyBytes_AS_STRING(k->off_o);
            k->off[0] = 0;
        }
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = column_row(rows, r, need);
        if (row == NULL) goto fail;
        for (Py_ssize_t c = 0; c < ncol; c++)
            if (column_put(&col[c], PyTuple_GET_ITEM(row, col[c].idx), r) < 0) goto fail;
    }
    PyObject *out = PyList_New(ncol);
    if (out == NULL) goto fail;
    for (Py_ssize_t c = 0; c < ncol; c++) {
        Column *k = &col[c];
        if (k->kind == 's' && k->used != k->size) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_RuntimeError, "column_buffers: a value changed while it was read");
            goto fail;
        }
        PyObject *validity = k->nulls ? k->bits_o : Py_None;
        PyObject *item = k->kind == 's' ? Py_BuildValue("(nOOO)", k->nulls, validity, k->off_o, k->data_o)
                                        : Py_BuildValue("(nOO)", k->nulls, validity, k->data_o);
        if (item == NULL) {
            Py_DECREF(out);
            goto fail;
        }
        PyList_SET_ITEM(out, c, item);
    }
    columns_free(col, ncol);
    return out;
fail:
    columns_free(col, ncol);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* flag_rows: the stager's probe (stage._flag_sql) without DuckDB                                  */

/* ASCII words to look for: one-byte words in a table, longer ones bucketed by their first two bytes. At most
   WORDS_MAX of them, their bits in WORDS_LANES 64-bit lanes (the redactor's trigger words outgrew one, then two) */
#define WORDS_MAX 192
#define WORDS_LANES (WORDS_MAX / 64)
typedef struct {
    int n;
    const unsigned char *fold; /* FOLD: match ASCII letters case-insensitively (the words are lower-case); or SAME */
    const char *word[WORDS_MAX];
    Py_ssize_t len[WORDS_MAX];
    int16_t next[WORDS_MAX];   /* the next word with the same first two bytes, or -1 */
    uint8_t tail[WORDS_MAX];   /* found only before a credential-like run (TAIL) */
    uint64_t single[256][WORDS_LANES]; /* the one-byte words that are this byte, as their bits (0: none) */
    uint8_t one[256];          /* some one-byte word is this byte */
    uint8_t pairs[8192];       /* bit (b0 << 8 | b1): a word starts with these two bytes, or b0 is one */
    int16_t head[65536];       /* the first longer word starting with each two bytes, or -1 */
} Words;

/* ASCII letters folded to lower case, and every byte as it is; a token's characters [A-Za-z0-9._~+/=:%-] (filled
   once, by the module's init) */
static unsigned char FOLD[256], SAME[256], TOKEN_CHAR[256];

/* A trigger word that ends in TAIL (byte 1, logcorr.rules.redact.TAIL) is found only where a run of a token's
   characters follows it holding a digit, then a letter, then a digit (`auth:a5600ea6…`; not `auth:login`,
   `auth:verify2fa`): redact.word_found, and the pattern of the same word in DuckDB's probe (stage._flag_sql) */
#define TAIL 1
/* Not found: `*run` is the length of the run looked at. A run that follows a word at a later start inside it is
   a part of that run, and holds no digit, letter, digit either (`auth:auth:auth:…`): `words_found` does not look
   again, or a line of such words took time quadratic in its length */
static int tail_found(const unsigned char *t, Py_ssize_t n, Py_ssize_t *run) {
    int want = 0; /* 0, 2: a digit; 1: a letter */
    Py_ssize_t i = 0;
    for (; i < n && TOKEN_CHAR[t[i]]; i++) {
        unsigned char c = FOLD[t[i]];
        int digit = c >= '0' && c <= '9', letter = c >= 'a' && c <= 'z';
        if ((want == 1 ? letter : digit) && ++want == 3) return 1;
    }
    *run = i;
    return 0;
}

/* `tails`: a word ending in TAIL is such a word (the trigger words; not suppression patterns) */
static int words_init(Words *w, PyObject *seq, int fold, int tails) {
    memset(w->head, -1, sizeof w->head);
    memset(w->single, 0, sizeof w->single);
    memset(w->one, 0, sizeof w->one);
    memset(w->pairs, 0, sizeof w->pairs);
    w->n = 0;
    w->fold = fold ? FOLD : SAME;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    if (n > WORDS_MAX) {
        PyErr_Format(PyExc_ValueError, "flag_rows: at most %d words", WORDS_MAX);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(seq, i);
        if (!PyUnicode_Check(o) || !PyUnicode_IS_ASCII(o) || PyUnicode_GET_LENGTH(o) == 0) {
            PyErr_SetString(PyExc_ValueError, "flag_rows: words must be non-empty ASCII strings");
            return -1;
        }
        const unsigned char *c = (const unsigned char *)PyUnicode_DATA(o);
        Py_ssize_t len = PyUnicode_GET_LENGTH(o);
        for (Py_ssize_t k = 0; fold && k < len; k++)
            if (FOLD[c[k]] != c[k]) {
                PyErr_SetString(PyExc_ValueError, "flag_rows: case-insensitive words must be lower-case");
                return -1;
            }
        w->tail[w->n] = tails && len > 2 && c[len - 1] == TAIL;
        if (w->tail[w->n]) len--;
        w->word[w->n] = (const char *)c;
        w->len[w->n] = len;
        w->next[w->n] = -1;
        if (len == 1) {
            w->single[c[0]][w->n / 64] |= 1ULL << (w->n % 64);
            w->one[c[0]] = 1;
            memset(&w->pairs[c[0] << 5], 0xff, 32); /* every pair it begins */
        } else {
            unsigned pair = (unsigned)c[0] << 8 | c[1];
            w->pairs[pair >> 3] |= (uint8_t)(1u << (pair & 7));
            w->next[w->n] = w->head[pair];
            w->head[pair] = (int16_t)w->n;
        }
        w->n++;
    }
    return 0;
}

/* which of the words occur in text[0:n], as bits in `found` (bit k of lane k / 64: word k); with `first`, only
   whether one does (nonzero at the first found, `found` then partly filled). Most positions end at one test of the
   pair table (a byte folded once). */
static int words_found(const Words *w, const unsigned char *text, Py_ssize_t n, int first,
                       uint64_t found[WORDS_LANES]) {
    for (int l = 0; l < WORDS_LANES; l++) found[l] = 0;
    if (n <= 0) return 0;
    const unsigned char *f = w->fold;
    int any = 0;
    Py_ssize_t refused = 0; /* a tail starting before this offset is refused (`tail_found`) */
    unsigned b0 = f[text[0]];
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        unsigned b1 = f[text[i + 1]], pair = b0 << 8 | b1;
        if (w->pairs[pair >> 3] & (1u << (pair & 7))) {
            if (w->one[b0]) {
                if (first) return 1;
                for (int l = 0; l < WORDS_LANES; l++) found[l] |= w->single[b0][l];
                any = 1;
            }
            for (int k = w->head[pair]; k >= 0; k = w->next[k]) {
                Py_ssize_t len = w->len[k], j = 2;
                if (len > n - i) continue;
                const unsigned char *word = (const unsigned char *)w->word[k];
                while (j < len && f[text[i + j]] == word[j]) j++;
                int ok = j == len;
                if (ok && w->tail[k]) {
                    Py_ssize_t at = i + len, run = 0;
                    ok = at >= refused && tail_found(text + at, n - at, &run);
                    if (!ok && at >= refused) refused = at + run;
                }
                if (ok) {
                    if (first) return 1;
                    found[k / 64] |= 1ULL << (k % 64);
                    any = 1;
                }
            }
        }
        b0 = b1;
    }
    if (w->one[b0]) { /* the last byte begins no pair */
        if (first) return 1;
        for (int l = 0; l < WORDS_LANES; l++) found[l] |= w->single[b0][l];
        any = 1;
    }
    return any;
}

/* the words found as one Python int (bit k: word k) */
static PyObject *words_mask(const Words *w, const unsigned char *text, Py_ssize_t n) {
    uint64_t found[WORDS_LANES];
    words_found(w, text, n, 0, found);
    PyObject *out = PyLong_FromUnsignedLongLong(found[WORDS_LANES - 1]);
    for (int l = WORDS_LANES - 2; out != NULL && l >= 0; l--) {
        PyObject *shift = PyLong_FromLong(64), *lane = PyLong_FromUnsignedLongLong(found[l]), *up = NULL;
        if (shift != NULL && lane != NULL) up = PyNumber_Lshift(out, shift);
        Py_DECREF(out);
        out = up != NULL ? PyNumber_Or(up, lane) : NULL;
        Py_XDECREF(up);
        Py_XDECREF(shift);
        Py_XDECREF(lane);
    }
    return out;
}

static inline int words_in(const Words *w, const unsigned char *text, Py_ssize_t n) {
    uint64_t found[WORDS_LANES];
    return words_found(w, text, n, 1, found) != 0;
}

/* a str value's text: 0 None (empty text), 1 ASCII (`out`, `len`), 2 not ASCII, -1 not a str (error set) */
static int ascii_text(PyObject *v, const unsigned char **out, Py_ssize_t *len) {
    if (v == Py_None) {
        *len = 0;
        return 0;
    }
    if (!PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "flag_rows: text columns must hold str or None");
        return -1;
    }
    if (!PyUnicode_IS_ASCII(v)) return 2;
    *out = (const unsigned char *)PyUnicode_DATA(v);
    *len = PyUnicode_GET_LENGTH(v);
    return 1;
}

/* A text as the trigger words are looked for in it: 0 None (empty text), 1 `*out`, `*len`, 2 not searched, -1 not a
   str (error set). ASCII text and text of Latin-1 characters are their bytes; other text is narrowed into `nb`, a
   byte a character: ASCII as it is, any other as 0x80. A character beyond ASCII is no byte of a word, starts no
   pair and is no token character (`tail_found`), and Python's `s.lower()` makes it one beyond ASCII too, but for
   four: İ ı ſ and the Kelvin sign, which `lower()` or the tail's case-insensitive class take to an ASCII letter
   (`redact._FOLDED_LETTERS`). Text holding one of them is not searched: the redactor reads it whole. So the words
   found are those `redact.word_found` finds in `s.lower()`. */
typedef struct {
    unsigned char *buf;
    Py_ssize_t cap;
} Narrow;

static int probe_text(PyObject *v, const unsigned char **out, Py_ssize_t *len, Narrow *nb) {
    if (v == Py_None) {
        *len = 0;
        return 0;
    }
    if (!PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "flag_rows: text columns must hold str or None");
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    int kind = PyUnicode_KIND(v);
    if (kind == PyUnicode_1BYTE_KIND) { /* ASCII, or Latin-1: none of the four is below U+0100 */
        *out = PyUnicode_1BYTE_DATA(v);
        *len = n;
        return 1;
    }
    if (n > nb->cap) {
        unsigned char *grown = PyMem_Realloc(nb->buf, (size_t)n);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        nb->buf = grown;
        nb->cap = n;
    }
    const void *data = PyUnicode_DATA(v);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == 0x130 || c == 0x131 || c == 0x17f || c == 0x212a) return 2;
        nb->buf[i] = c < 0x80 ? (unsigned char)c : 0x80;
    }
    *out = nb->buf;
    *len = n;
    return 1;
}

/* flag_rows(rows, text_columns, triggers, suppress_column, suppress_non_ascii, patterns, case_sensitive,
 *           masks=False)
 *   -> [(row index, needs redaction)] for the rows that need the redactor or the suppressor; with `masks`,
 *   [(row index, needs redaction, per text column: the trigger words in it as bits (bit k: triggers[k]),
 *   -1 when it is not searched (`probe_text`), 0 for None)], the masks None when it needs no redaction.
 * The predicates of stage._flag_sql, evaluated here instead of in DuckDB: a row needs the redactor when
 * there are trigger words and one of its text columns holds a trigger word (ASCII case folded; the words
 * lower-case) or is not searched (`probe_text`); it needs the suppressor when its suppression column holds one
 * of the (ASCII) patterns, case folded unless `case_sensitive` (then the patterns as given), or is not searched:
 * with `suppress_non_ascii` (a pattern is beyond ASCII) any text beyond ASCII, else as `probe_text` says.
 * A column of None is empty text. */
static PyObject *flag_rows(PyObject *self, PyObject *args) {
    PyObject *rows, *cols, *triggers, *patterns;
    Py_ssize_t sup_col;
    int sup_non_ascii, case_sensitive, want_masks = 0;
    if (!PyArg_ParseTuple(args, "O!O!O!npO!p|p", &PyList_Type, &rows, &PyTuple_Type, &cols, &PyTuple_Type,
                          &triggers, &sup_col, &sup_non_ascii, &PyTuple_Type, &patterns, &case_sensitive,
                          &want_masks))
        return NULL;
    Words *words = PyMem_Malloc(2 * sizeof(Words)); /* 2 x 143 KB: not on the stack */
    if (words == NULL) return PyErr_NoMemory();
    Words *trig = &words[0], *pat = &words[1];
    if (words_init(trig, triggers, 1, 1) < 0 || words_init(pat, patterns, !case_sensitive, 0) < 0) {
        PyMem_Free(words);
        return NULL;
    }
    Py_ssize_t ncol = PyTuple_GET_SIZE(cols), idx[16];
    if (ncol > 16) {
        PyErr_SetString(PyExc_ValueError, "flag_rows: at most 16 text columns");
        PyMem_Free(words);
        return NULL;
    }
    for (Py_ssize_t c = 0; c < ncol; c++) {
        idx[c] = PyLong_AsSsize_t(PyTuple_GET_ITEM(cols, c));
        if (idx[c] < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "flag_rows: bad column index");
            PyMem_Free(words);
            return NULL;
        }
    }
    int sup_on = sup_col >= 0 && (sup_non_ascii || pat->n > 0);
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        PyMem_Free(words);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    Narrow nb = {NULL, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        int redact = 0, other = 0;
        const unsigned char *text;
        Py_ssize_t len;
        for (Py_ssize_t c = 0; trig->n > 0 && !redact && c < ncol; c++) {
            PyObject *v = cell(rows, i, idx[c]);
            int kind = v ? probe_text(v, &text, &len, &nb) : -1;
            if (kind < 0) goto error;
            redact = kind == 2 || (kind == 1 && words_in(trig, text, len));
        }
        if (sup_on) {
            /* with a pattern beyond ASCII, all such text is flagged; else it is searched as the trigger words are */
            PyObject *v = cell(rows, i, sup_col);
            int kind = v == NULL ? -1 : sup_non_ascii ? ascii_text(v, &text, &len) : probe_text(v, &text, &len, &nb);
            if (kind < 0) goto error;
            other = kind == 2 || (kind == 1 && pat->n > 0 && words_in(pat, text, len));
        }
        if ((redact || other) && want_masks) {
            PyObject *masks = Py_None;
            Py_INCREF(masks);
            if (redact) {
                Py_DECREF(masks);
                if ((masks = PyTuple_New(ncol)) == NULL) goto error;
                for (Py_ssize_t c = 0; c < ncol; c++) {
                    PyObject *v = cell(rows, i, idx[c]);
                    int kind = v ? probe_text(v, &text, &len, &nb) : -1;
                    PyObject *m = kind < 0    ? NULL
                                  : kind == 2 ? PyLong_FromLong(-1)
                                  : kind == 0 ? PyLong_FromLong(0)
                                              : words_mask(trig, text, len);
                    if (m == NULL) {
                        Py_DECREF(masks);
                        goto error;
                    }
                    PyTuple_SET_ITEM(masks, c, m);
                }
            }
            PyObject *hit = Py_BuildValue("(nON)", i, redact ? Py_True : Py_False, masks);
            if (hit == NULL || PyList_Append(out, hit) < 0) {
                Py_XDECREF(hit);
                goto error;
            }
            Py_DECREF(hit);
        } else if (redact || other) {
            PyObject *hit = Py_BuildValue("(nO)", i, redact ? Py_True : Py_False);
            if (hit == NULL || PyList_Append(out, hit) < 0) {
                Py_XDECREF(hit);
                goto error;
            }
            Py_DECREF(hit);
        }
    }
    PyMem_Free(words);
    PyMem_Free(nb.buf);
    return out;
error:
    PyMem_Free(words);
    PyMem_Free(nb.buf);
    Py_DECREF(out);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Fingerprints and event keys of staged rows                                                      */

/* MD5 (RFC 1321), incremental: what DuckDB's md5() and md5_number() compute, for the stager's keys. */
typedef struct {
    uint32_t h[4];
    uint64_t len; /* bytes hashed so far */
    unsigned char buf[64];
    size_t used;
} Md5;

/* floor(abs(sin(i + 1)) * 2^32), as constants the compiler folds into the steps */
static const uint32_t MD5_K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static void md5_init(Md5 *m) {
    m->h[0] = 0x67452301u;
    m->h[1] = 0xefcdab89u;
    m->h[2] = 0x98badcfeu;
    m->h[3] = 0x10325476u;
    m->len = 0;
    m->used = 0;
}

#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5_STEP(f, a, b, c, d, x, k, s)          \
    do {                                          \
        (a) += MD5_##f((b), (c), (d)) + (x) + (k); \
        (a) = ((a) << (s)) | ((a) >> (32 - (s))); \
        (a) += (b);                                \
    } while (0)

static void md5_block(Md5 *m, const unsigned char *p) {
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
    MD5_STEP(F, a, b, c, d, w[0], MD5_K[0], 7);
    MD5_STEP(F, d, a, b, c, w[1], MD5_K[1], 12);
    MD5_STEP(F, c, d, a, b, w[2], MD5_K[2], 17);
    MD5_STEP(F, b, c, d, a, w[3], MD5_K[3], 22);
    MD5_STEP(F, a, b, c, d, w[4], MD5_K[4], 7);
    MD5_STEP(F, d, a, b, c, w[5], MD5_K[5], 12);
    MD5_STEP(F, c, d, a, b, w[6], MD5_K[6], 17);
    MD5_STEP(F, b, c, d, a, w[7], MD5_K[7], 22);
    MD5_STEP(F, a, b, c, d, w[8], MD5_K[8], 7);
    MD5_STEP(F, d, a, b, c, w[9], MD5_K[9], 12);
    MD5_STEP(F, c, d, a, b, w[10], MD5_K[10], 17);
    MD5_STEP(F, b, c, d, a, w[11], MD5_K[11], 22);
    MD5_STEP(F, a, b, c, d, w[12], MD5_K[12], 7);
    MD5_STEP(F, d, a, b, c, w[13], MD5_K[13], 12);
    MD5_STEP(F, c, d, a, b, w[14], MD5_K[14], 17);
    MD5_STEP(F, b, c, d, a, w[15], MD5_K[15], 22);
    MD5_STEP(G, a, b, c, d, w[1], MD5_K[16], 5);
    MD5_STEP(G, d, a, b, c, w[6], MD5_K[17], 9);
    MD5_STEP(G, c, d, a, b, w[11], MD5_K[18], 14);
    MD5_STEP(G, b, c, d, a, w[0], MD5_K[19], 20);
    MD5_STEP(G, a, b, c, d, w[5], MD5_K[20], 5);
    MD5_STEP(G, d, a, b, c, w[10], MD5_K[21], 9);
    MD5_STEP(G, c, d, a, b, w[15], MD5_K[22], 14);
    MD5_STEP(G, b, c, d, a, w[4], MD5_K[23], 20);
    MD5_STEP(G, a, b, c, d, w[9], MD5_K[24], 5);
    MD5_STEP(G, d, a, b, c, w[14], MD5_K[25], 9);
    MD5_STEP(G, c, d, a, b, w[3], MD5_K[26], 14);
    MD5_STEP(G, b, c, d, a, w[8], MD5_K[27], 20);
    MD5_STEP(G, a, b, c, d, w[13], MD5_K[28], 5);
    MD5_STEP(G, d, a, b, c, w[2], MD5_K[29], 9);
    MD5_STEP(G, c, d, a, b, w[7], MD5_K[30], 14);
    MD5_STEP(G, b, c, d, a, w[12], MD5_K[31], 20);
    MD5_STEP(H, a, b, c, d, w[5], MD5_K[32], 4);
    MD5_STEP(H, d, a, b, c, w[8], MD5_K[33], 11);
    MD5_STEP(H, c, d, a, b, w[11], MD5_K[34], 16);
    MD5_STEP(H, b, c, d, a, w[14], MD5_K[35], 23);
    MD5_STEP(H, a, b, c, d, w[1], MD5_K[36], 4);
    MD5_STEP(H, d, a, b, c, w[4], MD5_K[37], 11);
    MD5_STEP(H, c, d, a, b, w[7], MD5_K[38], 16);
    MD5_STEP(H, b, c, d, a, w[10], MD5_K[39], 23);
    MD5_STEP(H, a, b, c, d, w[13], MD5_K[40], 4);
    MD5_STEP(H, d, a, b, c, w[0], MD5_K[41], 11);
    MD5_STEP(H, c, d, a, b, w[3], MD5_K[42], 16);
    MD5_STEP(H, b, c, d, a, w[6], MD5_K[43], 23);
    MD5_STEP(H, a, b, c, d, w[9], MD5_K[44], 4);
    MD5_STEP(H, d, a, b, c, w[12], MD5_K[45], 11);
    MD5_STEP(H, c, d, a, b, w[15], MD5_K[46], 16);
    MD5_STEP(H, b, c, d, a, w[2], MD5_K[47], 23);
    MD5_STEP(I, a, b, c, d, w[0], MD5_K[48], 6);
    MD5_STEP(I, d, a, b, c, w[7], MD5_K[49], 10);
    MD5_STEP(I, c, d, a, b, w[14], MD5_K[50], 15);
    MD5_STEP(I, b, c, d, a, w[5], MD5_K[51], 21);
    MD5_STEP(I, a, b, c, d, w[12], MD5_K[52], 6);
    MD5_STEP(I, d, a, b, c, w[3], MD5_K[53], 10);
    MD5_STEP(I, c, d, a, b, w[10], MD5_K[54], 15);
    MD5_STEP(I, b, c, d, a, w[1], MD5_K[55], 21);
    MD5_STEP(I, a, b, c, d, w[8], MD5_K[56], 6);
    MD5_STEP(I, d, a, b, c, w[15], MD5_K[57], 10);
    MD5_STEP(I, c, d, a, b, w[6], MD5_K[58], 15);
    MD5_STEP(I, b, c, d, a, w[13], MD5_K[59], 21);
    MD5_STEP(I, a, b, c, d, w[4], MD5_K[60], 6);
    MD5_STEP(I, d, a, b, c, w[11], MD5_K[61], 10);
    MD5_STEP(I, c, d, a, b, w[2], MD5_K[62], 15);
    MD5_STEP(I, b, c, d, a, w[9], MD5_K[63], 21);
    m->h[0] += a;
    m->h[1] += b;
    m->h[2] += c;
    m->h[3] += d;
}

static void md5_update(Md5 *m, const void *data, size_t n) {
    const unsigned char *p = data;
    m->len += n;
    if (m->used) {
        size_t take = 64 - m->used < n ? 64 - m->used : n;
        memcpy(m->buf + m->used, p, take);
        m->used += take;
        p += take;
        n -= take;
        if (m->used < 64) return;
        md5_block(m, m->buf);
        m->used = 0;
    }
    for (; n >= 64; p += 64, n -= 64) md5_block(m, p);
    memcpy(m->buf, p, n);
    m->used = n;
}

static void md5_final(Md5 *m, unsigned char out[16]) {
    uint64_t bits = m->len * 8;
    static const unsigned char pad[64] = {0x80};
    md5_update(m, pad, m->used < 56 ? 56 - m->used : 120 - m->used);
    unsigned char tail[8];
    for (int i = 0; i < 8; i++) tail[i] = (unsigned char)(bits >> (8 * i));
    md5_update(m, tail, 8);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(m->h[i] >> (8 * j));
}

/* md5(data) as hex, for the tests: `md5_hex(b) == hashlib.md5(b).hexdigest()` */
static PyObject *md5_hex(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Md5 m;
    unsigned char d[16];
    char hex[32];
    md5_init(&m);
    md5_update(&m, view.buf, (size_t)view.len);
    md5_final(&m, d);
    PyBuffer_Release(&view);
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = "0123456789abcdef"[d[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[d[i] & 15];
    }
    return PyUnicode_FromStringAndSize(hex, 32);
}

/* the UTF-8 of a str cell, or of None (absent: *len = -1); -1 with TypeError for anything else */
static int key_text(PyObject *v, const char **s, Py_ssize_t *len) {
    if (v == Py_None) {
        *s = "";
        *len = -1;
        return 0;
    }
    if (!PyUnicode_CheckExact(v)) {
        PyErr_SetString(PyExc_TypeError, "stage_keys: not a str");
        return -1;
    }
    *s = PyUnicode_AsUTF8AndSize(v, len);
    return *s == NULL ? -1 : 0;
}

/* the decimal digits of x, as DuckDB's BIGINT::VARCHAR writes them; returns their count */
static Py_ssize_t decimal(long long x, char *buf) {
    char tmp[24];
    int k = 0;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    Py_ssize_t n = 0;
    if (x < 0) buf[n++] = '-';
    while (k) buf[n++] = tmp[--k];
    return n;
}

/* the decimal text of an int cell, or of None (absent: returns -1 in *len); -1 with an error otherwise */
static int key_int(PyObject *v, char *buf, Py_ssize_t *len) {
    if (v == Py_None) {
        *len = -1;
        return 0;
    }
    if (!PyLong_CheckExact(v)) {
        PyErr_SetString(PyExc_TypeError, "stage_keys: not an int");
        return -1;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "stage_keys: integer beyond 64 bits");
        return -1;
    }
    if (x == -1 && PyErr_Occurred()) return -1;
    *len = decimal(x, buf);
    return 0;
}

static int is_re2_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

#define KEY_JOINED 512

/* `l` bytes at `p` onto the key's text: gathered in `joined` (one md5_update instead of many), a long one
   hashed as it goes (md5 of a text does not depend on how it is cut) */
static void key_put(Md5 *m, char *joined, Py_ssize_t *used, const char *p, Py_ssize_t l) {
    if (*used + l > KEY_JOINED) {
        md5_update(m, joined, (size_t)*used);
        *used = 0;
    }
    if (l > KEY_JOINED) {
        md5_update(m, p, (size_t)l);
    } else {
        memcpy(joined + *used, p, (size_t)l);
        *used += l;
    }
}

/* a message onto the key's text with each redaction mark's kind left out (fingerprint.KEY_MARK:
   `[REDACTED:password]` is put as `[REDACTED]`, the live Worker's own mark) */
static void key_put_message(Md5 *m, char *joined, Py_ssize_t *used, const char *s, Py_ssize_t n) {
    static const char mark[] = "[REDACTED:";
    const Py_ssize_t ml = (Py_ssize_t)sizeof mark - 1;
    Py_ssize_t from = 0;
    for (Py_ssize_t p = 0; p + ml < n; p++) {
        const char *b = memchr(s + p, '[', (size_t)(n - ml - p)); /* most messages hold no `[`: one pass */
        if (b == NULL) break;
        p = b - s;
        if (memcmp(s + p, mark, (size_t)ml) != 0) continue;
        Py_ssize_t e = p + ml;
        while (e < n && is_word((unsigned char)s[e])) e++;
        if (e == p + ml || e >= n || s[e] != ']') continue;
        key_put(m, joined, used, s + from, p + ml - 1 - from); /* up to `[REDACTED` */
        from = e;                                              /* from its `]` */
        p = e;
    }
    key_put(m, joined, used, s + from, n - from);
}

/* The event key of the texts of (ts, system, level, message, trace_id, request_id, part), a length of -1
 * for NULL: md5_number(concat_ws(chr(31), ts, system, level, lc_key_message(message), coalesce(trace_id, ''),
 * coalesce(request_id, ''), part)) >> 65, NULL skipped as concat_ws skips it. */
static int64_t event_key_of(const char *const text[7], const Py_ssize_t len[7]) {
    Md5 m;
    unsigned char d[16];
    md5_init(&m);
    char joined[KEY_JOINED];
    Py_ssize_t used = 0;
    int first = 1;
    for (int c = 0; c < 7; c++) {
        Py_ssize_t l = len[c];
        if (l < 0) {
            if (c != 4 && c != 5) continue;
            l = 0;
        }
        if (!first) key_put(&m, joined, &used, "\x1f", 1);
        if (c == 3)
            key_put_message(&m, joined, &used, text[c], l);
        else
            key_put(&m, joined, &used, text[c], l);
        first = 0;
    }
    md5_update(&m, joined, (size_t)used);
    md5_final(&m, d);
    uint64_t hi = 0;
    for (int i = 15; i >= 8; i--) hi = hi << 8 | d[i];
    return (int64_t)(hi >> 1);
}

/* fingerprint.lc_key_trace: whether a line of this format (its UTF-8, `fl` bytes) is keyed without its trace id
 * when it has a request id (a Cloudflare Logpush or tail line of a request: fingerprint.KEY_WITHOUT_TRACE) */
static int key_without_trace(const char *fmt, Py_ssize_t fl) {
    return (fl == 10 && memcmp(fmt, "cf-logpush", 10) == 0) || (fl == 7 && memcmp(fmt, "cf-tail", 7) == 0);
}

/* The fingerprint of a message (its UTF-8 `msg`, `ml` bytes) into out[0:16]: 16 hex digits of md5 of the
 * message trimmed of RE2 white space; a message starting "[CONVEX " or "%c[CONVEX " (a Convex line echoed in the
 * browser console: fingerprint.ECHO_PREFIX) is left to `fallback(message)`, the Python function. -1 with an
 * exception set. */
static int fingerprint_of(const char *msg, Py_ssize_t ml, PyObject *message, PyObject *fallback, char *out) {
    if ((ml >= 8 && memcmp(msg, "[CONVEX ", 8) == 0) || (ml >= 10 && memcmp(msg, "%c[CONVEX ", 10) == 0)) {
        PyObject *got = PyObject_CallOneArg(fallback, message);
        if (got == NULL) return -1;
        Py_ssize_t gl;
        const char *g = PyUnicode_Check(got) ? PyUnicode_AsUTF8AndSize(got, &gl) : NULL;
        if (g == NULL || gl != 16) {
            Py_DECREF(got);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "stage_keys: a fingerprint is 16 characters");
            return -1;
        }
        memcpy(out, g, 16);
        Py_DECREF(got);
        return 0;
    }
    while (ml > 0 && is_re2_space((unsigned char)msg[0])) {
        msg++;
        ml--;
    }
    while (ml > 0 && is_re2_space((unsigned char)msg[ml - 1])) ml--;
    Md5 m;
    unsigned char d[16];
    md5_init(&m);
    md5_update(&m, msg, (size_t)ml);
    md5_final(&m, d);
    for (int i = 0; i < 8; i++) {
        out[2 * i] = "0123456789abcdef"[d[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[d[i] & 15];
    }
    return 0;
}

/* stage_keys(rows, columns, fingerprint) -> (offsets, fingerprints, event keys): the Arrow buffers of the
 * two columns the stager's DuckDB macros compute (rules/fingerprint.py), for row tuples whose `columns`
 * are (ts_ms, system, level, message, trace_id, request_id, part[, client_ts_ms[, source_format]]); with
 * client_ts_ms, the key's time is coalesce(client_ts_ms, ts_ms), and with source_format the trace id is
 * left out as lc_key_trace leaves it, as the stager's select gives them (`event_key_of`,
 * `fingerprint_of`; the fingerprints 16 bytes a row, the offsets 16 apart; the keys an int64 a row).
 * A message that is not a str, a value of another type, or text that is not UTF-8 (lone surrogates)
 * raises: the caller leaves the batch to DuckDB. */
static PyObject *stage_keys(PyObject *self, PyObject *args) {
    PyObject *rows, *cols, *fallback;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyList_Type, &rows, &PyTuple_Type, &cols, &fallback)) return NULL;
    Py_ssize_t idx[9];
    int ncols = (int)PyTuple_GET_SIZE(cols);
    if (ncols < 7 || ncols > 9) {
        PyErr_SetString(PyExc_ValueError, "stage_keys: 7, 8 or 9 column indices");
        return NULL;
    }
    for (int c = 0; c < ncols; c++) {
        idx[c] = PyLong_AsSsize_t(PyTuple_GET_ITEM(cols, c));
        if (idx[c] < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "stage_keys: bad column index");
            return NULL;
        }
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    if (n > INT32_MAX / 16 - 1) {
        PyErr_SetString(PyExc_OverflowError, "stage_keys: too many rows for one batch");
        return NULL;
    }
    PyObject *offsets = PyBytes_FromStringAndSize(NULL, 4 * (n + 1));
    PyObject *fps = PyBytes_FromStringAndSize(NULL, 16 * n);
    PyObject *keys = PyBytes_FromStringAndSize(NULL, 8 * n);
    if (offsets == NULL || fps == NULL || keys == NULL) goto fail;
    int32_t *off = (int32_t *)PyBytes_AS_STRING(offsets);
    for (Py_ssize_t r = 0; r <= n; r++) off[r] = (int32_t)(16 * r);
    char *fp = PyBytes_AS_STRING(fps), *kp = PyBytes_AS_STRING(keys);
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *v[9];
        for (int c = 0; c < ncols; c++)
            if ((v[c] = cell(rows, r, idx[c])) == NULL) goto fail;
        if (ncols >= 8 && v[7] != Py_None) v[0] = v[7]; /* the client's clock, when the event has one */
        if (!PyUnicode_CheckExact(v[3])) {
            PyErr_SetString(PyExc_TypeError, "stage_keys: the message is not a str");
            goto fail;
        }
        const char *text[7];
        Py_ssize_t len[7];
        char ts_buf[24], part_buf[24];
        if (key_int(v[0], ts_buf, &len[0]) < 0 || key_int(v[6], part_buf, &len[6]) < 0) goto fail;
        text[0] = ts_buf;
        text[6] = part_buf;
        for (int c = 1; c < 6; c++)
            if (key_text(v[c], &text[c], &len[c]) < 0) goto fail;
        if (ncols == 9) {
            const char *fmt;
            Py_ssize_t fl;
            if (key_text(v[8], &fmt, &fl) < 0) goto fail;
            if (len[5] >= 0 && key_without_trace(fmt, fl)) len[4] = -1; /* lc_key_trace */
        }
        int64_t key = event_key_of(text, len);
        memcpy(kp + 8 * r, &key, 8);
        if (fingerprint_of(text[3], len[3], v[3], fallback, fp + 16 * r) < 0) goto fail;
    }
    return Py_BuildValue("(NNN)", offsets, fps, keys);
fail:
    Py_XDECREF(offsets);
    Py_XDECREF(fps);
    Py_XDECREF(keys);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* StageBatch: staging rows built straight into Arrow buffers                                      */

/* The stager's event batch without a tuple a row. `parse_lines` puts each row it claims here: its cells are
 * copied into column buffers, checked by the probe (`flag_rows`'s predicates), and given their fingerprint
 * and event key (`stage_keys`'s) at once, and the row's objects are freed while they are in the cache.
 * Rows the Python adapters built come as tuples (`add_rows`), through the same code. A row the probe
 * flags is kept as a tuple instead (`pending`), for the stager's Python rules; `finish(checked)` puts the
 * checked rows in their places and returns the batch's buffers, as `column_buffers` and `stage_keys` return
 * them for the same rows. The columns are STAGING_SCHEMA's, in its order (`KINDS`).
 *
 * Every call adds all of its rows or none (`batch_mark` / `batch_undo`): a row whose key cannot be computed
 * here (its fingerprint is the Python function's, and that raised) leaves the batch as it was, and the
 * stager's tuple path, whose keys DuckDB computes then, takes it. tests/test_stage_batch.py holds the batch
 * to the tuple path. */

#define NCOL 18
static const char KINDS[NCOL + 1] = "lillsssssssssslsis";
#define C_SEQ 0
#define C_FILE 1
#define C_TS 2
#define C_CLIENT 3
#define C_SYSTEM 4
#define C_LEVEL 6
#define C_MESSAGE 7
#define C_TRACE 8
#define C_REQUEST 10
#define C_LINE 14
#define C_FORMAT 15
#define C_PART 16

typedef struct {
    int64_t iv[NCOL];     /* integer cells */
    const char *sv[NCOL]; /* string cells: UTF-8 */
    Py_ssize_t sl[NCOL];
    uint8_t valid[NCOL], ascii[NCOL];
    uint8_t folding[NCOL]; /* text holding İ ı ſ or the Kelvin sign: not searched for trigger words (`probe_text`) */
    PyObject *message; /* borrowed: for the fingerprint's Python fallback */
} Cells;

/* whether UTF-8 text holds one of the four characters case folding takes to an ASCII letter (`probe_text`): U+0130
   C4 B0, U+0131 C4 B1, U+017F C5 BF, U+212A E2 84 AA. Their first bytes begin a character wherever they are */
static int utf8_folding(const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        unsigned char c = s[i];
        if (c < 0xc4) continue;
        if ((c == 0xc4 && (s[i + 1] == 0xb0 || s[i + 1] == 0xb1)) || (c == 0xc5 && s[i + 1] == 0xbf) ||
            (c == 0xe2 && i + 2 < n && s[i + 1] == 0x84 && s[i + 2] == 0xaa))
            return 1;
    }
    return 0;
}

struct Batch {
    PyObject_HEAD
    Py_ssize_t n, cap;     /* rows, and room for them */
    int64_t *iv[NCOL];     /* integer columns */
    int32_t *off[NCOL];    /* string columns: n + 1 offsets into data */
    char *data[NCOL];
    Py_ssize_t used[NCOL], room[NCOL];
    Py_ssize_t bytes;      /* the text held, all columns, the held rows' too */
    uint8_t *valid[NCOL];  /* a byte a row */
    char *fp;              /* 16 bytes a row */
    int64_t *key;
    PyObject *pending;     /* [(row index, row tuple, needs redaction, trigger masks | None)] */
    Words *words;          /* [0] the trigger words, [1] the suppression patterns */
    Py_ssize_t text[16], ntext, sup_col;
    int sup_on, sup_non_ascii;
    PyObject *fallback;    /* the Python fingerprint */
};

static int batch_grow_rows(Batch *b, Py_ssize_t need) {
    if (need <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < need) cap *= 2;
    for (int c = 0; c < NCOL; c++) {
        if (KINDS[c] == 's') {
            int32_t *o = PyMem_Realloc(b->off[c], (size_t)(cap + 1) * 4);
            if (o == NULL) return -1;
            b->off[c] = o;
        } else {
            int64_t *v = PyMem_Realloc(b->iv[c], (size_t)cap * 8);
            if (v == NULL) return -1;
            b->iv[c] = v;
        }
        uint8_t *ok = PyMem_Realloc(b->valid[c], (size_t)cap);
        if (ok == NULL) return -1;
        b->valid[c] = ok;
    }
    char *fp = PyMem_Realloc(b->fp, (size_t)cap * 16);
    if (fp == NULL) return -1;
    b->fp = fp;
    int64_t *key = PyMem_Realloc(b->key, (size_t)cap * 8);
    if (key == NULL) return -1;
    b->key = key;
    b->cap = cap;
    return 0;
}

static int batch_grow_data(Batch *b, int c, Py_ssize_t add) {
    if (add > INT32_MAX - b->used[c]) {
        PyErr_SetString(PyExc_OverflowError, "StageBatch: a string column over 2 GiB");
        return -1;
    }
    if (b->used[c] + add <= b->room[c]) return 0;
    Py_ssize_t room = b->room[c] ? b->room[c] : 1 << 16;
    while (room < b->used[c] + add) room *= 2;
    char *d = PyMem_Realloc(b->data[c], (size_t)room);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data[c] = d;
    b->room[c] = room;
    return 0;
}

/* a str cell into cells; None leaves it invalid. -1 with TypeError (not a str) or UnicodeEncodeError */
static int cells_str(Cells *k, int c, PyObject *v) {
    if (v == NULL) {
        PyErr_SetString(PyExc_SystemError, "StageBatch: a row without a cell");
        return -1;
    }
    if (v == Py_None) return 0;
    if (!PyUnicode_CheckExact(v)) {
        PyErr_SetString(PyExc_TypeError, "StageBatch: not a str");
        return -1;
    }
    if (PyUnicode_IS_ASCII(v)) {
        k->sv[c] = (const char *)PyUnicode_DATA(v);
        k->sl[c] = PyUnicode_GET_LENGTH(v);
        k->ascii[c] = 1;
    } else {
        k->sv[c] = PyUnicode_AsUTF8AndSize(v, &k->sl[c]);
        if (k->sv[c] == NULL) return -1;
        k->folding[c] = (uint8_t)utf8_folding((const unsigned char *)k->sv[c], k->sl[c]);
    }
    k->valid[c] = 1;
    return 0;
}

/* a row tuple's cells (borrowed from it), checked as column_buffers checks them; -1 with an error */
static int cells_of_tuple(PyObject *row, Cells *k) {
    memset(k->valid, 0, sizeof k->valid);
    memset(k->ascii, 0, sizeof k->ascii);
    memset(k->folding, 0, sizeof k->folding);
    if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != NCOL) {
        PyErr_SetString(PyExc_TypeError, "StageBatch: rows must be tuples of the staging columns");
        return -1;
    }
    for (int c = 0; c < NCOL; c++) {
        PyObject *v = PyTuple_GET_ITEM(row, c);
        if (KINDS[c] == 's') {
            if (cells_str(k, c, v) < 0) return -1;
            continue;
        }
        if (v == Py_None) continue;
        if (!PyLong_CheckExact(v)) {
            PyErr_SetString(PyExc_TypeError, "StageBatch: not an int");
            return -1;
        }
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (KINDS[c] == 'i' && (x > INT32_MAX || x < INT32_MIN))) {
            PyErr_SetString(PyExc_OverflowError, "StageBatch: integer out of the column's range");
            return -1;
        }
        k->iv[c] = x;
        k->valid[c] = 1;
    }
    if (!k->valid[C_MESSAGE]) {
        PyErr_SetString(PyExc_TypeError, "StageBatch: the message is not a str");
        return -1;
    }
    k->message = PyTuple_GET_ITEM(row, C_MESSAGE);
    return 0;
}

/* a compiled row's cells (borrowed from its objects), numbered as row_tuple numbers it */
static int cells_of_row(Row *r, long long seq, int part, long long file_id, long long line, PyObject *fmt, Cells *k) {
    memset(k->valid, 0, sizeof k->valid);
    memset(k->ascii, 0, sizeof k->ascii);
    memset(k->folding, 0, sizeof k->folding);
    k->iv[C_SEQ] = seq + part + 1;
    k->iv[C_FILE] = file_id;
    k->iv[C_TS] = r->ts;
    k->iv[C_CLIENT] = r->client;
    k->iv[C_LINE] = line;
    k->iv[C_PART] = part;
    k->valid[C_SEQ] = k->valid[C_FILE] = k->valid[C_TS] = k->valid[C_LINE] = k->valid[C_PART] = 1;
    k->valid[C_CLIENT] = (uint8_t)(r->has_client != 0);
    PyObject *s[10] = {r->system, r->label, r->level, r->message, r->tid,
                       r->how,    r->request_id, r->user_id, r->context, r->stack};
    for (int j = 0; j < 10; j++)
        if (cells_str(k, C_SYSTEM + j, s[j]) < 0) return -1;
    if (cells_str(k, C_FORMAT, fmt) < 0) return -1;
    if (!k->valid[C_MESSAGE]) {
        PyErr_SetString(PyExc_TypeError, "StageBatch: the message is not a str");
        return -1;
    }
    k->message = r->message;
    return 0;
}

/* flag_rows's predicates over one row's cells: *redact, *other (see flag_rows) */
static void batch_flags(Batch *b, Cells *k, int *redact, int *other) {
    Words *trig = &b->words[0], *pat = &b->words[1];
    *redact = *other = 0;
    for (Py_ssize_t j = 0; trig->n > 0 && !*redact && j < b->ntext; j++) {
        Py_ssize_t c = b->text[j];
        if (!k->valid[c]) continue;
        /* text beyond ASCII is searched as its UTF-8 bytes (`probe_text`) */
        *redact = k->folding[c] || words_in(trig, (const unsigned char *)k->sv[c], k->sl[c]);
    }
    if (b->sup_on) {
        Py_ssize_t c = b->sup_col;
        if (k->valid[c]) /* as in flag_rows */
            *other = (b->sup_non_ascii ? !k->ascii[c] : k->folding[c]) ||
                     ((k->ascii[c] || !b->sup_non_ascii) && pat->n > 0 &&
                      words_in(pat, (const unsigned char *)k->sv[c], k->sl[c]));
    }
}

/* the trigger words in each text column of a row to redact (flag_rows's masks) */
static PyObject *batch_masks(Batch *b, Cells *k) {
    PyObject *masks = PyTuple_New(b->ntext);
    if (masks == NULL) return NULL;
    for (Py_ssize_t j = 0; j < b->ntext; j++) {
        Py_ssize_t c = b->text[j];
        PyObject *m = !k->valid[c]    ? PyLong_FromLong(0)
                      : k->folding[c] ? PyLong_FromLong(-1)
                                      : words_mask(&b->words[0], (const unsigned char *)k->sv[c], k->sl[c]);
        if (m == NULL) {
            Py_DECREF(masks);
            return NULL;
        }
        PyTuple_SET_ITEM(masks, j, m);
    }
    return masks;
}

/* the fingerprint and event key of row i from its cells */
static int batch_keys(Batch *b, Cells *k, Py_ssize_t i) {
    char ts_buf[24], part_buf[24];
    const char *text[7];
    Py_ssize_t len[7];
    int tc = k->valid[C_CLIENT] ? C_CLIENT : C_TS; /* the client's clock, when the event has one */
    len[0] = k->valid[tc] ? decimal(k->iv[tc], ts_buf) : -1;
    text[0] = ts_buf;
    static const int from[5] = {C_SYSTEM, C_LEVEL, C_MESSAGE, C_TRACE, C_REQUEST};
    for (int j = 0; j < 5; j++) {
        text[1 + j] = k->valid[from[j]] ? k->sv[from[j]] : "";
        len[1 + j] = k->valid[from[j]] ? k->sl[from[j]] : -1;
    }
    len[6] = k->valid[C_PART] ? decimal(k->iv[C_PART], part_buf) : -1;
    text[6] = part_buf;
    if (k->valid[C_REQUEST] && k->valid[C_FORMAT] && key_without_trace(k->sv[C_FORMAT], k->sl[C_FORMAT]))
        len[4] = -1; /* lc_key_trace */
    b->key[i] = event_key_of(text, len);
    return fingerprint_of(k->sv[C_MESSAGE], k->sl[C_MESSAGE], k->message, b->fallback, b->fp + 16 * i);
}

/* a row of cells at the batch's end (or, with k NULL, a place for a pending row: every cell NULL) */
static int batch_append(Batch *b, Cells *k) {
    if (batch_grow_rows(b, b->n + 1) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t i = b->n;
    /* what can fail first (room, the keys: a fingerprint may be Python's), so that a row that fails leaves
       no trace */
    for (int c = 0; k != NULL && c < NCOL; c++)
        if (KINDS[c] == 's' && k->valid[c] && batch_grow_data(b, c, k->sl[c]) < 0) return -1;
    if (k == NULL) {
        memset(b->fp + 16 * i, '0', 16);
        b->key[i] = 0;
    } else if (batch_keys(b, k, i) < 0) {
        return -1;
    }
    for (int c = 0; c < NCOL; c++) {
        int ok = k != NULL && k->valid[c];
        b->valid[c][i] = (uint8_t)ok;
        if (KINDS[c] != 's') {
            b->iv[c][i] = ok ? k->iv[c] : 0;
            continue;
        }
        if (i == 0) b->off[c][0] = 0;
        if (ok && k->sl[c]) {
            memcpy(b->data[c] + b->used[c], k->sv[c], (size_t)k->sl[c]);
            b->used[c] += k->sl[c];
            b->bytes += k->sl[c];
        }
        b->off[c][i + 1] = (int32_t)b->used[c];
    }
    b->n++;
    return 0;
}

/* where a batch stood (`batch_mark`), to undo what a call added when it fails part-way (`batch_undo`, which
   keeps the exception set) */
typedef struct {
    Py_ssize_t n, bytes, held;
    Py_ssize_t used[NCOL];
} Mark;

static void batch_mark(Batch *b, Mark *m) {
    m->n = b->n;
    m->bytes = b->bytes;
    m->held = PyList_GET_SIZE(b->pending);
    memcpy(m->used, b->used, sizeof m->used);
}

static void batch_undo(Batch *b, Mark *m) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    b->n = m->n;
    b->bytes = m->bytes;
    memcpy(b->used, m->used, sizeof m->used);
    if (PyList_GET_SIZE(b->pending) > m->held && PyList_SetSlice(b->pending, m->held, PY_SSIZE_T_MAX, NULL) < 0)
        PyErr_Clear(); /* deleting needs no memory; should it fail, the exception below is the one to see */
    PyErr_Restore(type, value, tb);
}

/* a flagged row held as its tuple (for the Python rules), with a place in the batch */
static int batch_hold(Batch *b, Cells *k, PyObject *row, int redact) {
    PyObject *masks = redact ? batch_masks(b, k) : (Py_INCREF(Py_None), Py_None);
    if (masks == NULL) return -1;
    PyObject *hit = Py_BuildValue("(nOON)", b->n, row, redact ? Py_True : Py_False, masks);
    if (hit == NULL) return -1;
    int bad = batch_append(b, NULL) < 0 || PyList_Append(b->pending, hit) < 0;
    Py_DECREF(hit);
    if (bad) return -1; /* the caller undoes the place (batch_undo) */
    for (int c = 0; c < NCOL; c++) /* its text counts toward the batch's size too */
        if (KINDS[c] == 's' && k->valid[c]) b->bytes += k->sl[c];
    return 0;
}

/* one row: copied in, or (flagged) held as its tuple */
static int batch_put(Batch *b, Cells *k, PyObject *row) {
    int redact, other;
    batch_flags(b, k, &redact, &other);
    return redact || other ? batch_hold(b, k, row, redact) : batch_append(b, k);
}

/* a compiled row into the batch (parse_into); the Row's references are left to the caller */
static int batch_put_row(Batch *b, Row *r, long long seq, int part, long long file_id, PyObject *file_id_obj,
                         PyObject *line_obj, PyObject *fmt) {
    Cells k;
    long long line = PyLong_AsLongLong(line_obj);
    if (line == -1 && PyErr_Occurred()) return -1;
    if (cells_of_row(r, seq, part, file_id, line, fmt, &k) < 0) return -1;
    int redact, other;
    batch_flags(b, &k, &redact, &other);
    if (!redact && !other) return batch_append(b, &k);
    /* flagged: the row as the tuple the Python rules take (new references: the Row keeps its own) */
    PyObject *vals[10] = {r->system, r->label, r->level, r->message, r->tid,
                          r->how,    r->request_id, r->user_id, r->context, r->stack};
    Row copy = *r;
    for (int j = 0; j < 10; j++) Py_XINCREF(vals[j]);
    PyObject *row = row_tuple(&copy, seq, file_id_obj, line_obj, fmt, part);
    if (row == NULL) {
        row_clear(&copy); /* the references row_tuple did not take (it clears those it took) */
        return -1;
    }
    int rc = batch_hold(b, &k, row, redact);
    Py_DECREF(row);
    return rc;
}

/* A line's compiled rows into the batch, all or none: 0 when they are in; 1 when one could not be put in
   (its key needs the Python fingerprint, and that raised; a column would pass 2 GiB): the batch is as it
   was and no exception is set, so the caller leaves the line to the Python path, whose stager has the last
   word; -1 with MemoryError set. */
static int batch_put_line(Batch *b, Row *rows, int nrows, long long seq, long long file_id, PyObject *file_id_obj,
                          PyObject *line_obj, PyObject *fmt) {
    Mark mark;
    batch_mark(b, &mark);
    for (int j = 0; j < nrows; j++) {
        if (batch_put_row(b, &rows[j], seq, j, file_id, file_id_obj, line_obj, fmt) < 0) {
            batch_undo(b, &mark);
            if (PyErr_ExceptionMatches(PyExc_MemoryError)) return -1;
            PyErr_Clear();
            return 1;
        }
    }
    return 0;
}

static PyObject *Batch_add_rows(Batch *b, PyObject *rows) {
    if (!PyList_Check(rows)) {
        PyErr_SetString(PyExc_TypeError, "add_rows(rows: list[tuple])");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    Cells *k = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Cells));
    if (k == NULL) return PyErr_NoMemory();
    Mark mark;
    batch_mark(b, &mark);
    for (Py_ssize_t i = 0; i < n; i++) /* all checked first: a row it refuses leaves the batch as it was */
        if (cells_of_tuple(PyList_GET_ITEM(rows, i), &k[i]) < 0) goto fail;
    for (Py_ssize_t i = 0; i < n; i++)
        if (batch_put(b, &k[i], PyList_GET_ITEM(rows, i)) < 0) goto fail;
    PyMem_Free(k);
    Py_RETURN_NONE;
fail:
    batch_undo(b, &mark); /* so are the rows before one that fails */
    PyMem_Free(k);
    return NULL;
}

static PyObject *Batch_pending(Batch *b, PyObject *unused) {
    return PyList_GetSlice(b->pending, 0, PY_SSIZE_T_MAX); /* a copy: `finish` relies on its own */
}

static void batch_clear(Batch *b) {
    b->n = b->bytes = 0;
    for (int c = 0; c < NCOL; c++) b->used[c] = 0;
    PyObject *empty = PyList_New(0);
    if (empty != NULL) Py_SETREF(b->pending, empty); /* else the old list stays, emptied */
    else PyList_SetSlice(b->pending, 0, PY_SSIZE_T_MAX, NULL);
}

/* finish(checked) -> [per column (nulls, validity | None, [offsets,] data)] + [(offsets, fingerprints,
 * event keys) | None]: the batch's Arrow buffers, the pending rows replaced by `checked` (one row tuple each,
 * in `pending()`'s order); the batch is then empty. The keys are None when a checked row's could not be
 * computed here (its message's fingerprint is Python's, and that raised): the caller's DuckDB computes them. */
static PyObject *Batch_finish(Batch *b, PyObject *checked) {
    if (!PyList_Check(checked) || PyList_GET_SIZE(checked) != PyList_GET_SIZE(b->pending)) {
        PyErr_SetString(PyExc_ValueError, "finish(checked): one checked row per pending row");
        return NULL;
    }
    Py_ssize_t n = b->n, np = PyList_GET_SIZE(checked);
    Cells *pc = PyMem_Malloc((size_t)(np ? np : 1) * sizeof(Cells));
    Py_ssize_t *at = PyMem_Malloc((size_t)(np ? np : 1) * sizeof(Py_ssize_t));
    PyObject *out = NULL;
    if (pc == NULL || at == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int keyed = 1;
    for (Py_ssize_t j = 0; j < np; j++) {
        at[j] = PyLong_AsSsize_t(PyTuple_GET_ITEM(PyList_GET_ITEM(b->pending, j), 0));
        if (at[j] < (j ? at[j - 1] + 1 : 0) || at[j] >= n) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "StageBatch: a held row out of place");
            goto done;
        }
        if (cells_of_tuple(PyList_GET_ITEM(checked, j), &pc[j]) < 0) goto done;
    }
    /* the checked rows' keys; one that cannot be computed here (the Python fingerprint raised) leaves every
       key of the batch to DuckDB's macros, as stage_keys's refusal does */
    for (Py_ssize_t j = 0; keyed && j < np; j++) {
        if (batch_keys(b, &pc[j], at[j]) < 0) {
            if (PyErr_ExceptionMatches(PyExc_MemoryError)) goto done;
            PyErr_Clear();
            keyed = 0;
        }
    }
    out = PyList_New(NCOL + 1);
    if (out == NULL) goto done;
    Py_ssize_t nbitmap = (n + 7) / 8;
    for (int c = 0; c < NCOL; c++) {
        int s = KINDS[c] == 's';
        Py_ssize_t size = s ? b->used[c] : n * (KINDS[c] == 'l' ? 8 : 4);
        for (Py_ssize_t j = 0; s && j < np; j++)
            if (pc[j].valid[c]) size += pc[j].sl[c];
        if (s && size > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "StageBatch: a string column over 2 GiB");
            goto fail;
        }
        PyObject *bits_o = PyBytes_FromStringAndSize(NULL, nbitmap);
        PyObject *data_o = PyBytes_FromStringAndSize(NULL, size);
        PyObject *off_o = s ? PyBytes_FromStringAndSize(NULL, (n + 1) * 4) : NULL;
        if (bits_o == NULL || data_o == NULL || (s && off_o == NULL)) {
            Py_XDECREF(bits_o);
            Py_XDECREF(data_o);
            Py_XDECREF(off_o);
            goto fail;
        }
        unsigned char *bits = (unsigned char *)PyBytes_AS_STRING(bits_o);
        char *data = PyBytes_AS_STRING(data_o);
        int32_t *off = s ? (int32_t *)PyBytes_AS_STRING(off_o) : NULL;
        memset(bits, 0, (size_t)nbitmap);
        Py_ssize_t nulls = 0, pos = 0, j = 0;
        const uint8_t *valid = b->valid[c];
        if (s) off[0] = 0;
        for (Py_ssize_t r = 0; r < n; r++) {
            int ok;
            if (j < np && at[j] == r) { /* a checked row */
                Cells *k = &pc[j++];
                ok = k->valid[c];
                if (s) {
                    if (ok) {
                        memcpy(data + pos, k->sv[c], (size_t)k->sl[c]);
                        pos += k->sl[c];
                    }
                    off[r + 1] = (int32_t)pos;
                } else if (KINDS[c] == 'l') {
                    int64_t w = ok ? k->iv[c] : 0;
                    memcpy(data + 8 * r, &w, 8);
                } else {
                    int32_t w = ok ? (int32_t)k->iv[c] : 0;
                    memcpy(data + 4 * r, &w, 4);
                }
            } else {
                ok = valid[r];
                if (s) {
                    Py_ssize_t len = b->off[c][r + 1] - b->off[c][r];
                    memcpy(data + pos, b->data[c] + b->off[c][r], (size_t)len);
                    pos += len;
                    off[r + 1] = (int32_t)pos;
                } else if (KINDS[c] == 'l') {
                    memcpy(data + 8 * r, &b->iv[c][r], 8);
                } else {
                    int32_t w = (int32_t)b->iv[c][r];
                    memcpy(data + 4 * r, &w, 4);
                }
            }
            if (ok) bits[r >> 3] |= (unsigned char)(1 << (r & 7));
            else nulls++;
        }
        PyObject *validity = nulls ? bits_o : Py_None;
        PyObject *item = s ? Py_BuildValue("(nONN)", nulls, validity, off_o, data_o)
                           : Py_BuildValue("(nON)", nulls, validity, data_o);
        Py_DECREF(bits_o);
        if (item == NULL) goto fail;
        PyList_SET_ITEM(out, c, item);
    }
    if (!keyed) {
        Py_INCREF(Py_None);
        PyList_SET_ITEM(out, NCOL, Py_None);
    } else {
        PyObject *offsets = PyBytes_FromStringAndSize(NULL, 4 * (n + 1));
        PyObject *fps = PyBytes_FromStringAndSize(b->fp, 16 * n);
        PyObject *keys = PyBytes_FromStringAndSize((const char *)b->key, 8 * n);
        if (offsets == NULL || fps == NULL || keys == NULL) {
            Py_XDECREF(offsets);
            Py_XDECREF(fps);
            Py_XDECREF(keys);
            goto fail;
        }
        int32_t *o = (int32_t *)PyBytes_AS_STRING(offsets);
        for (Py_ssize_t r = 0; r <= n; r++) o[r] = (int32_t)(16 * r);
        PyList_SET_ITEM(out, NCOL, Py_BuildValue("(NNN)", offsets, fps, keys));
        if (PyList_GET_ITEM(out, NCOL) == NULL) goto fail;
    }
    batch_clear(b);
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyMem_Free(pc);
    PyMem_Free(at);
    return out;
}

static Py_ssize_t Batch_len(Batch *b) { return b->n; }

static PyObject *Batch_nbytes(Batch *b, void *unused) { return PyLong_FromSsize_t(b->bytes); }

static PyGetSetDef Batch_getset[] = {
    {"nbytes", (getter)Batch_nbytes, NULL, "the bytes of text the batch holds, its rows held apart too", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static void Batch_dealloc(Batch *b) {
    for (int c = 0; c < NCOL; c++) {
        PyMem_Free(b->iv[c]);
        PyMem_Free(b->off[c]);
        PyMem_Free(b->data[c]);
        PyMem_Free(b->valid[c]);
    }
    PyMem_Free(b->fp);
    PyMem_Free(b->key);
    PyMem_Free(b->words);
    Py_XDECREF(b->pending);
    Py_XDECREF(b->fallback);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

/* StageBatch(kinds, text_columns, triggers, suppress_column, suppress_non_ascii, patterns, case_sensitive,
 *            fingerprint): the probe's arguments as flag_rows takes them, and stage_keys's fallback */
static PyObject *Batch_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    const char *kinds;
    PyObject *cols, *triggers, *patterns, *fallback;
    Py_ssize_t sup_col;
    int sup_non_ascii, case_sensitive;
    if (!PyArg_ParseTuple(args, "sO!O!npO!pO", &kinds, &PyTuple_Type, &cols, &PyTuple_Type, &triggers, &sup_col,
                          &sup_non_ascii, &PyTuple_Type, &patterns, &case_sensitive, &fallback))
        return NULL;
    if (strcmp(kinds, KINDS) != 0) {
        PyErr_Format(PyExc_ValueError, "StageBatch: the staging columns are %s, not %s", KINDS, kinds);
        return NULL;
    }
    Py_ssize_t ncol = PyTuple_GET_SIZE(cols);
    if (ncol > 16 || sup_col >= NCOL || (sup_col >= 0 && KINDS[sup_col] != 's')) {
        PyErr_SetString(PyExc_ValueError, "StageBatch: at most 16 text columns, and a text column to suppress on");
        return NULL;
    }
    Batch *b = (Batch *)type->tp_alloc(type, 0);
    if (b == NULL) return NULL;
    b->pending = PyList_New(0);
    b->words = PyMem_Malloc(2 * sizeof(Words));
    if (b->pending == NULL || b->words == NULL) {
        Py_DECREF(b);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    if (words_init(&b->words[0], triggers, 1, 1) < 0 ||
        words_init(&b->words[1], patterns, !case_sensitive, 0) < 0) {
        Py_DECREF(b);
        return NULL;
    }
    for (Py_ssize_t j = 0; j < ncol; j++) {
        b->text[j] = PyLong_AsSsize_t(PyTuple_GET_ITEM(cols, j));
        if (b->text[j] < 0 || b->text[j] >= NCOL || KINDS[b->text[j]] != 's') {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "StageBatch: bad text column");
            Py_DECREF(b);
            return NULL;
        }
    }
    b->ntext = ncol;
    b->sup_col = sup_col;
    b->sup_non_ascii = sup_non_ascii;
    b->sup_on = sup_col >= 0 && (sup_non_ascii || b->words[1].n > 0);
    Py_INCREF(fallback);
    b->fallback = fallback;
    return (PyObject *)b;
}

static PyMethodDef Batch_methods[] = {
    {"add_rows", (PyCFunction)Batch_add_rows, METH_O,
     "add_rows(rows: list[tuple]): staging row tuples into the batch (all or, raising, none of them)"},
    {"pending", (PyCFunction)Batch_pending, METH_NOARGS,
     "pending() -> [(row index, row, needs redaction, trigger masks | None)]: the rows the probe flagged"},
    {"finish", (PyCFunction)Batch_finish, METH_O,
     "finish(checked: list[tuple]) -> the batch's Arrow buffers, the pending rows replaced by `checked`"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Batch_as_sequence = {.sq_length = (lenfunc)Batch_len};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "logcorr._fastparse.StageBatch",
    .tp_basicsize = sizeof(Batch),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Staging rows built into Arrow buffers, the rows to check held apart.",
    .tp_new = Batch_new,
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_methods = Batch_methods,
    .tp_getset = Batch_getset,
    .tp_as_sequence = &Batch_as_sequence,
};

/* ---- redact._KV_NEAR: the cheap test a `kv` match passes ----------------------------------------------- */

/* The length of `_Q` (a quote, or 1-8 backslashes and a quote) at s[j], or 0 */
static Py_ssize_t kv_quote(const unsigned char *s, Py_ssize_t j, Py_ssize_t n) {
    if (j >= n) return 0;
    if (s[j] == '"' || s[j] == '\'') return 1;
    Py_ssize_t k = 0;
    while (j + k < n && s[j + k] == '\\') k++;
    if (k >= 1 && k <= 8 && j + k < n && (s[j + k] == '"' || s[j + k] == '\'')) return k + 1;
    return 0;
}

/* Python's `\s` over ASCII: \t \n \v \f \r, \x1c-\x1f and the space */
static int kv_space(unsigned char c) { return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20); }

static int kv_mark(const unsigned char *s, Py_ssize_t p, Py_ssize_t n) {
    static const char mark[] = "[REDACTED";
    return n - p >= 9 && memcmp(s + p, mark, 9) == 0;
}

/* A key word ends at s[j]: the rest of `_KV_NEAR` (`_Q? \s* (?:[:=]|->) \s*+` and no mark, quoted or not,
   after it). Each part has one way to match: a quote or backslash is neither white space nor `:`/`=`/`-`. */
static int kv_tail(const unsigned char *s, Py_ssize_t j, Py_ssize_t n) {
    Py_ssize_t p = j + kv_quote(s, j, n);
    while (p < n && kv_space(s[p])) p++;
    if (p < n && (s[p] == ':' || s[p] == '='))
        p++;
    else if (p + 1 < n && s[p] == '-' && s[p + 1] == '>')
        p += 2;
    else
        return 0;
    while (p < n && kv_space(s[p])) p++;
    if (kv_mark(s, p, n)) return 0;
    Py_ssize_t q = kv_quote(s, p, n);
    return !(q && kv_mark(s, p + q, n));
}

static const char *const KV_WORDS[] = {"token",  "secret", "key",        "pwd", "pass", "authorization",
                                       "cookie", "bearer", "credential", NULL};

/* `[a-z0-9_.-]` under (?i), over ASCII: the words a key may have after its secret word (`SECRET_KEY_BASE`) */
static int kv_key_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

static PyObject *kv_near(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "kv_near(str)");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(arg)) Py_RETURN_NONE; /* case folding and `\s` beyond ASCII: the regex decides */
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    /* the end of the last run of key characters whose tail failed: a word ending inside that run has the same
       run end, so the same tail (a line of `pwd` 50,000 times over was scanned to its end from each word: 4 s) */
    Py_ssize_t failed_end = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = FOLD[s[i]];
        if (c != 't' && c != 's' && c != 'k' && c != 'p' && c != 'a' && c != 'c' && c != 'b') continue;
        for (const char *const *w = KV_WORDS; *w != NULL; w++) {
            if ((unsigned char)(*w)[0] != c) continue;
            Py_ssize_t len = (Py_ssize_t)strlen(*w), k = 1;
            if (n - i < len) continue;
            while (k < len && FOLD[s[i + k]] == (unsigned char)(*w)[k]) k++;
            if (k != len) continue;
            /* the word's letters are key characters: ending inside the failed run, it ends where that run ends
               (the `->` check below is the same or was made with a longer run before it) */
            if (i + len <= failed_end) continue;
            /* `[a-z0-9_.-]*` then the tail: only where the run ends, or one back when it ends in the `-` of `->`
               (no other character of the run can start the tail) */
            Py_ssize_t p = i + len;
            while (p < n && kv_key_char(s[p])) p++;
            if (kv_tail(s, p, n) || (p > i + len && s[p - 1] == '-' && kv_tail(s, p - 1, n))) Py_RETURN_TRUE;
            failed_end = p;
        }
    }
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"parse_line", (PyCFunction)(void (*)(void))parse_line, METH_FASTCALL,
     "parse_line(line: bytes, seq: int, file_id: int, line_no: int) -> (format, rows, metric_rows) | None"},
    {"parse_lines", (PyCFunction)(void (*)(void))parse_lines, METH_FASTCALL,
     "parse_lines(parts: list[bytes], start, max_len, seq, file_id, line_no) -> (lines, rows, metric_rows, "
     "records with events, records without, [(format, records)])"},
    {"message_trace", message_trace, METH_O, "message_trace(text: str) -> str | None (traceid.from_message)"},
    {"flag_rows", flag_rows, METH_VARARGS,
     "flag_rows(rows, text_columns, triggers, suppress_column, suppress_non_ascii, patterns, case_sensitive, "
     "masks=False) -> [(row, needs redaction[, trigger masks per column])]: stage._flag_sql's predicates"},
    {"column_buffers", column_buffers, METH_VARARGS,
     "column_buffers(rows: list[tuple], columns: list[(index, 's'|'l'|'i')]) -> Arrow buffers per column"},
    {"stage_keys", stage_keys, METH_VARARGS,
     "stage_keys(rows, (ts, system, level, message, trace, request, part[, client ts[, format]]), fingerprint) -> (offsets, "
     "fingerprints, event keys): the stager's fingerprint and event-key macros"},
    {"kv_near", kv_near, METH_O,
     "kv_near(text: str) -> bool | None: whether redact._KV_NEAR matches an ASCII text (None: not ASCII)"},
    {"md5_hex", md5_hex, METH_O, "md5_hex(data: bytes) -> str: the MD5 of stage_keys, for tests"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_fastparse",
    .m_doc = "The compiled fast path of ingest's parse phase.",
    .m_size = -1,
    .m_methods = methods,
};

static PyObject *intern(const char *s) { return PyUnicode_InternFromString(s); }

PyMODINIT_FUNC PyInit__fastparse(void) {
    for (int b = 0; b < 256; b++) {
        FOLD[b] = (unsigned char)((b >= 'A' && b <= 'Z') ? b + 32 : b);
        TOKEN_CHAR[b] = (unsigned char)((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
                                        (b != 0 && strchr("._~+/=:%-", b) != NULL));
        SAME[b] = (unsigned char)b;
    }
    S_BROWSER = intern("browser");
    S_WORKER = intern("worker");
    S_BACKEND = intern("backend");
    S_CONVEX = intern("convex");
    S_LEVELS[L_DEBUG] = intern("debug");
    S_LEVELS[L_INFO] = intern("info");
    S_LEVELS[L_LOG] = intern("log");
    S_LEVELS[L_WARN] = intern("warn");
    S_LEVELS[L_ERROR] = intern("error");
    S_FIELD = intern("field");
    S_HEADER = intern("header");
    S_MESSAGE = intern("message");
    S_NONE = intern("none");
    S_REQUEST_ID = intern("request_id");
    S_INVOCATION = intern("worker_invocation");
    S_FUNCTION_EXECUTION = intern("function_execution");
    F_LOGPUSH = intern("cf-logpush");
    F_V1 = intern("browser-v1");
    F_V2 = intern("browser-v2");
    F_WREC = intern("worker-record");
    F_CONVEX = intern("convex-stream");
    FORMATS[0] = F_V2;
    FORMATS[1] = F_WREC;
    FORMATS[2] = F_V1;
    FORMATS[3] = F_CONVEX;
    FORMATS[4] = F_LOGPUSH;
    if (PyErr_Occurred() || PyType_Ready(&BatchType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&BatchType);
    if (PyModule_AddObject(m, "StageBatch", (PyObject *)&BatchType) < 0) {
        Py_DECREF(&BatchType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "SOURCE", LOGCORR_SOURCE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

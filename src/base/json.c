/*
 * json.c - a strict RFC 8259 parser into a small DOM, written for untrusted
 * input (safetensors headers). Besides the grammar it enforces what the
 * format's readers disagree on: no duplicate keys, valid UTF-8 only, no lone
 * surrogates, a nesting limit. Every error is RECUR_EFORMAT naming the byte
 * offset; the parser never reads outside s[0..len).
 */
#include "base/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Every value and key costs a node (64 bytes) plus an allocation, over 30
// times the one or two bytes of input it may take: a 100 MB header of
// [0,0,...] would ask for gigabytes. So a document may hold at most this
// many values and keys together, comfortably above the largest legitimate
// one (a vocabulary of every Unicode scalar value: 1,112,064 strings).
#define JSON_MAX_NODES 2000000u

typedef struct jparser {
    const unsigned char *s;
    size_t len, pos;
    int max_depth;
    size_t nodes; /* values and keys parsed so far */
    recur_error *err;
} jparser;

static int jerr(jparser *p, size_t at, const char *fmt, ...) RECUR_PRINTF(3, 4);

static int jerr(jparser *p, size_t at, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return set_error(p->err, RECUR_EFORMAT, "JSON: %s at byte %zu", what, at);
}

static int jnomem(jparser *p)
{
    return set_error(p->err, RECUR_ENOMEM, "JSON: out of memory at byte %zu", p->pos);
}

// Shows one input byte in a message without putting raw control or
// non-ASCII bytes into it.
static void show_byte(char out[8], unsigned char c)
{
    if (c >= 0x20 && c < 0x7f)
        snprintf(out, 8, "'%c'", c);
    else
        snprintf(out, 8, "0x%02X", c);
}

// Quotes a key for a message: JSON escapes keep the message on one line,
// and long keys are cut (at a character boundary) so the offset still fits.
static void quote_key(char *out, size_t outsz, const char *k, size_t n)
{
    size_t cut = n > 48 ? 48 : n;
    while (cut > 0 && cut < n && ((unsigned char)k[cut] & 0xC0) == 0x80) cut--;
    strbuf b;
    sb_init(&b);
    sb_json_string(&b, k, cut);
    snprintf(out, outsz, "%s%s", b.s ? b.s : "\"\"", cut < n ? "..." : "");
    sb_free(&b);
}

static void skip_ws(jparser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* ---------------------------------------------------------------- freeing */

// Frees what v owns but not v itself. Works on half-built values: the
// builders keep every pointer either NULL or owned, and n counts only
// initialised children.
static void json_clear(json_value *v)
{
    if (v->items) {
        for (size_t i = 0; i < v->n; i++) json_clear(&v->items[i]);
        free(v->items);
    }
    if (v->keys) {
        for (size_t i = 0; i < v->n; i++) free(v->keys[i]);
        free(v->keys);
    }
    free(v->key_lens);
    free(v->str);
    memset(v, 0, sizeof *v);
}

void json_free(json_value *v)
{
    if (!v) return;
    json_clear(v);
    free(v);
}

/* ---------------------------------------------------------------- strings */

static int hex4(const unsigned char *h, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = h[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// Length of the well-formed UTF-8 sequence at s[i..end), or 0 if it is not
// one (Unicode table 3-7: no overlongs, no surrogates, nothing past U+10FFFF).
static size_t utf8_seq(const unsigned char *s, size_t i, size_t end)
{
    unsigned char c = s[i];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) n = 3, lo = 0xA0;
    else if (c == 0xED) n = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) n = 4, lo = 0x90;
    else if (c == 0xF4) n = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else return 0;
    if (end - i < n) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    return n;
}

// Decodes the escape at s[*i] (a backslash; the caller's scan guarantees
// s[*i+1] exists before end) into o[*n], advancing both.
static int decode_escape(jparser *p, size_t *i, size_t end, char *o, size_t *n)
{
    static const char escapes[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
    const unsigned char *s = p->s;
    size_t at = *i;
    unsigned char e = s[at + 1];
    const char *simple = e ? strchr(escapes, e) : NULL;
    if (simple) {
        o[(*n)++] = decoded[simple - escapes];
        *i += 2;
        return 0;
    }
    if (e != 'u') {
        char b[8];
        show_byte(b, e);
        return jerr(p, at, "invalid escape \\%s in string", b);
    }
    unsigned cp, lo;
    if (end - at < 6 || hex4(s + at + 2, &cp)) return jerr(p, at, "\\u escape needs 4 hex digits");
    if (cp >= 0xDC00 && cp <= 0xDFFF) return jerr(p, at, "lone low surrogate \\u%04X", cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - at < 12 || s[at + 6] != '\\' || s[at + 7] != 'u' || hex4(s + at + 8, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
            return jerr(p, at, "lone high surrogate \\u%04X", cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *i += 6;
    }
    // A \uXXXX escape is 6 source bytes and encodes to at most 3, and a
    // surrogate pair is 12 bytes for 4: the output cannot outgrow the input.
    *n += put_utf8(o + *n, cp);
    *i += 6;
    return 0;
}

// Parses the string starting at the opening quote at p->pos into a fresh
// NUL-terminated buffer. Decoded text is never longer than its source, so
// one allocation of the source length suffices.
static int parse_string(jparser *p, char **out, size_t *out_len)
{
    const unsigned char *s = p->s;
    size_t open = p->pos, start = open + 1, end = start;
    // Find the closing quote first, skipping escaped characters, so that
    // decoding below never has to look past end.
    while (end < p->len && s[end] != '"') {
        if (s[end] == '\\' && end + 1 < p->len) end++;
        end++;
    }
    if (end >= p->len) return jerr(p, open, "unterminated string");

    char *o = malloc(end - start + 1);
    if (!o) return jnomem(p);
    size_t n = 0, i = start;
    int rc = 0;
    while (i < end && !rc) {
        unsigned char c = s[i];
        if (c == '\\') {
            rc = decode_escape(p, &i, end, o, &n);
        } else if (c < 0x20) {
            rc = jerr(p, i, "control character 0x%02X in string", c);
        } else if (c < 0x80) {
            o[n++] = (char)c;
            i++;
        } else {
            size_t k = utf8_seq(s, i, end);
            if (!k) {
                rc = jerr(p, i, "invalid UTF-8 in string");
                break;
            }
            memcpy(o + n, s + i, k);
            n += k;
            i += k;
        }
    }
    if (rc) {
        free(o);
        return rc;
    }
    o[n] = 0;
    p->pos = end + 1;
    *out = o;
    *out_len = n;
    return 0;
}

/* ---------------------------------------------------------------- numbers */

static int is_digit(jparser *p, size_t i)
{
    return i < p->len && p->s[i] >= '0' && p->s[i] <= '9';
}

static int parse_number(jparser *p, json_value *v)
{
    size_t start = p->pos, i = start;
    if (i < p->len && p->s[i] == '-') i++;
    if (!is_digit(p, i)) return jerr(p, i, "digit expected in number");
    if (p->s[i] == '0') {
        i++;
        if (is_digit(p, i)) return jerr(p, start, "leading zero in number");
    } else {
        while (is_digit(p, i)) i++;
    }
    if (i < p->len && p->s[i] == '.') {
        i++;
        if (!is_digit(p, i)) return jerr(p, i, "digit expected after decimal point");
        while (is_digit(p, i)) i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (!is_digit(p, i)) return jerr(p, i, "digit expected in exponent");
        while (is_digit(p, i)) i++;
    }
    size_t n = i - start;
    v->str = malloc(n + 1);
    if (!v->str) return jnomem(p);
    memcpy(v->str, p->s + start, n);
    v->str[n] = 0;
    v->len = n;
    v->type = J_NUM;
    // strtod follows LC_NUMERIC; callers needing exact integers use
    // json_u64 on the raw text instead.
    v->num = strtod(v->str, NULL);
    p->pos = i;
    return 0;
}

/* ---------------------------------------------------------------- containers */

static int parse_value(jparser *p, json_value *v, int depth);

// Grows a container's arrays to hold at least n+1 children.
static int grow(jparser *p, json_value *v, size_t *cap, int with_keys)
{
    if (v->n < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    json_value *items = xmalloc(ncap, sizeof *items);
    char **keys = with_keys ? xmalloc(ncap, sizeof *keys) : NULL;
    size_t *lens = with_keys ? xmalloc(ncap, sizeof *lens) : NULL;
    if (!items || (with_keys && (!keys || !lens))) {
        free(items);
        free(keys);
        free(lens);
        return jnomem(p);
    }
    if (v->n) {
        memcpy(items, v->items, v->n * sizeof *items);
        if (with_keys) {
            memcpy(keys, v->keys, v->n * sizeof *keys);
            memcpy(lens, v->key_lens, v->n * sizeof *lens);
        }
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    v->items = items;
    v->keys = keys;
    v->key_lens = lens;
    *cap = ncap;
    return 0;
}

static int parse_array(jparser *p, json_value *v, int depth)
{
    size_t cap = 0;
    v->type = J_ARR;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        int rc = grow(p, v, &cap, 0);
        if (rc) return rc;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++;
        if ((rc = parse_value(p, &v->items[v->n - 1], depth))) return rc;
        skip_ws(p);
        if (p->pos >= p->len) return jerr(p, p->pos, "unexpected end of input in array");
        unsigned char c = p->s[p->pos++];
        if (c == ']') return 0;
        if (c != ',') {
            char b[8];
            show_byte(b, c);
            return jerr(p, p->pos - 1, "expected ',' or ']' but found %s", b);
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ']') return jerr(p, p->pos, "trailing comma");
    }
}

typedef struct key_ref {
    const char *k;
    size_t len, at;
} key_ref;

static int cmp_key_ref(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->k, y->k, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

// Duplicate check by sorting, so that a header with a million keys costs
// n log n rather than n^2. Reports the second occurrence.
static int check_duplicates(jparser *p, const json_value *v, const size_t *at)
{
    if (v->n < 2) return 0;
    key_ref *r = xmalloc(v->n, sizeof *r);
    if (!r) return jnomem(p);
    for (size_t i = 0; i < v->n; i++) r[i] = (key_ref){v->keys[i], v->key_lens[i], at[i]};
    qsort(r, v->n, sizeof *r, cmp_key_ref);
    int rc = 0;
    for (size_t i = 1; i < v->n && !rc; i++) {
        if (r[i].len == r[i - 1].len && memcmp(r[i].k, r[i - 1].k, r[i].len) == 0) {
            char q[96];
            quote_key(q, sizeof q, r[i].k, r[i].len);
            rc = jerr(p, r[i].at, "duplicate key %s", q);
        }
    }
    free(r);
    return rc;
}

static int parse_object(jparser *p, json_value *v, int depth)
{
    size_t cap = 0, at_cap = 0, *at = NULL; // byte offset of each key, for messages
    int rc = 0;
    v->type = J_OBJ;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (p->pos >= p->len) {
            rc = jerr(p, p->pos, "unexpected end of input in object");
            break;
        }
        if (p->s[p->pos] != '"') {
            char b[8];
            show_byte(b, p->s[p->pos]);
            rc = jerr(p, p->pos, "expected a string key but found %s", b);
            break;
        }
        size_t key_at = p->pos, klen;
        char *key;
        if (++p->nodes > JSON_MAX_NODES) {
            rc = jerr(p, p->pos, "more than %u values and keys", JSON_MAX_NODES);
            break;
        }
        if ((rc = parse_string(p, &key, &klen))) break;
        if ((rc = grow(p, v, &cap, 1))) {
            free(key);
            break;
        }
        if (at_cap < cap) {
            size_t *nat = realloc(at, cap * sizeof *at);
            if (!nat) {
                free(key);
                rc = jnomem(p);
                break;
            }
            at = nat;
            at_cap = cap;
        }
        v->keys[v->n] = key;
        v->key_lens[v->n] = klen;
        at[v->n] = key_at;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            rc = jerr(p, p->pos, "expected ':' after key");
            break;
        }
        p->pos++;
        skip_ws(p);
        if ((rc = parse_value(p, &v->items[v->n - 1], depth))) break;
        skip_ws(p);
        if (p->pos >= p->len) {
            rc = jerr(p, p->pos, "unexpected end of input in object");
            break;
        }
        unsigned char c = p->s[p->pos++];
        if (c == '}') {
            rc = check_duplicates(p, v, at);
            break;
        }
        if (c != ',') {
            char b[8];
            show_byte(b, c);
            rc = jerr(p, p->pos - 1, "expected ',' or '}' but found %s", b);
            break;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == '}') {
            rc = jerr(p, p->pos, "trailing comma");
            break;
        }
    }
    free(at);
    return rc;
}

static int parse_literal(jparser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return jerr(p, p->pos, "invalid literal (expected %s)", word);
    p->pos += n;
    return 0;
}

// depth counts the containers enclosing v; entering one more must stay
// within max_depth, which also bounds this recursion.
static int parse_value(jparser *p, json_value *v, int depth)
{
    if (p->pos >= p->len) return jerr(p, p->pos, "unexpected end of input");
    if (++p->nodes > JSON_MAX_NODES)
        return jerr(p, p->pos, "more than %u values and keys", JSON_MAX_NODES);
    unsigned char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (depth >= p->max_depth) return jerr(p, p->pos, "nesting deeper than %d", p->max_depth);
        return c == '{' ? parse_object(p, v, depth + 1) : parse_array(p, v, depth + 1);
    }
    if (c == '"') {
        v->type = J_STR;
        return parse_string(p, &v->str, &v->len);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    if (c == 't' || c == 'f') {
        v->type = J_BOOL;
        v->boolean = c == 't';
        return parse_literal(p, c == 't' ? "true" : "false");
    }
    if (c == 'n') {
        v->type = J_NULL;
        return parse_literal(p, "null");
    }
    char b[8];
    show_byte(b, c);
    return jerr(p, p->pos, "unexpected character %s", b);
}

/* ---------------------------------------------------------------- API */

int json_parse(const char *s, size_t len, int max_depth, json_value **out, recur_error *err)
{
    *out = NULL;
    jparser p = {(const unsigned char *)s, s ? len : 0, 0, max_depth, 0, err};
    skip_ws(&p);
    if (p.pos >= p.len) return jerr(&p, p.pos, "empty input");
    json_value *v = calloc(1, sizeof *v);
    if (!v) return jnomem(&p);
    int rc = parse_value(&p, v, 0);
    if (!rc) {
        skip_ws(&p);
        if (p.pos < p.len) rc = jerr(&p, p.pos, "trailing garbage after the value");
    }
    if (rc) {
        json_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->key_lens[i] == n && memcmp(obj->keys[i], key, n) == 0) return &obj->items[i];
    return NULL;
}

int json_u64(const json_value *v, uint64_t *out)
{
    if (!v || v->type != J_NUM || v->len == 0) return -1;
    if (v->str[0] == '0' && v->len > 1) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (c < '0' || c > '9') return -1;
        unsigned d = (unsigned)(c - '0');
        if (x > (UINT64_MAX - d) / 10) return -1;
        x = x * 10 + d;
    }
    *out = x;
    return 0;
}

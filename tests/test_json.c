/*
 * test_json.c - the strict JSON parser: valid documents decode to the right
 * tree (escapes, surrogate pairs, UTF-8, numbers with their raw text), and
 * every kind of malformed input is RECUR_EFORMAT naming a byte offset. A
 * seeded mutation loop then checks that no input makes it misbehave (run it
 * under ASan/valgrind to catch out-of-bounds reads and leaks).
 */
#include "check.h"
#include "base/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static json_value *parse_ok(const char *s, size_t len, int depth)
{
    json_value *v = NULL;
    recur_error err = {0, ""};
    int rc = json_parse(s, len, depth, &v, &err);
    CHECK(rc == 0 && v, "%s: rc %d: %s", s, rc, err.msg);
    return v;
}

// Expects a rejection whose message contains want (and a byte offset).
static void bad_n(const char *label, const char *s, size_t len, int depth, const char *want)
{
    json_value *v = (json_value *)1;
    recur_error err = {0, ""};
    int rc = json_parse(s, len, depth, &v, &err);
    CHECK(rc == RECUR_EFORMAT, "%s: rc %d", label, rc);
    CHECK(v == NULL, "%s: out not cleared", label);
    CHECK(err.code == rc, "%s: err.code %d", label, err.code);
    CHECK(strstr(err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", label, err.msg, want);
    CHECK(strstr(err.msg, " at byte ") != NULL, "%s: no offset in \"%s\"", label, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "%s: message spans lines", label);
    // The label may hold raw test bytes: print those escaped.
    char shown[64] = "";
    size_t k = 0;
    for (const char *c = label; *c && k + 5 < sizeof shown; c++) {
        unsigned char u = (unsigned char)*c;
        const char *fmt = u < 0x20 || u > 0x7e ? "\\x%02X" : "%c";
        k += (size_t)snprintf(shown + k, sizeof shown - k, fmt, u);
    }
    printf("  %-28s %s\n", shown, err.msg);
    if (rc == 0) json_free(v);
}

static void bad(const char *s, int depth, const char *want)
{
    bad_n(s, s, strlen(s), depth, want);
}

static void test_structure(void)
{
    const char *doc = " {\"a\": [1, 2, {\"b\": null}], \"c\": true, \"d\": false, \"e\": {}, "
                      "\"f\": [], \"ab\": \"x\"}\n";
    json_value *v = parse_ok(doc, strlen(doc), 3);
    if (!v) return;
    CHECK(v->type == J_OBJ && v->n == 6, "root: type %d n %zu", v->type, v->n);
    const json_value *a = json_get(v, "a");
    CHECK(a && a->type == J_ARR && a->n == 3, "a");
    if (a && a->n == 3) {
        CHECK(a->items[0].type == J_NUM && a->items[0].num == 1.0, "a[0]");
        CHECK(a->items[1].type == J_NUM && strcmp(a->items[1].str, "2") == 0, "a[1] raw text");
        const json_value *b = json_get(&a->items[2], "b");
        CHECK(b && b->type == J_NULL, "a[2].b");
    }
    const json_value *c = json_get(v, "c"), *d = json_get(v, "d");
    CHECK(c && c->type == J_BOOL && c->boolean == 1, "c");
    CHECK(d && d->type == J_BOOL && d->boolean == 0, "d");
    const json_value *e = json_get(v, "e"), *f = json_get(v, "f");
    CHECK(e && e->type == J_OBJ && e->n == 0, "e");
    CHECK(f && f->type == J_ARR && f->n == 0, "f");
    const json_value *ab = json_get(v, "ab");
    CHECK(ab && ab->type == J_STR && strcmp(ab->str, "x") == 0 && ab->len == 1, "ab");
    CHECK(json_get(v, "zz") == NULL, "missing key");
    CHECK(json_get(a, "a") == NULL, "json_get on an array");
    CHECK(v->keys && strcmp(v->keys[0], "a") == 0 && v->key_lens[0] == 1, "key order kept");
    json_free(v);

    // Scalars at the top level, and the depth limit counting containers.
    const char *scalars[] = {"42", "\"s\"", "null", "true", " false "};
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++)
        json_free(parse_ok(scalars[i], strlen(scalars[i]), 0));
    json_free(parse_ok("[[1]]", 5, 2));
    bad("[[1]]", 1, "nesting deeper than 1");
    bad("[]", 0, "nesting deeper than 0");
    json_free(parse_ok("{\"a\":{\"b\":[]}}", 14, 3));
    bad("{\"a\":{\"b\":[[]]}}", 3, "nesting deeper than 3");
    json_free(NULL);
}

static void test_strings(void)
{
    const char *doc = "\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t "
                      "\\u0041\\u00e9\\u20AC \xc3\xa9\xe2\x82\xac\"";
    json_value *v = parse_ok(doc, strlen(doc), 1);
    const char want[] = "q\" b\\ s/ \b\f\n\r\t A\xc3\xa9\xe2\x82\xac \xc3\xa9\xe2\x82\xac";
    CHECK(v && v->type == J_STR && v->len == sizeof want - 1 && memcmp(v->str, want, v->len) == 0,
          "escapes decode");
    json_free(v);

    // A surrogate pair is one code point (U+1F600), as is its raw UTF-8.
    const char *pair = "\"\\ud83d\\uDE00|\xf0\x9f\x98\x80\"";
    v = parse_ok(pair, strlen(pair), 1);
    CHECK(v && v->len == 9 && memcmp(v->str, "\xf0\x9f\x98\x80|\xf0\x9f\x98\x80", 9) == 0,
          "surrogate pair");
    json_free(v);
    // U+10FFFF, the last code point, both ways.
    v = parse_ok("\"\\udbff\\udfff\xf4\x8f\xbf\xbf\"", 18, 1);
    CHECK(v && v->len == 8 && memcmp(v->str, "\xf4\x8f\xbf\xbf\xf4\x8f\xbf\xbf", 8) == 0,
          "U+10FFFF");
    json_free(v);
    // \u0000 is legal: the string keeps its length and holds a NUL.
    v = parse_ok("\"a\\u0000b\"", 10, 1);
    CHECK(v && v->len == 3 && v->str[1] == 0 && v->str[3] == 0, "embedded NUL");
    json_free(v);
    v = parse_ok("{\"k\\u0000\":1}", 13, 1);
    CHECK(v && v->n == 1 && v->key_lens[0] == 2, "key with NUL keeps its length");
    json_free(v);
    v = parse_ok("\"\"", 2, 1);
    CHECK(v && v->type == J_STR && v->len == 0 && v->str && v->str[0] == 0, "empty string");
    json_free(v);
}

static void test_numbers(void)
{
    static const struct {
        const char *text;
        double value;
    } nums[] = {{"0", 0},        {"-0", -0.0},     {"1.5", 1.5},       {"-12e3", -12e3},
                {"1E+2", 100},   {"2.5e-3", 2.5e-3}, {"123456789", 123456789}, {"0.0", 0}};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        json_value *v = parse_ok(nums[i].text, strlen(nums[i].text), 0);
        CHECK(v && v->type == J_NUM && v->num == nums[i].value &&
                  strcmp(v->str, nums[i].text) == 0 && v->len == strlen(nums[i].text),
              "number %s", nums[i].text);
        json_free(v);
    }

    static const struct {
        const char *text;
        int ok;
        uint64_t value;
    } u[] = {{"0", 1, 0},
             {"7", 1, 7},
             {"18446744073709551615", 1, UINT64_MAX},
             {"18446744073709551616", 0, 0},
             {"99999999999999999999", 0, 0},
             {"-1", 0, 0},
             {"-0", 0, 0},
             {"1.0", 0, 0},
             {"1e2", 0, 0}};
    for (size_t i = 0; i < sizeof u / sizeof *u; i++) {
        json_value *v = parse_ok(u[i].text, strlen(u[i].text), 0);
        uint64_t x = 12345;
        int rc = v ? json_u64(v, &x) : -2;
        CHECK(u[i].ok ? (rc == 0 && x == u[i].value) : (rc == -1 && x == 12345), "json_u64 %s",
              u[i].text);
        json_free(v);
    }
    json_value *s = parse_ok("\"5\"", 3, 0);
    uint64_t x;
    CHECK(s && json_u64(s, &x) == -1, "json_u64 of a string");
    CHECK(json_u64(NULL, &x) == -1, "json_u64 of NULL");
    json_free(s);
}

static void test_invalid(void)
{
    bad("", 4, "empty input");
    bad(" \t\r\n", 4, "empty input");
    bad_n("NULL pointer", NULL, 0, 4, "empty input");
    bad("{\"a\":1,\"a\":2}", 4, "duplicate key \"a\" at byte 7");
    bad("{\"x\":{\"k\":1,\"j\":2,\"k\":3}}", 4, "duplicate key \"k\"");
    bad("{\"\\u0041\":1,\"A\":2}", 4, "duplicate key \"A\"");
    bad("[1,]", 4, "trailing comma at byte 3");
    bad("{\"a\":1,}", 4, "trailing comma");
    bad("[1 2]", 4, "expected ',' or ']'");
    bad("{\"a\":1 \"b\":2}", 4, "expected ',' or '}'");
    bad("{\"a\" 1}", 4, "expected ':'");
    bad("{1:2}", 4, "expected a string key");
    bad("{} x", 4, "trailing garbage after the value at byte 3");
    bad("1 2", 4, "trailing garbage");
    bad("[1]]", 4, "trailing garbage");
    bad("\"\\ud800\"", 4, "lone high surrogate");
    bad("\"\\ud800\\u0041\"", 4, "lone high surrogate");
    bad("\"\\ud800x\"", 4, "lone high surrogate");
    bad("\"\\ud800\\\\\"", 4, "lone high surrogate");
    bad("\"\\udc00\"", 4, "lone low surrogate");
    bad("\"\\ude00\\ud83d\"", 4, "lone low surrogate");
    bad("\"a\nb\"", 4, "control character 0x0A in string at byte 2");
    bad("\"\x1f\"", 4, "control character 0x1F");
    bad_n("NUL byte in a string", "\"a\0b\"", 5, 4, "control character 0x00");
    bad_n("NUL byte outside", "[1,\0]", 5, 4, "unexpected character 0x00");
    bad("\"\\x\"", 4, "invalid escape \\'x'");
    bad("\"\\'\"", 4, "invalid escape");
    bad("\"\\u12G4\"", 4, "4 hex digits");
    bad("\"\\u12\"", 4, "4 hex digits");
    bad("\"\\", 4, "unterminated string");
    bad("\"abc", 4, "unterminated string at byte 0");
    bad("\"abc\\\"", 4, "unterminated string");
    bad("\"\xc0\x80\"", 4, "invalid UTF-8 in string at byte 1");
    bad("\"\xc1\xbf\"", 4, "invalid UTF-8");
    bad("\"\xe0\x80\x80\"", 4, "invalid UTF-8");
    bad("\"\xf0\x80\x80\x80\"", 4, "invalid UTF-8");
    bad("\"\xed\xa0\x80\"", 4, "invalid UTF-8"); // an encoded surrogate
    bad("\"\xf4\x90\x80\x80\"", 4, "invalid UTF-8"); // U+110000
    bad("\"\xf5\x80\x80\x80\"", 4, "invalid UTF-8");
    bad("\"\x80\"", 4, "invalid UTF-8");
    bad("\"\xe2\x82\"", 4, "invalid UTF-8");
    bad("\"\xe2\x82", 4, "unterminated");
    bad("\"\xff\"", 4, "invalid UTF-8");
    bad("{\"\xc3\":1}", 4, "invalid UTF-8"); // keys are checked too
    bad("01", 4, "leading zero in number at byte 0");
    bad("-01", 4, "leading zero");
    bad("[00]", 4, "leading zero");
    bad("-", 4, "digit expected");
    bad("1.", 4, "digit expected after decimal point");
    bad(".5", 4, "unexpected character '.'");
    bad("1e", 4, "digit expected in exponent");
    bad("1e+", 4, "digit expected in exponent");
    bad("+1", 4, "unexpected character '+'");
    bad("0x10", 4, "trailing garbage");
    bad("[1,2", 4, "unexpected end of input in array");
    bad("{\"a\":1", 4, "unexpected end of input in object");
    bad("{\"a\"", 4, "expected ':'");
    bad("{\"a\":}", 4, "unexpected character '}'");
    bad("{\"a\":", 4, "unexpected end of input");
    bad("[", 4, "unexpected end of input");
    bad("tru", 4, "invalid literal");
    bad("True", 4, "unexpected character 'T'");
    bad("nul", 4, "invalid literal");
    bad("'a'", 4, "unexpected character");
    bad("\xef\xbb\xbf{}", 4, "unexpected character 0xEF"); // a BOM is not JSON

    // Deep nesting: refused at the limit, without deep recursion.
    char deep[2001];
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    deep[2000] = 0;
    bad_n("1000 nested arrays", deep, 2000, 64, "nesting deeper than 64 at byte 64");
    json_free(parse_ok(deep, 2000, 1000));

    // Duplicate keys in a large object (found by sorting, reported at the
    // second occurrence).
    strbuf b;
    sb_init(&b);
    sb_putc(&b, '{');
    for (int i = 0; i < 2000; i++) sb_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    size_t at = b.len + 1;
    sb_puts(&b, ",\"k1234\":0}");
    char want[64];
    snprintf(want, sizeof want, "duplicate key \"k1234\" at byte %zu", at);
    bad_n("large object with a duplicate", b.s, b.len, 4, want);
    b.len -= 11;
    sb_putc(&b, '}');
    json_value *v = parse_ok(b.s, b.len, 4);
    CHECK(v && v->n == 2000 && json_get(v, "k1999") && json_get(v, "k1999")->num == 1999,
          "large object");
    json_free(v);
    sb_free(&b);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

// Every prefix of valid documents, and random byte mutations of them, must
// give 0 or RECUR_EFORMAT, never anything else (ASan catches stray reads).
static void test_mutations(void)
{
    static const char *seeds[] = {
        ("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],"
         "\"data_offsets\":[0,24]}}"),
        "[\"\\ud83d\\ude00\", \"\\u00e9\\n\", -1.5e-3, 0, true, null, {\"a\":[[]]}]",
        "\"\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9\"",
    };
    int bad_rc = 0, accepted = 0, runs = 0;
    uint64_t rng = 0x9E3779B97F4A7C15u;
    for (size_t si = 0; si < sizeof seeds / sizeof *seeds; si++) {
        size_t n = strlen(seeds[si]);
        char *buf = malloc(n + 8);
        for (size_t cut = 0; cut <= n; cut++) {
            // A fresh allocation of exactly cut bytes, so ASan sees any overread.
            char *p = malloc(cut ? cut : 1);
            memcpy(p, seeds[si], cut);
            json_value *v = NULL;
            int rc = json_parse(p, cut, 8, &v, NULL);
            if (rc != 0 && rc != RECUR_EFORMAT) bad_rc++;
            accepted += rc == 0;
            json_free(v);
            free(p);
            runs++;
        }
        for (int it = 0; it < 20000; it++) {
            memcpy(buf, seeds[si], n);
            int edits = 1 + (int)(rng_next(&rng) % 4);
            for (int k = 0; k < edits; k++) {
                size_t at = rng_next(&rng) % n;
                static const char interesting[] = "\"\\{}[]:,0-.eu\x80\xc0\xed\xf4\xff";
                uint64_t r = rng_next(&rng);
                size_t pick = (r >> 8) % (sizeof interesting - 1);
                buf[at] = (r & 1) ? (char)(r >> 8) : interesting[pick];
            }
            size_t len = n - rng_next(&rng) % 3;
            char *p = malloc(len);
            memcpy(p, buf, len);
            json_value *v = NULL;
            int rc = json_parse(p, len, 4, &v, NULL);
            if (rc != 0 && rc != RECUR_EFORMAT) bad_rc++;
            accepted += rc == 0;
            json_free(v);
            free(p);
            runs++;
        }
        free(buf);
    }
    printf("  %d mutated/truncated inputs, %d accepted\n", runs, accepted);
    CHECK(bad_rc == 0, "%d inputs returned something other than 0 or RECUR_EFORMAT", bad_rc);
}

int main(void)
{
    printf("test_json\n");
    test_structure();
    test_strings();
    test_numbers();
    test_invalid();
    test_mutations();
    return check_exit();
}

/*
 * test_safetensors.c - the checkpoint container: bit-exact round trips
 * (NaN payloads, -0.0, denormals), the reference writer's bytes (the
 * 120-byte worked example of docs/format.md, the dtype sort), a catalogue
 * of malformed files that must each be RECUR_EFORMAT with a message naming
 * the problem, a mutation loop for memory safety, and the atomic file write.
 */
#include "check.h"
#include "formats/safetensors.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *label, const char *msg)
{
    printf("  %-34s %s\n", label, msg);
}

// A file made of an explicit header length, header text and data bytes.
static uint8_t *make_raw(uint64_t n, const char *header, const void *data, size_t dlen,
                         size_t *len)
{
    size_t hl = strlen(header);
    *len = 8 + hl + dlen;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
    memcpy(b + 8, header, hl);
    if (dlen) memcpy(b + 8 + hl, data, dlen);
    return b;
}

static uint8_t *make_file(const char *header, const void *data, size_t dlen, size_t *len)
{
    return make_raw(strlen(header), header, data, dlen, len);
}

// Expects st_parse to refuse buf with RECUR_EFORMAT and a message holding want.
static void expect_bad(const char *label, const uint8_t *buf, size_t len, const char *want)
{
    st_file *f = (st_file *)1;
    recur_error err = {0, ""};
    int rc = st_parse(buf, len, &f, &err);
    CHECK(rc == RECUR_EFORMAT, "%s: rc %d (%s)", label, rc, err.msg);
    CHECK(f == NULL, "%s: out not cleared", label);
    CHECK(strstr(err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", label, err.msg, want);
    CHECK(strchr(err.msg, '\n') == NULL, "%s: message spans lines", label);
    show(label, err.msg);
    if (rc == 0) st_free(f);
}

static void expect_bad_header(const char *label, const char *header, size_t dlen,
                              const char *want)
{
    uint8_t zeros[256] = {0};
    size_t len;
    uint8_t *b = make_file(header, zeros, dlen, &len);
    expect_bad(label, b, len, want);
    free(b);
}

/* ---------------------------------------------------------------- round trip */

static const uint32_t f32_bits[] = {
    0x3f800000u, // 1.0
    0x80000000u, // -0.0
    0x00000001u, // smallest denormal
    0x807fffffu, // largest negative denormal
    0x7fc00000u, // quiet NaN
    0x7fa00001u, // signalling NaN with a payload
    0xffffffffu, // negative NaN, all payload bits
    0x7f800000u, // +inf
    0xff7fffffu, // -FLT_MAX
};
static const uint64_t f64_bits[] = {0x8000000000000000u, 0x0000000000000001u,
                                    0x7ff8000000000001u, 0xfff0000000000000u};
static const int64_t i64_vals[] = {INT64_MIN, -1, 0, INT64_MAX};
static const uint16_t bf16_bits[] = {0x3f80, 0xffc1, 0x0001, 0x8000, 0x7f80, 0x0000};
static const uint8_t u8_vals[] = {0, 127, 255};
static const int8_t i8_scalar[] = {-128};
static const uint8_t bool_vals[] = {1, 0, 1, 1, 0};

// Listed deliberately out of write order, and with a zero-size tensor.
static st_entry rt_entries[] = {
    {"u8", ST_U8, 1, {3}, u8_vals},
    {"rnn.weight", ST_F32, 2, {3, 3}, f32_bits},
    {"scalar", ST_I8, 0, {0}, i8_scalar},
    {"empty", ST_F32, 2, {0, 3}, NULL},
    {"bf", ST_BF16, 2, {2, 3}, bf16_bits},
    {"d", ST_F64, 1, {4}, f64_bits},
    {"mask", ST_BOOL, 1, {5}, bool_vals},
    {"step", ST_I64, 1, {4}, i64_vals},
};
static const st_kv rt_meta[] = {
    {"recur.format", "1"},
    {"format", "pt"},
    {"note", "line1\nline2 \"quoted\" \\ caf\xc3\xa9 \xf0\x9f\x98\x80 \x01"},
};
#define RT_N (sizeof rt_entries / sizeof *rt_entries)
#define RT_NMETA (sizeof rt_meta / sizeof *rt_meta)

static size_t entry_bytes(const st_entry *e)
{
    size_t n = st_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

static void test_round_trip(void)
{
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    recur_error err = {0, ""};
    int rc = st_serialize(rt_entries, RT_N, rt_meta, RT_NMETA, &a, &alen, &err);
    CHECK(rc == 0, "serialize: %s", err.msg);
    if (rc) return;

    // Determinism: twice, and with the inputs in another order.
    rc = st_serialize(rt_entries, RT_N, rt_meta, RT_NMETA, &b, &blen, &err);
    CHECK(rc == 0 && blen == alen && memcmp(a, b, alen) == 0, "serialize twice: same bytes");
    free(b);
    st_entry rev[RT_N];
    st_kv mrev[RT_NMETA];
    for (size_t i = 0; i < RT_N; i++) rev[i] = rt_entries[RT_N - 1 - i];
    for (size_t i = 0; i < RT_NMETA; i++) mrev[i] = rt_meta[RT_NMETA - 1 - i];
    rc = st_serialize(rev, RT_N, mrev, RT_NMETA, &b, &blen, &err);
    CHECK(rc == 0 && blen == alen && memcmp(a, b, alen) == 0, "input order does not matter");
    free(b);

    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)a[i] << (8 * i);
    size_t last = 8 + (size_t)n - 1;
    while (a[last] == ' ') last--;
    CHECK(n % 8 == 0 && a[8] == '{' && a[last] == '}' && 8 + n - 1 - last < 8,
          "header padded to 8 (N=%llu)", (unsigned long long)n);

    st_file *f = NULL;
    rc = st_parse(a, alen, &f, &err);
    CHECK(rc == 0, "parse: %s", err.msg);
    if (rc) {
        free(a);
        return;
    }
    CHECK(f->ntensors == RT_N && f->nmeta == RT_NMETA, "counts %zu %zu", f->ntensors, f->nmeta);
    for (size_t i = 0; i < RT_N; i++) {
        const st_entry *e = &rt_entries[i];
        const st_tensor *t = st_find(f, e->name);
        CHECK(t != NULL, "tensor %s found", e->name);
        if (!t) continue;
        size_t nb = entry_bytes(e);
        int same_shape = t->ndim == e->ndim;
        for (int d = 0; d < e->ndim && same_shape; d++) same_shape = t->shape[d] == e->shape[d];
        CHECK(t->dtype == e->dtype && same_shape && t->end - t->begin == nb, "tensor %s info",
              e->name);
        CHECK(nb == 0 || memcmp(t->data, e->data, nb) == 0, "tensor %s bytes bit-exact", e->name);
        // The reference order aligns every tensor to its element size.
        size_t at = (size_t)(t->data - f->buf);
        CHECK(at % st_dtype_size(t->dtype) == 0, "tensor %s aligned (file offset %zu)", e->name,
              at);
    }
    const st_tensor *sc = st_find(f, "scalar");
    CHECK(sc && sc->ndim == 0 && sc->nelem == 1, "scalar has one element");
    const st_tensor *em = st_find(f, "empty");
    CHECK(em && em->nelem == 0 && em->begin == em->end, "empty tensor");
    for (size_t i = 0; i < RT_NMETA; i++) {
        const char *v = st_meta(f, rt_meta[i].key);
        CHECK(v && strcmp(v, rt_meta[i].value) == 0, "metadata %s", rt_meta[i].key);
    }
    CHECK(f->nmeta == 3 && strcmp(f->meta_keys[0], "format") == 0 &&
              strcmp(f->meta_keys[2], "recur.format") == 0,
          "metadata written with sorted keys");
    CHECK(st_meta(f, "absent") == NULL && st_find(f, "absent") == NULL, "absent names");

    float w[9];
    rc = st_copy_f32(st_find(f, "rnn.weight"), w, 9, &err);
    CHECK(rc == 0 && memcmp(w, f32_bits, sizeof w) == 0, "st_copy_f32 bit-exact");
    rc = st_copy_f32(st_find(f, "rnn.weight"), w, 8, &err);
    CHECK(rc == RECUR_EFORMAT && strstr(err.msg, "\"rnn.weight\": has 9 elements, expected 8"),
          "st_copy_f32 count: %s", err.msg);
    rc = st_copy_f32(st_find(f, "d"), w, 4, &err);
    CHECK(rc == RECUR_EFORMAT && strstr(err.msg, "\"d\": dtype is F64, expected F32"),
          "st_copy_f32 dtype: %s", err.msg);
    st_free(f);
    st_free(NULL);
    free(a);
}

// The worked example of docs/format.md (interop.md 1.4), byte for byte.
static void test_worked_example(void)
{
    static const float v[2] = {1.0f, -2.0f};
    static const st_entry e[] = {{"rnn.bias_hh_l0", ST_F32, 1, {2}, v}};
    static const st_kv m[] = {{"format", "pt"}};
    const char *header = "{\"__metadata__\":{\"format\":\"pt\"},\"rnn.bias_hh_l0\":{\"dtype\":"
                         "\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}      ";
    static const uint8_t data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    size_t want_len;
    uint8_t *want = make_file(header, data, 8, &want_len);
    uint8_t *got = NULL;
    size_t got_len = 0;
    recur_error err = {0, ""};
    int rc = st_serialize(e, 1, m, 1, &got, &got_len, &err);
    CHECK(rc == 0 && want_len == 120 && got_len == 120 && want[0] == 104 &&
              memcmp(got, want, 120) == 0,
          "120-byte worked example (got %zu bytes: %s)", got_len, err.msg);
    free(got);
    free(want);

    // No tensors, no metadata: "{}" and 6 spaces.
    rc = st_serialize(NULL, 0, NULL, 0, &got, &got_len, &err);
    CHECK(rc == 0 && got_len == 16 && memcmp(got, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0,
          "empty file is 16 bytes");
    st_file *f = NULL;
    rc = st_parse(got, got_len, &f, &err);
    CHECK(rc == 0 && f && f->ntensors == 0 && f->nmeta == 0, "empty file parses");
    st_free(f);
    free(got);
}

// The reference order: dtype descending in enum order, then name.
static void test_sort(void)
{
    static const uint8_t z[64] = {0};
    static const st_entry e[] = {
        {"a", ST_U8, 1, {1}, z},  {"b", ST_F32, 1, {1}, z}, {"c", ST_F64, 1, {1}, z},
        {"d", ST_BF16, 1, {1}, z}, {"e", ST_F32, 1, {1}, z}, {"f", ST_I64, 1, {1}, z},
        {"g", ST_I16, 1, {1}, z},  {"h", ST_U64, 1, {1}, z}, {"B", ST_F32, 1, {1}, z},
    };
    const char *want[] = {"h", "f", "c", "B", "b", "e", "d", "g", "a"};
    uint8_t *buf;
    size_t len;
    recur_error err = {0, ""};
    int rc = st_serialize(e, sizeof e / sizeof *e, NULL, 0, &buf, &len, &err);
    CHECK(rc == 0, "serialize: %s", err.msg);
    if (rc) return;
    // Header order equals offset order; check both.
    const char *h = (const char *)buf + 8, *prev = h;
    uint64_t prev_begin = 0;
    st_file *f = NULL;
    rc = st_parse(buf, len, &f, &err);
    CHECK(rc == 0, "parse: %s", err.msg);
    for (size_t i = 0; i < sizeof want / sizeof *want && f; i++) {
        char key[8];
        snprintf(key, sizeof key, "\"%s\":", want[i]);
        const char *at = strstr(h, key);
        CHECK(at && at >= prev, "%s in header position %zu", want[i], i);
        if (at) prev = at;
        const st_tensor *t = st_find(f, want[i]);
        CHECK(t && (i == 0 ? t->begin == 0 : t->begin > prev_begin), "%s at offset %llu", want[i],
              t ? (unsigned long long)t->begin : 0ull);
        if (t) prev_begin = t->begin;
        CHECK(f->tensors[i].name && strcmp(f->tensors[i].name, want[i]) == 0,
              "header order kept by the reader (%zu)", i);
    }
    st_free(f);
    free(buf);
}

static void test_writer_rejects(void)
{
    static const float z[4] = {0};
    recur_error err = {0, ""};
    uint8_t *buf = (uint8_t *)1;
    size_t len;
    static const struct {
        const char *label;
        st_entry e[2];
        size_t n;
        const char *want;
    } cases[] = {
        {"duplicate names", {{"w", ST_F32, 1, {1}, z}, {"w", ST_F16, 1, {1}, z}}, 2,
         "duplicate tensor name \"w\""},
        {"empty name", {{"", ST_F32, 1, {1}, z}}, 1, "tensor 0 has an empty name"},
        {"NULL name", {{"ok", ST_F32, 1, {1}, z}, {NULL, ST_F32, 1, {1}, z}}, 2,
         "tensor 1 has an empty name"},
        {"reserved name", {{"__metadata__", ST_F32, 1, {1}, z}}, 1, "reserved"},
        {"invalid UTF-8 name", {{"w\xff", ST_F32, 1, {1}, z}}, 1, "not valid UTF-8"},
        {"bad dtype", {{"w", ST_NDTYPES, 1, {1}, z}}, 1, "invalid dtype"},
        {"rank 9", {{"w", ST_F32, 9, {1}, z}}, 1, "9 dimensions"},
        {"NULL data", {{"w", ST_F32, 1, {4}, NULL}}, 1, "NULL data"},
        {"overflowing shape", {{"w", ST_F32, 2, {UINT64_MAX / 2, 3}, z}}, 1, "too many"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = st_serialize(cases[i].e, cases[i].n, NULL, 0, &buf, &len, &err);
        CHECK(rc == RECUR_EINVAL && buf == NULL && strstr(err.msg, cases[i].want),
              "%s: rc %d: %s", cases[i].label, rc, err.msg);
        show(cases[i].label, err.msg);
    }
    static const st_entry ok[] = {{"w", ST_F32, 1, {1}, z}};
    static const st_kv dup[] = {{"k", "1"}, {"k", "2"}}, badv[] = {{"k", "\xc0\x80"}},
                       nullv[] = {{"k", NULL}};
    int rc = st_serialize(ok, 1, dup, 2, &buf, &len, &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "duplicate metadata key \"k\""), "dup meta: %s",
          err.msg);
    rc = st_serialize(ok, 1, badv, 1, &buf, &len, &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "not valid UTF-8"), "bad meta value: %s",
          err.msg);
    rc = st_serialize(ok, 1, nullv, 1, &buf, &len, &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "NULL"), "NULL meta value: %s", err.msg);

    // A header over the 100 MB cap is refused rather than written.
    size_t big = ST_MAX_HEADER + 1;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = 0;
    st_kv hm[] = {{"k", huge}};
    rc = st_serialize(ok, 1, hm, 1, &buf, &len, &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "header would exceed 100000000 bytes"),
          "huge header: %s", err.msg);
    show("header over 100 MB", err.msg);
    free(huge);
}

/* ---------------------------------------------------------------- malformed */

#define GOOD_W "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"

static void test_malformed(void)
{
    static const uint8_t small[7] = {0};
    expect_bad("empty file", small, 0, "file is empty");
    expect_bad("5-byte file", small, 5, "file is 5 bytes, too short");
    expect_bad("7-byte file", small, 7, "too short");

    size_t len;
    uint8_t *b = make_file(GOOD_W, small, 7, &len);
    expect_bad("truncated data", b, len, "tensor \"w\": data_offsets span 0..8 runs past the end");
    free(b);
    b = make_raw(1000, GOOD_W, small, 0, &len);
    expect_bad("header length > file", b, len, "header length 1000 exceeds the 54 bytes");
    free(b);
    b = make_raw(100000001, GOOD_W, small, 0, &len);
    expect_bad("header length > 100000000", b, len, "exceeds the limit of 100000000");
    free(b);
    b = make_raw(UINT64_MAX, GOOD_W, small, 0, &len);
    expect_bad("header length 2^64-1", b, len, "exceeds the limit");
    free(b);
    b = make_raw(UINT64_MAX - 7, "", NULL, 0, &len);
    expect_bad("header length 2^64-8, no header", b, len, "exceeds the limit");
    free(b);
    uint8_t only_len[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    expect_bad("header length 1, file 8 bytes", only_len, 8, "exceeds the 0 bytes");
    only_len[0] = 0;
    expect_bad("header length 0", only_len, 8, "header: JSON: empty input");

    expect_bad_header("header not JSON", "hello, world", 0, "header: JSON: unexpected character");
    expect_bad_header("header JSON array", "[1,2]    ", 0, "header is a JSON array, not an object");
    expect_bad_header("header JSON string", "\"{}\"", 0, "header is a JSON string");
    expect_bad_header("header bad UTF-8", "{\"__metadata__\":{\"k\":\"\xff\"}}", 0,
                      "header: JSON: invalid UTF-8 in string at byte 22");
    expect_bad_header("overlong UTF-8 in name",
                      "{\"\xc0\xafw\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "invalid UTF-8");
    expect_bad_header("header trailing garbage", GOOD_W "x", 8, "trailing garbage");
    uint8_t nulpad[8 + 64 + 8] = {0};
    size_t hl = strlen(GOOD_W) + 1;
    nulpad[0] = (uint8_t)hl;
    memcpy(nulpad + 8, GOOD_W, hl); // the NUL is inside the header
    expect_bad("header padded with NUL", nulpad, 8 + hl + 8,
               "trailing garbage after the value at byte 54");

    expect_bad_header("metadata value a number", "{\"__metadata__\":{\"k\":1}}", 0,
                      "__metadata__ \"k\": value is a JSON number, not a string");
    expect_bad_header("metadata value an object", "{\"__metadata__\":{\"k\":{}}}", 0,
                      "value is a JSON object");
    expect_bad_header("metadata an array", "{\"__metadata__\":[]}", 0,
                      "__metadata__ is a JSON array, not an object");
    expect_bad_header("metadata with NUL", "{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0,
                      "contains a NUL character");
    expect_bad_header("two __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                      "duplicate key \"__metadata__\"");

    expect_bad_header("unknown dtype",
                      "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
                      "tensor \"w\": unknown dtype \"F8_E4M3\"");
    expect_bad_header("lower-case dtype",
                      "{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "unknown dtype \"f32\"");
    expect_bad_header("dtype not a string",
                      "{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "dtype is a JSON number");
    expect_bad_header("shape x size != span",
                      "{\"rnn.weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[5,5],"
                      "\"data_offsets\":[0,96]}}",
                      96,
                      "tensor \"rnn.weight_hh_l0\": data_offsets span 0..96 but shape [5,5] x F32 "
                      "needs 100 bytes");
    expect_bad_header("span past end of file", GOOD_W, 4, "runs past the end of the data (4 bytes");
    expect_bad_header("end before begin",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                      "data_offsets [8,0] end before they begin");
    expect_bad_header("overlapping spans",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                      12, "tensor \"b\": data_offsets span 4..12 overlaps tensor \"a\" (0..8)");
    expect_bad_header("identical spans",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                      8, "overlaps tensor \"a\"");
    expect_bad_header("gap between spans",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                      20, "tensor \"b\": data begins at 12, leaving a gap after tensor \"a\"");
    expect_bad_header("gap at the start",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                      "data begins at 4, leaving a gap at the start");
    expect_bad_header("trailing bytes", GOOD_W, 10, "2 trailing bytes after the last tensor");
    expect_bad_header("no tensors, trailing bytes", "{}", 3, "3 trailing bytes");
    expect_bad_header("duplicate tensor name",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                      16, "duplicate key \"w\"");
    expect_bad_header("duplicate key in an entry",
                      "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],"
                      "\"data_offsets\":[0,8]}}",
                      8, "duplicate key \"dtype\"");

    static const struct {
        const char *label, *shape, *offsets, *want;
    } nums[] = {
        {"negative shape", "[-2]", "[0,8]", "shape[0] is \"-2\", not a non-negative integer"},
        {"fractional shape", "[2.0]", "[0,8]", "shape[0] is \"2.0\""},
        {"exponent shape", "[2e0]", "[0,8]", "shape[0] is \"2e0\""},
        {"leading-zero shape", "[02]", "[0,8]", "JSON: leading zero in number"},
        {"string shape", "[\"2\"]", "[0,8]", "shape[0] is a string"},
        {"null shape", "[null]", "[0,8]", "shape[0] is a null"},
        {"shape over 2^64", "[18446744073709551616]", "[0,8]",
         "shape[0] is \"18446744073709551616\""},
        {"negative offset", "[2]", "[-0,8]", "data_offsets[0] is \"-0\""},
        {"fractional offset", "[2]", "[0,8.5]", "data_offsets[1] is \"8.5\""},
        {"leading-zero offset", "[2]", "[00,8]", "JSON: leading zero"},
        {"3 offsets", "[2]", "[0,8,8]", "data_offsets must be an array of 2 integers"},
        {"1 offset", "[2]", "[8]", "array of 2 integers"},
        {"offsets an object", "[2]", "{}", "array of 2 integers"},
        {"shape a number", "2", "[0,8]", "shape is a JSON number, not an array"},
        {"elements overflow", "[4294967296,4294967296]", "[0,8]",
         "shape [4294967296,4294967296] has more than 2^64 elements"},
        {"bytes overflow", "[4611686018427387904]", "[0,8]",
         "shape [4611686018427387904] x F32 needs more than 2^64 bytes"},
        {"zero dim then huge", "[0,18446744073709551615,18446744073709551615]", "[0,8]",
         "needs 0 bytes"},
        {"rank 9", "[1,1,1,1,1,1,1,1,2]", "[0,8]", "shape has 9 dimensions, more than 8"},
        {"nested shape", "[[2]]", "[0,8]", "JSON: nesting deeper than 3"},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        char h[300];
        snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":%s}}",
                 nums[i].shape, nums[i].offsets);
        expect_bad_header(nums[i].label, h, 8, nums[i].want);
    }
    expect_bad_header("rank 8 is fine but wrong size",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,3],"
                      "\"data_offsets\":[0,8]}}",
                      8, "shape [1,1,1,1,1,1,1,3] x F32 needs 12 bytes");

    expect_bad_header("unknown key in entry",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],"
                      "\"offset\":0}}",
                      8, "tensor \"w\": unknown key \"offset\"");
    expect_bad_header("missing data_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
                      "tensor \"w\": missing \"data_offsets\"");
    expect_bad_header("missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8,
                      "missing \"shape\"");
    expect_bad_header("missing dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "missing \"dtype\"");
    expect_bad_header("entry not an object", "{\"w\":[0,8]}", 8,
                      "tensor \"w\": entry is a JSON array, not an object");
    expect_bad_header("empty tensor name",
                      "{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "tensor with an empty name");
    expect_bad_header("NUL in tensor name",
                      "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                      8, "tensor \"a\\u0000b\": name contains a NUL character");
    expect_bad_header("newline in a bad name",
                      "{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "tensor \"a\\nb\": unknown dtype");

    // Whitespace around the header object is tolerated, as by the reference.
    uint8_t z8[8] = {0};
    b = make_file(" \n\t{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}\r\n   ",
                  z8, 8, &len);
    st_file *f = NULL;
    recur_error err = {0, ""};
    int rc = st_parse(b, len, &f, &err);
    CHECK(rc == 0 && f && f->ntensors == 1 && f->tensors[0].nelem == 2,
          "whitespace around the header: %s", err.msg);
    st_free(f);
    free(b);
    // Unknown keys inside __metadata__ are data, not an error; zero-size
    // tensors may share an offset.
    b = make_file("{\"__metadata__\":{},\"e1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":"
                  "[0,0]},\"e2\":{\"dtype\":\"U8\",\"shape\":[3,0],\"data_offsets\":[0,0]},\"w\":"
                  "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                  z8, 8, &len);
    rc = st_parse(b, len, &f, &err);
    CHECK(rc == 0 && f && f->ntensors == 3 && f->nmeta == 0, "zero-size tensors: %s", err.msg);
    st_free(f);
    free(b);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

// Truncations and random mutations of a valid file: never a crash, only 0
// or RECUR_EFORMAT, and whatever is accepted stays inside the buffer.
static void test_mutations(void)
{
    uint8_t *good;
    size_t n;
    recur_error err = {0, ""};
    if (st_serialize(rt_entries, RT_N, rt_meta, RT_NMETA, &good, &n, &err) != 0) {
        CHECK(0, "serialize: %s", err.msg);
        return;
    }
    int wrong = 0, accepted = 0, runs = 0;
    for (size_t cut = 0; cut < n; cut++) {
        st_file *f = NULL;
        int rc = st_parse(good, cut, &f, NULL);
        wrong += rc != RECUR_EFORMAT;
        st_free(f);
        runs++;
    }
    uint64_t rng = 0x243F6A8885A308D3u;
    uint8_t *buf = malloc(n);
    for (int it = 0; it < 30000; it++) {
        memcpy(buf, good, n);
        int edits = 1 + (int)(rng_next(&rng) % 3);
        for (int k = 0; k < edits; k++) {
            uint64_t r = rng_next(&rng);
            // Mostly inside the header, where the parsing happens.
            size_t at = (r & 3) ? r % 300 % n : r % n;
            static const char interesting[] = "0123456789,[]{}\":-.e \\\x80\xff";
            buf[at] = (r >> 40) & 1 ? (uint8_t)(r >> 48)
                                    : (uint8_t)interesting[(r >> 48) % (sizeof interesting - 1)];
        }
        st_file *f = NULL;
        int rc = st_parse(buf, n, &f, NULL);
        if (rc == 0) {
            accepted++;
            for (size_t i = 0; i < f->ntensors; i++) {
                const st_tensor *t = &f->tensors[i];
                if (t->data < f->buf || t->data + (t->end - t->begin) > f->buf + f->len) wrong++;
            }
        } else if (rc != RECUR_EFORMAT) {
            wrong++;
        }
        st_free(f);
        runs++;
    }
    free(buf);
    free(good);
    printf("  %d mutated/truncated files, %d accepted\n", runs, accepted);
    CHECK(wrong == 0, "%d mutated files gave a bad result", wrong);
}

/* ---------------------------------------------------------------- files */

static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void test_files(void)
{
    const char *tmpdir = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/recur_st_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    char path[600], sub[600], missing[600], inner[700];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(missing, sizeof missing, "%s/no/such/dir/model.safetensors", dir);
    snprintf(inner, sizeof inner, "%s/keep", sub);
    recur_error err = {0, ""};

    // st_write then st_read: the file holds exactly st_serialize's bytes.
    int rc = st_write(path, rt_entries, RT_N, rt_meta, RT_NMETA, &err);
    CHECK(rc == 0, "st_write: %s", err.msg);
    st_file *f = NULL;
    rc = st_read(path, &f, &err);
    CHECK(rc == 0 && f && f->ntensors == RT_N, "st_read: %s", err.msg);
    uint8_t *mem;
    size_t mlen;
    if (st_serialize(rt_entries, RT_N, rt_meta, RT_NMETA, &mem, &mlen, &err) == 0) {
        CHECK(f && f->len == mlen && memcmp(f->buf, mem, mlen) == 0, "file bytes = serialize");
        free(mem);
    }
    st_free(f);
    // Overwriting an existing file replaces it.
    static const float one[1] = {1};
    static const st_entry small[] = {{"x", ST_F32, 1, {1}, one}};
    rc = st_write(path, small, 1, NULL, 0, &err);
    rc = rc ? rc : st_read(path, &f, &err);
    CHECK(rc == 0 && f && f->ntensors == 1 && f->len % 8 == 4, "overwrite: %s", err.msg);
    st_free(f);
    CHECK(count_temp_files(dir) == 0, "no temp file after writes");

    rc = write_file_atomic(missing, "x", 1, &err);
    CHECK(rc == RECUR_EIO && strstr(err.msg, "cannot write ") &&
              strstr(err.msg, "model.safetensors: No such file or directory"),
          "missing directory: %s", err.msg);
    show("write into a missing directory", err.msg);

    // A failure after the temp file exists (rename onto a non-empty
    // directory) must remove the temp file.
    mkdir(sub, 0755);
    FILE *keep = fopen(inner, "w");
    if (keep) fclose(keep);
    rc = write_file_atomic(sub, "x", 1, &err);
    CHECK(rc == RECUR_EIO && strstr(err.msg, "rename failed"), "rename onto a directory: %s",
          err.msg);
    show("rename onto a directory", err.msg);
    CHECK(count_temp_files(dir) == 0, "temp file removed after a failed rename");

    rc = st_write(path, rt_entries, 0, NULL, 1, &err);
    CHECK(rc == RECUR_EINVAL, "st_write with bad arguments: %d", rc);

    f = (st_file *)1;
    rc = st_read(sub, &f, &err);
    CHECK(rc == RECUR_EIO && f == NULL && strncmp(err.msg, sub, strlen(sub)) == 0 &&
              strstr(err.msg, ": is a directory"),
          "st_read on a directory: %s", err.msg);
    show("st_read on a directory", err.msg);
    rc = st_read(missing, &f, &err);
    CHECK(rc == RECUR_EIO && strncmp(err.msg, missing, strlen(missing)) == 0 &&
              strstr(err.msg, "No such file or directory"),
          "st_read on a missing file: %s", err.msg);
    show("st_read on a missing file", err.msg);
    rc = st_read("/dev/null", &f, &err);
    CHECK(rc == RECUR_EIO && strstr(err.msg, "/dev/null: is not a regular file"),
          "st_read on a device: %s", err.msg);

    // Parse errors from st_read start with the path too.
    static const uint8_t trunc[] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    rc = write_file_atomic(path, trunc, sizeof trunc, &err);
    rc = rc ? rc : st_read(path, &f, &err);
    CHECK(rc == RECUR_EFORMAT && strncmp(err.msg, path, strlen(path)) == 0 &&
              strstr(err.msg, ": header length 200 exceeds"),
          "st_read of a bad file: %s", err.msg);
    show("st_read of a truncated file", err.msg);

    unlink(path);
    unlink(inner);
    rmdir(sub);
    rmdir(dir);
}

/* ---------------------------------------------------------------- corpus */

#ifdef RECUR_SOURCE_DIR
// Re-serialises a parsed file from its own tensors and metadata.
static int reserialize(const st_file *f, uint8_t **out, size_t *len, recur_error *err)
{
    st_entry *e = calloc(f->ntensors + 1, sizeof *e);
    st_kv *m = calloc(f->nmeta + 1, sizeof *m);
    for (size_t i = 0; i < f->ntensors; i++) {
        const st_tensor *t = &f->tensors[i];
        e[i].name = t->name;
        e[i].dtype = t->dtype;
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        e[i].data = t->data;
    }
    for (size_t i = 0; i < f->nmeta; i++) m[i] = (st_kv){f->meta_keys[i], f->meta_vals[i]};
    int rc = st_serialize(e, f->ntensors, m, f->nmeta, out, len, err);
    free(e);
    free(m);
    return rc;
}

// The fuzz seeds double as fixtures: valid_* load, bad_* are refused, and
// the reference-layout files (written by an independent Python writer)
// come back byte for byte from our writer.
static void test_corpus(void)
{
    const char *dir = RECUR_SOURCE_DIR "/tests/corpus/safetensors";
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    if (!d) return;
    int nvalid = 0, nbad = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int valid = strncmp(de->d_name, "valid_", 6) == 0;
        if (!valid && strncmp(de->d_name, "bad_", 4) != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        st_file *f = NULL;
        recur_error err = {0, ""};
        int rc = st_read(path, &f, &err);
        if (valid) {
            nvalid++;
            CHECK(rc == 0, "%s: %s", de->d_name, err.msg);
            uint8_t *b = NULL;
            size_t len = 0;
            if (rc == 0 && strcmp(de->d_name, "valid_whitespace.safetensors") != 0) {
                rc = reserialize(f, &b, &len, &err);
                CHECK(rc == 0 && len == f->len && memcmp(b, f->buf, len) == 0,
                      "%s: our writer gives the same bytes", de->d_name);
                free(b);
            }
        } else {
            nbad++;
            CHECK(rc == RECUR_EFORMAT, "%s: rc %d %s", de->d_name, rc, err.msg);
            // Show the message without the directory part of the path.
            const char *m = strstr(err.msg, de->d_name);
            show(de->d_name, m ? m + strlen(de->d_name) + 2 : err.msg);
        }
        st_free(f);
    }
    closedir(d);
    printf("  corpus: %d valid and %d invalid files checked\n", nvalid, nbad);
    CHECK(nvalid >= 3 && nbad >= 10, "corpus present");
}
#endif

int main(void)
{
    printf("test_safetensors\n");
    for (int t = 0; t < ST_NDTYPES; t++)
        CHECK(st_dtype_size((st_dtype)t) >= 1 && strlen(st_dtype_name((st_dtype)t)) >= 2,
              "dtype %d", t);
    CHECK(st_dtype_size(ST_BF16) == 2 && st_dtype_size(ST_F64) == 8 &&
              strcmp(st_dtype_name(ST_BF16), "BF16") == 0,
          "dtype table");
    test_round_trip();
    test_worked_example();
    test_sort();
    test_writer_rejects();
    test_malformed();
    test_mutations();
    test_files();
#ifdef RECUR_SOURCE_DIR
    test_corpus();
#endif
    return check_exit();
}

/*
 * test_text.c - tests of src/data/text.c: strict UTF-8 (exhaustively for short
 * sequences, against re-encoding as the oracle), the vocabulary and its JSON
 * form, files (mapped, piped, missing, a directory, empty) and the batcher,
 * whose windows are compared with a naive reference that decodes the whole
 * text into ids first. Temporary files go in a fresh directory under /tmp.
 */
#include "check.h"
#include "base/internal.h"
#include "base/json.h"
#include "data/text.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int has(const recur_error *err, const char *needle)
{
    return strstr(err->msg, needle) != NULL;
}

// A heap copy of exactly n bytes, so that ASan catches any read past the end.
static uint8_t *exact_copy(const char *s, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (n) memcpy(p, s, n);
    return p;
}

/* ---------------------------------------------------------------- UTF-8 */

// decode(s) accepts exactly the canonical encodings of scalar values: when it
// succeeds, re-encoding gives back the bytes it consumed.
static int decode_agrees_with_encode(const uint8_t *s, size_t n)
{
    size_t pos = 0;
    int32_t cp = utf8_decode(s, n, &pos);
    if (cp < 0) return pos == 0;
    char e[4];
    int k = utf8_encode((uint32_t)cp, e);
    return (size_t)k == pos && memcmp(e, s, pos) == 0;
}

static void test_utf8_roundtrip(void)
{
    long bad = 0, bad_len = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        char e[4];
        int k = utf8_encode(cp, e);
        int want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (k != want) bad_len++;
        uint8_t *buf = exact_copy(e, (size_t)k);
        size_t pos = 0;
        if (utf8_decode(buf, (size_t)k, &pos) != (int32_t)cp || pos != (size_t)k) bad++;
        free(buf);
    }
    printf("  utf8: encode/decode round trip over all 1112064 scalar values\n");
    CHECK(bad == 0, "%ld code points did not round-trip", bad);
    CHECK(bad_len == 0, "%ld code points encoded to the wrong length", bad_len);
    char e[4];
    CHECK(utf8_encode(0xD800, e) == 3 && memcmp(e, "\xEF\xBF\xBD", 3) == 0,
          "a surrogate encodes as U+FFFD");
}

static void test_utf8_exhaustive(void)
{
    long bad = 0, tried = 0;
    uint8_t s[4];
    for (int a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        bad += !decode_agrees_with_encode(s, 1);
        tried++;
        for (int b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            bad += !decode_agrees_with_encode(s, 2);
            tried++;
        }
    }
    // Three bytes: every lead byte from E0 up; shorter leads are settled by two.
    for (int a = 0xE0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            for (int c = 0; c < 256; c++) {
                s[0] = (uint8_t)a, s[1] = (uint8_t)b, s[2] = (uint8_t)c;
                bad += !decode_agrees_with_encode(s, 3);
                tried++;
            }
    static const uint8_t edge[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC0, 0xFF};
    for (int a = 0xF0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            for (size_t c = 0; c < sizeof edge; c++)
                for (size_t d = 0; d < sizeof edge; d++) {
                    s[0] = (uint8_t)a, s[1] = (uint8_t)b, s[2] = edge[c], s[3] = edge[d];
                    bad += !decode_agrees_with_encode(s, 4);
                    tried++;
                }
    printf("  utf8: %ld byte strings decoded, each checked against re-encoding\n", tried);
    CHECK(bad == 0, "%ld byte strings decoded to something that does not re-encode", bad);
}

static void test_utf8_rejects(void)
{
    static const struct {
        const char *s;
        size_t n;
        const char *why;
    } cases[] = {
        {"\xC0\x80", 2, "overlong NUL"},
        {"\xC1\xBF", 2, "overlong 2-byte"},
        {"\xE0\x80\x80", 3, "overlong 3-byte"},
        {"\xE0\x9F\xBF", 3, "overlong 3-byte, top"},
        {"\xF0\x80\x80\x80", 4, "overlong 4-byte"},
        {"\xF0\x8F\xBF\xBF", 4, "overlong 4-byte, top"},
        {"\xED\xA0\x80", 3, "surrogate D800"},
        {"\xED\xBF\xBF", 3, "surrogate DFFF"},
        {"\xF4\x90\x80\x80", 4, "U+110000"},
        {"\xF5\x80\x80\x80", 4, "lead F5"},
        {"\xFF", 1, "byte FF"},
        {"\xFE", 1, "byte FE"},
        {"\x80", 1, "stray continuation 80"},
        {"\xBF\x41", 2, "stray continuation BF"},
        {"\xC3", 1, "truncated 2-byte"},
        {"\xE4\xBD", 2, "truncated 3-byte"},
        {"\xF0\x9F\x98", 3, "truncated 4-byte"},
        {"\xC3\x41", 2, "2-byte, bad continuation"},
        {"\xE4\x41\x80", 3, "3-byte, bad 2nd"},
        {"\xE4\xBD\x41", 3, "3-byte, bad 3rd"},
        {"\xF0\x9F\x98\x41", 4, "4-byte, bad 4th"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *buf = exact_copy(cases[i].s, cases[i].n);
        size_t pos = 0;
        int32_t cp = utf8_decode(buf, cases[i].n, &pos);
        CHECK(cp == -1 && pos == 0, "%s: got %ld, pos %zu", cases[i].why, (long)cp, pos);
        free(buf);
    }
    static const struct {
        const char *s;
        uint32_t cp;
    } ok[] = {
        {"\xED\x9F\xBF", 0xD7FF}, {"\xEE\x80\x80", 0xE000}, {"\xF4\x8F\xBF\xBF", 0x10FFFF},
        {"\xC2\x80", 0x80},       {"\xE0\xA0\x80", 0x800},  {"\xF0\x90\x80\x80", 0x10000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = strlen(ok[i].s), pos = 0;
        uint8_t *buf = exact_copy(ok[i].s, n);
        CHECK(utf8_decode(buf, n, &pos) == (int32_t)ok[i].cp && pos == n, "boundary U+%04lX",
              (unsigned long)ok[i].cp);
        free(buf);
    }
    // The length bounds the read even when the bytes go on.
    size_t pos = 0;
    CHECK(utf8_decode((const uint8_t *)"\xE4\xBD\xA0", 2, &pos) == -1 && pos == 0,
          "len cuts a sequence short");
    pos = 5;
    CHECK(utf8_decode((const uint8_t *)"abc", 3, &pos) == -1 && pos == 5, "pos past len");
    pos = 1;
    CHECK(utf8_decode((const uint8_t *)"a\xC3\xA9", 3, &pos) == 0xE9 && pos == 3, "from pos 1");
}

/* ---------------------------------------------------------------- vocabulary */

static void test_vocab_mixed(void)
{
    const char *text = "Hello, \xEC\x95\x88\xEB\x85\x95\xED\x95\x98\xEC\x84\xB8\xEC\x9A\x94! "
                       "\xF0\x9F\x98\x80\nHello again, \xF0\x9F\x98\x80";
    static const uint32_t want[] = {0x0A,   0x20,   0x21,   0x2C,   0x48,   0x61,
                                    0x65,   0x67,   0x69,   0x6C,   0x6E,   0x6F,
                                    0xB155, 0xC138, 0xC548, 0xC694, 0xD558, 0x1F600};
    int n = (int)(sizeof want / sizeof want[0]);
    recur_vocab *v = NULL;
    recur_error err = {0};
    int rc = recur_vocab_from_text(text, strlen(text), 0, &v, &err);
    CHECK(rc == RECUR_OK, "%s", err.msg);
    if (rc) return;
    CHECK(recur_vocab_size(v) == n, "size %d, want %d", recur_vocab_size(v), n);
    CHECK(!recur_vocab_is_bytes(v), "not a byte vocabulary");
    int order_ok = 1, ids_ok = 1;
    for (int i = 0; i < n && i < recur_vocab_size(v); i++) {
        order_ok &= recur_vocab_char(v, i) == want[i];
        ids_ok &= recur_vocab_id(v, want[i]) == i;
    }
    printf("  vocab: ASCII + Korean + emoji text gives %d sorted characters\n",
           recur_vocab_size(v));
    CHECK(order_ok, "characters sorted by code point");
    CHECK(ids_ok, "recur_vocab_id inverts recur_vocab_char");
    CHECK(recur_vocab_id(v, 'z') == -1, "absent ASCII");
    CHECK(recur_vocab_id(v, 0xAC00) == -1, "absent BMP character");
    CHECK(recur_vocab_id(v, 0x1F601) == -1, "absent astral character (binary search)");
    CHECK(recur_vocab_id(v, 0x1F5FF) == -1, "absent astral character below the one present");
    CHECK(recur_vocab_id(v, 0x110000) == -1, "beyond Unicode");
    CHECK(recur_vocab_char(v, -1) == UINT32_MAX && recur_vocab_char(v, n) == UINT32_MAX,
          "ids out of range");
    CHECK(recur_vocab_id(NULL, 'a') == -1 && recur_vocab_size(NULL) == 0, "NULL vocabulary");

    recur_vocab *c = NULL;
    CHECK(vocab_clone(v, &c, &err) == RECUR_OK && c && c->n == v->n && c->bytes == v->bytes &&
              memcmp(c->chars, v->chars, (size_t)n * sizeof *c->chars) == 0 &&
              recur_vocab_id(c, 0x1F600) == n - 1 && recur_vocab_id(c, 0xC548) == 14,
          "clone");
    recur_vocab_free(c);
    recur_vocab_free(v);
    recur_vocab_free(NULL);
}

static void test_vocab_errors(void)
{
    recur_vocab *v = NULL;
    recur_error err = {0};
    int rc = recur_vocab_from_text("abc\xE4\xBDxyz", 8, 0, &v, &err);
    CHECK(rc == RECUR_EFORMAT && !v, "truncated sequence: rc %d", rc);
    CHECK(has(&err, "invalid UTF-8 at byte offset 3 (use --bytes"), "message: %s", err.msg);
    rc = recur_vocab_from_text("", 0, 0, &v, &err);
    CHECK(rc == RECUR_EINVAL && has(&err, "empty text"), "empty text: %s", err.msg);
    rc = recur_vocab_from_text("", 0, 1, &v, &err);
    CHECK(rc == RECUR_EINVAL, "empty text, byte mode");

    // One bad byte at every offset of a longer text, so that it falls at each
    // place in (and after) the eight-byte ASCII fast path.
    char buf[41];
    int offsets_ok = 1;
    for (size_t at = 0; at < 40; at++) {
        memset(buf, 'a', 40);
        buf[at] = (char)0xFF;
        rc = recur_vocab_from_text(buf, 40, 0, &v, &err);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu ", at);
        offsets_ok &= rc == RECUR_EFORMAT && has(&err, want);
        size_t count;
        rc = text_count_chars((const uint8_t *)buf, 40, 0, &count, &err);
        offsets_ok &= rc == RECUR_EFORMAT && has(&err, want);
    }
    CHECK(offsets_ok, "an invalid byte at each offset 0..39 is reported there");
    rc = recur_vocab_from_text("ab\xC3\xA9\xED\xA0\x80", 7, 0, &v, &err);
    CHECK(rc == RECUR_EFORMAT && has(&err, "byte offset 4 "), "surrogate: %s", err.msg);

    // Byte mode accepts the same bytes.
    rc = recur_vocab_from_text("ab\x80\xFF\xE4\xBD", 6, 1, &v, &err);
    CHECK(rc == RECUR_OK, "byte mode: %s", err.msg);
    if (!rc) {
        static const uint32_t want[] = {'a', 'b', 0x80, 0xBD, 0xE4, 0xFF};
        int same = recur_vocab_size(v) == 6 && recur_vocab_is_bytes(v);
        for (int i = 0; same && i < 6; i++)
            same = recur_vocab_char(v, i) == want[i] && recur_vocab_id(v, want[i]) == i;
        CHECK(same, "byte vocabulary sorted, ids invert");
        CHECK(recur_vocab_id(v, 0x100) == -1 && recur_vocab_id(v, 0x1F600) == -1,
              "no code points above 0xFF in byte mode");
        recur_vocab_free(v);
        v = NULL;
    }

    static const uint32_t dup[] = {'a', 'b', 'a'};
    rc = vocab_from_chars(dup, 3, 0, &v, &err);
    CHECK(rc == RECUR_EINVAL && !v && has(&err, "U+0061 'a' appears twice"), "%s", err.msg);
    static const uint32_t sur[] = {'a', 0xDC00};
    CHECK(vocab_from_chars(sur, 2, 0, &v, &err) == RECUR_EINVAL && !v, "surrogate in chars");
    static const uint32_t big[] = {0x110000};
    CHECK(vocab_from_chars(big, 1, 0, &v, &err) == RECUR_EINVAL && !v, "U+110000 in chars");
    static const uint32_t wide[] = {0x100};
    CHECK(vocab_from_chars(wide, 1, 1, &v, &err) == RECUR_EINVAL && !v, "0x100 in bytes");
    CHECK(vocab_from_chars(dup, 0, 0, &v, &err) == RECUR_EINVAL && !v, "n = 0");
    static const uint32_t unsorted[] = {0x1F600, 'z', 0xE9, '\n', 0x10FFFF};
    rc = vocab_from_chars(unsorted, 5, 0, &v, &err);
    CHECK(rc == RECUR_OK && v->chars[0] == '\n' && v->chars[4] == 0x10FFFF &&
              recur_vocab_id(v, 0xE9) == 2 && recur_vocab_id(v, 0x1F600) == 3,
          "from_chars sorts");
    recur_vocab_free(v);
}

/* ---------------------------------------------------------------- vocabulary JSON */

static void json_roundtrip(const uint32_t *chars, int n, int bytes, const char *expect)
{
    recur_vocab *v = NULL, *w = NULL;
    recur_error err = {0};
    int rc = vocab_from_chars(chars, n, bytes, &v, &err);
    CHECK(rc == RECUR_OK, "%s", err.msg);
    if (rc) return;
    strbuf sb;
    sb_init(&sb);
    CHECK(vocab_to_json(v, &sb) == RECUR_OK, "to_json");
    if (expect) CHECK(sb.s && strcmp(sb.s, expect) == 0, "json %s, want %s", sb.s, expect);
    size_t pos = 0, chars_in = 0;
    while (pos < sb.len && utf8_decode((const uint8_t *)sb.s, sb.len, &pos) >= 0) chars_in++;
    CHECK(pos == sb.len, "the JSON is valid UTF-8 (stopped at byte %zu of %zu)", pos, sb.len);
    rc = vocab_from_json(sb.s, bytes, &w, &err);
    CHECK(rc == RECUR_OK, "from_json: %s", err.msg);
    if (!rc) {
        CHECK(w->n == v->n && w->bytes == bytes &&
                  memcmp(w->chars, v->chars, (size_t)n * sizeof *w->chars) == 0,
              "round trip keeps every character");
    }
    printf("  vocab json: %d %s round-trip through %zu bytes of JSON\n", n,
           bytes ? "bytes" : "characters", sb.len);
    sb_free(&sb);
    recur_vocab_free(v);
    recur_vocab_free(w);
}

static void test_vocab_json(void)
{
    static const uint32_t small[] = {0, '\n', '"', '\\', 'A'};
    json_roundtrip(small, 5, 0, "[\"\\u0000\",\"\\n\",\"\\\"\",\"A\",\"\\\\\"]");
    static const uint32_t mixed[] = {0,    '\t', '\n', '\r',   0x1F,   ' ',    '"',     '\\',
                                     0x7F, 0xE9, 0xFF, 0x2028, 0xC548, 0xFFFF, 0x1F600, 0x10FFFF};
    json_roundtrip(mixed, (int)(sizeof mixed / sizeof mixed[0]), 0, NULL);
    uint32_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint32_t)i;
    json_roundtrip(all, 256, 1, NULL);
    static const uint32_t hi[] = {'a', 0xFF};
    json_roundtrip(hi, 2, 1, "[\"a\",\"\xC3\xBF\"]");

    static const struct {
        const char *json;
        int bytes;
        const char *needle;
    } bad[] = {
        {"{\"a\":\"b\"}", 0, "expected a JSON array"},
        {"\"a\"", 0, "expected a JSON array"},
        {"[]", 0, "empty"},
        {"[\"ab\"]", 0, "entry 0 is not exactly one character"},
        {"[\"\"]", 0, "entry 0 is not exactly one character"},
        {"[\"a\",\"a\"]", 0, "entry 1, U+0061 'a', appears twice"},
        {"[\"b\",\"a\"]", 0, "entry 1, U+0061 'a', is out of ascending"},
        {"[\"a\",1]", 0, "entry 1 is not a string"},
        {"[\"a\",null]", 0, "entry 1 is not a string"},
        {"[[\"a\"]]", 0, "entry 0 is not a string"},
        {"[\"a\",\"\\u0100\"]", 1, "entry 1 is U+0100"},
        {"[\"a\"", 0, "vocab: "},
        {"[\"a\"] x", 0, "vocab: "},
        {"", 0, "vocab: "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        recur_vocab *v = NULL;
        recur_error err = {0};
        int rc = vocab_from_json(bad[i].json, bad[i].bytes, &v, &err);
        CHECK(rc == RECUR_EFORMAT && !v && has(&err, bad[i].needle), "%s: rc %d, %s", bad[i].json,
              rc, err.msg);
        recur_vocab_free(v);
    }
}

/* ---------------------------------------------------------------- files */

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void test_text_open(void)
{
    char dir[] = "/tmp/recur_test_text_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    char path[256];
    text_file tf;
    recur_error err = {0};

    snprintf(path, sizeof path, "%s/missing.txt", dir);
    int rc = text_open(path, &tf, &err);
    CHECK(rc == RECUR_EIO && !tf.data, "missing file: rc %d", rc);
    CHECK(has(&err, "missing.txt: No such file or directory"), "message: %s", err.msg);

    rc = text_open(dir, &tf, &err);
    CHECK(rc == RECUR_EIO && has(&err, ": is a directory") && has(&err, dir), "directory: %s",
          err.msg);

    snprintf(path, sizeof path, "%s/empty.txt", dir);
    write_file(path, "", 0);
    rc = text_open(path, &tf, &err);
    CHECK(rc == RECUR_EINVAL && has(&err, "empty.txt: empty file") && !tf.data, "empty file: %s",
          err.msg);
    unlink(path);

    static const char content[] = "first line\n\0\xFF\xC3\xA9 last";
    size_t n = sizeof content - 1;
    snprintf(path, sizeof path, "%s/real.txt", dir);
    write_file(path, content, n);
    rc = text_open(path, &tf, &err);
    CHECK(rc == RECUR_OK && tf.mapped && tf.len == n && memcmp(tf.data, content, n) == 0,
          "regular file is mapped and matches: %s", err.msg);
    text_close(&tf);
    CHECK(!tf.data && tf.len == 0, "closed");
    text_close(&tf); // closing twice is harmless
    unlink(path);

    // A pipe cannot be mapped: it is read into memory instead.
    int fds[2];
    if (pipe(fds) == 0) {
        CHECK(write(fds[1], content, n) == (ssize_t)n, "write to pipe");
        close(fds[1]);
        snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
        rc = text_open(path, &tf, &err);
        CHECK(rc == RECUR_OK && !tf.mapped && tf.len == n && memcmp(tf.data, content, n) == 0,
              "pipe is read and matches: %s", err.msg);
        text_close(&tf);
        close(fds[0]);
    }
    rmdir(dir);
    printf("  text_open: missing, directory, empty, mapped file, pipe\n");
}

/* ---------------------------------------------------------------- batcher */

// The reference: decode the whole text to ids, cut B streams of n/B, and
// window them with plain indexing.
typedef struct ref_text {
    int32_t *ids;
    size_t n;
} ref_text;

static int ref_decode(const recur_vocab *v, const uint8_t *s, size_t len, ref_text *r)
{
    r->ids = malloc((len + 1) * sizeof *r->ids);
    r->n = 0;
    size_t pos = 0;
    while (pos < len) {
        int id = vocab_next_id(v, s, len, &pos, NULL);
        if (id < 0) return -1;
        r->ids[r->n++] = id;
    }
    return 0;
}

// Runs `windows` calls of the batcher and compares each with the reference.
static int compare_with_ref(const recur_vocab *v, const uint8_t *s, size_t len, int B, int T,
                            int windows)
{
    ref_text r;
    if (ref_decode(v, s, len, &r)) return 0;
    text_batcher tb;
    recur_error err = {0};
    if (batcher_init(&tb, v, s, len, B, T, &err)) {
        fprintf(stderr, "batcher_init: %s\n", err.msg);
        free(r.ids);
        return 0;
    }
    size_t per = r.n / (size_t)B, wpe = (per - 1) / (size_t)T;
    int ok = tb.chars_per_stream == per && tb.windows_per_epoch == wpe;
    int32_t *in = malloc((size_t)B * T * sizeof *in), *tgt = malloc((size_t)B * T * sizeof *tgt);
    for (int w = 0; ok && w < windows; w++) {
        int fresh = -1;
        ok &= batcher_next(&tb, in, tgt, &fresh, &err) == RECUR_OK;
        size_t win = (size_t)w % wpe;
        ok &= fresh == (win == 0);
        ok &= tb.epoch == (long long)((size_t)w / wpe);
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                size_t c = (size_t)b * per + win * T + (size_t)t;
                ok &= in[t * B + b] == r.ids[c] && tgt[t * B + b] == r.ids[c + 1];
            }
    }
    free(in);
    free(tgt);
    batcher_free(&tb);
    free(r.ids);
    return ok;
}

static void test_batcher_small(void)
{
    const char *text = "abcdefghijklmnopq"; // 17 characters: streams of 8, 'q' unused
    recur_vocab *v = NULL;
    recur_error err = {0};
    if (recur_vocab_from_text(text, 17, 0, &v, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    text_batcher tb;
    int rc = batcher_init(&tb, v, (const uint8_t *)text, 17, 2, 3, &err);
    CHECK(rc == RECUR_OK, "%s", err.msg);
    if (rc) {
        recur_vocab_free(v);
        return;
    }
    CHECK(tb.chars_per_stream == 8 && tb.windows_per_epoch == 2 && tb.start[1] == 8,
          "8 characters per stream, 2 windows per epoch");
    // Ids are letters - 'a'. Time-major: in[t*B + b].
    static const int32_t want_in[3][6] = {
        {0, 8, 1, 9, 2, 10},   // abc | ijk
        {3, 11, 4, 12, 5, 13}, // def | lmn
        {0, 8, 1, 9, 2, 10},   // wrapped: abc | ijk
    };
    int32_t in[6], tgt[6], prev_tgt[6] = {0};
    for (int w = 0; w < 3; w++) {
        int fresh = -1;
        rc = batcher_next(&tb, in, tgt, &fresh, &err);
        CHECK(rc == RECUR_OK, "%s", err.msg);
        CHECK(memcmp(in, want_in[w], sizeof in) == 0, "window %d inputs", w);
        int shifted = 1;
        for (int t = 0; t < 3; t++)
            for (int b = 0; b < 2; b++) shifted &= tgt[t * 2 + b] == in[t * 2 + b] + 1;
        CHECK(shifted, "window %d targets are the next characters", w);
        CHECK(fresh == (w != 1), "window %d new_epoch %d", w, fresh);
        CHECK(tb.epoch == (w == 2), "window %d epoch %lld", w, tb.epoch);
        if (w == 1)
            CHECK(prev_tgt[4] == in[0] && prev_tgt[5] == in[1],
                  "last target of a window is the next window's first input");
        memcpy(prev_tgt, tgt, sizeof tgt);
    }
    batcher_free(&tb);
    batcher_free(&tb); // twice is harmless

    // Exactly T+1 characters per stream is enough: one window per epoch.
    rc = batcher_init(&tb, v, (const uint8_t *)text, 17, 2, 7, &err);
    CHECK(rc == RECUR_OK && tb.windows_per_epoch == 1, "T+1 characters per stream: %s", err.msg);
    batcher_free(&tb);
    rc = batcher_init(&tb, v, (const uint8_t *)text, 17, 2, 8, &err);
    CHECK(rc == RECUR_EINVAL && !tb.start, "too short: rc %d", rc);
    CHECK(has(&err, "text too short: 17 characters make 2 streams of 8, but --seq 8 needs at "
                    "least 9 per stream"),
          "message: %s", err.msg);
    rc = batcher_init(&tb, v, (const uint8_t *)text, 17, 20, 1, &err);
    CHECK(rc == RECUR_EINVAL && has(&err, "20 streams of 0"), "more streams than characters");
    CHECK(batcher_init(&tb, v, (const uint8_t *)text, 17, 0, 3, &err) == RECUR_EINVAL, "B = 0");
    CHECK(batcher_init(&tb, v, (const uint8_t *)text, 17, 2, 0, &err) == RECUR_EINVAL, "T = 0");
    CHECK(compare_with_ref(v, (const uint8_t *)text, 17, 1, 1, 40), "B=1, T=1 against reference");
    recur_vocab_free(v);
}

static void test_batcher_errors(void)
{
    recur_vocab *v = NULL, *vb = NULL;
    recur_error err = {0};
    if (recur_vocab_from_text("abc", 3, 0, &v, &err) ||
        recur_vocab_from_text("abc", 3, 1, &vb, &err)) {
        CHECK(0, "%s", err.msg);
        recur_vocab_free(v);
        return;
    }
    text_batcher tb;
    const char *t1 = "abcabcXabcabc";
    int rc = batcher_init(&tb, v, (const uint8_t *)t1, strlen(t1), 1, 2, &err);
    CHECK(rc == RECUR_EVOCAB && has(&err, "U+0058 'X' at byte offset 6 is not in the vocabulary"),
          "unknown ASCII: %s", err.msg);
    const char *t2 = "abcabcabcabc\xEC\x95\x88";
    rc = batcher_init(&tb, v, (const uint8_t *)t2, strlen(t2), 1, 2, &err);
    CHECK(rc == RECUR_EVOCAB && has(&err, "U+C548 '\xEC\x95\x88' at byte offset 12"),
          "unknown Korean: %s", err.msg);
    const char *t3 = "abc\nabc";
    rc = batcher_init(&tb, v, (const uint8_t *)t3, strlen(t3), 1, 2, &err);
    CHECK(rc == RECUR_EVOCAB && has(&err, "U+000A at byte offset 3"), "control char: %s", err.msg);
    const char *t4 = "abcabcab\xC3";
    rc = batcher_init(&tb, v, (const uint8_t *)t4, strlen(t4), 1, 2, &err);
    CHECK(rc == RECUR_EFORMAT && has(&err, "invalid UTF-8 at byte offset 8"), "bad UTF-8: %s",
          err.msg);
    const char *t5 = "abcab\xFF";
    rc = batcher_init(&tb, vb, (const uint8_t *)t5, strlen(t5), 1, 2, &err);
    CHECK(rc == RECUR_EVOCAB && has(&err, "byte 0xFF at byte offset 5"), "unknown byte: %s",
          err.msg);
    CHECK(!tb.start && !tb.pos, "nothing left allocated after a failure");
    recur_vocab_free(v);
    recur_vocab_free(vb);
}

// A text of random characters of every UTF-8 length, long enough that stream
// starts fall far past the first of the batcher's offset notes.
static void test_batcher_multibyte(void)
{
    static const uint32_t pool[] = {'a',   'b',    ' ',    '\n',    0xE9,
                                    0x3B1, 0xC548, 0xB155, 0x1F600, 0x10348};
    size_t nchars = 30011, len = 0;
    char *text = malloc(nchars * 4);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < nchars; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        len += (size_t)utf8_encode(pool[x % (sizeof pool / sizeof pool[0])], text + len);
    }
    recur_vocab *v = NULL, *vb = NULL;
    recur_error err = {0};
    int rc = recur_vocab_from_text(text, len, 0, &v, &err);
    CHECK(rc == RECUR_OK && recur_vocab_size(v) == 10, "vocab: %s", err.msg);
    rc |= recur_vocab_from_text(text, len, 1, &vb, &err);
    size_t count = 0;
    CHECK(text_count_chars((const uint8_t *)text, len, 0, &count, &err) == RECUR_OK &&
              count == nchars,
          "count %zu of %zu", count, nchars);
    if (!rc) {
        const uint8_t *s = (const uint8_t *)text;
        static const int shapes[][2] = {{2, 3}, {7, 5}, {1, 50}, {50, 25}, {3, 1}, {13, 64}};
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            int B = shapes[i][0], T = shapes[i][1];
            size_t per = nchars / (size_t)B;
            int windows = (int)(2 * ((per - 1) / (size_t)T) + 3); // into a third epoch
            CHECK(compare_with_ref(v, s, len, B, T, windows), "UTF-8 B=%d T=%d", B, T);
            CHECK(compare_with_ref(vb, s, len, B, T, 7), "bytes B=%d T=%d", B, T);
        }
        printf("  batcher: %zu characters (%zu bytes), 6 shapes, against the reference\n", nchars,
               len);
    }
    recur_vocab_free(v);
    recur_vocab_free(vb);
    free(text);
}

// Passes over a mapped text release the pages they have read, and the
// batcher reads a mapped text's windows from the file (text.h): the same
// windows must come out of a mapped file as from a copy in memory, also
// from a part of the mapping (a validation text), and a copy in memory must
// never be released (MADV_DONTNEED would zero it, and the batcher would then
// meet U+0000, which is not in the vocabulary). The text is a little over
// one TEXT_RELEASE_CHUNK, so that every pass releases in the middle as well
// as at the end; the batcher runs into a third epoch.
static void test_release_keeps_text(void)
{
    static const uint32_t pool[] = {'a', 'b', 'c', ' ', '\n', 0xE9, 0x3B1, 0xC548, 0x1F600};
    size_t cap = TEXT_RELEASE_CHUNK + (TEXT_RELEASE_CHUNK >> 2), len = 0, nchars = 0;
    char *text = malloc(cap + 4);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    while (len < cap) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        len += (size_t)utf8_encode(pool[x % (sizeof pool / sizeof pool[0])], text + len);
        nchars++;
    }
    char dir[] = "/tmp/recur_test_text_XXXXXX", path[256];
    if (!text || !mkdtemp(dir)) {
        CHECK(0, "setup");
        free(text);
        return;
    }
    snprintf(path, sizeof path, "%s/big.txt", dir);
    write_file(path, text, len);
    text_file tf;
    recur_error err = {0};
    int rc = text_open(path, &tf, &err);
    CHECK(rc == RECUR_OK && tf.mapped, "open: %s", err.msg);
    int fd = -1;
    size_t off = 0;
    CHECK(rc == RECUR_OK && text_is_mapped(tf.data, tf.len, NULL, NULL) &&
              text_is_mapped(tf.data + 1, 10, &fd, &off) && fd == tf.fd && off == 1 &&
              !text_is_mapped(tf.data, tf.len + 1, NULL, NULL) &&
              !text_is_mapped(text, len, NULL, NULL),
          "text_is_mapped knows the mapping and only it");
    recur_vocab *v = NULL, *vm = NULL;
    size_t count = 0;
    if (rc == RECUR_OK) {
        CHECK(recur_vocab_from_text(text, len, 0, &v, &err) == RECUR_OK &&
                  recur_vocab_from_text((const char *)tf.data, tf.len, 0, &vm, &err) == RECUR_OK &&
                  v->n == vm->n && memcmp(v->chars, vm->chars, (size_t)v->n * 4) == 0,
              "vocabulary of the mapping: %s", err.msg);
        CHECK(text_count_chars(tf.data, tf.len, 0, &count, &err) == RECUR_OK && count == nchars,
              "count %zu of %zu", count, nchars);
        CHECK(memcmp(tf.data, text, len) == 0, "the mapping reads the file after its release");
    }
    if (v && vm) {
        // B*T*windows/epoch covers the text; 2 epochs and a bit.
        int B = 3, T = 4096;
        int windows = (int)(2 * ((nchars / (size_t)B - 1) / (size_t)T) + 2);
        CHECK(compare_with_ref(v, tf.data, tf.len, B, T, windows), "mapped file, B=%d T=%d", B, T);
        // A part that starts inside a character's page, as a split does.
        size_t at = len / 3;
        while ((tf.data[at] & 0xC0) == 0x80) at++;
        CHECK(compare_with_ref(v, tf.data + at, tf.len - at, 5, 999, 1000),
              "a part of the mapped file from byte %zu", at);
        CHECK(compare_with_ref(v, (const uint8_t *)text, len, B, T, windows),
              "copy in memory, B=%d T=%d", B, T);
        CHECK(memcmp(tf.data, text, len) == 0, "the mapping still reads the file");
        // A program that closed the descriptor and opened another file under
        // its number: the batcher reads through the mapping instead.
        int saved = dup(tf.fd), null = open("/dev/null", O_RDONLY);
        if (saved >= 0 && null >= 0 && dup2(null, tf.fd) == tf.fd) {
            int fd2 = 0;
            CHECK(text_is_mapped(tf.data, tf.len, &fd2, NULL) && fd2 == -1,
                  "a descriptor that is another file is not used (%d)", fd2);
            CHECK(compare_with_ref(v, tf.data, tf.len, B, T, 5), "mapped file, descriptor gone");
            dup2(saved, tf.fd);
        }
        if (saved >= 0) close(saved);
        if (null >= 0) close(null);
        // A file that shrinks during training: an error, where reading the
        // mapping past the new end would be SIGBUS.
        text_batcher tb;
        if (batcher_init(&tb, v, tf.data, tf.len, 3, 64, &err) == RECUR_OK) {
            int32_t in[3 * 64], tgt[3 * 64];
            int fresh;
            CHECK(truncate(path, (off_t)(len / 2)) == 0, "truncate");
            rc = batcher_next(&tb, in, tgt, &fresh, &err);
            CHECK(rc == RECUR_EIO && has(&err, "changed on disk"), "shrunk file: rc %d: %s", rc,
                  err.msg);
            batcher_free(&tb);
        }
    }
    const uint8_t *was = tf.data;
    text_close(&tf);
    CHECK(!text_is_mapped(was, 1, NULL, NULL), "a closed mapping is forgotten");
    recur_vocab_free(v);
    recur_vocab_free(vm);
    free(text);
    unlink(path);
    rmdir(dir);
    printf("  release of read pages: %zu bytes mapped and in memory, same vocabulary, count, windows\n",
           len);
}

int main(void)
{
    test_utf8_roundtrip();
    test_utf8_exhaustive();
    test_utf8_rejects();
    test_vocab_mixed();
    test_vocab_errors();
    test_vocab_json();
    test_text_open();
    test_batcher_small();
    test_batcher_errors();
    test_batcher_multibyte();
    test_release_keeps_text();
    return check_exit();
}

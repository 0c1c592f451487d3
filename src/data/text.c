/*
 * text.c - training text: strict UTF-8 decoding, the vocabulary (sorted code
 * points or bytes, with lookup tables), whole files mapped read-only into
 * memory, and the batcher that lays B char-rnn streams over the text.
 * The interface and the batcher's layout are documented in text.h. Nothing
 * here decodes a whole text into ids: every pass works on the bytes as they
 * are, so a 1 GB file costs a mapping, not 4 GB of ids; and every pass over
 * a mapped file gives back the pages it has read (text_sweep, in text_io.c),
 * so the mapping does not stay resident either. The batcher's streams read a
 * mapped file with pread, also in text_io.c.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L // open/fstat/mmap; the build defines it too
#endif

#include "data/text.h"
#include "data/text_io.h"
#include "base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNICODE_LIMIT 0x110000u // one past U+10FFFF
#define BMP_LIMIT     0x10000u  // code points below this are looked up in vocab->lut

// The high bit of each of eight bytes: a word of text with none set is ASCII.
#define HIGH_BITS 0x8080808080808080ull

static int all_ascii8(const uint8_t *s)
{
    uint64_t w;
    memcpy(&w, s, sizeof w); // memcpy, not a cast: s need not be aligned
    return (w & HIGH_BITS) == 0;
}

/* ---------------------------------------------------------------- UTF-8 */

int32_t utf8_decode(const uint8_t *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    if (i >= len) return -1;
    uint32_t c = s[i];
    if (c < 0x80) {
        *pos = i + 1;
        return (int32_t)c;
    }
    // The allowed range of the second byte depends on the lead byte (RFC 3629
    // section 4): that one check rules out overlong 3- and 4-byte forms (E0,
    // F0), surrogates (ED) and code points above U+10FFFF (F4).
    size_t more;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c < 0xC2) {
        return -1; // a stray continuation byte, or C0/C1 (always overlong)
    } else if (c < 0xE0) {
        more = 1;
        c &= 0x1F;
    } else if (c < 0xF0) {
        more = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        c &= 0x0F;
    } else if (c < 0xF5) {
        more = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        c &= 0x07;
    } else {
        return -1;
    }
    if (len - i <= more) return -1; // truncated by the end of the text
    if (s[i + 1] < lo || s[i + 1] > hi) return -1;
    c = (c << 6) | (s[i + 1] & 0x3Fu);
    for (size_t k = 2; k <= more; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return -1;
        c = (c << 6) | (s[i + k] & 0x3Fu);
    }
    *pos = i + more + 1;
    return (int32_t)c;
}

int utf8_encode(uint32_t cp, char out[4])
{
    // Nothing in the library asks for a surrogate or a value past U+10FFFF
    // (every vocabulary is checked), but if one comes, U+FFFD keeps the
    // output valid UTF-8 rather than writing bytes no decoder accepts.
    if (cp >= UNICODE_LIMIT || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < BMP_LIMIT) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// The length of the character whose lead byte is c, in text already checked.
static size_t utf8_len(uint8_t c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static int is_scalar(uint32_t cp)
{
    return cp < UNICODE_LIMIT && !(cp >= 0xD800 && cp <= 0xDFFF);
}

// "U+00E9 'é'" for a printable character; control characters get only their
// number, so that a message stays on one line. In byte mode "byte 0xE9".
static void describe_char(uint32_t cp, int bytes, char *out, size_t size)
{
    int printable = cp >= 0x20 && cp != 0x7F && !(cp >= 0x80 && cp < 0xA0) && cp != 0x2028 &&
                    cp != 0x2029 && is_scalar(cp);
    if (bytes) {
        if (cp < 0x80 && printable)
            snprintf(out, size, "byte 0x%02lX '%c'", (unsigned long)cp, (char)cp);
        else
            snprintf(out, size, "byte 0x%02lX", (unsigned long)cp);
        return;
    }
    if (printable) {
        char u[5];
        u[utf8_encode(cp, u)] = 0;
        snprintf(out, size, "U+%04lX '%s'", (unsigned long)cp, u);
    } else {
        snprintf(out, size, "U+%04lX", (unsigned long)cp);
    }
}

static int bad_utf8(recur_error *err, size_t at)
{
    return set_error(err, RECUR_EFORMAT,
                     "invalid UTF-8 at byte offset %zu (use --bytes to read the file as bytes)",
                     at);
}

static int unknown_char(recur_error *err, uint32_t cp, int bytes, size_t at)
{
    char what[32];
    describe_char(cp, bytes, what, sizeof what);
    return set_error(err, RECUR_EVOCAB, "%s at byte offset %zu is not in the vocabulary", what, at);
}

/* ---------------------------------------------------------------- vocabulary */

// Wraps chars (sorted, unique, valid; ownership passes here, also on failure)
// in a vocabulary with its lookup tables. byte_lut holds the ids of code
// points below 256 in both modes, so ASCII never touches the larger lut.
static int vocab_build(uint32_t *chars, int n, int bytes, recur_vocab **out, recur_error *err)
{
    bytes = bytes != 0; // recur_vocab_is_bytes promises 0 or 1
    recur_vocab *v = calloc(1, sizeof *v);
    int32_t *lut = bytes ? NULL : xmalloc(BMP_LIMIT, sizeof *lut);
    if (!v || (!bytes && !lut)) {
        free(v);
        free(lut);
        free(chars);
        return set_error(err, RECUR_ENOMEM, "out of memory for a vocabulary of %d characters", n);
    }
    v->n = n;
    v->bytes = bytes;
    v->chars = chars;
    v->lut = lut;
    for (int i = 0; i < 256; i++) v->byte_lut[i] = -1;
    if (lut)
        for (uint32_t i = 0; i < BMP_LIMIT; i++) lut[i] = -1;
    for (int id = 0; id < n; id++) {
        uint32_t cp = chars[id];
        if (cp < 256) v->byte_lut[cp] = id;
        if (lut && cp < BMP_LIMIT) lut[cp] = id;
    }
    *out = v;
    return RECUR_OK;
}

// The id of cp, or -1. Above the BMP a binary search: such characters are
// rare in text and a full table would cost 4 MB per vocabulary.
static int vocab_lookup(const recur_vocab *v, uint32_t cp)
{
    if (cp < 256) return v->byte_lut[cp];
    if (v->bytes) return -1;
    if (cp < BMP_LIMIT) return v->lut[cp];
    int lo = 0, hi = v->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (v->chars[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n && v->chars[lo] == cp ? lo : -1;
}

// Marks every character of s: ASCII in seen[], the rest in the bitmap.
// Returns 0, or -1 with *bad set to the offset of invalid UTF-8.
static int scan_utf8(const uint8_t *s, size_t len, uint8_t seen[128], uint64_t *bitmap, size_t *bad,
                     text_sweep *w)
{
    size_t i = 0;
    // In chunks, releasing between them: a check per character through w
    // would slow the loop (stores to seen[] may alias it).
    while (i < len) {
        size_t stop = len - i > TEXT_RELEASE_CHUNK ? i + TEXT_RELEASE_CHUNK : len;
        while (i < stop) {
            if (len - i >= 8 && all_ascii8(s + i)) {
                for (int k = 0; k < 8; k++) seen[s[i + k]] = 1;
                i += 8;
                continue;
            }
            if (s[i] < 0x80) {
                seen[s[i]] = 1;
                i++;
                continue;
            }
            size_t at = i;
            int32_t cp = utf8_decode(s, len, &i);
            if (cp < 0) {
                *bad = at;
                return -1;
            }
            bitmap[(uint32_t)cp >> 6] |= 1ull << ((uint32_t)cp & 63);
        }
        text_sweep_at(w, i);
    }
    return 0;
}

int recur_vocab_from_text(const char *text, size_t len, int bytes, recur_vocab **out,
                          recur_error *err)
{
    if (!out || (!text && len))
        return set_error(err, RECUR_EINVAL, "recur_vocab_from_text: NULL argument");
    if (len == 0) return set_error(err, RECUR_EINVAL, "empty text");
    const uint8_t *s = (const uint8_t *)text;
    // The set of characters seen, one bit per code point (136 KiB), so that
    // the scan is one pass with no search; per call, so that concurrent
    // scans share nothing.
    uint64_t *bitmap = xcalloc(UNICODE_LIMIT / 64, sizeof *bitmap);
    if (!bitmap) return set_error(err, RECUR_ENOMEM, "out of memory for the vocabulary scan");
    uint8_t seen[256] = {0};
    text_sweep sweep;
    text_sweep_init(&sweep, s, len);
    if (bytes) {
        for (size_t i = 0; i < len;) {
            size_t stop = len - i > TEXT_RELEASE_CHUNK ? i + TEXT_RELEASE_CHUNK : len;
            for (; i < stop; i++) seen[s[i]] = 1;
            text_sweep_at(&sweep, i);
        }
    } else {
        size_t bad;
        if (scan_utf8(s, len, seen, bitmap, &bad, &sweep)) {
            text_sweep_end(&sweep);
            free(bitmap);
            return bad_utf8(err, bad);
        }
    }
    text_sweep_end(&sweep);
    for (uint32_t c = 0; c < 256; c++)
        if (seen[c]) bitmap[c >> 6] |= 1ull << (c & 63);

    int n = 0;
    for (uint32_t w = 0; w < UNICODE_LIMIT / 64; w++)
        for (uint64_t x = bitmap[w]; x; x &= x - 1) n++;
    uint32_t *chars = xmalloc((size_t)n, sizeof *chars);
    if (!chars) {
        free(bitmap);
        return set_error(err, RECUR_ENOMEM, "out of memory for a vocabulary of %d characters", n);
    }
    int k = 0;
    for (uint32_t w = 0; w < UNICODE_LIMIT / 64; w++) {
        if (!bitmap[w]) continue;
        for (uint32_t bit = 0; bit < 64; bit++)
            if ((bitmap[w] >> bit) & 1) chars[k++] = w * 64 + bit;
    }
    free(bitmap);
    return vocab_build(chars, n, bytes, out, err);
}

void recur_vocab_free(recur_vocab *v)
{
    if (!v) return;
    free(v->chars);
    free(v->lut);
    free(v);
}

int recur_vocab_size(const recur_vocab *v)
{
    return v ? v->n : 0;
}

int recur_vocab_is_bytes(const recur_vocab *v)
{
    return v ? v->bytes : 0;
}

int recur_vocab_id(const recur_vocab *v, uint32_t cp)
{
    return v ? vocab_lookup(v, cp) : -1;
}

// UINT32_MAX (no code point or byte has that value) for an id out of range.
uint32_t recur_vocab_char(const recur_vocab *v, int id)
{
    if (!v || id < 0 || id >= v->n) return UINT32_MAX;
    return v->chars[id];
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int vocab_from_chars(const uint32_t *chars, int n, int bytes, recur_vocab **out, recur_error *err)
{
    if (!out || (!chars && n > 0))
        return set_error(err, RECUR_EINVAL, "vocab_from_chars: NULL argument");
    if (n < 1)
        return set_error(err, RECUR_EINVAL, "a vocabulary needs at least one character, got %d", n);
    for (int i = 0; i < n; i++) {
        if (bytes ? chars[i] > 0xFF : !is_scalar(chars[i]))
            return set_error(err, RECUR_EINVAL, "vocabulary entry %d: 0x%lX is not a %s", i,
                             (unsigned long)chars[i],
                             bytes ? "byte"
                                   : "Unicode scalar value (U+0000..U+10FFFF, no surrogates)");
    }
    uint32_t *sorted = xmalloc((size_t)n, sizeof *sorted);
    if (!sorted)
        return set_error(err, RECUR_ENOMEM, "out of memory for a vocabulary of %d characters", n);
    memcpy(sorted, chars, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_u32);
    for (int i = 1; i < n; i++) {
        if (sorted[i] == sorted[i - 1]) {
            char what[32];
            describe_char(sorted[i], bytes, what, sizeof what);
            free(sorted);
            return set_error(err, RECUR_EINVAL, "%s appears twice in the vocabulary", what);
        }
    }
    return vocab_build(sorted, n, bytes, out, err);
}

int vocab_clone(const recur_vocab *v, recur_vocab **out, recur_error *err)
{
    if (!v || !out) return set_error(err, RECUR_EINVAL, "vocab_clone: NULL argument");
    uint32_t *chars = xmalloc((size_t)v->n, sizeof *chars);
    if (!chars)
        return set_error(err, RECUR_ENOMEM, "out of memory for a vocabulary of %d characters",
                         v->n);
    memcpy(chars, v->chars, (size_t)v->n * sizeof *chars);
    return vocab_build(chars, v->n, v->bytes, out, err);
}

int vocab_to_json(const recur_vocab *v, strbuf *out)
{
    if (!v || !out) return RECUR_EINVAL;
    sb_putc(out, '[');
    for (int id = 0; id < v->n; id++) {
        // A byte b is written as U+00bb: raw bytes 0x80..0xFF alone would not
        // be valid UTF-8, and JSON text must be.
        char u[4];
        int k = utf8_encode(v->chars[id], u);
        if (id) sb_putc(out, ',');
        sb_json_string(out, u, (size_t)k);
    }
    sb_putc(out, ']');
    return out->oom ? RECUR_ENOMEM : RECUR_OK;
}

// The array's order is the id order the model's weights were trained with,
// so it is checked (strictly ascending) rather than sorted: a reordered
// array must not silently permute the output rows.
static int vocab_check_json(const json_value *root, int bytes, uint32_t *chars, recur_error *err)
{
    for (size_t i = 0; i < root->n; i++) {
        const json_value *e = &root->items[i];
        if (e->type != J_STR)
            return set_error(err, RECUR_EFORMAT, "vocab: entry %zu is not a string", i);
        size_t p = 0;
        int32_t cp = utf8_decode((const uint8_t *)e->str, e->len, &p);
        if (cp < 0 || p != e->len)
            return set_error(err, RECUR_EFORMAT,
                             "vocab: entry %zu is not exactly one character (%zu bytes)", i,
                             e->len);
        if (bytes && cp > 0xFF)
            return set_error(err, RECUR_EFORMAT,
                             "vocab: entry %zu is U+%04lX, but a byte vocabulary holds only "
                             "U+0000..U+00FF",
                             i, (unsigned long)cp);
        chars[i] = (uint32_t)cp;
        if (i > 0 && chars[i] <= chars[i - 1]) {
            char what[32];
            describe_char(chars[i], 0, what, sizeof what);
            return set_error(err, RECUR_EFORMAT, "vocab: entry %zu, %s, %s", i, what,
                             chars[i] == chars[i - 1] ? "appears twice"
                                                      : "is out of ascending code point order");
        }
    }
    return RECUR_OK;
}

int vocab_from_json(const char *json, int bytes, recur_vocab **out, recur_error *err)
{
    if (!json || !out) return set_error(err, RECUR_EINVAL, "vocab_from_json: NULL argument");
    json_value *root = NULL;
    int rc = json_parse(json, strlen(json), 2, &root, err);
    if (rc) {
        if (err) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            set_error(err, rc, "vocab: %.490s", msg);
        }
        return rc;
    }
    uint32_t *chars = NULL;
    if (root->type != J_ARR) {
        rc = set_error(err, RECUR_EFORMAT, "vocab: expected a JSON array of one-character strings");
    } else if (root->n == 0) {
        rc = set_error(err, RECUR_EFORMAT, "vocab: the array is empty");
    } else if (root->n > (bytes ? 256u : UNICODE_LIMIT)) {
        rc = set_error(err, RECUR_EFORMAT, "vocab: %zu entries, more than there are %s", root->n,
                       bytes ? "bytes" : "code points");
    } else if (!(chars = xmalloc(root->n, sizeof *chars))) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory for a vocabulary of %zu characters",
                       root->n);
    } else {
        rc = vocab_check_json(root, bytes, chars, err);
    }
    size_t n = root->n; // at most UNICODE_LIMIT when rc is 0
    json_free(root);
    if (rc) {
        free(chars);
        return rc;
    }
    return vocab_build(chars, (int)n, bytes, out, err);
}

int vocab_next_id(const recur_vocab *v, const uint8_t *s, size_t len, size_t *pos, uint32_t *cp)
{
    size_t i = *pos;
    if (i >= len) return -2;
    uint32_t c = s[i];
    if (c < 0x80 || v->bytes) {
        *pos = i + 1;
        if (cp) *cp = c;
        return v->byte_lut[c];
    }
    int32_t d = utf8_decode(s, len, pos);
    if (d < 0) return -2;
    if (cp) *cp = (uint32_t)d;
    return vocab_lookup(v, (uint32_t)d);
}

int text_count_chars(const uint8_t *s, size_t len, int bytes, size_t *count, recur_error *err)
{
    if (!count || (!s && len))
        return set_error(err, RECUR_EINVAL, "text_count_chars: NULL argument");
    if (bytes) {
        *count = len;
        return RECUR_OK;
    }
    size_t n = 0, i = 0;
    text_sweep w;
    text_sweep_init(&w, s, len);
    while (i < len) { // in chunks, releasing between them
        size_t stop = len - i > TEXT_RELEASE_CHUNK ? i + TEXT_RELEASE_CHUNK : len;
        while (i < stop) {
            if (len - i >= 8 && all_ascii8(s + i)) {
                i += 8;
                n += 8;
                continue;
            }
            if (s[i] < 0x80) {
                i++;
            } else {
                size_t at = i;
                if (utf8_decode(s, len, &i) < 0) {
                    text_sweep_end(&w);
                    return bad_utf8(err, at);
                }
            }
            n++;
        }
        text_sweep_at(&w, i);
    }
    text_sweep_end(&w);
    *count = n;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- files */

static int io_error(recur_error *err, const char *path, int errnum)
{
    return set_error(err, RECUR_EIO, "%s: %s", path, strerror(errnum));
}

static int map_file(int fd, const struct stat *st, const char *path, text_file *tf,
                    recur_error *err)
{
    if ((uintmax_t)st->st_size > SIZE_MAX)
        return set_error(err, RECUR_ENOMEM, "%s: too large to map into memory", path);
    size_t len = (size_t)st->st_size;
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return set_error(err, RECUR_EIO, "%s: mmap: %s", path, strerror(errno));
    tf->data = p;
    tf->len = len;
    tf->mapped = 1;
    tf->fd = fd;
    text_note_mapping(p, len, fd, st, 1);
    return RECUR_OK;
}

// Pipes and devices have no size to map, so they are read to the end into a
// buffer that doubles as it fills.
static int read_file(int fd, const char *path, text_file *tf, recur_error *err)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return set_error(err, RECUR_ENOMEM, "%s: out of memory", path);
    for (;;) {
        if (n == cap) {
            uint8_t *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                return set_error(err, RECUR_ENOMEM, "%s: out of memory after %zu bytes", path, n);
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            return io_error(err, path, e);
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    tf->data = buf;
    tf->len = n;
    tf->mapped = 0;
    tf->owned = buf;
    return RECUR_OK;
}

int text_open(const char *path, text_file *tf, recur_error *err)
{
    if (!tf) return set_error(err, RECUR_EINVAL, "text_open: NULL argument");
    memset(tf, 0, sizeof *tf);
    tf->fd = -1;
    if (!path) return set_error(err, RECUR_EINVAL, "text_open: NULL path");
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return io_error(err, path, errno);
    struct stat st;
    int rc;
    if (fstat(fd, &st)) {
        rc = io_error(err, path, errno);
    } else if (S_ISDIR(st.st_mode)) {
        rc = set_error(err, RECUR_EIO, "%s: is a directory", path);
    } else if (S_ISREG(st.st_mode) && st.st_size > 0) {
        rc = map_file(fd, &st, path, tf, err);
    } else {
        // Also regular files of size 0: some (in /proc) have content anyway.
        rc = read_file(fd, path, tf, err);
    }
    // A mapping stays valid after its descriptor is closed, but the batcher
    // reads a mapped text with pread (text.h): the descriptor stays open
    // until text_close.
    if (!(rc == RECUR_OK && tf->mapped)) close(fd);
    if (rc == RECUR_OK && tf->len == 0) {
        text_close(tf);
        rc = set_error(err, RECUR_EINVAL, "%s: empty file", path);
    }
    return rc;
}

void text_close(text_file *tf)
{
    if (!tf) return;
    if (tf->mapped && tf->data) {
        text_note_mapping(tf->data, tf->len, -1, NULL, 0);
        munmap((void *)tf->data, tf->len);
        close(tf->fd);
    }
    free(tf->owned);
    memset(tf, 0, sizeof *tf);
    tf->fd = -1;
}

/* ---------------------------------------------------------------- batcher */

// Stream b starts at character b * chars_per_stream, which is only known
// once every character is counted. Rather than a second pass to find those
// characters, the counting pass notes the byte offset of every NOTE_EVERY-th
// character; each start is then a short walk from the nearest note.
#define NOTE_EVERY 4096

// One pass over the text: checks that it is valid and inside the vocabulary,
// counts its characters and (UTF-8 only) fills notes[k] with the byte offset
// of character k * NOTE_EVERY.
static int batcher_scan(const recur_vocab *v, const uint8_t *s, size_t len, size_t *notes,
                        size_t *count, text_sweep *w, recur_error *err)
{
    const int32_t *byte_lut = v->byte_lut;
    size_t n = 0, i = 0, next_note = 0;
    while (i < len) { // in chunks, releasing between them
        size_t stop = len - i > TEXT_RELEASE_CHUNK ? i + TEXT_RELEASE_CHUNK : len;
        while (i < stop) {
            if (!v->bytes && len - i >= 8 && all_ascii8(s + i)) {
                int32_t ids = 0; // negative if any of the eight is unknown
                for (int k = 0; k < 8; k++) ids |= byte_lut[s[i + k]];
                if (ids >= 0) {
                    if (next_note < n + 8) {
                        notes[next_note / NOTE_EVERY] = i + (next_note - n);
                        next_note += NOTE_EVERY;
                    }
                    i += 8;
                    n += 8;
                    continue;
                }
            }
            if (!v->bytes && n == next_note) {
                notes[n / NOTE_EVERY] = i;
                next_note += NOTE_EVERY;
            }
            size_t at = i;
            uint32_t cp = 0;
            int id = vocab_next_id(v, s, len, &i, &cp);
            if (id == -2) return bad_utf8(err, at);
            if (id < 0) return unknown_char(err, cp, v->bytes, at);
            n++;
        }
        text_sweep_at(w, i);
    }
    *count = n;
    return RECUR_OK;
}

int batcher_init(text_batcher *b, const recur_vocab *v, const uint8_t *s, size_t len, int B, int T,
                 recur_error *err)
{
    if (!b) return set_error(err, RECUR_EINVAL, "batcher_init: NULL argument");
    memset(b, 0, sizeof *b);
    b->fd = -1;
    if (!v || (!s && len)) return set_error(err, RECUR_EINVAL, "batcher_init: NULL argument");
    size_t window_ids;
    if (B < 1 || T < 1 || size_mul((size_t)B, (size_t)T, &window_ids))
        return set_error(err, RECUR_EINVAL,
                         "batch and seq must be at least 1, got batch %d and seq %d", B, T);

    size_t *notes = NULL;
    if (!v->bytes && !(notes = xmalloc(len / NOTE_EVERY + 1, sizeof *notes)))
        return set_error(err, RECUR_ENOMEM, "out of memory for the batcher");
    size_t nchars = 0;
    text_sweep w;
    text_sweep_init(&w, s, len);
    int rc = batcher_scan(v, s, len, notes, &nchars, &w, err);
    text_sweep_end(&w);
    size_t per_stream = nchars / (size_t)B;
    if (rc == RECUR_OK && per_stream < (size_t)T + 1)
        rc = set_error(err, RECUR_EINVAL,
                       "text too short: %zu characters make %d streams of %zu, but --seq %d "
                       "needs at least %lld per stream",
                       nchars, B, per_stream, T, (long long)T + 1);
    // start[] has 2B slots: the upper half is batcher_next's scratch for the
    // new positions, so that a failed call leaves the batcher as it was.
    int fd = -1; // -1 also when the mapping's descriptor is gone: then s is read directly
    size_t file_off = 0;
    if (!text_is_mapped(s, len, &fd, &file_off)) fd = -1;
    size_t cap = 0, bufsize = 0;
    if (fd >= 0 && (size_mul((size_t)T + 1, 4, &cap) || size_add(cap, TEXT_STREAM_READ, &cap) ||
                    size_mul(cap, (size_t)B, &bufsize)))
        rc = set_error(err, RECUR_ENOMEM, "out of memory for the batcher");
    if (rc == RECUR_OK && (!(b->start = xmalloc(2 * (size_t)B, sizeof *b->start)) ||
                           !(b->pos = xmalloc((size_t)B, sizeof *b->pos)) ||
                           (fd >= 0 && (!(b->buf = xmalloc(bufsize, 1)) ||
                                        !(b->buf_at = xmalloc((size_t)B, sizeof *b->buf_at)) ||
                                        !(b->buf_n = xcalloc((size_t)B, sizeof *b->buf_n))))))
        rc = set_error(err, RECUR_ENOMEM, "out of memory for the batcher");
    if (rc) {
        free(notes);
        batcher_free(b);
        return rc;
    }
    for (int k = 0; k < B; k++) {
        size_t c = (size_t)k * per_stream; // the stream's first character
        size_t off = c;
        if (!v->bytes) {
            size_t from = off = notes[c / NOTE_EVERY];
            for (size_t skip = c % NOTE_EVERY; skip > 0; skip--) off += utf8_len(s[off]);
            // The walk mapped a little of the text (a whole page-cache folio,
            // up to 2 MB, on recent kernels): B of them would add up.
            if (fd >= 0) {
                from = from > TEXT_RELEASE_MARGIN ? from - TEXT_RELEASE_MARGIN : 0;
                size_t to = len - off > TEXT_RELEASE_MARGIN ? off + TEXT_RELEASE_MARGIN : len;
                text_release(s + from, to - from);
            }
        }
        b->start[k] = b->pos[k] = off;
    }
    free(notes);
    b->fd = fd;
    b->file_off = file_off;
    b->buf_cap = cap;
    for (int k = 0; fd >= 0 && k < B; k++) b->buf_at[k] = 0; // with buf_n 0: empty
    b->vocab = v;
    b->s = s;
    b->len = len;
    b->B = B;
    b->T = T;
    b->chars_per_stream = per_stream;
    b->windows_per_epoch = (per_stream - 1) / (size_t)T;
    return RECUR_OK;
}

void batcher_free(text_batcher *b)
{
    if (!b) return;
    free(b->start);
    free(b->pos);
    free(b->buf);
    free(b->buf_at);
    free(b->buf_n);
    memset(b, 0, sizeof *b);
    b->fd = -1;
}

void batcher_rewind(text_batcher *b)
{
    if (!b || !b->start) return;
    memcpy(b->pos, b->start, (size_t)b->B * sizeof *b->pos);
    b->window = 0;
    b->epoch = 0;
}

int batcher_next(text_batcher *b, int32_t *in, int32_t *tgt, int *new_epoch, recur_error *err)
{
    if (!b || !b->start || !in || !tgt)
        return set_error(err, RECUR_EINVAL, "batcher_next: NULL argument");
    const size_t B = (size_t)b->B, T = (size_t)b->T;
    int wrap = b->window >= b->windows_per_epoch;
    const size_t *from = wrap ? b->start : b->pos;
    size_t *next = b->start + B;
    // Each stream reads T+1 characters: the first T are inputs, the last T
    // targets; the stream moves on by T, so the last target is read again as
    // the next window's first input.
    for (size_t k = 0; k < B; k++) {
        // The stream's bytes: the text itself, or (a mapped file) its
        // buffer, which holds at least the T+1 characters from the stream's
        // position (text_io.c reads them from the file); p counts from base.
        const uint8_t *src = b->s;
        size_t n = b->len, base = 0, p = from[k];
        if (b->fd >= 0) {
            size_t f = from[k];
            int rc = batcher_fill_stream(b, k, f, err);
            if (rc) return rc;
            src = b->buf + k * b->buf_cap;
            base = b->buf_at[k];
            n = b->buf_n[k];
            p = f - base;
        }
        for (size_t t = 0; t <= T; t++) {
            if (t == T) next[k] = base + p;
            size_t at = base + p;
            uint32_t cp = 0;
            int id = vocab_next_id(b->vocab, src, n, &p, &cp);
            // Only possible if the file changed under its mapping since init.
            if (id == -2) return bad_utf8(err, at);
            if (id < 0) return unknown_char(err, cp, b->vocab->bytes, at);
            if (t < T) in[t * B + k] = id;
            if (t > 0) tgt[(t - 1) * B + k] = id;
        }
    }
    memcpy(b->pos, next, B * sizeof *b->pos);
    if (wrap) {
        b->window = 0;
        b->epoch++;
    }
    if (new_epoch) *new_epoch = b->window == 0;
    b->window++;
    return RECUR_OK;
}

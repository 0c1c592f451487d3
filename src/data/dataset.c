/*
 * dataset.c - what the dataset readers share: label sets (sorted distinct
 * names: class labels, tags, words), the line walker with its strict UTF-8
 * check, unbiased draws and shuffles from an explicit rng, and character
 * vocabularies over many short texts. The readers themselves are in
 * dataset_class.c, dataset_tag.c and dataset_pairs.c.
 */
#include "data/dataset.h"
#include "data/text.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- spans */

int span_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return (alen > blen) - (alen < blen);
}

int span_qcmp(const void *x, const void *y)
{
    const str_span *a = x, *b = y;
    return span_cmp(a->s, a->len, b->s, b->len);
}

size_t spans_sort_unique(str_span *v, size_t n)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, span_qcmp);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (span_qcmp(&v[k - 1], &v[i]) != 0) v[k++] = v[i];
    return k;
}

/* ---------------------------------------------------------------- label sets */

int label_set_from_spans(const str_span *spans, int n, label_set *out, recur_error *err)
{
    if (!out || n < 0 || (!spans && n > 0))
        return set_error(err, RECUR_EINVAL, "label_set_from_spans: bad argument");
    memset(out, 0, sizeof *out);
    // One block for all the names, each followed by its NUL.
    size_t bytes = 0;
    for (int i = 0; i < n; i++)
        if (size_add(bytes, spans[i].len, &bytes) || size_add(bytes, 1, &bytes))
            return set_error(err, RECUR_ENOMEM, "label set of %d names is too large", n);
    char **names = xmalloc((size_t)n, sizeof *names);
    char *pool = xmalloc(bytes, 1);
    if (!names || !pool) {
        free(names);
        free(pool);
        return set_error(err, RECUR_ENOMEM, "out of memory for a set of %d labels", n);
    }
    char *p = pool;
    for (int i = 0; i < n; i++) {
        names[i] = p;
        if (spans[i].len) memcpy(p, spans[i].s, spans[i].len);
        p[spans[i].len] = 0;
        p += spans[i].len + 1;
    }
    out->n = n;
    out->names = names;
    out->pool_ = pool;
    return RECUR_OK;
}

// Whether s[0..n) is valid UTF-8 without NUL bytes; *at gets the offset of
// the first bad byte otherwise.
static int utf8_clean(const char *s, size_t n, size_t *at)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] == 0) break;
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        if (utf8_decode(u, n, &i) < 0) break;
    }
    *at = i;
    return i == n;
}

int label_set_from_names(const char *const *names, int n, label_set *out, recur_error *err)
{
    if (!out || n < 0 || (!names && n > 0))
        return set_error(err, RECUR_EINVAL, "label_set_from_names: bad argument");
    memset(out, 0, sizeof *out);
    str_span *spans = xmalloc((size_t)n, sizeof *spans);
    if (!spans) return set_error(err, RECUR_ENOMEM, "out of memory for a set of %d labels", n);
    int rc = RECUR_OK;
    for (int i = 0; i < n && rc == RECUR_OK; i++) {
        size_t at;
        if (!names[i] || !names[i][0])
            rc = set_error(err, RECUR_EINVAL, "label %d is empty", i);
        else if (!utf8_clean(names[i], strlen(names[i]), &at))
            rc = set_error(err, RECUR_EINVAL, "label %d: invalid UTF-8 at byte %zu", i, at + 1);
        else
            spans[i] = (str_span){names[i], strlen(names[i])};
    }
    if (rc == RECUR_OK) {
        qsort(spans, (size_t)n, sizeof *spans, span_qcmp);
        for (int i = 1; i < n && rc == RECUR_OK; i++)
            if (span_qcmp(&spans[i - 1], &spans[i]) == 0)
                rc = set_error(err, RECUR_EINVAL, "label \"%s\" appears twice", spans[i].s);
    }
    if (rc == RECUR_OK) rc = label_set_from_spans(spans, n, out, err);
    free(spans);
    return rc;
}

int label_set_clone(const label_set *s, label_set *out, recur_error *err)
{
    if (!s || !out) return set_error(err, RECUR_EINVAL, "label_set_clone: NULL argument");
    str_span *spans = xmalloc((size_t)s->n, sizeof *spans);
    if (!spans) return set_error(err, RECUR_ENOMEM, "out of memory for a set of %d labels", s->n);
    for (int i = 0; i < s->n; i++) spans[i] = (str_span){s->names[i], strlen(s->names[i])};
    int rc = label_set_from_spans(spans, s->n, out, err);
    free(spans);
    return rc;
}

void label_set_free(label_set *s)
{
    if (!s) return;
    free(s->names);
    free(s->pool_);
    memset(s, 0, sizeof *s);
}

int label_set_find(const label_set *s, const char *name, size_t len)
{
    if (!s || (!name && len)) return -1;
    int lo = 0, hi = s->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const char *m = s->names[mid];
        int c = span_cmp(m, strlen(m), name, len);
        if (c == 0) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---------------------------------------------------------------- lines */

void line_iter_init(line_iter *it, const uint8_t *s, size_t len)
{
    it->s = s;
    it->len = len;
    it->pos = 0;
    it->lineno = 0;
    // Editors on Windows start UTF-8 files with a byte-order mark; it is not
    // part of the first line's text.
    if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) it->pos = 3;
}

int line_next(line_iter *it, const char **line, size_t *n)
{
    if (it->pos >= it->len) return 0;
    const uint8_t *start = it->s + it->pos;
    size_t left = it->len - it->pos;
    const uint8_t *nl = memchr(start, '\n', left);
    size_t k = nl ? (size_t)(nl - start) : left;
    it->pos += nl ? k + 1 : k;
    it->lineno++;
    if (k && start[k - 1] == '\r') k--;
    *line = (const char *)start;
    *n = k;
    return 1;
}

int line_check(const char *path, size_t lineno, const char *line, size_t n, recur_error *err)
{
    size_t at;
    if (n > DATA_MAX_EXAMPLE)
        return set_error(err, RECUR_EFORMAT, "%s:%zu: line longer than %d bytes", path, lineno, DATA_MAX_EXAMPLE);
    if (utf8_clean(line, n, &at)) return RECUR_OK;
    if (line[at] == 0)
        return set_error(err, RECUR_EFORMAT, "%s:%zu: NUL byte at byte %zu of the line", path,
                         lineno, at + 1);
    return set_error(err, RECUR_EFORMAT, "%s:%zu: invalid UTF-8 at byte %zu of the line", path,
                     lineno, at + 1);
}

/* ---------------------------------------------------------------- randomness */

uint64_t draw_below(rng *r, uint64_t n)
{
    // Values below 2^64 mod n would make the small residues more likely;
    // rejecting them leaves a whole number of copies of [0, n).
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = rng_next(r);
        if (x >= threshold) return x % n;
    }
}

void shuffle_index(size_t *idx, size_t n, rng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)draw_below(r, (uint64_t)i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* ---------------------------------------------------------------- vocabularies */

int vocab_from_spans(const str_span *spans, size_t n, recur_vocab **out, recur_error *err)
{
    if (!out || (!spans && n))
        return set_error(err, RECUR_EINVAL, "vocab_from_spans: NULL argument");
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (size_add(total, spans[i].len, &total))
            return set_error(err, RECUR_ENOMEM, "texts too large for a vocabulary");
    if (total == 0)
        return set_error(err, RECUR_EINVAL, "no characters to build a vocabulary from");
    char *all = xmalloc(total, 1);
    if (!all) return set_error(err, RECUR_ENOMEM, "out of memory for %zu bytes of text", total);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].len) memcpy(all + at, spans[i].s, spans[i].len);
        at += spans[i].len;
    }
    int rc = recur_vocab_from_text(all, total, 0, out, err);
    free(all);
    return rc;
}

/*
 * dataset_pairs.c - (source, target) pairs for sequence-to-sequence models:
 * read from source<TAB>target lines, or generated for the tasks that have one
 * right answer and need the whole input (reversing a string, adding two
 * decimal numbers), from an explicit seed so that a test can make the same
 * training and held-out sets every time. Pairs are built in a growing pool
 * by offset and get their pointers once the pool stops moving.
 */
#include "data/dataset.h"
#include "data/text.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- building */

typedef struct pair_off {
    size_t src, src_len, tgt, tgt_len;
} pair_off;

typedef struct pair_builder {
    strbuf pool; // every text followed by its NUL
    pair_off *v;
    size_t n, cap;
} pair_builder;

static size_t pool_add(pair_builder *b, const char *s, size_t n)
{
    size_t at = b->pool.len;
    sb_putn(&b->pool, s, n);
    sb_putc(&b->pool, 0);
    return at;
}

static int builder_add(pair_builder *b, const char *src, size_t src_len, const char *tgt,
                       size_t tgt_len)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256, bytes;
        if (size_mul(cap, sizeof *b->v, &bytes)) return -1;
        pair_off *v = realloc(b->v, bytes);
        if (!v) return -1;
        b->v = v;
        b->cap = cap;
    }
    pair_off o;
    o.src = pool_add(b, src, src_len);
    o.src_len = src_len;
    o.tgt = pool_add(b, tgt, tgt_len);
    o.tgt_len = tgt_len;
    if (b->pool.oom) return -1;
    b->v[b->n++] = o;
    return 0;
}

// Moves the builder's contents into out (which takes the pool) and frees
// the rest of the builder, also on failure.
static int builder_finish(pair_builder *b, pair_data *out, recur_error *err)
{
    int rc = RECUR_OK;
    out->p = xmalloc(b->n, sizeof *out->p);
    if (!out->p || b->pool.oom) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory for %zu pairs", b->n);
    } else {
        for (size_t i = 0; i < b->n; i++) {
            const pair_off *o = &b->v[i];
            out->p[i] = (seq_pair){b->pool.s + o->src, b->pool.s + o->tgt, o->src_len, o->tgt_len};
        }
        out->n = b->n;
        out->pool_ = b->pool.s;
        b->pool.s = NULL;
    }
    sb_free(&b->pool);
    free(b->v);
    memset(b, 0, sizeof *b);
    return rc;
}

static void builder_free(pair_builder *b)
{
    sb_free(&b->pool);
    free(b->v);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- reading */

int pairs_read(const char *path, pair_data *out, recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "pairs_read: NULL argument");
    memset(out, 0, sizeof *out);
    if (!path) return set_error(err, RECUR_EINVAL, "pairs_read: NULL path");
    text_file tf;
    int rc = text_open(path, &tf, err);
    if (rc) return rc;
    pair_builder b = {0};
    line_iter it;
    line_iter_init(&it, tf.data, tf.len);
    const char *line;
    size_t n;
    while (rc == RECUR_OK && line_next(&it, &line, &n)) {
        if (n == 0) {
            out->empty_lines++;
            continue;
        }
        rc = line_check(path, it.lineno, line, n, err);
        if (rc) break;
        const char *tab = memchr(line, '\t', n);
        if (!tab) {
            rc = set_error(err, RECUR_EFORMAT, "%s:%zu: no TAB between the source and the target",
                           path, it.lineno);
            break;
        }
        size_t src_len = (size_t)(tab - line), tgt_len = n - src_len - 1;
        if (memchr(tab + 1, '\t', tgt_len)) {
            rc = set_error(err, RECUR_EFORMAT,
                           "%s:%zu: more than one TAB (expected source<TAB>target)", path,
                           it.lineno);
            break;
        }
        if (builder_add(&b, line, src_len, tab + 1, tgt_len))
            rc = set_error(err, RECUR_ENOMEM, "%s:%zu: out of memory", path, it.lineno);
    }
    if (rc == RECUR_OK && b.n == 0) rc = set_error(err, RECUR_EFORMAT, "%s: no pairs", path);
    text_close(&tf);
    if (rc) {
        builder_free(&b);
        return rc;
    }
    return builder_finish(&b, out, err);
}

void pair_data_free(pair_data *d)
{
    if (!d) return;
    free(d->p);
    free(d->pool_);
    memset(d, 0, sizeof *d);
}

/* ---------------------------------------------------------------- generators */

#define GEN_MAX_LEN 1000 // characters per generated source or operand

int pairs_gen_reverse(const char *alphabet, int lo, int hi, size_t n, uint64_t seed,
                      pair_data *out, recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "pairs_gen_reverse: NULL argument");
    memset(out, 0, sizeof *out);
    if (!alphabet || !alphabet[0])
        return set_error(err, RECUR_EINVAL, "reversal task: the alphabet is empty");
    if (lo < 1 || lo > hi || hi > GEN_MAX_LEN)
        return set_error(err, RECUR_EINVAL,
                         "reversal task: lengths [%d, %d] must satisfy 1 <= lo <= hi <= %d", lo,
                         hi, GEN_MAX_LEN);
    // The alphabet as (offset, length) of each character, so that reversal
    // keeps multi-byte characters whole.
    size_t alen = strlen(alphabet), nsym = 0;
    size_t *sym = xmalloc(alen, sizeof *sym);
    char *src = xmalloc((size_t)hi * 4, 1), *tgt = xmalloc((size_t)hi * 4, 1);
    int rc = RECUR_OK;
    if (!sym || !src || !tgt) rc = set_error(err, RECUR_ENOMEM, "out of memory");
    for (size_t i = 0; rc == RECUR_OK && i < alen;) {
        sym[nsym++] = i;
        if (utf8_decode((const uint8_t *)alphabet, alen, &i) < 0)
            rc = set_error(err, RECUR_EINVAL,
                           "reversal task: the alphabet is not valid UTF-8 (byte %zu)", i + 1);
    }
    pair_builder b = {0};
    rng r;
    rng_seed(&r, seed);
    for (size_t k = 0; rc == RECUR_OK && k < n; k++) {
        int len = lo + (int)draw_below(&r, (uint64_t)(hi - lo + 1));
        size_t sl = 0, tl = 0;
        size_t start[GEN_MAX_LEN], clen[GEN_MAX_LEN];
        for (int j = 0; j < len; j++) {
            size_t s = (size_t)draw_below(&r, nsym);
            size_t from = sym[s], to = s + 1 < nsym ? sym[s + 1] : alen;
            start[j] = sl;
            clen[j] = to - from;
            memcpy(src + sl, alphabet + from, to - from);
            sl += to - from;
        }
        for (int j = len - 1; j >= 0; j--) {
            memcpy(tgt + tl, src + start[j], clen[j]);
            tl += clen[j];
        }
        if (builder_add(&b, src, sl, tgt, tl)) rc = set_error(err, RECUR_ENOMEM, "out of memory");
    }
    free(sym);
    free(src);
    free(tgt);
    if (rc) {
        builder_free(&b);
        return rc;
    }
    return builder_finish(&b, out, err);
}

// Writes a random number of exactly `digits` decimal digits (no leading zero
// unless it is the single digit 0) to s.
static void random_number(rng *r, int digits, char *s)
{
    for (int i = 0; i < digits; i++) {
        int lead = i == 0 && digits > 1;
        s[i] = (char)('0' + (lead ? 1 + (int)draw_below(r, 9) : (int)draw_below(r, 10)));
    }
}

// sum = a + b in decimal, schoolbook from the last digit; returns its length.
static size_t add_decimal(const char *a, size_t na, const char *b, size_t nb, char *sum)
{
    size_t n = (na > nb ? na : nb) + 1;
    int carry = 0;
    for (size_t i = 0; i < n; i++) {
        int d = carry;
        if (i < na) d += a[na - 1 - i] - '0';
        if (i < nb) d += b[nb - 1 - i] - '0';
        sum[n - 1 - i] = (char)('0' + d % 10);
        carry = d / 10;
    }
    if (n > 1 && sum[0] == '0') {
        memmove(sum, sum + 1, n - 1);
        n--;
    }
    return n;
}

int pairs_gen_add(int lo, int hi, size_t n, uint64_t seed, pair_data *out, recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "pairs_gen_add: NULL argument");
    memset(out, 0, sizeof *out);
    if (lo < 1 || lo > hi || hi > GEN_MAX_LEN)
        return set_error(err, RECUR_EINVAL,
                         "addition task: digits [%d, %d] must satisfy 1 <= lo <= hi <= %d", lo, hi,
                         GEN_MAX_LEN);
    char src[2 * GEN_MAX_LEN + 1], tgt[GEN_MAX_LEN + 1];
    pair_builder b = {0};
    rng r;
    rng_seed(&r, seed);
    for (size_t k = 0; k < n; k++) {
        int da = lo + (int)draw_below(&r, (uint64_t)(hi - lo + 1));
        int db = lo + (int)draw_below(&r, (uint64_t)(hi - lo + 1));
        random_number(&r, da, src);
        src[da] = '+';
        random_number(&r, db, src + da + 1);
        size_t tl = add_decimal(src, (size_t)da, src + da + 1, (size_t)db, tgt);
        if (builder_add(&b, src, (size_t)(da + 1 + db), tgt, tl)) {
            builder_free(&b);
            return set_error(err, RECUR_ENOMEM, "out of memory for %zu pairs", n);
        }
    }
    return builder_finish(&b, out, err);
}

/* ---------------------------------------------------------------- held-out sets */

int pairs_exclude(pair_data *d, const pair_data *other, size_t *removed, recur_error *err)
{
    if (!d || !other) return set_error(err, RECUR_EINVAL, "pairs_exclude: NULL argument");
    str_span *seen = xmalloc(other->n, sizeof *seen);
    if (!seen) return set_error(err, RECUR_ENOMEM, "out of memory for %zu pairs", other->n);
    for (size_t i = 0; i < other->n; i++)
        seen[i] = (str_span){other->p[i].src, other->p[i].src_len};
    size_t ns = spans_sort_unique(seen, other->n), kept = 0;
    for (size_t i = 0; i < d->n; i++) {
        str_span key = {d->p[i].src, d->p[i].src_len};
        if (!bsearch(&key, seen, ns, sizeof *seen, span_qcmp)) d->p[kept++] = d->p[i];
    }
    free(seen);
    if (removed) *removed = d->n - kept;
    d->n = kept;
    return RECUR_OK;
}

int pairs_char_vocab(const pair_data *d, int sides, recur_vocab **out, recur_error *err)
{
    if (!d || !out) return set_error(err, RECUR_EINVAL, "pairs_char_vocab: NULL argument");
    if (sides < PAIRS_SRC || sides > PAIRS_BOTH)
        return set_error(err, RECUR_EINVAL, "pairs_char_vocab: sides must be 1, 2 or 3, got %d",
                         sides);
    str_span *v = xmalloc(d->n, 2 * sizeof *v);
    if (!v) return set_error(err, RECUR_ENOMEM, "out of memory for %zu pairs", d->n);
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (sides & PAIRS_SRC) v[k++] = (str_span){d->p[i].src, d->p[i].src_len};
        if (sides & PAIRS_TGT) v[k++] = (str_span){d->p[i].tgt, d->p[i].tgt_len};
    }
    int rc = vocab_from_spans(v, k, out, err);
    free(v);
    return rc;
}

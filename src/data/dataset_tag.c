/*
 * dataset_tag.c - tagged sentences for many-to-many training: a strict
 * reader of CoNLL-style columns (token, tag, more), the tag set, and the two
 * token encodings a tagger can use: a character vocabulary (every token
 * spelled out) and a word vocabulary with an unknown-word id. The file is
 * read in two passes over its mapping, one to count and validate and one to
 * fill arrays of exactly the right size.
 */
#include "data/dataset.h"
#include "data/text.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reading */

// What a pass over the file produces. The arrays are NULL in the counting
// pass; in the filling pass they have the sizes the counting pass found.
typedef struct tag_scan {
    int column;
    const label_set *tags; // map tags while reading (a given tag set), or NULL
    size_t ntok, nsent, tok_bytes, max_len;
    size_t unknown, first_unknown_line;
    str_span *tok;    // [ntok]
    str_span *tagtxt; // [ntok] the tag's text (when building the tag set)
    int32_t *tag;     // [ntok] ids (with a given tag set)
    size_t *sent;     // [nsent + 1]
} tag_scan;

static int blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

static void end_sentence(tag_scan *sc, size_t *in_sent)
{
    if (*in_sent == 0) return;
    if (*in_sent > sc->max_len) sc->max_len = *in_sent;
    sc->nsent++;
    if (sc->sent) sc->sent[sc->nsent] = sc->ntok;
    *in_sent = 0;
}

// Splits a token line into its token (column 1) and tag (sc->column).
static int split_fields(const char *path, size_t lineno, const char *line, size_t n, int column,
                        str_span *tok, str_span *tag, recur_error *err)
{
    const char *end = line + n, *field = line;
    int col = 1;
    for (;;) {
        const char *tab = memchr(field, '\t', (size_t)(end - field));
        const char *fend = tab ? tab : end;
        if (col == 1) *tok = (str_span){field, (size_t)(fend - field)};
        if (col == column) {
            *tag = (str_span){field, (size_t)(fend - field)};
            break;
        }
        if (!tab) break;
        field = tab + 1;
        col++;
    }
    if (col < column)
        return set_error(err, RECUR_EFORMAT,
                         "%s:%zu: %d TAB-separated column%s, but the tag is in column %d", path,
                         lineno, col, col == 1 ? "" : "s", column);
    if (tok->len == 0)
        return set_error(err, RECUR_EFORMAT, "%s:%zu: empty token in column 1", path, lineno);
    if (tag->len == 0)
        return set_error(err, RECUR_EFORMAT, "%s:%zu: empty tag in column %d", path, lineno,
                         column);
    return RECUR_OK;
}

static int tag_pass(const char *path, const text_file *tf, tag_scan *sc, recur_error *err)
{
    sc->ntok = sc->nsent = sc->tok_bytes = sc->max_len = 0;
    sc->unknown = sc->first_unknown_line = 0;
    if (sc->sent) sc->sent[0] = 0;
    line_iter it;
    line_iter_init(&it, tf->data, tf->len);
    const char *line;
    size_t n, in_sent = 0, sent_bytes = 0;
    while (line_next(&it, &line, &n)) {
        if (blank_line(line, n)) {
            end_sentence(sc, &in_sent);
            sent_bytes = 0;
            continue;
        }
        // CoNLL-U comments ("# sent_id = 1") have no TAB; a '#' token does.
        if (line[0] == '#' && !memchr(line, '\t', n)) continue;
        int rc = line_check(path, it.lineno, line, n, err);
        str_span tok, tag;
        if (rc == RECUR_OK)
            rc = split_fields(path, it.lineno, line, n, sc->column, &tok, &tag, err);
        if (rc) return rc;
        if (sc->tok) sc->tok[sc->ntok] = tok;
        if (sc->tagtxt) sc->tagtxt[sc->ntok] = tag;
        if (sc->tag) {
            int id = label_set_find(sc->tags, tag.s, tag.len);
            sc->tag[sc->ntok] = id;
            if (id < 0 && sc->unknown++ == 0) sc->first_unknown_line = it.lineno;
        }
        if (size_add(sc->tok_bytes, tok.len + 1, &sc->tok_bytes))
            return set_error(err, RECUR_ENOMEM, "%s: too large", path);
        // A sentence is read as one sequence of characters (DATA_MAX_EXAMPLE).
        sent_bytes += tok.len + 1;
        if (sent_bytes > DATA_MAX_EXAMPLE)
            return set_error(err, RECUR_EFORMAT, "%s:%zu: sentence longer than %d bytes", path, it.lineno,
                             DATA_MAX_EXAMPLE);
        sc->ntok++;
        in_sent++;
    }
    end_sentence(sc, &in_sent);
    if (sc->ntok == 0) return set_error(err, RECUR_EFORMAT, "%s: no tokens", path);
    return RECUR_OK;
}

// The tag set of the tag texts tagtxt[0..n), and each token's id in it.
static int build_tags(const char *path, const str_span *tagtxt, size_t n, tag_data *out,
                      recur_error *err)
{
    str_span *u = xmalloc(n, sizeof *u);
    if (!u) return set_error(err, RECUR_ENOMEM, "%s: out of memory for the tag set", path);
    memcpy(u, tagtxt, n * sizeof *u);
    size_t k = spans_sort_unique(u, n);
    int rc = k > (size_t)INT32_MAX
                 ? set_error(err, RECUR_EINVAL, "%s: too many distinct tags (%zu)", path, k)
                 : label_set_from_spans(u, (int)k, &out->tags, err);
    free(u);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++)
        out->tag[i] = label_set_find(&out->tags, tagtxt[i].s, tagtxt[i].len);
    return RECUR_OK;
}

int tag_read(const char *path, int column, const label_set *tags, tag_data *out,
             recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "tag_read: NULL argument");
    memset(out, 0, sizeof *out);
    if (!path) return set_error(err, RECUR_EINVAL, "tag_read: NULL path");
    if (column == 0) column = 2;
    if (column < 2)
        return set_error(err, RECUR_EINVAL,
                         "tag column %d: must be 2 or more (column 1 is the token)", column);
    text_file tf;
    int rc = text_open(path, &tf, err);
    if (rc) return rc;
    tag_scan sc = {0};
    sc.column = column;
    rc = tag_pass(path, &tf, &sc, err);
    if (rc == RECUR_OK) {
        sc.tok = xmalloc(sc.ntok, sizeof *sc.tok);
        sc.sent = xmalloc(sc.nsent + 1, sizeof *sc.sent);
        out->tag = xmalloc(sc.ntok, sizeof *out->tag);
        sc.tagtxt = tags ? NULL : xmalloc(sc.ntok, sizeof *sc.tagtxt);
        if (!sc.tok || !sc.sent || !out->tag || (!tags && !sc.tagtxt))
            rc = set_error(err, RECUR_ENOMEM, "%s: out of memory for %zu tokens", path, sc.ntok);
    }
    if (rc == RECUR_OK && tags) {
        rc = label_set_clone(tags, &out->tags, err);
        sc.tags = &out->tags;
        sc.tag = out->tag;
    }
    if (rc == RECUR_OK) rc = tag_pass(path, &tf, &sc, err);
    if (rc == RECUR_OK && !tags) rc = build_tags(path, sc.tagtxt, sc.ntok, out, err);
    if (rc == RECUR_OK) {
        out->pool_ = xmalloc(sc.tok_bytes, 1);
        out->tok = xmalloc(sc.ntok, sizeof *out->tok);
        out->tok_len = xmalloc(sc.ntok, sizeof *out->tok_len);
        if (!out->pool_ || !out->tok || !out->tok_len)
            rc = set_error(err, RECUR_ENOMEM, "%s: out of memory for %zu tokens", path, sc.ntok);
    }
    if (rc == RECUR_OK) {
        char *p = out->pool_;
        for (size_t i = 0; i < sc.ntok; i++) {
            memcpy(p, sc.tok[i].s, sc.tok[i].len);
            p[sc.tok[i].len] = 0;
            out->tok[i] = p;
            out->tok_len[i] = sc.tok[i].len;
            p += sc.tok[i].len + 1;
        }
        out->ntok = sc.ntok;
        out->nsent = sc.nsent;
        out->sent = sc.sent;
        sc.sent = NULL;
        out->max_sent_len = sc.max_len;
        out->unknown_tags = sc.unknown;
        out->first_unknown_line = sc.first_unknown_line;
    }
    free(sc.tok);
    free(sc.tagtxt);
    free(sc.sent);
    text_close(&tf);
    if (rc) tag_data_free(out);
    return rc;
}

void tag_data_free(tag_data *d)
{
    if (!d) return;
    free(d->sent);
    free(d->tok);
    free(d->tok_len);
    free(d->tag);
    label_set_free(&d->tags);
    free(d->pool_);
    memset(d, 0, sizeof *d);
}

/* ---------------------------------------------------------------- token encodings */

// Every token of d as a span (the caller frees).
static str_span *token_spans(const tag_data *d)
{
    str_span *v = xmalloc(d->ntok, sizeof *v);
    if (v)
        for (size_t i = 0; i < d->ntok; i++) v[i] = (str_span){d->tok[i], d->tok_len[i]};
    return v;
}

int tag_char_vocab(const tag_data *d, recur_vocab **out, recur_error *err)
{
    if (!d || !out) return set_error(err, RECUR_EINVAL, "tag_char_vocab: NULL argument");
    str_span *v = token_spans(d);
    if (!v) return set_error(err, RECUR_ENOMEM, "out of memory for %zu tokens", d->ntok);
    int rc = vocab_from_spans(v, d->ntok, out, err);
    free(v);
    return rc;
}

int word_vocab_build(const tag_data *d, int min_count, word_vocab *out, recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "word_vocab_build: NULL argument");
    memset(out, 0, sizeof *out);
    if (!d) return set_error(err, RECUR_EINVAL, "word_vocab_build: NULL data");
    if (min_count < 1)
        return set_error(err, RECUR_EINVAL, "minimum word count %d: must be 1 or more",
                         min_count);
    str_span *v = token_spans(d);
    if (!v) return set_error(err, RECUR_ENOMEM, "out of memory for %zu tokens", d->ntok);
    // Sorted, equal words are runs: each run's length is its count, and the
    // kept runs are compacted to the front of v (still sorted and distinct).
    qsort(v, d->ntok, sizeof *v, span_qcmp);
    size_t kept = 0;
    size_t *counts = xmalloc(d->ntok, sizeof *counts);
    if (!counts) {
        free(v);
        return set_error(err, RECUR_ENOMEM, "out of memory for %zu tokens", d->ntok);
    }
    for (size_t i = 0; i < d->ntok;) {
        size_t j = i + 1;
        while (j < d->ntok && span_qcmp(&v[i], &v[j]) == 0) j++;
        out->distinct++;
        if (j - i >= (size_t)min_count) {
            counts[kept] = j - i;
            v[kept++] = v[i];
            out->covered += j - i;
        }
        i = j;
    }
    int rc = kept >= (size_t)INT32_MAX
                 ? set_error(err, RECUR_EINVAL, "too many distinct words (%zu)", kept)
                 : label_set_from_spans(v, (int)kept, &out->words, err);
    free(v);
    if (rc) {
        free(counts);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->counts = counts;
    out->min_count = min_count;
    out->tokens = d->ntok;
    return RECUR_OK;
}

void word_vocab_free(word_vocab *v)
{
    if (!v) return;
    label_set_free(&v->words);
    free(v->counts);
    memset(v, 0, sizeof *v);
}

int word_vocab_size(const word_vocab *v)
{
    return v ? v->words.n + 1 : 1;
}

int word_vocab_id(const word_vocab *v, const char *word, size_t len)
{
    if (!v) return WORD_UNK;
    int id = label_set_find(&v->words, word, len);
    return id < 0 ? WORD_UNK : id + 1;
}

void word_vocab_encode(const word_vocab *v, const tag_data *d, int32_t *ids)
{
    for (size_t i = 0; i < d->ntok; i++) ids[i] = word_vocab_id(v, d->tok[i], d->tok_len[i]);
}

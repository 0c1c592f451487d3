/*
 * dataset_class.c - labelled examples for sequence classification: read from
 * a directory of <Label>.txt files or from label<TAB>text lines, cleaned,
 * deduplicated (datasets such as the names data repeat many lines, and a
 * repeat on both sides of a split is a leak), split by class with a seeded
 * shuffle, and turned into a character vocabulary. The source files stay
 * mapped only while a reader runs; the result owns a copy of its texts.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L // opendir/stat; the build defines it too
#endif

#include "data/dataset.h"
#include "data/text.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- raw examples */

// One cleaned line as read, pointing into a mapped file.
typedef struct raw_ex {
    const char *text;
    size_t len;
    const char *lab; // the label's text (TSV only; directories know the id)
    size_t lab_len;
    int label;
    size_t order; // position in reading order: the first of duplicates is kept
} raw_ex;

typedef struct raw_list {
    raw_ex *v;
    size_t n, cap;
} raw_list;

static int raw_push(raw_list *l, raw_ex e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256, bytes;
        if (size_mul(cap, sizeof *l->v, &bytes)) return -1;
        raw_ex *v = realloc(l->v, bytes);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    e.order = l->n;
    l->v[l->n++] = e;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

// Surrounding spaces are not part of an example: the names data has "Park "
// next to "Park", and a classifier must not learn the space.
static void trim(const char **s, size_t *n)
{
    while (*n && is_blank((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_blank((*s)[*n - 1])) (*n)--;
}

static int cmp_text_label_order(const void *x, const void *y)
{
    const raw_ex *a = x, *b = y;
    int c = span_cmp(a->text, a->len, b->text, b->len);
    if (c) return c;
    if (a->label != b->label) return a->label < b->label ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

static int cmp_label_order(const void *x, const void *y)
{
    const raw_ex *a = x, *b = y;
    if (a->label != b->label) return a->label < b->label ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

// Deduplicates raw (reordering it) and fills everything in out but labels,
// which the caller has set. Texts are copied, so the files may close after.
static int class_finish(raw_list *raw, class_data *out, recur_error *err)
{
    int nl = out->labels.n;
    out->count = xcalloc((size_t)nl, sizeof *out->count);
    out->lines = xcalloc((size_t)nl, sizeof *out->lines);
    if (!out->count || !out->lines)
        return set_error(err, RECUR_ENOMEM, "out of memory for %d classes", nl);
    for (size_t i = 0; i < raw->n; i++) out->lines[raw->v[i].label]++;

    // Equal texts become neighbours, ordered by label then reading order:
    // a repeat of (label, text) is then the entry right after its first.
    raw_ex *v = raw->v;
    qsort(v, raw->n, sizeof *v, cmp_text_label_order);
    size_t kept = 0;
    for (size_t i = 0; i < raw->n;) {
        size_t j = i + 1;
        while (j < raw->n && span_cmp(v[i].text, v[i].len, v[j].text, v[j].len) == 0) j++;
        size_t labels_here = 0;
        for (size_t k = i; k < j; k++) {
            if (k > i && v[k].label == v[k - 1].label) continue;
            v[kept++] = v[k];
            labels_here++;
        }
        if (labels_here > 1) {
            out->ambiguous_texts++;
            out->ambiguous_examples += labels_here;
        }
        i = j;
    }
    out->duplicates = raw->n - kept;
    qsort(v, kept, sizeof *v, cmp_label_order);

    size_t bytes = 0;
    for (size_t i = 0; i < kept; i++)
        if (size_add(bytes, v[i].len + 1, &bytes))
            return set_error(err, RECUR_ENOMEM, "examples too large");
    out->pool_ = xmalloc(bytes, 1);
    out->ex = xmalloc(kept, sizeof *out->ex);
    if (!out->pool_ || !out->ex)
        return set_error(err, RECUR_ENOMEM, "out of memory for %zu examples (%zu bytes)", kept,
                         bytes);
    char *p = out->pool_;
    for (size_t i = 0; i < kept; i++) {
        memcpy(p, v[i].text, v[i].len);
        p[v[i].len] = 0;
        out->ex[i] = (class_example){p, v[i].len, v[i].label};
        out->count[v[i].label]++;
        p += v[i].len + 1;
    }
    out->n = kept;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- a directory */

// A class file found in the directory: its path and its label (the name
// without ".txt", pointing into path).
typedef struct class_file {
    char *path;
    str_span label;
} class_file;

static int cmp_class_file(const void *x, const void *y)
{
    const class_file *a = x, *b = y;
    return span_cmp(a->label.s, a->label.len, b->label.s, b->label.len);
}

static void free_files(class_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++) free(f[i].path);
    free(f);
}

// Lists DIR/<Label>.txt into *files (sorted by label).
static int list_class_files(const char *dir, class_file **files, size_t *nfiles, recur_error *err)
{
    *files = NULL;
    *nfiles = 0;
    DIR *d = opendir(dir);
    if (!d) return set_error(err, RECUR_EIO, "%s: %s", dir, strerror(errno));
    class_file *f = NULL;
    size_t n = 0, cap = 0;
    int rc = RECUR_OK;
    struct dirent *de;
    while (rc == RECUR_OK && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        if (name[0] == '.' || len <= 4 || strcmp(name + len - 4, ".txt") != 0) continue;
        size_t dlen = strlen(dir), plen;
        if (size_add(dlen, len + 2, &plen)) {
            rc = set_error(err, RECUR_ENOMEM, "%s: path too long", dir);
            break;
        }
        char *path = malloc(plen);
        if (!path) {
            rc = set_error(err, RECUR_ENOMEM, "out of memory listing %s", dir);
            break;
        }
        memcpy(path, dir, dlen);
        path[dlen] = '/';
        memcpy(path + dlen + 1, name, len + 1);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path); // a subdirectory or a dangling link is not a class
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            class_file *g = realloc(f, ncap * sizeof *f);
            if (!g) {
                free(path);
                rc = set_error(err, RECUR_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            f = g;
            cap = ncap;
        }
        f[n++] = (class_file){path, {path + dlen + 1, len - 4}};
        if (line_check(path, 0, f[n - 1].label.s, f[n - 1].label.len, err) != RECUR_OK)
            rc = set_error(err, RECUR_EFORMAT, "%s: the file name (the label) is not valid UTF-8",
                           path);
    }
    closedir(d);
    if (rc == RECUR_OK && n == 0)
        rc = set_error(err, RECUR_EINVAL, "%s: no <label>.txt files in the directory", dir);
    if (rc == RECUR_OK && n > (size_t)INT32_MAX)
        rc = set_error(err, RECUR_EINVAL, "%s: too many classes (%zu)", dir, n);
    if (rc != RECUR_OK) {
        free_files(f, n);
        return rc;
    }
    qsort(f, n, sizeof *f, cmp_class_file);
    *files = f;
    *nfiles = n;
    return RECUR_OK;
}

// Appends the examples of one class file to raw.
static int read_class_file(const char *path, const text_file *tf, int label, raw_list *raw,
                           size_t *empty, recur_error *err)
{
    line_iter it;
    line_iter_init(&it, tf->data, tf->len);
    const char *line;
    size_t n, before = raw->n;
    while (line_next(&it, &line, &n)) {
        int rc = line_check(path, it.lineno, line, n, err);
        if (rc) return rc;
        trim(&line, &n);
        if (n == 0) {
            (*empty)++;
            continue;
        }
        if (raw_push(raw, (raw_ex){line, n, NULL, 0, label, 0}))
            return set_error(err, RECUR_ENOMEM, "%s:%zu: out of memory", path, it.lineno);
    }
    if (raw->n == before)
        return set_error(err, RECUR_EFORMAT, "%s: no examples (every line is blank)", path);
    return RECUR_OK;
}

int class_read_dir(const char *dir, class_data *out, recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "class_read_dir: NULL argument");
    memset(out, 0, sizeof *out);
    if (!dir) return set_error(err, RECUR_EINVAL, "class_read_dir: NULL path");
    class_file *files;
    size_t nf;
    int rc = list_class_files(dir, &files, &nf, err);
    if (rc) return rc;
    str_span *spans = xmalloc(nf, sizeof *spans);
    text_file *tf = xcalloc(nf, sizeof *tf);
    raw_list raw = {0};
    if (!spans || !tf) rc = set_error(err, RECUR_ENOMEM, "out of memory for %zu classes", nf);
    for (size_t i = 0; rc == RECUR_OK && i < nf; i++) spans[i] = files[i].label;
    if (rc == RECUR_OK) rc = label_set_from_spans(spans, (int)nf, &out->labels, err);
    // Every file stays mapped until the texts are copied by class_finish.
    for (size_t i = 0; rc == RECUR_OK && i < nf; i++) {
        rc = text_open(files[i].path, &tf[i], err);
        if (rc == RECUR_OK)
            rc = read_class_file(files[i].path, &tf[i], (int)i, &raw, &out->empty_lines, err);
    }
    if (rc == RECUR_OK) rc = class_finish(&raw, out, err);
    for (size_t i = 0; tf && i < nf; i++) text_close(&tf[i]);
    free(tf);
    free(spans);
    free(raw.v);
    free_files(files, nf);
    if (rc) class_data_free(out);
    return rc;
}

/* ---------------------------------------------------------------- a TSV file */

static int cmp_raw_label(const void *x, const void *y)
{
    const raw_ex *a = x, *b = y;
    return span_cmp(a->lab, a->lab_len, b->lab, b->lab_len);
}

// The sorted distinct labels of raw (whose order this changes).
static int tsv_labels(const char *path, raw_list *raw, label_set *out, recur_error *err)
{
    qsort(raw->v, raw->n, sizeof *raw->v, cmp_raw_label);
    str_span *spans = xmalloc(raw->n, sizeof *spans);
    if (!spans) return set_error(err, RECUR_ENOMEM, "%s: out of memory for labels", path);
    size_t k = 0;
    for (size_t i = 0; i < raw->n; i++)
        if (i == 0 || cmp_raw_label(&raw->v[i - 1], &raw->v[i]) != 0)
            spans[k++] = (str_span){raw->v[i].lab, raw->v[i].lab_len};
    int rc = k > (size_t)INT32_MAX
                 ? set_error(err, RECUR_EINVAL, "%s: too many labels (%zu)", path, k)
                 : label_set_from_spans(spans, (int)k, out, err);
    free(spans);
    if (rc) return rc;
    for (size_t i = 0; i < raw->n; i++)
        raw->v[i].label = label_set_find(out, raw->v[i].lab, raw->v[i].lab_len);
    return RECUR_OK;
}

static int read_tsv_lines(const char *path, const text_file *tf, raw_list *raw, size_t *empty,
                          recur_error *err)
{
    line_iter it;
    line_iter_init(&it, tf->data, tf->len);
    const char *line;
    size_t n;
    while (line_next(&it, &line, &n)) {
        int rc = line_check(path, it.lineno, line, n, err);
        if (rc) return rc;
        const char *s = line;
        size_t k = n;
        trim(&s, &k);
        if (k == 0) {
            (*empty)++;
            continue;
        }
        const char *tab = memchr(line, '\t', n);
        if (!tab)
            return set_error(err, RECUR_EFORMAT, "%s:%zu: no TAB between the label and the text",
                             path, it.lineno);
        const char *lab = line, *text = tab + 1;
        size_t lab_len = (size_t)(tab - line), len = n - lab_len - 1;
        trim(&lab, &lab_len);
        trim(&text, &len);
        if (lab_len == 0)
            return set_error(err, RECUR_EFORMAT, "%s:%zu: empty label before the TAB", path,
                             it.lineno);
        if (len == 0)
            return set_error(err, RECUR_EFORMAT, "%s:%zu: empty text after the TAB", path,
                             it.lineno);
        if (raw_push(raw, (raw_ex){text, len, lab, lab_len, 0, 0}))
            return set_error(err, RECUR_ENOMEM, "%s:%zu: out of memory", path, it.lineno);
    }
    if (raw->n == 0) return set_error(err, RECUR_EFORMAT, "%s: no examples", path);
    return RECUR_OK;
}

int class_read_tsv(const char *path, class_data *out, recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "class_read_tsv: NULL argument");
    memset(out, 0, sizeof *out);
    if (!path) return set_error(err, RECUR_EINVAL, "class_read_tsv: NULL path");
    text_file tf;
    int rc = text_open(path, &tf, err);
    if (rc) return rc;
    raw_list raw = {0};
    rc = read_tsv_lines(path, &tf, &raw, &out->empty_lines, err);
    if (rc == RECUR_OK) rc = tsv_labels(path, &raw, &out->labels, err);
    if (rc == RECUR_OK) rc = class_finish(&raw, out, err);
    free(raw.v);
    text_close(&tf);
    if (rc) class_data_free(out);
    return rc;
}

int class_read(const char *path, class_data *out, recur_error *err)
{
    struct stat st;
    if (path && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return class_read_dir(path, out, err);
    return class_read_tsv(path, out, err);
}

void class_data_free(class_data *d)
{
    if (!d) return;
    label_set_free(&d->labels);
    free(d->ex);
    free(d->count);
    free(d->lines);
    free(d->pool_);
    memset(d, 0, sizeof *d);
}

/* ---------------------------------------------------------------- split */

static int cmp_size(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return (a > b) - (a < b);
}

// How many of a class's n examples go to validation (see dataset.h).
static size_t val_share(double val_frac, size_t n)
{
    if (val_frac == 0 || n < 2) return 0;
    size_t k = (size_t)(val_frac * (double)n + 0.5);
    if (k < 1) k = 1;
    if (k > n - 1) k = n - 1;
    return k;
}

int class_split_stratified(const class_data *d, double val_frac, uint64_t seed, class_split *out,
                           recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "class_split_stratified: NULL argument");
    memset(out, 0, sizeof *out);
    if (!d) return set_error(err, RECUR_EINVAL, "class_split_stratified: NULL data");
    if (!(val_frac >= 0 && val_frac < 1))
        return set_error(err, RECUR_EINVAL, "validation fraction %g is outside [0, 1)", val_frac);
    int nl = d->labels.n;
    // A counting sort by label (stable, so reading order within a class),
    // which does not rely on ex[] being grouped.
    size_t *start = xcalloc((size_t)nl + 1, sizeof *start);
    size_t *by_class = xmalloc(d->n, sizeof *by_class);
    out->train = xmalloc(d->n, sizeof *out->train);
    out->val = xmalloc(d->n, sizeof *out->val);
    if (!start || !by_class || !out->train || !out->val) {
        free(start);
        free(by_class);
        class_split_free(out);
        return set_error(err, RECUR_ENOMEM, "out of memory splitting %zu examples", d->n);
    }
    for (size_t i = 0; i < d->n; i++) start[d->ex[i].label + 1]++;
    for (int c = 0; c < nl; c++) start[c + 1] += start[c];
    for (size_t i = 0; i < d->n; i++) by_class[start[d->ex[i].label]++] = i;
    // start[c] now marks the end of class c; shift back to the starts.
    for (int c = nl; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;

    rng r;
    rng_seed(&r, seed);
    for (int c = 0; c < nl; c++) {
        size_t *seg = by_class + start[c], nc = start[c + 1] - start[c];
        shuffle_index(seg, nc, &r);
        size_t k = val_share(val_frac, nc);
        for (size_t i = 0; i < nc; i++) {
            if (i < k)
                out->val[out->nval++] = seg[i];
            else
                out->train[out->ntrain++] = seg[i];
        }
    }
    qsort(out->train, out->ntrain, sizeof *out->train, cmp_size);
    qsort(out->val, out->nval, sizeof *out->val, cmp_size);
    free(start);
    free(by_class);
    return RECUR_OK;
}

void class_split_free(class_split *s)
{
    if (!s) return;
    free(s->train);
    free(s->val);
    memset(s, 0, sizeof *s);
}

int class_char_vocab(const class_data *d, const size_t *idx, size_t n, recur_vocab **out,
                     recur_error *err)
{
    if (!d || !out) return set_error(err, RECUR_EINVAL, "class_char_vocab: NULL argument");
    if (!idx) n = d->n;
    str_span *spans = xmalloc(n, sizeof *spans);
    if (!spans) return set_error(err, RECUR_ENOMEM, "out of memory for %zu examples", n);
    for (size_t i = 0; i < n; i++) {
        size_t j = idx ? idx[i] : i;
        if (j >= d->n) {
            free(spans);
            return set_error(err, RECUR_EINVAL, "example index %zu is out of range (%zu examples)",
                             j, d->n);
        }
        spans[i] = (str_span){d->ex[j].text, d->ex[j].len};
    }
    int rc = vocab_from_spans(spans, n, out, err);
    free(spans);
    return rc;
}

/*
 * test_parity.c - recur against PyTorch, on the fixtures that
 * tools/make_fixtures.py writes to tests/fixtures (regenerate with
 * `/usr/bin/python3 tools/make_fixtures.py tests/fixtures`; this test needs
 * no Python).
 *
 * For each case <c>: <c>.model.safetensors is loaded with the public
 * recur_model_load (so a file a PyTorch user wrote by hand, with only the
 * required metadata, must load), and one window is run from the initial
 * state in <c>.ref.safetensors. The logits, the mean loss, the final states,
 * the gradient of every parameter and of the initial states are compared
 * with PyTorch's float64 results. The error of a tensor is norm-wise:
 *
 *     max|recur - ref| <= 1e-5 * max|ref|
 *
 * The application cases (tag_*, classify_*, condlm_*: bidirectional, pooled
 * and conditioned models) add to the reference the rows' lengths (lens: rows
 * padded at the end, PyTorch's packed sequences), the classes of a
 * conditioned model (cond), and for a pooled classifier (__metadata__
 * pool = "1") one label per row instead of targets. Their logits are
 * compared at the real positions only (or the pooled [B, O]); the loss is
 * the mean over the real positions (targets -1 at padding) or the rows.
 *
 * The same window is then run with 2 threads, which must give bit-identical
 * results to 1 thread.
 */
#include "check.h"
#include "nn/model.h"
#include "formats/safetensors.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES RECUR_SOURCE_DIR "/tests/fixtures"
#define TOL 1e-5
#define MAX_CASES 64

/* The worst norm-wise relative error seen, per cell type, for the summary. */
static double worst_cell[3];
static char worst_where[3][160];

/* ---------------------------------------------------------------- helpers */

static void *xcalloc_or_die(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* A reference tensor's F32 data, copied into a new buffer of n floats, or
 * NULL (recorded as a failure) if it is missing or has another size. */
static float *ref_f32(const st_file *f, const char *name, size_t n)
{
    const st_tensor *t = st_find(f, name);
    CHECK(t != NULL, "reference tensor \"%s\" missing", name);
    if (!t) return NULL;
    float *p = xcalloc_or_die(n, sizeof(float));
    recur_error err = {0};
    int rc = st_copy_f32(t, p, n, &err);
    CHECK(rc == 0, "reference tensor \"%s\": %s", name, err.msg);
    if (rc) {
        free(p);
        return NULL;
    }
    return p;
}

/* Norm-wise comparison: max|a-b| <= TOL * max|ref|, printed for every tensor. */
static void compare(const char *cname, const char *label, const float *got, const float *ref,
                    size_t n, int cell)
{
    double maxdiff = 0, maxref = 0;
    size_t at = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!isfinite((double)got[i])) finite = 0;
        if (d > maxdiff) maxdiff = d, at = i;
        if (fabs((double)ref[i]) > maxref) maxref = fabs((double)ref[i]);
    }
    double scale = maxref > 1e-30 ? maxref : 1e-30;
    double rel = maxdiff / scale;
    int ok = finite && maxdiff <= TOL * scale;
    printf("  %-28s n=%-6zu max|ref|=%-10.4g max|diff|=%-10.3g rel=%.3g%s\n", label, n, maxref,
           maxdiff, rel, ok ? "" : "  <-- MISMATCH");
    CHECK(ok, "%s: %s: max|diff| %.3g at %zu (%.9g vs %.9g) is more than %g * max|ref| %.3g",
          cname, label, maxdiff, at, n ? (double)got[at] : 0.0, n ? (double)ref[at] : 0.0, TOL,
          maxref);
    if (rel > worst_cell[cell]) {
        worst_cell[cell] = rel;
        snprintf(worst_where[cell], sizeof worst_where[cell], "%s %s", cname, label);
    }
}

/* compare() against the reference tensor called label (n floats). */
static void compare_ref(const st_file *f, const char *cname, const char *label, const float *got,
                        size_t n, int cell)
{
    float *ref = ref_f32(f, label, n);
    if (ref) compare(cname, label, got, ref, n, cell);
    free(ref);
}

/* One window of a case: its inputs as the workspace takes them. */
typedef struct window {
    int T, B, pool;   /* pool: one label per row, the head on the final states */
    int32_t *ids;     /* [T*B] time-major */
    int32_t *tgt;     /* [T*B] (-1: no loss there), or [B] labels when pool */
    int32_t *lens;    /* [B] real length of each row (T for a language model case) */
    int32_t *cond;    /* [T*B] class of each position (conditioned models), or NULL */
    float *h0, *c0;   /* [U*B*H] initial states, unit-major (c0: LSTM only) */
} window;

static void window_free(window *w)
{
    free(w->ids);
    free(w->tgt);
    free(w->lens);
    free(w->cond);
    free(w->h0);
    free(w->c0);
}

/* What one run of a window produces, kept to compare 1 and 2 threads. */
typedef struct run_out {
    float *logits;    /* [rows*O]: rows = T*B, or B when pooled */
    double loss;
    float *hn, *cn;   /* [U*B*H] each row's final state (cn: LSTM only) */
    float *g;         /* [nw] parameter gradients */
    float *dh0, *dc0; /* [U*B*H] */
} run_out;

static void run_free(run_out *r)
{
    free(r->logits);
    free(r->hn);
    free(r->cn);
    free(r->g);
    free(r->dh0);
    free(r->dc0);
}

/* Forward + loss + backward over one window from its initial states with
 * the given number of threads. Returns 0 on success. */
static int run_window(const recur_model *m, const window *w, int threads, run_out *r)
{
    const int U = m->U, H = m->H, O = m->O, T = w->T, B = w->B, N = T * B;
    const int rows = w->pool ? B : N;
    const size_t BH = (size_t)B * H, UBH = (size_t)U * BH;
    workspace *ws = NULL;
    recur_error err = {0};
    memset(r, 0, sizeof *r);
    int rc = ws_new(m, T, B, threads, &ws, &err);
    CHECK(rc == 0, "ws_new(T=%d, B=%d, threads=%d): %s", T, B, threads, err.msg);
    if (rc) return rc;
    for (int u = 0; u < U; u++) {
        memcpy(ws->hs[u], w->h0 + u * BH, BH * sizeof(float));
        if (m->cell->has_c) memcpy(ws->cs[u], w->c0 + u * BH, BH * sizeof(float));
    }
    memcpy(ws->lens, w->lens, (size_t)B * sizeof(int32_t));
    if (w->cond) memcpy(ws->cond, w->cond, (size_t)N * sizeof(int32_t));
    ws->pool = w->pool;
    model_forward(m, ws, w->ids, NULL);

    r->logits = xcalloc_or_die((size_t)rows * O, sizeof(float));
    memcpy(r->logits, ws->logits, (size_t)rows * O * sizeof(float));
    int count = 0, want = 0;
    for (int n = 0; n < rows; n++) want += w->tgt[n] >= 0;
    r->loss = softmax_xent(ws->logits, w->tgt, rows, O, 1, &count) / (count ? count : 1);
    CHECK(count == want, "softmax_xent counted %d rows of %d", count, want);
    r->hn = xcalloc_or_die(UBH, sizeof(float));
    if (m->cell->has_c) r->cn = xcalloc_or_die(UBH, sizeof(float));
    for (int u = 0; u < U; u++) // slot lens[b] of each row: its own final state
        ws_final_state(m, ws, u, r->hn + u * BH, r->cn ? r->cn + u * BH : NULL);

    // ws->logits now holds dL/dlogits of the mean loss.
    r->g = xcalloc_or_die(m->nw, sizeof(float));
    model_backward(m, ws, r->g);
    r->dh0 = xcalloc_or_die(UBH, sizeof(float));
    r->dc0 = xcalloc_or_die(UBH, sizeof(float));
    for (int u = 0; u < U; u++) {
        memcpy(r->dh0 + u * BH, ws->dh0[u], BH * sizeof(float));
        if (m->cell->has_c) memcpy(r->dc0 + u * BH, ws->dc0[u], BH * sizeof(float));
    }
    ws_free(m, ws);
    return 0;
}

/* An I64 reference tensor of exactly the given shape (ndim 1 or 2) as int32,
 * each value in [lo, hi]; NULL (recorded as a failure) otherwise. */
static int32_t *ref_i64(const st_file *f, const char *path, const char *name, int ndim, int d0,
                        int d1, long lo, long hi)
{
    const st_tensor *t = st_find(f, name);
    int ok = t && t->dtype == ST_I64 && t->ndim == ndim && t->shape[0] == (uint64_t)d0 &&
             (ndim == 1 || t->shape[1] == (uint64_t)d1);
    CHECK(ok, "%s: \"%s\" must be I64 [%d%s%.0d]", path, name, d0, ndim == 2 ? ", " : "",
          ndim == 2 ? d1 : 0);
    if (!ok) return NULL;
    size_t n = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    int32_t *p = xcalloc_or_die(n, sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, t->data + 8 * i, 8); // the data may be unaligned
        if (v < lo || v > hi) {
            CHECK(0, "%s: %s[%zu] = %lld is outside %ld..%ld", path, name, i, (long long)v, lo, hi);
            free(p);
            return NULL;
        }
        p[i] = (int32_t)v;
    }
    return p;
}

/* The rows of a [rows, O] logits array at the real positions (t < lens[b])
 * of a [T, B] window, packed in order: the padding's logits are not defined. */
static float *real_rows(const float *z, const window *w, int O, size_t *n)
{
    float *p = xcalloc_or_die((size_t)w->T * w->B * O, sizeof(float));
    size_t k = 0;
    for (int t = 0; t < w->T; t++)
        for (int b = 0; b < w->B; b++)
            if (t < w->lens[b]) {
                memcpy(p + k * O, z + ((size_t)t * w->B + b) * O, (size_t)O * sizeof(float));
                k++;
            }
    *n = k * (size_t)O;
    return p;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return (a == NULL && b == NULL) || (a && b && memcmp(a, b, n * sizeof(float)) == 0);
}

/* ---------------------------------------------------------------- one case */

static void run_case(const char *cname)
{
    char mpath[512], rpath[512];
    snprintf(mpath, sizeof mpath, "%s/%s.model.safetensors", FIXTURES, cname);
    snprintf(rpath, sizeof rpath, "%s/%s.ref.safetensors", FIXTURES, cname);

    recur_model *m = NULL;
    recur_error err = {0};
    int rc = recur_model_load(mpath, &m, &err);
    CHECK(rc == 0, "recur_model_load(%s): %s", mpath, err.msg);
    if (rc) return;
    st_file *f = NULL;
    rc = st_read(rpath, &f, &err);
    CHECK(rc == 0, "st_read(%s): %s", rpath, err.msg);
    if (rc) {
        recur_model_free(m);
        return;
    }
    const int U = m->U, H = m->H, V = m->V, O = m->O, cell = (int)m->cfg.cell;
    const char *desc = st_meta(f, "case");
    const char *pool_meta = st_meta(f, "pool");
    printf("%s: %s\n", cname, desc ? desc : "?");
    window w = {0};
    run_out r1 = {0}, r2 = {0};
    float *got = NULL, *want = NULL, *ref = NULL;

    // The model: what the file's metadata made of it.
    w.pool = pool_meta && strcmp(pool_meta, "1") == 0;
    CHECK(O >= 1, "%s: a model without a head", mpath);
    CHECK(!w.pool || m->task == RECUR_TASK_CLASSIFY, "%s: a pooled case of a %s model", cname,
          recur_task_name(m->task));
    if (O < 1) goto done;

    // The window: ids I64 [T, B].
    const st_tensor *ti = st_find(f, "ids");
    int shapes_ok = ti && ti->dtype == ST_I64 && ti->ndim == 2 && ti->shape[0] >= 1 &&
                    ti->shape[0] <= 4096 && ti->shape[1] >= 1 && ti->shape[1] <= 4096;
    CHECK(shapes_ok, "%s: ids must be I64 [T, B]", rpath);
    if (!shapes_ok) goto done;
    const int T = (int)ti->shape[0], B = (int)ti->shape[1], N = T * B;
    const size_t UBH = (size_t)U * B * H;
    w.T = T;
    w.B = B;
    if (!(w.ids = ref_i64(f, rpath, "ids", 2, T, B, 0, V - 1))) goto done;
    // lens I64 [B] (absent: every row is T long); padding only at the end.
    if (st_find(f, "lens")) {
        if (!(w.lens = ref_i64(f, rpath, "lens", 1, B, 0, 1, T))) goto done;
    } else {
        w.lens = xcalloc_or_die((size_t)B, sizeof(int32_t));
        for (int b = 0; b < B; b++) w.lens[b] = T;
    }
    // Targets I64 [T, B] (-1: no loss, only at padding), or labels I64 [B].
    if (w.pool) {
        if (!(w.tgt = ref_i64(f, rpath, "labels", 1, B, 0, 0, O - 1))) goto done;
    } else {
        if (!(w.tgt = ref_i64(f, rpath, "targets", 2, T, B, -1, O - 1))) goto done;
        int pad_ok = 1;
        for (int n = 0; n < N; n++)
            if ((w.tgt[n] < 0) != (n / B >= w.lens[n % B])) pad_ok = 0;
        CHECK(pad_ok, "%s: targets must be -1 exactly at the padding", rpath);
        if (!pad_ok) goto done;
    }
    // The classes of a conditioned model, I64 [T, B].
    CHECK((m->Cc > 0) == (st_find(f, "cond") != NULL), "%s: cond %s, but the model has %d classes",
          rpath, st_find(f, "cond") ? "given" : "absent", m->Cc);
    if (m->Cc && !(w.cond = ref_i64(f, rpath, "cond", 2, T, B, 0, m->Cc - 1))) goto done;
    w.h0 = ref_f32(f, "h0", UBH);
    if (m->cell->has_c) w.c0 = ref_f32(f, "c0", UBH);
    if (!w.h0 || (m->cell->has_c && !w.c0)) goto done;

    if (run_window(m, &w, 1, &r1)) goto done;

    // Against PyTorch: the logits at the real positions (or the pooled rows).
    float loss = (float)r1.loss;
    if (w.pool) {
        compare_ref(f, cname, "logits", r1.logits, (size_t)B * O, cell);
    } else if ((ref = ref_f32(f, "logits", (size_t)N * O))) {
        size_t n1, n2;
        got = real_rows(r1.logits, &w, O, &n1);
        want = real_rows(ref, &w, O, &n2);
        compare(cname, "logits", got, want, n1, cell);
    }
    compare_ref(f, cname, "loss", &loss, 1, cell);
    compare_ref(f, cname, "hn", r1.hn, UBH, cell);
    if (m->cell->has_c) compare_ref(f, cname, "cn", r1.cn, UBH, cell);
    for (int i = 0; i < m->nviews; i++) {
        const param_view *v = &m->views[i];
        char name[64];
        snprintf(name, sizeof name, "grad.%s", v->name);
        compare_ref(f, cname, name, r1.g + v->off, v->n, cell);
    }
    compare_ref(f, cname, "grad.h0", r1.dh0, UBH, cell);
    if (m->cell->has_c) compare_ref(f, cname, "grad.c0", r1.dc0, UBH, cell);

    // 2 threads: bit-identical to 1.
    if (run_window(m, &w, 2, &r2)) goto done;
    const size_t nlog = (size_t)(w.pool ? B : N) * O;
    int same = same_bits(r1.logits, r2.logits, nlog) && r1.loss == r2.loss &&
               same_bits(r1.hn, r2.hn, UBH) && same_bits(r1.cn, r2.cn, UBH) &&
               same_bits(r1.g, r2.g, m->nw) && same_bits(r1.dh0, r2.dh0, UBH) &&
               same_bits(r1.dc0, r2.dc0, UBH);
    printf("  %-28s %s\n", "2 threads vs 1", same ? "bit-identical" : "DIFFERENT  <-- MISMATCH");
    CHECK(same, "%s: 2 threads give different bits than 1", cname);

done:
    run_free(&r1);
    run_free(&r2);
    window_free(&w);
    free(got);
    free(want);
    free(ref);
    st_free(f);
    recur_model_free(m);
}

/* ---------------------------------------------------------------- main */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    // Every <case>.ref.safetensors in the fixtures directory, sorted.
    static const char suffix[] = ".ref.safetensors";
    const size_t sl = sizeof suffix - 1;
    char *names[MAX_CASES];
    int n = 0;
    DIR *d = opendir(FIXTURES);
    CHECK(d != NULL, "cannot open %s", FIXTURES);
    if (!d) return check_exit();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= sl || strcmp(e->d_name + len - sl, suffix) != 0) continue;
        CHECK(n < MAX_CASES, "more than %d fixtures", MAX_CASES);
        if (n >= MAX_CASES) break;
        names[n] = xcalloc_or_die(len - sl + 1, 1);
        memcpy(names[n], e->d_name, len - sl);
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    // make_fixtures.py writes 24 cases (17 language models, 7 applications);
    // far fewer means the fixtures are lost.
    CHECK(n >= 20, "only %d fixtures in %s (regenerate with tools/make_fixtures.py)", n, FIXTURES);

    for (int i = 0; i < n; i++) {
        run_case(names[i]);
        free(names[i]);
    }

    printf("worst norm-wise relative error per cell (tolerance %g):\n", TOL);
    static const char *cells[] = {"rnn", "lstm", "gru"};
    for (int c = 0; c < 3; c++)
        printf("  %-5s %.3g  (%s)\n", cells[c], worst_cell[c],
               worst_where[c][0] ? worst_where[c] : "no case");
    return check_exit();
}

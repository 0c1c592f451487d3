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
 * The same window is then run with 2 threads, which must give bit-identical
 * results to 1 thread.
 */
#include "check.h"
#include "model.h"
#include "safetensors.h"

#include <dirent.h>
#ifdef _OPENMP
#include <omp.h>
#endif
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

/* What one run of a window produces, kept to compare 1 and 2 threads. */
typedef struct run_out {
    float *logits;    /* [N*V] */
    double loss;
    float *hn, *cn;   /* [L*B*H] final states (cn: LSTM only) */
    float *g;         /* [nw] parameter gradients */
    float *dh0, *dc0; /* [L*B*H] */
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

/* Forward + loss + backward over one window from the initial states h0/c0
 * ([L, B, H]) with the given number of threads. Returns 0 on success. */
static int run_window(const recur_model *m, int T, int B, int threads, const int32_t *ids,
                      const int32_t *tgt, const float *h0, const float *c0, run_out *r)
{
    const int L = m->L, H = m->H, V = m->V, N = T * B;
    const size_t BH = (size_t)B * H, LBH = (size_t)L * BH;
    workspace *ws = NULL;
    recur_error err = {0};
    int rc = ws_new(m, T, B, threads, &ws, &err);
    CHECK(rc == 0, "ws_new(T=%d, B=%d, threads=%d): %s", T, B, threads, err.msg);
    if (rc) return rc;
    for (int l = 0; l < L; l++) {
        memcpy(ws->hs[l], h0 + l * BH, BH * sizeof(float));
        if (m->cell->has_c) memcpy(ws->cs[l], c0 + l * BH, BH * sizeof(float));
    }
    model_forward(m, ws, ids, NULL);

    memset(r, 0, sizeof *r);
    r->logits = xcalloc_or_die((size_t)N * V, sizeof(float));
    memcpy(r->logits, ws->logits, (size_t)N * V * sizeof(float));
    int count = 0;
    r->loss = softmax_xent(ws->logits, tgt, N, V, 1, &count) / N;
    CHECK(count == N, "softmax_xent counted %d rows of %d", count, N);
    r->hn = xcalloc_or_die(LBH, sizeof(float));
    if (m->cell->has_c) r->cn = xcalloc_or_die(LBH, sizeof(float));
    for (int l = 0; l < L; l++) {
        memcpy(r->hn + l * BH, ws->hs[l] + (size_t)T * BH, BH * sizeof(float));
        if (r->cn) memcpy(r->cn + l * BH, ws->cs[l] + (size_t)T * BH, BH * sizeof(float));
    }

    // ws->logits now holds dL/dlogits of the mean loss.
    r->g = xcalloc_or_die(m->nw, sizeof(float));
    model_backward(m, ws, r->g);
    r->dh0 = xcalloc_or_die(LBH, sizeof(float));
    r->dc0 = xcalloc_or_die(LBH, sizeof(float));
    for (int l = 0; l < L; l++) {
        memcpy(r->dh0 + l * BH, ws->dh0[l], BH * sizeof(float));
        if (m->cell->has_c) memcpy(r->dc0 + l * BH, ws->dc0[l], BH * sizeof(float));
    }
    ws_free(m, ws);
    return 0;
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
    const int L = m->L, H = m->H, V = m->V, cell = (int)m->cfg.cell;
    const char *desc = st_meta(f, "case");
    printf("%s: %s\n", cname, desc ? desc : "?");

    // The window: ids and targets, I64 [T, B].
    const st_tensor *ti = st_find(f, "ids"), *tt = st_find(f, "targets");
    int shapes_ok = ti && tt && ti->dtype == ST_I64 && tt->dtype == ST_I64 && ti->ndim == 2 &&
                    tt->ndim == 2 && ti->shape[0] == tt->shape[0] && ti->shape[1] == tt->shape[1] &&
                    ti->shape[0] >= 1 && ti->shape[0] <= 4096 && ti->shape[1] >= 1 &&
                    ti->shape[1] <= 4096;
    CHECK(shapes_ok, "%s: ids/targets must be I64 [T, B] of the same shape", rpath);
    float *h0 = NULL, *c0 = NULL;
    int32_t *ids = NULL, *tgt = NULL;
    run_out r1 = {0}, r2 = {0};
    if (!shapes_ok) goto done;
    const int T = (int)ti->shape[0], B = (int)ti->shape[1], N = T * B;
    const size_t LBH = (size_t)L * B * H;
    ids = xcalloc_or_die((size_t)N, sizeof(int32_t));
    tgt = xcalloc_or_die((size_t)N, sizeof(int32_t));
    int ids_ok = 1;
    for (int n = 0; n < N; n++) {
        int64_t a, b;
        memcpy(&a, ti->data + 8 * (size_t)n, 8); // the data may be unaligned
        memcpy(&b, tt->data + 8 * (size_t)n, 8);
        if (a < 0 || a >= V || b < 0 || b >= V) ids_ok = 0;
        ids[n] = (int32_t)a;
        tgt[n] = (int32_t)b;
    }
    CHECK(ids_ok, "%s: ids/targets outside 0..%d", rpath, V - 1);
    if (!ids_ok) goto done;
    h0 = ref_f32(f, "h0", LBH);
    if (m->cell->has_c) c0 = ref_f32(f, "c0", LBH);
    if (!h0 || (m->cell->has_c && !c0)) goto done;

    if (run_window(m, T, B, 1, ids, tgt, h0, c0, &r1)) goto done;

    // Against PyTorch.
    float loss = (float)r1.loss;
    compare_ref(f, cname, "logits", r1.logits, (size_t)N * V, cell);
    compare_ref(f, cname, "loss", &loss, 1, cell);
    compare_ref(f, cname, "hn", r1.hn, LBH, cell);
    if (m->cell->has_c) compare_ref(f, cname, "cn", r1.cn, LBH, cell);
    for (int i = 0; i < m->nviews; i++) {
        const param_view *v = &m->views[i];
        char name[64];
        snprintf(name, sizeof name, "grad.%s", v->name);
        compare_ref(f, cname, name, r1.g + v->off, v->n, cell);
    }
    compare_ref(f, cname, "grad.h0", r1.dh0, LBH, cell);
    if (m->cell->has_c) compare_ref(f, cname, "grad.c0", r1.dc0, LBH, cell);

    // 2 threads: bit-identical to 1.
    if (run_window(m, T, B, 2, ids, tgt, h0, c0, &r2)) goto done;
    int same = same_bits(r1.logits, r2.logits, (size_t)N * V) && r1.loss == r2.loss &&
               same_bits(r1.hn, r2.hn, LBH) && same_bits(r1.cn, r2.cn, LBH) &&
               same_bits(r1.g, r2.g, m->nw) && same_bits(r1.dh0, r2.dh0, LBH) &&
               same_bits(r1.dc0, r2.dc0, LBH);
    printf("  %-28s %s\n", "2 threads vs 1", same ? "bit-identical" : "DIFFERENT  <-- MISMATCH");
    CHECK(same, "%s: 2 threads give different bits than 1", cname);

done:
    run_free(&r1);
    run_free(&r2);
    free(ids);
    free(tgt);
    free(h0);
    free(c0);
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
    // make_fixtures.py writes 17 cases; far fewer means the fixtures are lost.
    CHECK(n >= 12, "only %d fixtures in %s (regenerate with tools/make_fixtures.py)", n, FIXTURES);

    for (int i = 0; i < n; i++) {
        run_case(names[i]);
        free(names[i]);
    }

    printf("worst norm-wise relative error per cell (tolerance %g):\n", TOL);
    static const char *cells[] = {"rnn", "lstm", "gru"};
    for (int c = 0; c < 3; c++)
        printf("  %-5s %.3g  (%s)\n", cells[c], worst_cell[c],
               worst_where[c][0] ? worst_where[c] : "no case");
#ifdef _OPENMP
    // Let libgomp's idle worker threads exit, so that valgrind's leak check
    // does not count their thread-local blocks as "possibly lost".
    omp_pause_resource_all(omp_pause_hard);
#endif
    return check_exit();
}

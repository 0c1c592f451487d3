/*
 * test_model.c - the math: GEMM kernels against their _ref twins (within
 * float rounding), the vanilla RNN's forward against values computed by hand from the
 * seed's equations, softmax cross-entropy, one optimizer step against its
 * formula, and analytic vs numerical gradients for every tensor of every
 * cell (plus proof that a wrong gradient fails the check).
 */
#include "check.h"
#include "kernels/gemm.h"
#include "nn/gradcheck.h"
#include "nn/model.h"
#include "nn/optim.h"

#include <stdlib.h>
#include <string.h>

static void fill(float *p, size_t n, rng *r)
{
    for (size_t i = 0; i < n; i++) p[i] = 2.0f * rng_uniform(r) - 1.0f;
}

// The kernels fuse each multiply-add (one rounding instead of two), so they
// match the _ref twins within the error bound of a K-term float sum:
// |got - ref| <= 2 (K+1) 2^-24 (|C0| + sum_k |a_ik b_kj|). tests/test_kernels.c
// checks them further (every build and thread split gives the same bits).
static int gemm_close(const float *got, const float *ref, const float *C0, int acc, int M, int N,
                      int K, const float *A, long ars, long aks, const float *B)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double mag = acc ? fabs(C0[(size_t)i * N + j]) : 0.0;
            for (int k = 0; k < K; k++) mag += fabs((double)A[i * ars + k * aks] * B[(size_t)k * N + j]);
            double tol = 2.0 * (K + 1) * ldexp(1.0, -24) * mag;
            if (fabs((double)got[(size_t)i * N + j] - ref[(size_t)i * N + j]) > tol) return 0;
        }
    return 1;
}

static void test_gemm(void)
{
    printf("gemm vs _ref (within the rounding bound of a K-term sum):\n");
    rng r;
    rng_seed(&r, 7);
    const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 64, 16}, {17, 130, 33}, {50, 512, 128}, {5, 3, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        size_t na = (size_t)M * (K ? K : 1), nb = (size_t)(K ? K : 1) * N, nc = (size_t)M * N;
        float *A = malloc(na * 4), *At = malloc(na * 4), *B = malloc(nb * 4), *C0 = malloc(nc * 4);
        float *C1 = malloc(nc * 4), *C2 = malloc(nc * 4), *C3 = malloc(nc * 4);
        fill(A, na, &r);
        fill(B, nb, &r);
        transpose(At, A, M, K ? K : 1);
        for (int acc = 0; acc < 2; acc++) {
            fill(C0, nc, &r);
            memcpy(C1, C0, nc * 4);
            memcpy(C2, C0, nc * 4);
            memcpy(C3, C0, nc * 4);
            gemm_nn_ref(M, N, K, A, K, B, N, C1, N, acc);
            gemm_nn(M, N, K, A, K, B, N, C2, N, acc, 1);
            gemm_nn(M, N, K, A, K, B, N, C3, N, acc, 2);
            CHECK(gemm_close(C2, C1, C0, acc, M, N, K, A, K, 1, B), "gemm_nn %dx%dx%d acc=%d differs from ref", M, N, K, acc);
            CHECK(memcmp(C2, C3, nc * 4) == 0, "gemm_nn 2 threads %dx%dx%d differs", M, N, K);
            memcpy(C1, C0, nc * 4);
            memcpy(C2, C0, nc * 4);
            gemm_tn_ref(M, N, K, At, M, B, N, C1, N, acc);
            gemm_tn(M, N, K, At, M, B, N, C2, N, acc, 2);
            CHECK(gemm_close(C2, C1, C0, acc, M, N, K, At, 1, M, B), "gemm_tn %dx%dx%d acc=%d differs from ref", M, N, K, acc);
        }
        free(A), free(At), free(B), free(C0), free(C1), free(C2), free(C3);
    }
}

// A 1-layer RNN with H=2 over the vocabulary {a,b,c}, weights set by hand,
// run over "abca"; the expected values are the seed's equations in double.
static void test_rnn_by_hand(void)
{
    printf("vanilla RNN forward vs hand computation:\n");
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.hidden = 2;
    cfg.layers = 1;
    CHECK(recur_vocab_from_text("abc", 3, 0, &v, NULL) == 0, "vocab");
    CHECK(model_alloc(&cfg, v, &m, NULL) == 0, "model");
    const double Wxh[2][3] = {{0.5, -0.3, 0.8}, {-0.2, 0.4, 0.1}};
    const double Whh[2][2] = {{0.9, -0.5}, {0.3, 0.7}};
    const double bih[2] = {0.05, -0.1}, bhh[2] = {0.02, 0.03};
    const double Why[3][2] = {{1.0, -1.0}, {0.5, 0.25}, {-0.7, 0.6}};
    const double by[3] = {0.1, 0.0, -0.1};
    float *w = m->w;
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 3; j++) w[m->lay[0].w_ih + i * 3 + j] = (float)Wxh[i][j];
        for (int j = 0; j < 2; j++) w[m->lay[0].w_hh + i * 2 + j] = (float)Whh[i][j];
        w[m->lay[0].b_ih + i] = (float)bih[i];
        w[m->lay[0].b_hh + i] = (float)bhh[i];
    }
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 2; j++) w[m->head_w + i * 2 + j] = (float)Why[i][j];
        w[m->head_b + i] = (float)by[i];
    }
    m->version++;
    workspace *ws = NULL;
    CHECK(ws_new(m, 4, 1, 1, &ws, NULL) == 0, "workspace");
    ws_zero_state(m, ws);
    const int32_t ids[4] = {0, 1, 2, 0};
    model_forward(m, ws, ids, NULL);

    // h_t = tanh(W_xh x_t + b_ih + W_hh h_{t-1} + b_hh); y_t = W_hy h_t + b_y
    double h[2] = {0, 0};
    float want_h[8], want_y[12];
    for (int t = 0; t < 4; t++) {
        double nh[2];
        for (int i = 0; i < 2; i++)
            nh[i] = tanh(Wxh[i][ids[t]] + bih[i] + Whh[i][0] * h[0] + Whh[i][1] * h[1] + bhh[i]);
        h[0] = nh[0], h[1] = nh[1];
        for (int i = 0; i < 2; i++) want_h[t * 2 + i] = (float)h[i];
        for (int k = 0; k < 3; k++) want_y[t * 3 + k] = (float)(Why[k][0] * h[0] + Why[k][1] * h[1] + by[k]);
    }
    check_close("h_1..h_4", ws->hs[0] + 2, want_h, 8, 1e-6, 1e-6);
    check_close("y_1..y_4 (logits)", ws->logits, want_y, 12, 1e-6, 1e-6);

    // The loss: mean over steps of -log softmax(y_t)[target].
    const int32_t tgt[4] = {1, 2, 0, 1};
    double want = 0;
    for (int t = 0; t < 4; t++) {
        double z = 0;
        for (int k = 0; k < 3; k++) z += exp(want_y[t * 3 + k]);
        want += log(z) - want_y[t * 3 + tgt[t]];
    }
    int count;
    float got = (float)(softmax_xent(ws->logits, tgt, 4, 3, 1, &count) / 4), wantf = (float)(want / 4);
    check_close("mean cross-entropy", &got, &wantf, 1, 1e-6, 1e-6);
    CHECK(count == 4, "count %d", count);
    // With want_grad the logits become (softmax - onehot) / N: each row sums to 0.
    for (int t = 0; t < 4; t++) {
        double s = ws->logits[t * 3] + ws->logits[t * 3 + 1] + ws->logits[t * 3 + 2];
        CHECK(fabs(s) < 1e-7, "dlogits row %d sums to %g", t, s);
    }
    ws_free(m, ws);
    recur_model_free(m);
    recur_vocab_free(v);
}

static void test_ignored_targets(void)
{
    float z[6] = {1, 2, 3, 3, 2, 1};
    int32_t tgt[2] = {2, -1};
    int count;
    double l = softmax_xent(z, tgt, 2, 3, 1, &count);
    double want = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
    CHECK(count == 1 && fabs(l - want) < 1e-6, "ignored target: loss %g want %g count %d", l, want, count);
    CHECK(z[3] == 0 && z[4] == 0 && z[5] == 0, "ignored row has zero gradient");
}

static void test_adam(void)
{
    // Two Adam steps on one weight, against torch.optim.Adam's formula.
    optim_state o;
    CHECK(optim_init(&o, RECUR_ADAM, 1, NULL) == 0, "optim");
    float w = 1.0f, g1 = 0.5f, g2 = -0.25f, lr = 0.1f;
    optim_step(&o, &w, &g1, lr, 0);
    optim_step(&o, &w, &g2, lr, 0);
    double m = 0, v = 0, ww = 1.0, gs[2] = {0.5, -0.25};
    for (int t = 1; t <= 2; t++) {
        m = 0.9 * m + 0.1 * gs[t - 1];
        v = 0.999 * v + 0.001 * gs[t - 1] * gs[t - 1];
        ww -= lr / (1 - pow(0.9, t)) * m / (sqrt(v) / sqrt(1 - pow(0.999, t)) + 1e-8);
    }
    float want = (float)ww;
    check_close("adam, two steps", &w, &want, 1, 1e-6, 1e-6);
    optim_free(&o);
    float g[3] = {3, 4, 0};
    double n = grad_norm(g, 3);
    clip_by_norm(g, 3, n, 1.0f);
    CHECK(fabs(n - 5) < 1e-9 && fabs(grad_norm(g, 3) - 1) < 1e-5, "clip by norm");
    float h[3] = {-7, 0.5, 9};
    clip_by_value(h, 3, 5);
    CHECK(h[0] == -5 && h[1] == 0.5f && h[2] == 5, "clip by value");
}

static void gradcheck_cfg(const char *label, const recur_model_config *c)
{
    recur_model_config cfg = *c;
    recur_gradcheck_row rows[64];
    int n = 0;
    recur_error err = {0};
    int rc = recur_gradcheck(&cfg, 7, 4, 3, 11, rows, 64, &n, &err);
    CHECK(rc == 0, "gradcheck %s: %s", label, err.msg);
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < n; i++) {
        CHECK(rows[i].max_rel < 1e-2 && rows[i].checked > 0, "%s %s: worst relative error %.3g over %d",
              label, rows[i].name, rows[i].max_rel, rows[i].checked);
        worst = fmax(worst, rows[i].max_rel);
        checked += rows[i].checked;
    }
    printf("  gradcheck %-28s %2d tensors, %4d entries, worst rel %.2e\n", label, n, checked, worst);
}

static void gradcheck_case(const char *label, recur_cell cell, int relu, int layers, int embed,
                           float dropout, int outputs, int cond, int bidir)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = cell;
    cfg.relu = relu;
    cfg.hidden = 5;
    cfg.layers = layers;
    cfg.embed = embed;
    cfg.dropout = dropout;
    cfg.outputs = outputs;
    cfg.cond = cond;
    cfg.bidirectional = bidir;
    gradcheck_cfg(label, &cfg);
}

// The dropout variants (issue #14) through the gradient check: input
// dropout on the embedding, output dropout before the head, variational
// masks; the numerical side redraws the same masks from the same seed.
static void gradcheck_dropouts(void)
{
    static const struct {
        const char *label;
        recur_cell cell;
        int layers, embed, outputs, bidir, variational;
        float drop, in, out;
    } cases[] = {
        {"lstm, in+between+out dropout", RECUR_CELL_LSTM, 2, 4, 0, 0, 0, 0.3f, 0.2f, 0.25f},
        {"gru, variational, all three", RECUR_CELL_GRU, 2, 3, 0, 0, 1, 0.3f, 0.3f, 0.3f},
        {"rnn one-hot, output dropout", RECUR_CELL_RNN, 1, 0, 0, 0, 0, 0, 0, 0.4f},
        {"bi-lstm tagger, variational", RECUR_CELL_LSTM, 2, 3, 4, 1, 1, 0.2f, 0.2f, 0.3f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        recur_model_config cfg;
        recur_model_config_default(&cfg);
        cfg.cell = cases[i].cell;
        cfg.hidden = 5;
        cfg.layers = cases[i].layers;
        cfg.embed = cases[i].embed;
        cfg.outputs = cases[i].outputs;
        cfg.bidirectional = cases[i].bidir;
        cfg.variational = cases[i].variational;
        cfg.dropout = cases[i].drop;
        cfg.dropout_in = cases[i].in;
        cfg.dropout_out = cases[i].out;
        gradcheck_cfg(cases[i].label, &cfg);
    }
}

// A tied head (issue #14): the head's weight is the embedding, one [V, H]
// matrix whose gradient is the sum of both uses (the gradient check
// perturbs it through either name); counted once in the parameters and
// once for weight decay.
static void test_tied(void)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = RECUR_CELL_LSTM;
    cfg.hidden = 5;
    cfg.embed = 5;
    cfg.tie = 1;
    cfg.dropout_out = 0.2f;
    gradcheck_cfg("lstm, tied head, out dropout", &cfg);
    recur_vocab *v = NULL;
    const uint32_t chars[7] = {'a', 'b', 'c', 'd', 'e', 'f', 'g'};
    CHECK(vocab_from_chars(chars, 7, 0, &v, NULL) == 0, "vocab");
    recur_model *tied = NULL, *plain = NULL;
    CHECK(recur_model_new(&cfg, v, 3, &tied, NULL) == 0, "tied model");
    cfg.tie = 0;
    CHECK(recur_model_new(&cfg, v, 3, &plain, NULL) == 0, "untied model");
    if (tied && plain) {
        CHECK(tied->nw + 7 * 5 == plain->nw, "tied %zu parameters, untied %zu", tied->nw, plain->nw);
        const param_view *h = model_find_view(tied, "head.weight"), *e = model_find_view(tied, "embed.weight");
        CHECK(h && e && h->off == e->off && h->alias && !e->alias, "head.weight names the embedding");
        size_t rt[64], rp[64];
        int nt = model_matrix_ranges(tied, rt), np = model_matrix_ranges(plain, rp);
        CHECK(nt == np - 1, "weight decay ranges: %d tied, %d untied", nt, np);
        // Starts as a head would (|w| <= 1/sqrt(H)), not N(0, 1).
        float worst = 0;
        for (size_t i = 0; i < e->n; i++) worst = fmaxf(worst, fabsf(tied->w[e->off + i]));
        CHECK(worst <= 1 / sqrtf(5.0f), "tied embedding initialised to %.3f", worst);
        recur_error err = {0};
        cfg.tie = 1;
        cfg.embed = 4;
        recur_model *bad = NULL;
        CHECK(recur_model_new(&cfg, v, 3, &bad, &err) == RECUR_EINVAL && strstr(err.msg, "as wide as the hidden"),
              "tie with embed != hidden: %s", err.msg);
        recur_model_free(bad);
    }
    recur_model_free(tied);
    recur_model_free(plain);
    recur_vocab_free(v);
}

// The masks: each site drops about p of its values (binomial, within 5
// sigma), kept values are scaled by 1/(1-p) (the head's input is exactly
// top * 1/(1-p) or 0), a variational mask is the same at every step and a
// plain one is not, and a forward without a generator (evaluation) drops
// nothing: its logits are those of the same weights with no dropout.
static void test_dropout_masks(void)
{
    recur_vocab *v = NULL;
    const uint32_t chars[6] = {'a', 'b', 'c', 'd', 'e', 'f'};
    CHECK(vocab_from_chars(chars, 6, 0, &v, NULL) == 0, "vocab");
    for (int variational = 0; variational < 2; variational++) {
        recur_model_config cfg;
        recur_model_config_default(&cfg);
        cfg.cell = RECUR_CELL_LSTM;
        cfg.hidden = 24;
        cfg.layers = 2;
        cfg.embed = 16;
        cfg.dropout_in = 0.2f;
        cfg.dropout = 0.3f;
        cfg.dropout_out = 0.45f;
        cfg.variational = variational;
        recur_model *m = NULL, *plain = NULL;
        workspace *ws = NULL, *ws0 = NULL;
        CHECK(recur_model_new(&cfg, v, 5, &m, NULL) == 0, "model");
        recur_model_config c0 = cfg;
        c0.dropout = c0.dropout_in = c0.dropout_out = 0;
        c0.variational = 0;
        CHECK(recur_model_new(&c0, v, 5, &plain, NULL) == 0, "plain model");
        if (!m || !plain) return;
        memcpy(plain->w, m->w, sizeof(float) * m->nw);
        const int T = 30, B = 16, N = T * B;
        CHECK(ws_new(m, T, B, 1, &ws, NULL) == 0 && ws_new(plain, T, B, 1, &ws0, NULL) == 0, "workspaces");
        if (!ws || !ws0) return;
        int32_t *ids = malloc(sizeof(int32_t) * N);
        for (int i = 0; i < N; i++) ids[i] = (i * 7 + i / 5) % 6;
        rng r;
        rng_seed(&r, 11);
        ws_zero_state(m, ws);
        model_forward(m, ws, ids, &r);
        CHECK(ws->dropped, "a training forward drops");
        const struct { const uint8_t *keep; int width; float p; const char *name; } site[] = {
            {ws->keep[0], m->E, cfg.dropout_in, "input"},
            {ws->keep[1], m->H, cfg.dropout, "between layers"},
            {ws->keep_out, m->H, cfg.dropout_out, "output"},
        };
        for (int k = 0; k < 3; k++) {
            CHECK(site[k].keep != NULL, "%s mask allocated", site[k].name);
            if (!site[k].keep) continue;
            // Independent draws: N*width of them, or B*width when variational.
            const double n = (double)(variational ? B : N) * site[k].width;
            long dropped = 0, same_as_t0 = 0;
            for (int t = 0; t < T; t++)
                for (int j = 0; j < B * site[k].width; j++) {
                    const uint8_t x = site[k].keep[(size_t)t * B * site[k].width + j];
                    if (t == 0) dropped += !x;
                    if (t > 0) {
                        same_as_t0 += x == site[k].keep[j];
                        if (!variational) dropped += !x;
                    }
                }
            const double frac = dropped / n, sd = sqrt(site[k].p * (1 - site[k].p) / n);
            CHECK(fabs(frac - site[k].p) < 5 * sd, "%s%s dropout: dropped %.4f, p %.2f (sd %.4f)",
                  variational ? "variational " : "", site[k].name, frac, site[k].p, sd);
            const double rows_after = (double)(T - 1) * B * site[k].width;
            if (variational)
                CHECK(same_as_t0 == (long)rows_after, "variational %s mask changes over time", site[k].name);
            else
                CHECK(same_as_t0 < 0.8 * rows_after, "%s mask repeats over time (%ld of %.0f)",
                      site[k].name, same_as_t0, rows_after);
        }
        // The head read top * 1/(1-p) where kept, 0 where dropped.
        const float *top = model_top(m, ws);
        int scaled = 1;
        for (int i = 0; i < N * m->H; i++) {
            const float want = ws->keep_out[i] ? top[i] * (1.0f / (1.0f - cfg.dropout_out)) : 0.0f;
            scaled &= ws->head_in[i] == want;
        }
        CHECK(scaled, "output dropout scales kept values by 1/(1-p)");
        // Evaluation: no generator, no dropout: the logits of the plain model.
        ws_zero_state(m, ws);
        ws_zero_state(plain, ws0);
        model_forward(m, ws, ids, NULL);
        model_forward(plain, ws0, ids, NULL);
        CHECK(!ws->dropped && memcmp(ws->logits, ws0->logits, sizeof(float) * N * m->O) == 0,
              "%sevaluation forward drops something", variational ? "variational: " : "");
        printf("  dropout masks%s: input, between layers and output drop p of their values\n",
               variational ? " (variational)" : "");
        free(ids);
        ws_free(m, ws);
        ws_free(plain, ws0);
        recur_model_free(m);
        recur_model_free(plain);
    }
    recur_vocab_free(v);
}

// recur_gradcheck's contract (issue #17): a bidirectional model has
// 4*layers*2+3 tensors, more than the 4*layers+3 the header once promised;
// the capacity argument is honoured (nothing written past it, the count
// needed reported), and a model without a head is refused, not divided by.
static void test_gradcheck_contract(void)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.hidden = 3;
    cfg.layers = 2;
    cfg.embed = 2;
    cfg.bidirectional = 1;
    cfg.outputs = 3;
    recur_gradcheck_row rows[32];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 32; i++) rows[i].checked = -7; // canaries
    int n = -1, small = 4 * cfg.layers + 3;
    recur_error err = {0};
    int rc = recur_gradcheck(&cfg, 5, 3, 2, 1, rows, small, &n, &err);
    CHECK(rc == RECUR_EINVAL && n == 1 + 4 * 2 * 2 + 2 && strstr(err.msg, "room for 19 rows"),
          "cap %d: rc %d, n %d: %s", small, rc, n, err.msg);
    int untouched = 1;
    for (int i = 0; i < 32; i++) untouched &= rows[i].checked == -7;
    CHECK(untouched, "rows written although the capacity was too small");
    CHECK(RECUR_GRADCHECK_ROWS(&cfg) == 19, "RECUR_GRADCHECK_ROWS %d", RECUR_GRADCHECK_ROWS(&cfg));
    rc = recur_gradcheck(&cfg, 5, 3, 2, 1, rows, RECUR_GRADCHECK_ROWS(&cfg), &n, &err);
    CHECK(rc == 0 && n == 19 && rows[19].checked == -7, "rc %d n %d: %s", rc, n, err.msg);
    cfg.outputs = -1;
    rc = recur_gradcheck(&cfg, 5, 3, 2, 1, rows, 32, &n, &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "needs a head"), "outputs -1: rc %d: %s", rc, err.msg);
    printf("  gradcheck contract: cap %d refused (needs %d), outputs -1 refused\n", small, 19);
}

// Many-to-one: one target per row, read from the pooled final states.
static void test_pooled(recur_cell cell, int bidir, float dropout_out)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.dropout_out = dropout_out;
    cfg.cell = cell;
    cfg.hidden = 5;
    cfg.layers = 2;
    cfg.outputs = 3;
    cfg.bidirectional = bidir;
    recur_vocab *v = NULL;
    const uint32_t chars[6] = {'a', 'b', 'c', 'd', 'e', 'f'};
    recur_model *m = NULL;
    CHECK(vocab_from_chars(chars, 6, 0, &v, NULL) == 0, "vocab");
    CHECK(recur_model_new(&cfg, v, 9, &m, NULL) == 0, "model");
    const int32_t ids[12] = {0, 1, 2, 3, 4, 5, 0, 2, 4, 1, 3, 5}, tgt[3] = {2, 0, 1}, lens[3] = {4, 1, 3};
    recur_gradcheck_row rows[32];
    int n = 0;
    gradcheck_model(m, &(gc_window){ids, tgt, NULL, lens, 4, 3, 1, 0, 0}, NULL, NULL, 40, -1, 4, rows, &n, NULL);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        CHECK(rows[i].max_rel < 1e-2, "pooled %s: %.3g", rows[i].name, rows[i].max_rel);
        worst = fmax(worst, rows[i].max_rel);
    }
    printf("  gradcheck pooled %s%s, lengths 4/1/3%s  %2d tensors, worst rel %.2e\n", bidir ? "bi-" : "",
           recur_cell_name(cell), dropout_out > 0 ? ", output dropout" : "", n, worst);
    recur_model_free(m);
    recur_vocab_free(v);
}

// bf16 training's gradient: the analytic gradient from bf16 products against
// the fp32 loss's central differences. bf16 keeps 8 significant bits, so a
// sum of products is off by about 2^-9 of the sum of its terms' sizes; the
// stated tolerance (docs/api.md) is a relative error of at most 0.1 on
// entries whose gradient is at least 1e-3 (smaller ones are dominated by
// cancellation). Where the CPU has no bf16 products this checks fp32 again.
static void test_gradcheck_bf16(recur_cell cell, int embed)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = cell;
    cfg.hidden = 40;
    cfg.layers = 2;
    cfg.embed = embed;
    recur_vocab *v = NULL;
    const uint32_t chars[7] = {'a', 'b', 'c', 'd', 'e', 'f', 'g'};
    recur_model *m = NULL;
    CHECK(vocab_from_chars(chars, 7, 0, &v, NULL) == 0, "vocab");
    CHECK(recur_model_new(&cfg, v, 21, &m, NULL) == 0, "model");
    enum { T = 6, B = 5 };
    int32_t ids[T * B], tgt[T * B];
    for (int i = 0; i < T * B; i++) ids[i] = (i * 5 + 3) % 7, tgt[i] = (i * 3 + 1) % 7;
    recur_gradcheck_row rows[32];
    int n = 0;
    gc_window w = {ids, tgt, NULL, NULL, T, B, 0, 1, 0};
    CHECK(gradcheck_model(m, &w, NULL, NULL, 60, -1, 7, rows, &n, NULL) == 0, "gradcheck bf16");
    double worst = 0;
    for (int i = 0; i < n; i++) {
        CHECK(rows[i].max_rel <= 0.1, "bf16 %s %s: %.3g", recur_cell_name(cell), rows[i].name, rows[i].max_rel);
        worst = fmax(worst, rows[i].max_rel);
    }
    printf("  gradcheck bf16 %s 2x40%s: %2d tensors, worst rel %.2e (tolerance 0.1)%s\n", recur_cell_name(cell),
           embed ? ", embed" : "", n, worst, gemm_has_bf16() ? "" : " [no AVX512-BF16: fp32]");
    if (gemm_has_bf16()) CHECK(worst > 2e-3, "bf16 gradients as close as fp32's (%.3g): the bf16 path did not run", worst);
    recur_model_free(m);
    recur_vocab_free(v);
}

/* Recompute (ws_set_recompute): the same window through a workspace that
 * keeps the gates and one that makes them again chunk by chunk. The forward
 * is the same computation split into chunks, so its logits and states are
 * the same bits; the weight gradients are summed chunk by chunk from the
 * last, so they differ from the keeping run's in rounding only; 1 and 2
 * threads give the same bits; and the workspace no longer holds the gates.
 * Chunks of two steps over seven (the last one short). */
typedef struct rc_case {
    const char *label;
    recur_cell cell;
    int layers, embed, hidden, outputs, cond, bidir, pool;
    float drop, in, out;
    int bf16; /* both workspaces' products in bf16 (where the CPU has them) */
} rc_case;

static void recompute_case(const rc_case *c)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = c->cell;
    cfg.hidden = c->hidden;
    cfg.layers = c->layers;
    cfg.embed = c->embed;
    cfg.outputs = c->outputs;
    cfg.cond = c->cond;
    cfg.bidirectional = c->bidir;
    cfg.dropout = c->drop;
    cfg.dropout_in = c->in;
    cfg.dropout_out = c->out;
    recur_vocab *v = NULL;
    const uint32_t chars[7] = {'a', 'b', 'c', 'd', 'e', 'f', 'g'};
    recur_model *m = NULL;
    CHECK(vocab_from_chars(chars, 7, 0, &v, NULL) == 0, "vocab");
    CHECK(recur_model_new(&cfg, v, 5, &m, NULL) == 0, "model %s", c->label);
    if (!m) return;
    enum { T = 7, B = 3, NRUN = 3 };
    int32_t ids[T * B], tgt[T * B], cond[T * B], lens[B] = {7, 4, 6};
    for (int i = 0; i < T * B; i++) ids[i] = (i * 5 + 3) % 7, tgt[i] = (i * 3 + 1) % (m->O), cond[i] = i % 3;
    workspace *ws[NRUN] = {0};
    float *g[NRUN], *logits[NRUN];
    const int rows = c->pool ? B : T * B;
    for (int k = 0; k < NRUN; k++) { // keeping; recomputing; recomputing on 2 threads
        g[k] = calloc(m->nw, sizeof(float));
        logits[k] = calloc((size_t)rows * m->O, sizeof(float));
        CHECK(ws_new(m, T, B, k == 2 ? 2 : 1, &ws[k], NULL) == 0, "workspace");
        if (c->bf16) CHECK(ws_set_bf16(m, ws[k], 1, NULL) == 0, "ws_set_bf16");
        if (k) CHECK(ws_set_recompute(m, ws[k], 1, NULL) == 0, "ws_set_recompute");
        if (k && ws[k]->recompute) ws[k]->crows = 2 * B; // chunks of two steps
        ws[k]->step_min_flops = 0; // share even these small steps (H >= 128: two blocks of units)
        ws[k]->pool = c->pool;
        if (c->bidir || c->pool) memcpy(ws[k]->lens, lens, sizeof lens);
        memcpy(ws[k]->cond, cond, sizeof cond);
        rng r;
        rng_seed(&r, 77);
        m->version++;
        ws_zero_state(m, ws[k]);
        model_forward(m, ws[k], ids, &r);
        memcpy(logits[k], ws[k]->logits, sizeof(float) * (size_t)rows * m->O);
        softmax_xent(ws[k]->logits, tgt, rows, m->O, 1, NULL);
        model_backward(m, ws[k], g[k]);
    }
    const int keeps = m->cell->cache > 0;
    CHECK(ws[1]->recompute == keeps, "%s: recompute is %d", c->label, ws[1]->recompute);
    if (keeps && m->U > 1) // (one chunk is this whole window: the saving is the units' shared cache)
        CHECK(ws[1]->bytes < ws[0]->bytes, "%s: recompute keeps %zu bytes, keeping %zu", c->label, ws[1]->bytes,
              ws[0]->bytes);
    CHECK(!memcmp(logits[0], logits[1], sizeof(float) * (size_t)rows * m->O), "%s: recompute changed the logits",
          c->label);
    for (int u = 0; u < m->U; u++) {
        size_t n = (size_t)(T + 1) * B * m->H;
        CHECK(!memcmp(ws[0]->hs[u], ws[1]->hs[u], sizeof(float) * n), "%s: unit %d's states differ", c->label, u);
    }
    double gmax = 0, worst = 0;
    for (size_t i = 0; i < m->nw; i++) gmax = fmax(gmax, fabs(g[0][i]));
    int bad = 0;
    for (size_t i = 0; i < m->nw; i++) {
        double d = fabs((double)g[0][i] - g[1][i]);
        worst = fmax(worst, d / (gmax > 0 ? gmax : 1));
        if (d > 1e-4 * fabs(g[0][i]) + 1e-6 * gmax) bad++;
    }
    CHECK(bad == 0 && gmax > 0, "%s: %d gradient entries differ past rounding (max %.3g)", c->label, bad, gmax);
    CHECK(!memcmp(g[1], g[2], sizeof(float) * m->nw), "%s: recompute on 2 threads differs from 1", c->label);
    for (int u = 0; u < m->U; u++) { // the gradient carried out of the first chunk
        CHECK(!memcmp(ws[1]->dh0[u], ws[2]->dh0[u], sizeof(float) * B * m->H), "%s: dh0 on 2 threads", c->label);
        for (int i = 0; i < B * m->H; i++) {
            float a = ws[0]->dh0[u][i], b = ws[1]->dh0[u][i];
            float ca = m->cell->has_c ? ws[0]->dc0[u][i] : 0, cb = m->cell->has_c ? ws[1]->dc0[u][i] : 0;
            if (fabsf(a - b) > 1e-5f * fabsf(a) + 1e-7f || fabsf(ca - cb) > 1e-5f * fabsf(ca) + 1e-7f) {
                CHECK(0, "%s: unit %d's dL/dh0 or dL/dc0 differs from keeping's (%g vs %g)", c->label, u, a, b);
                break;
            }
        }
    }
    printf("  recompute %-34s same logits and states, gradients within %.1e of the largest, %s%s\n", c->label,
           worst, keeps ? "2 threads same bits" : "nothing to recompute (rnn)",
           c->bf16 && !gemm_has_bf16() ? " [no AVX512-BF16: fp32]" : "");
    for (int k = 0; k < NRUN; k++) {
        ws_free(m, ws[k]);
        free(g[k]);
        free(logits[k]);
    }
    recur_model_free(m);
    recur_vocab_free(v);
}

static void test_recompute(void)
{
    static const rc_case cases[] = {
        // label, cell, layers, embed, hidden, outputs, cond, bidir, pool, dropout, in, out, bf16
        {"lstm 2x16 one-hot", RECUR_CELL_LSTM, 2, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0},
        {"lstm 2x16, embed 6 < H, dropouts", RECUR_CELL_LSTM, 2, 6, 16, 0, 0, 0, 0, 0.3f, 0.2f, 0.25f, 0},
        {"gru 3x8, embed 12 > H, dropout", RECUR_CELL_GRU, 3, 12, 8, 0, 0, 0, 0, 0.3f, 0, 0, 0},
        {"gru 2x16, conditioned on 3 classes", RECUR_CELL_GRU, 2, 0, 16, 0, 3, 0, 0, 0, 0, 0, 0},
        {"bi-gru tagger 2x8, embed, dropout", RECUR_CELL_GRU, 2, 5, 8, 4, 0, 1, 0, 0.2f, 0.1f, 0.2f, 0},
        {"bi-lstm classifier 2x8, pooled", RECUR_CELL_LSTM, 2, 0, 8, 3, 0, 1, 1, 0.2f, 0, 0, 0},
        {"rnn 2x16 (no cache)", RECUR_CELL_RNN, 2, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0},
        {"lstm 2x128, units split on 2 threads", RECUR_CELL_LSTM, 2, 0, 128, 0, 0, 0, 0, 0.2f, 0, 0, 0},
        {"gru 1x192 embed 40, 2 threads", RECUR_CELL_GRU, 1, 40, 192, 0, 0, 0, 0, 0, 0.1f, 0.1f, 0},
        {"lstm 2x128 bf16", RECUR_CELL_LSTM, 2, 0, 128, 0, 0, 0, 0, 0, 0, 0, 1},
        {"bi-gru 2x128 bf16 tagger", RECUR_CELL_GRU, 2, 8, 128, 4, 0, 1, 0, 0.1f, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) recompute_case(&cases[i]);
}

// The recomputing backward through the gradient check itself (chunks of
// two steps): its gradients against the loss's central differences.
static void test_gradcheck_recompute(recur_cell cell, int embed, int bidir, float dropout)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = cell;
    cfg.hidden = 6;
    cfg.layers = 2;
    cfg.embed = embed;
    cfg.bidirectional = bidir;
    cfg.outputs = bidir ? 4 : 0;
    cfg.dropout = dropout;
    recur_vocab *v = NULL;
    const uint32_t chars[5] = {'a', 'b', 'c', 'd', 'e'};
    recur_model *m = NULL;
    CHECK(vocab_from_chars(chars, 5, 0, &v, NULL) == 0, "vocab");
    CHECK(recur_model_new(&cfg, v, 13, &m, NULL) == 0, "model");
    enum { T = 5, B = 2 };
    int32_t ids[T * B], tgt[T * B];
    for (int i = 0; i < T * B; i++) ids[i] = (i * 3 + 1) % 5, tgt[i] = (i * 2 + 3) % m->O;
    recur_gradcheck_row rows[32];
    int n = 0;
    gc_window w = {ids, tgt, NULL, NULL, T, B, 0, 0, 2 * B};
    CHECK(gradcheck_model(m, &w, NULL, NULL, 40, -1, 9, rows, &n, NULL) == 0, "gradcheck recompute");
    double worst = 0;
    for (int i = 0; i < n; i++) {
        CHECK(rows[i].max_rel < 1e-2, "recompute %s %s: %.3g", recur_cell_name(cell), rows[i].name, rows[i].max_rel);
        worst = fmax(worst, rows[i].max_rel);
    }
    printf("  gradcheck recompute %s%s 2x6%s%s: %2d tensors, worst rel %.2e\n", bidir ? "bi-" : "",
           recur_cell_name(cell), embed ? ", embed" : "", dropout > 0 ? ", dropout" : "", n, worst);
    recur_model_free(m);
    recur_vocab_free(v);
}

// The check must be able to fail: corrupt one tensor's analytic gradient.
static void test_gradcheck_catches_errors(void)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.hidden = 4;
    cfg.layers = 2;
    recur_vocab *v = NULL;
    const uint32_t chars[5] = {'a', 'b', 'c', 'd', 'e'};
    recur_model *m = NULL;
    CHECK(vocab_from_chars(chars, 5, 0, &v, NULL) == 0, "vocab");
    CHECK(recur_model_new(&cfg, v, 3, &m, NULL) == 0, "model");
    const int32_t ids[6] = {0, 1, 2, 3, 4, 0}, tgt[6] = {1, 2, 3, 4, 0, 1};
    recur_gradcheck_row rows[16];
    int n;
    for (int bad = 0; bad < m->nviews; bad++) {
        gradcheck_model(m, &(gc_window){ids, tgt, NULL, NULL, 3, 2, 0, 0, 0}, NULL, NULL, 30, bad, 5, rows, &n, NULL);
        CHECK(rows[bad].max_rel > 1e-2, "a corrupted gradient of %s went unnoticed (%.3g)", rows[bad].name,
              rows[bad].max_rel);
    }
    printf("  gradcheck flags a corrupted gradient in each of %d tensors\n", m->nviews);
    recur_model_free(m);
    recur_vocab_free(v);
}

// The window workspace's memory (docs/design.md#memory), for the shapes of
// the benchmark table and variants (ws_new only allocates: nothing here is
// touched, so the big shapes cost no time or resident memory). Two bounds:
//  - torch-rnn's published per-layer formula, N*T*D + 6*N*T*H + 8*N*H floats
//    of activations (its 8H^2 + 8DH + 9H, weights and their gradients, are
//    not the workspace's), plus what torch-rnn's model keeps around its
//    layers: the head's input gradient N*T*H, and its output and the
//    criterion's gradient, 2*N*T*O. Unidirectional models.
//  - design.md's budget per cell: s*N*T*H saved per unit (s = 1 RNN, 5 GRU,
//    6 LSTM: h, c, the cache), a few whole-window buffers shared by all
//    layers, and O(N*H) per step. A buffer of N*T*H more breaks it.
static void test_workspace_memory(void)
{
    static const struct {
        recur_cell cell;
        int H, L, B, T, E, bidir;
        float drop;
    } cases[] = {
        {RECUR_CELL_RNN, 128, 1, 1, 25, 0, 0, 0},       {RECUR_CELL_LSTM, 128, 1, 1, 25, 0, 0, 0},
        {RECUR_CELL_GRU, 128, 1, 1, 25, 0, 0, 0},       {RECUR_CELL_RNN, 128, 2, 50, 50, 0, 0, 0},
        {RECUR_CELL_LSTM, 128, 2, 50, 50, 0, 0, 0},     {RECUR_CELL_GRU, 128, 2, 50, 50, 0, 0, 0},
        {RECUR_CELL_RNN, 512, 2, 64, 100, 0, 0, 0},     {RECUR_CELL_LSTM, 512, 2, 64, 100, 0, 0, 0},
        {RECUR_CELL_GRU, 512, 2, 64, 100, 0, 0, 0},     {RECUR_CELL_RNN, 1024, 1, 128, 100, 0, 0, 0},
        {RECUR_CELL_LSTM, 1024, 1, 128, 100, 0, 0, 0},  {RECUR_CELL_GRU, 1024, 1, 128, 100, 0, 0, 0},
        {RECUR_CELL_LSTM, 512, 2, 64, 100, 0, 0, 0.2f}, {RECUR_CELL_RNN, 256, 3, 32, 50, 16, 0, 0.1f},
        {RECUR_CELL_GRU, 256, 3, 32, 50, 64, 0, 0.3f},  {RECUR_CELL_LSTM, 300, 2, 20, 30, 400, 0, 0},
        {RECUR_CELL_LSTM, 128, 2, 32, 40, 0, 1, 0},     {RECUR_CELL_GRU, 128, 1, 32, 40, 16, 1, 0},
        {RECUR_CELL_RNN, 128, 3, 32, 40, 0, 1, 0.2f},   {RECUR_CELL_RNN, 128, 1, 32, 40, 0, 1, 0},
    };
    uint32_t chars[65];
    for (int i = 0; i < 65; i++) chars[i] = (uint32_t)(i < 26 ? 'a' + i : i < 52 ? 'A' + i - 26 : '0' + i - 52);
    recur_vocab *v = NULL;
    CHECK(vocab_from_chars(chars, 65, 0, &v, NULL) == 0, "vocab");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        recur_model_config cfg;
        recur_model_config_default(&cfg);
        cfg.cell = cases[c].cell;
        cfg.hidden = cases[c].H;
        cfg.layers = cases[c].L;
        cfg.embed = cases[c].E;
        cfg.dropout = cases[c].drop;
        cfg.bidirectional = cases[c].bidir;
        recur_model *m = NULL;
        workspace *ws = NULL;
        CHECK(model_alloc(&cfg, v, &m, NULL) == 0, "model");
        if (!m) continue;
        const int T = cases[c].T, B = cases[c].B;
        CHECK(ws_new(m, T, B, 1, &ws, NULL) == 0, "workspace");
        if (!ws) {
            recur_model_free(m);
            continue;
        }
        const double N = B, NT = (double)T * B, H = m->H, D = m->D, DH = D * H, O = m->O;
        const double W = DH > m->E ? DH : m->E, NTH = NT * H, got = ws->bytes / 4.0;
        const int materialised = m->L > 1 || m->E, s = 1 + m->cell->has_c + m->cell->cache;
        // torch-rnn
        double torch = NT * DH + 2 * NT * O;
        for (int u = 0; u < m->U; u++) torch += NT * m->lay[u].in + 6 * NTH + 8 * N * H;
        // design.md's budget
        int shared = 1 + (D == 2 || (!m->cell->cache && materialised)) + 2 * (D == 2 && materialised);
        double budget = m->U * (s * NTH + 8 * N * H) + shared * NT * W + (D == 2) * m->L * NT * DH +
                        (cfg.dropout > 0) * (m->L - 1) * NT * DH / 4 + NT * O + 8 * NT / 4 +
                        4 * N * (m->G * H + DH);
        if (D == 1)
            CHECK(got <= torch, "%s H%d L%d B%d T%d E%d: the window takes %.0f floats, torch-rnn's formula %.0f",
                  recur_cell_name(cfg.cell), cfg.hidden, cfg.layers, B, T, cfg.embed, got, torch);
        CHECK(got <= budget, "%s H%d L%d B%d T%d E%d%s: the window takes %.0f floats, design.md's budget %.0f",
              recur_cell_name(cfg.cell), cfg.hidden, cfg.layers, B, T, cfg.embed, D == 2 ? " bidirectional" : "",
              got, budget);
        char name[64];
        snprintf(name, sizeof name, "%s H%d L%d B%d T%d%s%s%s", recur_cell_name(cfg.cell), cfg.hidden,
                 cfg.layers, B, T, cfg.embed ? " embed" : "", cfg.dropout > 0 ? " dropout" : "",
                 D == 2 ? " bidirectional" : "");
        printf("  workspace %-36s %6.1f MiB, %5.2f N*T*H per unit", name, ws->bytes / 1048576.0, got / NTH / m->U);
        if (D == 1) printf(", %3.0f %% of torch-rnn's formula", 100 * got / torch);
        printf(" (weight copies %.1f MiB)\n", ws->wbytes / 1048576.0);
        // Recompute: a unit keeps h (and c) only; the gates of one chunk of
        // at most 1024 rows (and that chunk's input) for all units.
        workspace *wr = NULL;
        if (m->cell->cache && ws_new(m, T, B, 1, &wr, NULL) == 0 && ws_set_recompute(m, wr, 1, NULL) == 0) {
            const double kc = m->cell->cache, rgot = wr->bytes / 4.0;
            double rbudget = budget - m->U * kc * NTH + 1024.0 * (kc * H + W) +
                             (D == 1 && m->E && m->E < H) * NT * m->E;
            CHECK(wr->recompute && rgot <= rbudget, "%s recompute: %.0f floats, budget %.0f", name, rgot, rbudget);
            printf("  workspace %-36s %6.1f MiB, %5.2f N*T*H per unit, recompute\n", name, wr->bytes / 1048576.0,
                   rgot / NTH / m->U);
        }
        ws_free(m, wr);
        ws_free(m, ws);
        recur_model_free(m);
    }
    recur_vocab_free(v);
}

int main(void)
{
    test_gradcheck_contract();
    test_gemm();
    test_rnn_by_hand();
    test_ignored_targets();
    test_adam();
    printf("analytic vs numerical gradients:\n");
    gradcheck_case("rnn tanh, 2 layers", RECUR_CELL_RNN, 0, 2, 0, 0, 0, 0, 0);
    gradcheck_case("rnn relu, 2 layers", RECUR_CELL_RNN, 1, 2, 0, 0, 0, 0, 0);
    gradcheck_case("rnn, 3 layers, embed, dropout", RECUR_CELL_RNN, 0, 3, 4, 0.3f, 0, 0, 0);
    gradcheck_case("lstm, 2 layers", RECUR_CELL_LSTM, 0, 2, 0, 0, 0, 0, 0);
    gradcheck_case("lstm, embed, dropout", RECUR_CELL_LSTM, 0, 2, 3, 0.25f, 0, 0, 0);
    gradcheck_case("gru, 2 layers", RECUR_CELL_GRU, 0, 2, 0, 0, 0, 0, 0);
    gradcheck_case("gru, 3 layers, embed", RECUR_CELL_GRU, 0, 3, 6, 0, 0, 0, 0);
    gradcheck_case("lstm, 4 classes out (classifier)", RECUR_CELL_LSTM, 0, 2, 0, 0, 4, 0, 0);
    gradcheck_case("gru, conditioned on 3 classes", RECUR_CELL_GRU, 0, 2, 0, 0, 0, 3, 0);
    gradcheck_case("rnn, embed + 2 classes in", RECUR_CELL_RNN, 0, 1, 4, 0, 0, 2, 0);
    gradcheck_case("bi-lstm, 2 layers, ragged rows", RECUR_CELL_LSTM, 0, 2, 0, 0, 5, 0, 1);
    gradcheck_case("bi-gru, embed, dropout", RECUR_CELL_GRU, 0, 2, 3, 0.2f, 4, 0, 1);
    gradcheck_case("bi-rnn relu, 1 layer", RECUR_CELL_RNN, 1, 1, 0, 0, 3, 0, 1);
    gradcheck_case("bi-rnn tanh, 3 layers", RECUR_CELL_RNN, 0, 3, 0, 0, 3, 0, 1);
    gradcheck_dropouts();
    test_pooled(RECUR_CELL_LSTM, 1, 0);
    test_pooled(RECUR_CELL_GRU, 0, 0);
    test_pooled(RECUR_CELL_LSTM, 1, 0.3f);
    test_dropout_masks();
    test_tied();
    test_gradcheck_catches_errors();
    test_gradcheck_bf16(RECUR_CELL_RNN, 0);
    test_gradcheck_bf16(RECUR_CELL_LSTM, 0);
    test_gradcheck_bf16(RECUR_CELL_GRU, 8);
    test_gradcheck_recompute(RECUR_CELL_LSTM, 0, 0, 0);
    test_gradcheck_recompute(RECUR_CELL_LSTM, 3, 0, 0.3f);
    test_gradcheck_recompute(RECUR_CELL_GRU, 4, 1, 0.2f);
    test_recompute();
    test_workspace_memory();
    return check_exit();
}

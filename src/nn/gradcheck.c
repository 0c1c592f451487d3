/*
 * gradcheck.c - numerical gradients by central differences,
 *   dL/dw ~ (L(w + eps) - L(w - eps)) / (2 eps),
 * against the analytic ones from model_backward, with the relative error
 * |a - n| / max(|a|, |n|) (entries where both are below 1e-4 are noise at
 * float precision and are skipped). Dropout, when configured, uses the same
 * mask in every evaluation so the function being differentiated is fixed.
 * ReLU has kinks: an entry whose +-eps evaluations switch any unit on or
 * off crossed one, says nothing about the derivative, and is skipped.
 */
#include "nn/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// 1e-2 keeps float32 rounding of the loss well below the difference.
#define GC_EPS 1e-2f

static void set_state(const recur_model *m, workspace *ws, float *const *h0, float *const *c0)
{
    size_t BH = (size_t)ws->B * m->H;
    ws_zero_state(m, ws);
    for (int l = 0; l < m->U; l++) {
        if (h0) memcpy(ws->hs[l], h0[l], BH * sizeof(float));
        if (c0 && ws->cs[l]) memcpy(ws->cs[l], c0[l], BH * sizeof(float));
    }
}

// Which units are on (h > 0) at every step: the ReLU network's linear piece.
static uint64_t relu_pattern(const recur_model *m, const workspace *ws)
{
    uint64_t hsh = 1469598103934665603ull;
    size_t n = (size_t)ws->T * ws->B * m->H;
    for (int l = 0; l < m->U; l++)
        for (size_t i = 0; i < n; i++)
            hsh = (hsh ^ (uint64_t)(ws->hs[l][(size_t)ws->B * m->H + i] > 0.0f)) * 1099511628211ull;
    return hsh;
}

static double loss_at(recur_model *m, workspace *ws, const gc_window *w, float *const *h0,
                      float *const *c0, uint64_t seed, uint64_t *pattern)
{
    // ws->cond, lens and pool were set once by gradcheck_model and never change.
    rng r;
    rng_seed(&r, seed);
    m->version++;
    set_state(m, ws, h0, c0);
    model_forward(m, ws, w->ids, model_has_dropout(m) ? &r : NULL);
    int counted;
    double s = softmax_xent(ws->logits, w->tgt, w->pool ? w->B : w->T * w->B, m->O, 0, &counted);
    *pattern = m->cfg.relu ? relu_pattern(m, ws) : 0;
    return s / counted;
}

int gradcheck_model(recur_model *m, const gc_window *w, float *const *h0, float *const *c0,
                    int per_tensor, int corrupt, uint64_t seed, recur_gradcheck_row *rows,
                    int *nrows, recur_error *err)
{
    const int T = w->T, B = w->B;
    workspace *ws = NULL;
    int rc = ws_new(m, T, B, 1, &ws, err);
    if (rc) return rc;
    float *g = xcalloc(m->nw, sizeof(float));
    if (!g) {
        ws_free(m, ws);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    if (w->bf16 && (rc = ws_set_bf16(m, ws, 1, err))) {
        free(g);
        ws_free(m, ws);
        return rc;
    }
    if (w->recompute > 0) {
        if ((rc = ws_set_recompute(m, ws, 1, err))) {
            free(g);
            ws_free(m, ws);
            return rc;
        }
        if (ws->recompute && ws->crows > w->recompute) ws->crows = w->recompute;
    }
    if (w->cond) memcpy(ws->cond, w->cond, sizeof(int32_t) * (size_t)T * B);
    if (w->lens) memcpy(ws->lens, w->lens, sizeof(int32_t) * (size_t)B);
    ws->pool = w->pool;
    // Analytic.
    rng r;
    rng_seed(&r, seed);
    m->version++;
    set_state(m, ws, h0, c0);
    model_forward(m, ws, w->ids, model_has_dropout(m) ? &r : NULL);
    uint64_t base = m->cfg.relu ? relu_pattern(m, ws) : 0, pp, pm;
    softmax_xent(ws->logits, w->tgt, w->pool ? B : T * B, m->O, 1, NULL);
    model_backward(m, ws, g);
    ws_set_bf16(m, ws, 0, NULL); // the function differentiated is the fp32 loss

    rng pick;
    rng_seed(&pick, seed + 1);
    for (int i = 0; i < m->nviews; i++) {
        const param_view *v = &m->views[i];
        recur_gradcheck_row *row = &rows[i];
        snprintf(row->name, sizeof row->name, "%s", v->name);
        row->max_rel = 0;
        row->checked = 0;
        if (i == corrupt)
            for (size_t j = 0; j < v->n; j++) g[v->off + j] += 0.01f * g[v->off + j] + 1e-3f;
        size_t count = v->n < (size_t)per_tensor ? v->n : (size_t)per_tensor;
        for (size_t k = 0; k < count; k++) {
            // All entries of a small tensor, a random sample of a large one.
            size_t j = v->n <= (size_t)per_tensor ? k : (size_t)(rng_next(&pick) % v->n);
            float *p = m->w + v->off + j, keep = *p;
            *p = keep + GC_EPS;
            double lp = loss_at(m, ws, w, h0, c0, seed, &pp);
            *p = keep - GC_EPS;
            double lm = loss_at(m, ws, w, h0, c0, seed, &pm);
            *p = keep;
            if (pp != base || pm != base) continue; // crossed a ReLU kink
            double num = (lp - lm) / (2.0 * GC_EPS), ana = g[v->off + j];
            double den = fmax(fabs(num), fabs(ana));
            // bf16: entries under 1e-3 are mostly cancellation of much larger terms.
            if (den < (w->bf16 ? 1e-3 : 1e-4)) continue;
            double rel = fabs(num - ana) / den;
            if (rel > row->max_rel || isnan(rel)) row->max_rel = isnan(rel) ? INFINITY : rel;
            row->checked++;
        }
    }
    m->version++;
    *nrows = m->nviews;
    free(g);
    ws_free(m, ws);
    return RECUR_OK;
}

int recur_gradcheck(const recur_model_config *cfg, int vocab_size, int T, int B, uint64_t seed,
                    recur_gradcheck_row *rows, int cap, int *nrows, recur_error *err)
{
    if (!cfg || !rows || !nrows) return set_error(err, RECUR_EINVAL, "NULL argument");
    *nrows = 0;
    // The loss is a softmax over the head's outputs: without a head there is
    // nothing to differentiate (and the targets below are drawn modulo O).
    if (cfg->outputs < 0)
        return set_error(err, RECUR_EINVAL, "gradcheck needs a head: outputs must be >= 0, got %d", cfg->outputs);
    if (vocab_size < 2 || vocab_size > 1000)
        return set_error(err, RECUR_EINVAL, "vocabulary size must be 2..1000, got %d", vocab_size);
    if (T < 1 || B < 1 || T > 1000 || B > 1000)
        return set_error(err, RECUR_EINVAL, "T and B must be 1..1000");
    uint32_t chars[1000];
    for (int i = 0; i < vocab_size; i++) chars[i] = 0x100 + (uint32_t)i;
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    int rc = vocab_from_chars(chars, vocab_size, 0, &v, err);
    if (!rc) rc = recur_model_new(cfg, v, seed, &m, err);
    recur_vocab_free(v);
    if (rc) return rc;
    if (m->nviews > cap) {
        *nrows = m->nviews;
        rc = set_error(err, RECUR_EINVAL, "gradcheck needs room for %d rows (one per tensor), the caller gave %d",
                       m->nviews, cap);
        recur_model_free(m);
        return rc;
    }
    int N = T * B, L = m->U; // one initial state per unit (layer, direction)
    size_t BH = (size_t)B * m->H;
    int32_t *ids = calloc((size_t)N, sizeof(int32_t)), *tgt = calloc((size_t)N, sizeof(int32_t));
    int32_t *cond = calloc((size_t)N, sizeof(int32_t)), *lens = calloc((size_t)B, sizeof(int32_t));
    float **h0 = calloc((size_t)L, sizeof(float *)), **c0 = calloc((size_t)L, sizeof(float *));
    if (!ids || !tgt || !cond || !lens || !h0 || !c0) rc = set_error(err, RECUR_ENOMEM, "out of memory");
    rng r;
    rng_seed(&r, seed ^ 0xabcdefu);
    for (int n = 0; !rc && n < N; n++) {
        ids[n] = (int32_t)(rng_next(&r) % (uint64_t)vocab_size);
        tgt[n] = (int32_t)(rng_next(&r) % (uint64_t)m->O);
        if (m->Cc) cond[n] = (int32_t)(rng_next(&r) % (uint64_t)m->Cc);
    }
    // Bidirectional: rows of different lengths (padding ignored), so the
    // reverse direction's start at each row's own end is checked too.
    for (int b = 0; !rc && b < B; b++) {
        lens[b] = m->D == 2 && b > 0 ? 1 + (int)(rng_next(&r) % (uint64_t)T) : T;
        for (int t = lens[b]; t < T; t++) tgt[t * B + b] = -1;
    }
    // A non-zero initial state, so the carried-state paths are checked too.
    for (int l = 0; !rc && l < L; l++) {
        h0[l] = xcalloc(BH, sizeof(float));
        c0[l] = xcalloc(BH, sizeof(float));
        if (!h0[l] || !c0[l]) {
            rc = set_error(err, RECUR_ENOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < BH; i++) {
            h0[l][i] = 0.5f * (2.0f * rng_uniform(&r) - 1.0f);
            c0[l][i] = 0.5f * (2.0f * rng_uniform(&r) - 1.0f);
        }
    }
    if (!rc)
        rc = gradcheck_model(m, &(gc_window){ids, tgt, m->Cc ? cond : NULL, lens, T, B, 0, 0, 0}, h0, c0,
                             40, -1, seed, rows, nrows, err);
    for (int l = 0; h0 && c0 && l < L; l++) {
        free(h0[l]);
        free(c0[l]);
    }
    free(h0);
    free(c0);
    free(ids);
    free(tgt);
    free(cond);
    free(lens);
    recur_model_free(m);
    return rc;
}

/*
 * seqtask.c - batches of separate examples (task_seq.c trains on them;
 * the applications evaluate with them). Each step takes a batch of
 * sequences of similar length (shuffled, then sorted by length within chunks
 * of 50 batches, so padding stays small), pads them at the end, runs the
 * model from a zero state, and takes the loss where the targets are: at every
 * real step, or once per sequence on its pooled final states. Padding never
 * reaches a real step (model.c) and carries no loss (target -1).
 */
#include "tasks/seqtask.h"

#include "formats/checkpoint.h"
#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- batches */

int exb_new(const recur_model *m, const seq_item *a, size_t na, const seq_item *b,
                       size_t nb, int batch, int threads, exbatch *bt, recur_error *err)
{
    memset(bt, 0, sizeof *bt);
    int T = 1;
    for (size_t i = 0; i < na; i++) T = a[i].len > T ? a[i].len : T;
    for (size_t i = 0; i < nb; i++) T = b[i].len > T ? b[i].len : T;
    bt->Tcap = T;
    bt->Bcap = batch;
    bt->in = calloc((size_t)T * batch, sizeof(int32_t));
    bt->tgt = calloc((size_t)T * batch, sizeof(int32_t));
    if (!bt->in || !bt->tgt) return set_error(err, RECUR_ENOMEM, "out of memory");
    return ws_new(m, T, batch, threads, &bt->ws, err);
}

void exb_free(const recur_model *m, exbatch *bt)
{
    ws_free(m, bt->ws);
    free(bt->in);
    free(bt->tgt);
}

// Lays items idx[0..nb) out time-major in the workspace (which is sized for
// the longest item; its T and B are narrowed to this batch) and returns the
// number of loss rows: nb when pooled, else T*nb.
int exb_fill(exbatch *bt, const seq_item *items, const size_t *idx, int nb, int pool)
{
    workspace *ws = bt->ws;
    int T = 1;
    for (int b = 0; b < nb; b++) T = items[idx[b]].len > T ? items[idx[b]].len : T;
    ws->T = T;
    ws->B = nb;
    ws->pool = pool;
    for (int b = 0; b < nb; b++) {
        const seq_item *it = &items[idx[b]];
        ws->lens[b] = it->len;
        for (int t = 0; t < T; t++) {
            int real = t < it->len;
            bt->in[t * nb + b] = real ? it->ids[t] : 0; // any valid id: padding is never read
            ws->cond[t * nb + b] = it->cond;
            if (!pool) bt->tgt[t * nb + b] = real && it->tgt ? it->tgt[t] : -1;
        }
        if (pool) bt->tgt[b] = it->label;
    }
    return pool ? nb : T * nb;
}

static void argmax_rows(const float *z, int rows, int O, const int32_t *tgt, int32_t *out,
                        long long *correct)
{
    for (int r = 0; r < rows; r++) {
        const float *p = z + (size_t)r * O;
        int best = 0;
        for (int j = 1; j < O; j++)
            if (p[j] > p[best]) best = j;
        if (tgt[r] >= 0 && best == tgt[r]) (*correct)++;
        if (out) out[r] = tgt[r] >= 0 ? best : -1;
    }
}

/* ---------------------------------------------------------------- evaluation */

int seq_evaluate_with(const recur_model *m, exbatch *bt, const seq_item *items, size_t n,
                         int pool, seq_eval *res, int32_t *pred, recur_error *err)
{
    memset(res, 0, sizeof *res);
    size_t idx[4096], at = 0;
    int32_t *rowpred = pred ? calloc((size_t)bt->Tcap * bt->Bcap, sizeof(int32_t)) : NULL;
    if (pred && !rowpred) return set_error(err, RECUR_ENOMEM, "out of memory");
    // Evaluation is fp32 even through a --bf16 training workspace.
    const int bf16 = bt->ws->bf16;
    bt->ws->bf16 = 0;
    double total = 0;
    for (size_t i = 0; i < n; i += (size_t)bt->Bcap) {
        int nb = (int)(n - i < (size_t)bt->Bcap ? n - i : (size_t)bt->Bcap);
        for (int b = 0; b < nb; b++) idx[b] = i + (size_t)b;
        int rows = exb_fill(bt, items, idx, nb, pool);
        ws_zero_state(m, bt->ws);
        model_forward(m, bt->ws, bt->in, NULL);
        int counted = 0;
        argmax_rows(bt->ws->logits, rows, m->O, bt->tgt, rowpred, &res->correct);
        total += softmax_xent(bt->ws->logits, bt->tgt, rows, m->O, 0, &counted);
        res->total += counted;
        if (!pred) continue;
        if (pool) {
            for (int b = 0; b < nb; b++) pred[i + (size_t)b] = rowpred[b];
            continue;
        }
        // Per-step predictions back into item order (time-major -> per item).
        for (int b = 0; b < nb; b++)
            for (int t = 0; t < items[i + (size_t)b].len; t++) pred[at++] = rowpred[t * nb + b];
    }
    free(rowpred);
    bt->ws->bf16 = bf16;
    res->loss = res->total ? total / (double)res->total : NAN;
    return RECUR_OK;
}

int seq_evaluate(const recur_model *m, const seq_item *items, size_t n, int pool, int batch,
                 int threads, seq_eval *res, int32_t *pred, recur_error *err)
{
    if (batch < 1 || batch > 4096) return set_error(err, RECUR_EINVAL, "batch must be 1..4096");
    exbatch bt;
    int rc = exb_new(m, items, n, NULL, 0, batch, threads, &bt, err);
    // Forward only: chunk by chunk through one chunk's gates (the same bits
    // as keeping them all; ws_set_recompute), so a report after a long
    // --recompute run, or an evaluation of long items, holds no whole
    // window's gates.
    if (!rc) rc = ws_set_recompute(m, bt.ws, 1, err);
    if (!rc) rc = seq_evaluate_with(m, &bt, items, n, pool, res, pred, err);
    exb_free(m, &bt);
    return rc;
}

/* ---------------------------------------------------------------- training */

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

// A new epoch's order: shuffled, then sorted by length within chunks of 50
// batches so that each batch holds sequences of similar length.
void seq_epoch_order(size_t *order, size_t n, const seq_item *items, int batch, rng *r,
                        keyed *tmp)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(r) % i), s = order[i - 1];
        order[i - 1] = order[j];
        order[j] = s;
    }
    size_t chunk = (size_t)batch * 50;
    for (size_t c = 0; c < n; c += chunk) {
        size_t k = n - c < chunk ? n - c : chunk;
        for (size_t i = 0; i < k; i++) tmp[i] = (keyed){items[order[c + i]].len, order[c + i]};
        qsort(tmp, k, sizeof *tmp, keyed_cmp);
        for (size_t i = 0; i < k; i++) order[c + i] = tmp[i].idx;
    }
}

/*
 * seqtask.c - the loop for example-based tasks. Each step takes a batch of
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

typedef struct exbatch {
    workspace *ws;
    int Tcap, Bcap;
    int32_t *in, *tgt; /* [Tcap*Bcap] */
} exbatch;

static int exb_new(const recur_model *m, const seq_item *a, size_t na, const seq_item *b,
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

static void exb_free(const recur_model *m, exbatch *bt)
{
    ws_free(m, bt->ws);
    free(bt->in);
    free(bt->tgt);
}

// Lays items idx[0..nb) out time-major in the workspace (which is sized for
// the longest item; its T and B are narrowed to this batch) and returns the
// number of loss rows: nb when pooled, else T*nb.
static int exb_fill(exbatch *bt, const seq_item *items, const size_t *idx, int nb, int pool)
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

static int evaluate_with(const recur_model *m, exbatch *bt, const seq_item *items, size_t n,
                         int pool, seq_eval *res, int32_t *pred, recur_error *err)
{
    memset(res, 0, sizeof *res);
    size_t idx[4096], at = 0;
    int32_t *rowpred = pred ? calloc((size_t)bt->Tcap * bt->Bcap, sizeof(int32_t)) : NULL;
    if (pred && !rowpred) return set_error(err, RECUR_ENOMEM, "out of memory");
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
    res->loss = res->total ? total / (double)res->total : NAN;
    return RECUR_OK;
}

int seq_evaluate(const recur_model *m, const seq_item *items, size_t n, int pool, int batch,
                 int threads, seq_eval *res, int32_t *pred, recur_error *err)
{
    if (batch < 1 || batch > 4096) return set_error(err, RECUR_EINVAL, "batch must be 1..4096");
    exbatch bt;
    int rc = exb_new(m, items, n, NULL, 0, batch, threads, &bt, err);
    if (!rc) rc = evaluate_with(m, &bt, items, n, pool, res, pred, err);
    exb_free(m, &bt);
    return rc;
}

/* ---------------------------------------------------------------- training */

// qsort has no context argument, so each index travels with its length.
typedef struct keyed {
    int len;
    size_t idx;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

// A new epoch's order: shuffled, then sorted by length within chunks of 50
// batches so that each batch holds sequences of similar length.
static void epoch_order(size_t *order, size_t n, const seq_item *items, int batch, rng *r,
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

int seq_train(recur_model *m, const seq_item *train, size_t ntrain, const seq_item *val,
              size_t nval, const seq_config *cfg, const char *best_path, recur_train_callback cb,
              void *user, recur_error *err)
{
    if (ntrain == 0) return set_error(err, RECUR_EINVAL, "no training examples");
    if (cfg->batch < 1 || cfg->batch > 4096) return set_error(err, RECUR_EINVAL, "--batch must be 1..4096");
    if (!(cfg->lr > 0)) return set_error(err, RECUR_EINVAL, "--lr must be > 0");
    exbatch bt;
    optim_state opt = {0};
    float *g = NULL, *best = NULL;
    size_t *order = NULL;
    keyed *tmp = NULL;
    int rc = exb_new(m, train, ntrain, val, nval, cfg->batch, cfg->threads, &bt, err);
    if (rc) goto done;
    if ((rc = optim_init(&opt, cfg->optim, m->nw, err))) goto done;
    g = xcalloc(m->nw, sizeof(float));
    best = xcalloc(m->nw, sizeof(float));
    order = calloc(ntrain, sizeof *order);
    tmp = calloc(ntrain, sizeof *tmp);
    if (!g || !best || !order || !tmp) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ntrain; i++) order[i] = i;
    rng r, drop;
    rng_seed(&r, cfg->seed ^ 0x0123456789abcdefull);
    rng_seed(&drop, cfg->seed ^ 0x5eed0d20u);

    const size_t per_epoch = (ntrain + (size_t)cfg->batch - 1) / (size_t)cfg->batch;
    long long total = cfg->steps > 0 ? cfg->steps : (long long)ceil(cfg->epochs * (double)per_epoch);
    if (total < 1) total = 1;
    float lr = cfg->lr;
    double best_score = -INFINITY, rate = 0;
    int have_best = 0;
    size_t pos = per_epoch; // start with a new epoch
    recur_train_event ev;
    memset(&ev, 0, sizeof ev);
    ev.total_steps = total;
    ev.val_loss = NAN;
    ev.best_val = NAN;
    for (long long step = 1; step <= total; step++) {
        if (pos == per_epoch) {
            if (step > 1) lr *= cfg->lr_decay;
            epoch_order(order, ntrain, train, cfg->batch, &r, tmp);
            pos = 0;
        }
        size_t from = pos * (size_t)cfg->batch;
        int nb = (int)(ntrain - from < (size_t)cfg->batch ? ntrain - from : (size_t)cfg->batch);
        pos++;
        int rows = exb_fill(&bt, train, order + from, nb, cfg->pool);
        memset(g, 0, m->nw * sizeof(float));
        ws_zero_state(m, bt.ws);
        model_forward(m, bt.ws, bt.in, m->cfg.dropout > 0 ? &drop : NULL);
        int counted = 0;
        double loss = softmax_xent(bt.ws->logits, bt.tgt, rows, m->O, 1, &counted);
        loss = counted ? loss / counted : 0;
        model_backward(m, bt.ws, g);
        double norm = grad_norm(g, m->nw);
        if (!isfinite(loss) || !isfinite(norm)) {
            rc = set_error(err, RECUR_ENUMERIC, "training diverged at step %lld: loss or gradient not finite (lower --lr)", step);
            goto done;
        }
        if (cfg->clip > 0) clip_by_norm(g, m->nw, norm, cfg->clip);
        optim_step(&opt, m->w, g, lr, 0.9f);
        m->version++;
        m->steps++;

        ev.kind = RECUR_EV_STEP;
        ev.step = step;
        ev.epoch = (double)step / (double)per_epoch;
        ev.train_loss = loss;
        ev.grad_norm = norm;
        ev.lr = lr;
        rate = rate == 0 ? counted : 0.9 * rate + 0.1 * counted;
        ev.chars_per_s = rate; // here: targets per step (smoothed)
        if (cb && cb(&ev, user)) {
            rc = set_error(err, RECUR_EINTERRUPT, "training stopped at step %lld of %lld", step, total);
            goto done;
        }
        int eval_now = step == total || (cfg->eval_every > 0 ? step % cfg->eval_every == 0 : pos == per_epoch);
        if (!eval_now || nval == 0) continue;
        seq_eval e;
        bt.ws->pool = cfg->pool;
        if ((rc = evaluate_with(m, &bt, val, nval, cfg->pool, &e, NULL, err))) goto done;
        double acc = e.total ? (double)e.correct / (double)e.total : 0;
        double score = cfg->select_by_loss ? -e.loss : acc;
        ev.kind = RECUR_EV_EVAL;
        ev.val_loss = e.loss;
        ev.best_val = acc;
        if (score > best_score) {
            best_score = score;
            have_best = 1;
            memcpy(best, m->w, m->nw * sizeof(float));
            m->best_val = e.loss;
            if (best_path && (rc = recur_model_save(m, best_path, err))) goto done;
        }
        if (cb && cb(&ev, user)) {
            rc = set_error(err, RECUR_EINTERRUPT, "training stopped at step %lld of %lld", step, total);
            goto done;
        }
    }
    if (have_best) {
        memcpy(m->w, best, m->nw * sizeof(float)); // leave the best model in m
        m->version++;
    } else if (best_path) {
        rc = recur_model_save(m, best_path, err);
    }
done:
    exb_free(m, &bt);
    optim_free(&opt);
    free(g);
    free(best);
    free(order);
    free(tmp);
    return rc;
}

/*
 * seq2seq_train.c - training an encoder-decoder: shuffled batches of pairs
 * each epoch -> teacher-forced forward -> backward through decoder,
 * attention and encoder -> one clipping over the global norm of all three
 * gradients -> one optimizer state per parameter buffer; periodic
 * validation (loss and greedy exact match) and the best model on disk.
 * Nothing here prints: progress goes to the caller's callback.
 */
#include "data/dataset.h"
#include "nn/optim.h"
#include "tasks/seq2seq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SKIPS 10 /* consecutive non-finite steps before giving up (as recur train) */

struct recur_seq2seq_trainer {
    recur_seq2seq *m;
    recur_train_config cfg;
    s2s_data train, val;
    s2s_work *w;
    s2s_dec *d;               /* validation decoding (NULL without validation) */
    s2s_batch b;
    float *g[3];              /* gradients: encoder, decoder, attention */
    optim_state opt[3];
    size_t n[3];              /* floats in each */
    float *w3[3];             /* the parameters they belong to */
    rng drop, shuffle;
    size_t *order, pos;       /* this epoch's order of the training pairs; the next one */
    long long epoch, step, total;
    float lr;
    int skips;
    double last_val, last_exact;
    char *best_path;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check_config(const recur_train_config *c, recur_error *err)
{
    if (c->batch < 1 || c->batch > 100000)
        return set_error(err, RECUR_EINVAL, "--batch must be 1..100000, got %d", c->batch);
    if (!(c->lr > 0) || !isfinite(c->lr))
        return set_error(err, RECUR_EINVAL, "--lr must be > 0, got %g", (double)c->lr);
    if (!(c->lr_decay > 0 && c->lr_decay <= 1))
        return set_error(err, RECUR_EINVAL, "--lr-decay must be in (0, 1], got %g", (double)c->lr_decay);
    if (!(c->clip >= 0)) return set_error(err, RECUR_EINVAL, "--clip must be >= 0, got %g", (double)c->clip);
    if (c->steps < 0) return set_error(err, RECUR_EINVAL, "--steps must be >= 0");
    if (c->steps == 0 && !(c->epochs > 0))
        return set_error(err, RECUR_EINVAL, "--epochs must be > 0, got %g", c->epochs);
    if (!(c->val_frac >= 0 && c->val_frac < 1))
        return set_error(err, RECUR_EINVAL, "--val-frac must be in [0, 1), got %g", c->val_frac);
    if ((unsigned)c->optim > RECUR_SGD) return set_error(err, RECUR_EINVAL, "unknown optimizer");
    if (c->eval_every < 0) return set_error(err, RECUR_EINVAL, "--eval-every must be >= 0");
    return RECUR_OK;
}

static char *train_meta_json(const recur_train_config *c, size_t ntrain, size_t nval)
{
    strbuf b;
    sb_init(&b);
    sb_printf(&b,
              "{\"batch\":%d,\"optim\":\"%s\",\"lr\":%.9g,\"lr_decay\":%.9g,\"lr_decay_every\":%d,"
              "\"clip\":%.9g,\"clip_mode\":\"%s\",\"seed\":%llu,\"val_frac\":%.9g,"
              "\"train_pairs\":%zu,\"val_pairs\":%zu}",
              c->batch, optim_name(c->optim), (double)c->lr, (double)c->lr_decay, c->lr_decay_every,
              (double)c->clip, c->clip_mode == RECUR_CLIP_VALUE ? "value" : "norm",
              (unsigned long long)c->seed, c->val_frac, ntrain, nval);
    if (b.oom) {
        sb_free(&b);
        return NULL;
    }
    return b.s;
}

// The held-out split: the last val_frac of a seeded shuffle, minus every
// pair whose source is also a training source (a repeated source would let
// validation reward memorisation). keep[i]: 1 train, 2 validation, 0 dropped.
static int split(const recur_pair *p, size_t n, double frac, uint64_t seed, uint8_t *keep,
                 recur_error *err)
{
    size_t *idx = xmalloc(n, sizeof *idx);
    str_span *seen = xmalloc(n, sizeof *seen);
    if (!idx || !seen) {
        free(idx);
        free(seen);
        return set_error(err, RECUR_ENOMEM, "out of memory for %zu pairs", n);
    }
    for (size_t i = 0; i < n; i++) idx[i] = i;
    rng r;
    rng_seed(&r, seed ^ 0x5e95e9u);
    shuffle_index(idx, n, &r);
    size_t k = (size_t)llround(frac * (double)n);
    if (frac > 0 && k == 0) k = 1;
    if (k >= n) k = n - 1;
    size_t ntr = n - k;
    for (size_t i = 0; i < ntr; i++) {
        keep[idx[i]] = 1;
        seen[i] = (str_span){p[idx[i]].src, p[idx[i]].src_len};
    }
    size_t ns = spans_sort_unique(seen, ntr);
    for (size_t i = ntr; i < n; i++) {
        str_span key = {p[idx[i]].src, p[idx[i]].src_len};
        keep[idx[i]] = bsearch(&key, seen, ns, sizeof *seen, span_qcmp) ? 0 : 2;
    }
    free(idx);
    free(seen);
    return RECUR_OK;
}

// Encodes the pairs with keep[i] == want (all when keep is NULL).
static int encode_subset(const recur_seq2seq *m, const recur_pair *p, size_t n, const uint8_t *keep,
                         int want, int strict, s2s_data *out, recur_error *err)
{
    recur_pair *sub = xmalloc(n ? n : 1, sizeof *sub);
    if (!sub) return set_error(err, RECUR_ENOMEM, "out of memory for %zu pairs", n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!keep || keep[i] == want) sub[k++] = p[i];
    int rc = s2s_encode(m, sub, k, strict, out, err);
    free(sub);
    return rc;
}

int recur_seq2seq_trainer_new(recur_seq2seq *m, const recur_train_config *cfg,
                              const recur_pair *train, size_t ntrain, const recur_pair *val,
                              size_t nval, recur_seq2seq_trainer **out, recur_error *err)
{
    if (!m || !cfg || !out || (!train && ntrain) || (!val && nval))
        return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc) return rc;
    if (ntrain == 0) return set_error(err, RECUR_EINVAL, "no training pairs");
    recur_seq2seq_trainer *t = calloc(1, sizeof *t);
    if (!t) return set_error(err, RECUR_ENOMEM, "out of memory");
    t->m = m;
    t->cfg = *cfg;
    t->lr = cfg->lr;
    t->last_val = t->last_exact = NAN;
    rng_seed(&t->drop, cfg->seed ^ 0x5eed0d20u);
    rng_seed(&t->shuffle, cfg->seed ^ 0x0dde7u);

    uint8_t *keep = NULL;
    if (!val && cfg->val_frac > 0 && ntrain > 1) {
        if (!(keep = calloc(ntrain, 1))) {
            rc = set_error(err, RECUR_ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = split(train, ntrain, cfg->val_frac, cfg->seed, keep, err))) goto fail;
        if ((rc = encode_subset(m, train, ntrain, keep, 2, 0, &t->val, err))) goto fail;
    } else if (val && nval) {
        if ((rc = s2s_encode(m, val, nval, 0, &t->val, err))) {
            error_prefix(err, "validation");
            goto fail;
        }
    }
    if ((rc = encode_subset(m, train, ntrain, keep, 1, 1, &t->train, err))) goto fail;
    free(keep);
    keep = NULL;

    const int S = 1 + (t->train.max_src > t->val.max_src ? t->train.max_src : t->val.max_src);
    const int T = 1 + (t->train.max_tgt > t->val.max_tgt ? t->train.max_tgt : t->val.max_tgt);
    size_t most = t->train.n > t->val.n ? t->train.n : t->val.n;
    const int B = (size_t)cfg->batch < most ? cfg->batch : (int)most;
    if ((rc = s2s_work_new(m, S, T, B, cfg->threads, &t->w, err)) ||
        (rc = s2s_batch_new(S, T, B, &t->b, err)))
        goto fail;
    t->w->ews->training = t->w->dws->training = 1;
    if (t->val.n && (rc = s2s_dec_new(m, S, B, s2s_default_maxlen(S - 1), &t->d, err))) goto fail;
    t->n[0] = m->enc->nw;
    t->n[1] = m->dec->nw;
    t->n[2] = m->naw;
    t->w3[0] = m->enc->w;
    t->w3[1] = m->dec->w;
    t->w3[2] = m->aw;
    for (int k = 0; k < 3; k++) {
        if (!t->n[k]) continue;
        if (!(t->g[k] = xcalloc(t->n[k], sizeof(float)))) {
            rc = set_error(err, RECUR_ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = optim_init(&t->opt[k], cfg->optim, t->n[k], err))) goto fail;
    }
    if (!(t->order = xmalloc(t->train.n, sizeof *t->order))) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < t->train.n; i++) t->order[i] = i;
    long long per_epoch = (long long)((t->train.n + (size_t)B - 1) / (size_t)B);
    if (cfg->steps > 0) {
        t->total = cfg->steps;
    } else {
        double s = ceil(cfg->epochs * (double)per_epoch);
        t->total = s < 1 ? 1 : (long long)s;
    }
    free(m->train_meta);
    m->train_meta = train_meta_json(cfg, t->train.n, t->val.n);
    *out = t;
    return RECUR_OK;
fail:
    free(keep);
    recur_seq2seq_trainer_free(t);
    return rc;
}

void recur_seq2seq_trainer_free(recur_seq2seq_trainer *t)
{
    if (!t) return;
    s2s_data_free(&t->train);
    s2s_data_free(&t->val);
    s2s_work_free(t->m, t->w);
    s2s_dec_free(t->m, t->d);
    s2s_batch_free(&t->b);
    for (int k = 0; k < 3; k++) {
        free(t->g[k]);
        optim_free(&t->opt[k]);
    }
    free(t->order);
    free(t->best_path);
    free(t);
}

int recur_seq2seq_trainer_set_output(recur_seq2seq_trainer *t, const char *best_path,
                                     recur_error *err)
{
    if (!t) return set_error(err, RECUR_EINVAL, "NULL argument");
    free(t->best_path);
    t->best_path = best_path ? strdup(best_path) : NULL;
    if (best_path && !t->best_path) return set_error(err, RECUR_ENOMEM, "out of memory");
    return RECUR_OK;
}

long long recur_seq2seq_trainer_total_steps(const recur_seq2seq_trainer *t)
{
    return t ? t->total : 0;
}

static int emit(recur_seq2seq_callback cb, void *user, const recur_seq2seq_event *ev)
{
    return cb ? cb(ev, user) : 0;
}

static int weights_finite(const float *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(w[i])) return 0;
    return 1;
}

int recur_seq2seq_trainer_run(recur_seq2seq_trainer *t, recur_seq2seq_callback cb, void *user,
                              recur_error *err)
{
    if (!t) return set_error(err, RECUR_EINVAL, "NULL argument");
    recur_seq2seq *m = t->m;
    const recur_train_config *c = &t->cfg;
    const int B = t->w->B;
    recur_seq2seq_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = RECUR_EV_START;
    ev.step = t->step;
    ev.total_steps = t->total;
    ev.train_loss = NAN;
    ev.val_loss = t->last_val;
    ev.val_exact = t->last_exact;
    ev.best_exact = m->best_exact;
    ev.lr = t->lr;
    ev.train_pairs = (long long)t->train.n;
    ev.val_pairs = (long long)t->val.n;
    if (emit(cb, user, &ev)) return set_error(err, RECUR_EINTERRUPT, "training stopped before it started");

    double t0 = now_s(), rate = 0;
    int rc;
    while (t->step < t->total) {
        double ts = now_s();
        if (t->pos == 0) shuffle_index(t->order, t->train.n, &t->shuffle);
        int nb = t->train.n - t->pos < (size_t)B ? (int)(t->train.n - t->pos) : B;
        s2s_batch_fill(m, &t->train, t->order + t->pos, nb, &t->b);
        t->pos += (size_t)nb;
        if (t->pos == t->train.n) {
            t->pos = 0;
            t->epoch++;
        }
        for (int k = 0; k < 3; k++)
            if (t->n[k]) memset(t->g[k], 0, t->n[k] * sizeof(float));
        int count;
        double loss = s2s_forward(m, t->w, &t->b, m->cfg.dropout > 0 ? &t->drop : NULL, 1, &count);
        loss /= count > 0 ? count : 1;
        s2s_backward(m, t->w, &t->b, t->g[0], t->g[1], t->g[2]);
        // One norm over everything: ||g|| = sqrt(|g_enc|^2 + |g_dec|^2 + |g_att|^2).
        double sq = 0;
        for (int k = 0; k < 3; k++) {
            double nk = t->n[k] ? grad_norm(t->g[k], t->n[k]) : 0;
            sq += nk * nk;
        }
        double norm = sqrt(sq);
        int stop = 0;
        if (!isfinite(loss) || !isfinite(norm)) {
            // As recur train: never step on garbage; halve the rate; give up after MAX_SKIPS.
            t->skips++;
            t->lr *= 0.5f;
            ev.kind = RECUR_EV_SKIP;
            ev.train_loss = loss;
            ev.grad_norm = norm;
            ev.lr = t->lr;
            stop = emit(cb, user, &ev);
            if (t->skips >= MAX_SKIPS)
                return set_error(err, RECUR_ENUMERIC, "training diverged: loss or gradient not finite for %d steps in a row at step %lld (lower --lr or --clip)",
                                 MAX_SKIPS, t->step + 1);
            if (stop) return set_error(err, RECUR_EINTERRUPT, "training stopped at step %lld of %lld", t->step, t->total);
            continue;
        }
        t->skips = 0;
        for (int k = 0; k < 3; k++) {
            if (!t->n[k]) continue;
            if (c->clip > 0) {
                // Norm mode scales all three by the same clip / ||g||.
                if (c->clip_mode == RECUR_CLIP_VALUE)
                    clip_by_value(t->g[k], t->n[k], c->clip);
                else
                    clip_by_norm(t->g[k], t->n[k], norm, c->clip);
            }
            optim_step(&t->opt[k], t->w3[k], t->g[k], t->lr, c->momentum);
        }
        s2s_touch(m);
        for (int k = 0; k < 3; k++)
            if (t->n[k] && !weights_finite(t->w3[k], t->n[k]))
                return set_error(err, RECUR_ENUMERIC, "training diverged: the update of step %lld made weights infinite or NaN (lower --lr or use --clip)",
                                 t->step + 1);
        m->steps = ++t->step;
        if (c->lr_decay_every > 0 && t->step % c->lr_decay_every == 0) t->lr *= c->lr_decay;

        double dt = now_s() - ts, r = dt > 0 ? nb / dt : 0;
        rate = rate == 0 ? r : 0.9 * rate + 0.1 * r;
        ev.kind = RECUR_EV_STEP;
        ev.step = t->step;
        ev.epoch = (double)t->epoch + (double)t->pos / (double)t->train.n;
        ev.train_loss = loss;
        ev.grad_norm = norm;
        ev.lr = t->lr;
        ev.pairs_per_s = rate;
        ev.elapsed_s = now_s() - t0;
        stop |= emit(cb, user, &ev);

        int last = t->step == t->total;
        if (t->val.n && ((c->eval_every > 0 && t->step % c->eval_every == 0) || last)) {
            double vl, acc;
            size_t exact;
            if ((rc = s2s_evaluate(m, &t->val, t->w, t->d, NULL, &vl, &exact, &acc, err))) return rc;
            double ex = (double)exact / (double)t->val.n;
            t->last_val = vl;
            t->last_exact = ex;
            // The best model reads the most pairs right; equal ones, the lower loss.
            int better = isnan(vl) ? isnan(m->best_exact) || ex > m->best_exact
                                   : isnan(m->best_exact) || ex > m->best_exact ||
                                         (ex == m->best_exact && !(vl >= m->best_val));
            if (better) {
                m->best_exact = ex;
                m->best_val = vl;
            }
            ev.kind = RECUR_EV_EVAL;
            ev.val_loss = vl;
            ev.val_exact = ex;
            ev.best_exact = m->best_exact;
            stop |= emit(cb, user, &ev);
            if (better && t->best_path) {
                if ((rc = recur_seq2seq_save(m, t->best_path, err))) return rc;
                ev.kind = RECUR_EV_SAVE;
                ev.text = t->best_path;
                stop |= emit(cb, user, &ev);
                ev.text = NULL;
            }
        }
        if (!t->val.n && last && t->best_path && (rc = recur_seq2seq_save(m, t->best_path, err)))
            return rc;
        if (stop && !last)
            return set_error(err, RECUR_EINTERRUPT, "training stopped at step %lld of %lld", t->step, t->total);
    }
    return RECUR_OK;
}

/*
 * task_s2s.c - the encoder-decoder as a task of the training engine:
 * shuffled batches of pairs each epoch -> teacher-forced forward ->
 * backward through decoder, attention and encoder into three gradient
 * buffers (the engine clips them by their one global norm and keeps an
 * optimizer state per buffer); validation is the teacher-forced loss and
 * the greedy exact match, and the best model reads the most pairs right.
 * The recur_seq2seq_trainer_* calls are wrappers over recur_trainer.
 */
#include "data/dataset.h"
#include "tasks/seq2seq.h"
#include "train/order.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s2s_task {
    train_task base;
    recur_seq2seq *m;
    recur_train_config cfg;
    s2s_data train, val;
    s2s_work *w;
    s2s_dec *d;               /* validation decoding (NULL without validation) */
    s2s_batch b;
    epoch_order ord;          /* pos: the next pair of the order; epoch: epochs completed */
    size_t *decay[3];         /* the weight matrices of each buffer, for weight decay */
} s2s_task;

static char *train_meta_json(const recur_train_config *c, size_t ntrain, size_t nval)
{
    strbuf b;
    sb_init(&b);
    sb_printf(&b,
              "{\"batch\":%d,\"optim\":\"%s\",\"lr\":%.9g,\"lr_decay\":%.9g,\"lr_decay_every\":%d,"
              "\"clip\":%.9g,\"clip_mode\":\"%s\",\"seed\":%llu,\"val_frac\":%.9g,"
              "\"train_pairs\":%zu,\"val_pairs\":%zu",
              c->batch, optim_name(c->optim), (double)c->lr, (double)c->lr_decay, c->lr_decay_every,
              (double)c->clip, c->clip_mode == RECUR_CLIP_VALUE ? "value" : "norm",
              (unsigned long long)c->seed, c->val_frac, ntrain, nval);
    if (c->schedule != RECUR_SCHED_STEP) sb_printf(&b, ",\"schedule\":\"%s\"", recur_schedule_name(c->schedule));
    if (c->warmup) sb_printf(&b, ",\"warmup\":%lld", c->warmup);
    if (c->lr_min > 0) sb_printf(&b, ",\"lr_min\":%.9g", (double)c->lr_min);
    if (engine_bf16(c)) sb_printf(&b, ",\"bf16\":1");
    if (c->recompute) sb_printf(&b, ",\"recompute\":1");
    sb_putc(&b, '}');
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

/* ---------------------------------------------------------------- the task's operations */

static long long s2_steps_per_epoch(train_task *bt)
{
    s2s_task *t = (s2s_task *)bt;
    return (long long)((t->train.n + (size_t)t->w->B - 1) / (size_t)t->w->B);
}

static double s2_epoch(train_task *bt)
{
    s2s_task *t = (s2s_task *)bt;
    return (double)t->ord.epoch + (double)t->ord.pos / (double)t->train.n;
}

// Data-parallel: this rank's slice of the batch's pairs; the mean's
// denominator (every target and EOS) and the dropout masks of both stacks
// are the whole batch's.
static int s2_step_share(s2s_task *t, int nb, float *const *g, rng *drop, double *loss, long long *chars)
{
    recur_seq2seq *m = t->m;
    epoch_order *o = &t->ord;
    const size_t *idx = o->idx + o->pos;
    const s2s_data *d = &t->train;
    int S = 1, T = 1;
    double count = 0;
    for (int i = 0; i < nb; i++) {
        if (d->src_len[idx[i]] + 1 > S) S = d->src_len[idx[i]] + 1;
        if (d->tgt_len[idx[i]] + 1 > T) T = d->tgt_len[idx[i]] + 1;
        count += d->tgt_len[idx[i]] + 1;
    }
    long long lo, hi;
    engine_share(nb, t->base.rank, t->base.nranks, &lo, &hi);
    o->pos += (size_t)nb;
    if (o->pos == t->train.n) {
        o->pos = 0;
        o->epoch++;
    }
    const int dropping = (model_has_dropout(m->enc) || model_has_dropout(m->dec)) && drop;
    *loss = 0;
    *chars = 0;
    if (hi == lo) {
        // Nothing of this batch here, but the generator moves as on every rank.
        const recur_model *st[2] = {m->enc, m->dec};
        const int len[2] = {S, T};
        for (int k = 0; dropping && k < 2; k++)
            for (size_t i = 0, n = model_dropout_draws(st[k], len[k], nb, 0); i < n; i++) (void)rng_uniform(drop);
        return RECUR_OK;
    }
    s2s_batch_fill(m, d, idx + lo, (int)(hi - lo), &t->b);
    for (long long i = lo; i < hi; i++) *chars += d->src_len[idx[i]] + d->tgt_len[idx[i]];
    workspace *ws[2] = {t->w->ews, t->w->dws};
    const int len[2] = {S, T};
    for (int k = 0; k < 2; k++) {
        ws[k]->drop_T = len[k];
        ws[k]->drop_B = nb;
        ws[k]->drop_off = (int)lo;
    }
    t->w->denom = count;
    double sum = s2s_forward(m, t->w, &t->b, dropping ? drop : NULL, 1, NULL);
    *loss = sum / count;
    s2s_backward(m, t->w, &t->b, g[0], g[1], t->base.nbuf > 2 ? g[2] : NULL);
    t->w->denom = 0;
    for (int k = 0; k < 2; k++) ws[k]->drop_B = 0;
    return RECUR_OK;
}

static int s2_step(train_task *bt, float *const *g, rng *drop, double *loss, long long *chars,
                   recur_error *err)
{
    s2s_task *t = (s2s_task *)bt;
    recur_seq2seq *m = t->m;
    const int B = t->w->B;
    epoch_order *o = &t->ord;
    if (o->pos == 0) shuffle_index(o->idx, t->train.n, &o->shuffle);
    int nb = t->train.n - o->pos < (size_t)B ? (int)(t->train.n - o->pos) : B;
    if (t->base.nranks > 1) return s2_step_share(t, nb, g, drop, loss, chars);
    s2s_batch_fill(m, &t->train, o->idx + o->pos, nb, &t->b);
    long long n = 0;
    for (int i = 0; i < nb; i++) {
        size_t k = o->idx[o->pos + (size_t)i];
        n += t->train.src_len[k] + t->train.tgt_len[k];
    }
    o->pos += (size_t)nb;
    if (o->pos == t->train.n) {
        o->pos = 0;
        o->epoch++;
    }
    int count;
    const int dropping = model_has_dropout(m->enc) || model_has_dropout(m->dec);
    double sum = s2s_forward(m, t->w, &t->b, dropping ? drop : NULL, 1, &count);
    *loss = sum / (count > 0 ? count : 1);
    s2s_backward(m, t->w, &t->b, g[0], g[1], t->base.nbuf > 2 ? g[2] : NULL);
    *chars = n;
    (void)err;
    return RECUR_OK;
}

static void s2_touch(train_task *bt)
{
    s2s_touch(((s2s_task *)bt)->m);
}

static int s2_has_val(train_task *bt)
{
    return ((s2s_task *)bt)->val.n > 0;
}

static int s2_validate(train_task *bt, engine_val *v, recur_error *err)
{
    s2s_task *t = (s2s_task *)bt;
    double vl, acc;
    size_t exact;
    int rc = s2s_evaluate(t->m, &t->val, t->w, t->d, NULL, &vl, &exact, &acc, err);
    if (rc) return rc;
    v->loss = vl;
    v->metric = (double)exact / (double)t->val.n;
    return RECUR_OK;
}

// Data-parallel validation: this rank's share of the validation pairs, as
// sums the engine adds over the ranks (loss over target characters; exact
// matches over pairs, those the model cannot write counting as misses).
static int s2_validate_part(train_task *bt, engine_valsum *v, recur_error *err)
{
    s2s_task *t = (s2s_task *)bt;
    long long lo, hi;
    engine_share((long long)t->val.n, bt->rank, bt->nranks, &lo, &hi);
    if (hi == lo) return RECUR_OK;
    // A view of the pairs [lo, hi): the ids stay where they are.
    s2s_data part = t->val;
    part.n = (size_t)(hi - lo);
    part.off += lo;
    part.src_len += lo;
    part.tgt_len += lo;
    part.tgt_chars += lo;
    double sum, vl, acc;
    long long counted;
    size_t exact;
    int rc = s2s_evaluate_sums(t->m, &part, t->w, t->d, NULL, &sum, &counted, &vl, &exact, &acc, err);
    if (rc) return rc;
    v->loss_sum = sum;
    v->count = (double)counted;
    v->correct = (double)exact;
    v->total = (double)part.n;
    return RECUR_OK;
}

static int s2_shard(train_task *bt, recur_error *err)
{
    (void)bt;
    (void)err;
    return RECUR_OK; // each step takes its slice; validation runs whole on every rank
}

static uint64_t s2_fingerprint(train_task *bt)
{
    s2s_task *t = (s2s_task *)bt;
    uint64_t h = ENGINE_FNV0;
    float s[10];
    model_train_settings(t->m->enc, s);
    model_train_settings(t->m->dec, s + 5);
    h = engine_fnv(h, s, sizeof s);
    const s2s_data *d[2] = {&t->train, &t->val};
    for (int k = 0; k < 2; k++) {
        h = engine_fnv(h, &d[k]->n, sizeof d[k]->n);
        if (!d[k]->n) continue;
        h = engine_fnv(h, d[k]->src_len, sizeof(int32_t) * d[k]->n);
        h = engine_fnv(h, d[k]->tgt_len, sizeof(int32_t) * d[k]->n);
        size_t last = d[k]->n - 1;
        size_t nid = d[k]->off[last] + (size_t)d[k]->src_len[last] + (size_t)(d[k]->tgt_len[last] > 0 ? d[k]->tgt_len[last] : 0);
        h = engine_fnv(h, d[k]->ids, sizeof(int32_t) * nid);
    }
    return h;
}

static void s2_set_progress(train_task *bt, long long steps, double best_loss, double best_metric)
{
    s2s_task *t = (s2s_task *)bt;
    t->m->steps = steps;
    t->m->best_val = best_loss;
    t->m->best_exact = best_metric;
}

static int s2_write(train_task *bt, const char *path, const engine_extra *x, recur_error *err)
{
    s2s_task *t = (s2s_task *)bt;
    if (!x) return s2s_write(t->m, NULL, 0, NULL, 0, path, err);
    return s2s_write(t->m, x->e, x->ne, x->kv, x->nkv, path, err);
}

static int s2_state_add(train_task *bt, engine_extra *x, recur_error *err)
{
    order_state_add(&((s2s_task *)bt)->ord, x);
    (void)err;
    return RECUR_OK;
}

static int same_vocab(const recur_vocab *a, const recur_vocab *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->chars[i] != b->chars[i]) return 0;
    return 1;
}

// Whether saved is this very model: shape, attention and both vocabularies.
static int same_model(const recur_seq2seq *m, const recur_seq2seq *saved, const char *path,
                      recur_error *err)
{
    const recur_seq2seq_config *a = &m->cfg, *b = &saved->cfg;
    if (a->cell != b->cell || a->hidden != b->hidden || a->layers != b->layers ||
        a->embed != b->embed || a->attention != b->attention)
        return set_error(err, RECUR_EINVAL, "%s is a seq2seq %s (hidden %d, %d layers, embedding %d, attention %s), not the %s (hidden %d, %d layers, embedding %d, attention %s) being trained",
                         path, recur_cell_name(b->cell), b->hidden, b->layers, b->embed, b->attention ? "on" : "off",
                         recur_cell_name(a->cell), a->hidden, a->layers, a->embed, a->attention ? "on" : "off");
    char what[64];
    if (model_dropout_differs(saved->dec, m->dec, what, sizeof what))
        return set_error(err, RECUR_EINVAL, "%s was trained with %s; resume with the same settings",
                         path, what);
    if (saved->enc->nw != m->enc->nw || saved->dec->nw != m->dec->nw)
        return set_error(err, RECUR_EINVAL, "%s holds another number of parameters than the model being trained", path);
    if (!same_vocab(m->enc->vocab, saved->enc->vocab) || !same_vocab(m->dec->vocab, saved->dec->vocab))
        return set_error(err, RECUR_EINVAL, "%s was trained on pairs with other characters (is this the same data?)", path);
    return RECUR_OK;
}

static void copy_weights(recur_seq2seq *m, const recur_seq2seq *from)
{
    memcpy(m->enc->w, from->enc->w, m->enc->nw * sizeof(float));
    memcpy(m->dec->w, from->dec->w, m->dec->nw * sizeof(float));
    if (m->naw) memcpy(m->aw, from->aw, m->naw * sizeof(float));
}

static int s2_state_read(train_task *bt, const st_file *f, const char *path, recur_error *err)
{
    s2s_task *t = (s2s_task *)bt;
    recur_seq2seq *saved = NULL;
    int rc = s2s_read(f, &saved, err);
    if (rc) {
        error_prefix(err, path);
        return rc;
    }
    if ((rc = same_model(t->m, saved, path, err))) goto done;
    if ((rc = order_state_read(&t->ord, f, path, (long)t->train.n - 1, "pairs", err))) goto done;
    copy_weights(t->m, saved);
done:
    recur_seq2seq_free(saved);
    return rc;
}

static int s2_load_weights(train_task *bt, const char *path, recur_error *err)
{
    s2s_task *t = (s2s_task *)bt;
    recur_seq2seq *saved = NULL;
    int rc = recur_seq2seq_load(path, &saved, err);
    if (!rc) rc = same_model(t->m, saved, path, err);
    if (!rc) copy_weights(t->m, saved);
    recur_seq2seq_free(saved);
    return rc;
}

static void s2_free(train_task *bt)
{
    s2s_task *t = (s2s_task *)bt;
    s2s_data_free(&t->train);
    s2s_data_free(&t->val);
    s2s_work_free(t->m, t->w);
    s2s_dec_free(t->m, t->d);
    s2s_batch_free(&t->b);
    order_free(&t->ord);
    for (int k = 0; k < 3; k++) free(t->decay[k]);
    free(t);
}

static const train_task_ops s2s_ops = {
    .name = "seq2seq",
    .metric = "exact_match",
    .best_by_metric = 1,
    .steps_per_epoch = s2_steps_per_epoch,
    .epoch = s2_epoch,
    .step = s2_step,
    .after_skip = NULL,
    .touch = s2_touch,
    .has_val = s2_has_val,
    .validate = s2_validate,
    .validate_part = s2_validate_part,
    .set_progress = s2_set_progress,
    .write = s2_write,
    .state_add = s2_state_add,
    .state_read = s2_state_read,
    .load_weights = s2_load_weights,
    .sample = NULL,
    .model = NULL,
    .report = NULL,
    .free = s2_free,
    .shard = s2_shard,
    .fingerprint = s2_fingerprint,
};

/* ---------------------------------------------------------------- construction */

int recur_trainer_new_seq2seq(recur_seq2seq *m, const recur_train_config *cfg,
                              const recur_pair *train, size_t ntrain, const recur_pair *val,
                              size_t nval, recur_trainer **out, recur_error *err)
{
    if (!m || !cfg || !out || (!train && ntrain) || (!val && nval))
        return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    int rc = engine_check_config(cfg, err);
    if (rc) return rc;
    if (ntrain == 0) return set_error(err, RECUR_EINVAL, "no training pairs");
    s2s_task *t = calloc(1, sizeof *t);
    if (!t) return set_error(err, RECUR_ENOMEM, "out of memory");
    t->base.ops = &s2s_ops;
    t->base.unit = "pairs";
    t->m = m;
    t->cfg = *cfg;

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
    if (t->train.n == 0) {
        rc = set_error(err, RECUR_EINVAL, "no training pairs");
        goto fail;
    }

    const int S = 1 + (t->train.max_src > t->val.max_src ? t->train.max_src : t->val.max_src);
    const int T = 1 + (t->train.max_tgt > t->val.max_tgt ? t->train.max_tgt : t->val.max_tgt);
    size_t most = t->train.n > t->val.n ? t->train.n : t->val.n;
    const int B = (size_t)cfg->batch < most ? cfg->batch : (int)most;
    if ((double)(S > T ? S : T) * B * (m->He > m->Hd ? m->He : m->Hd) * 4 > 2e9) {
        rc = set_error(err, RECUR_EINVAL, "pairs of up to %d and %d characters in batches of %d are too large for one window",
                       S - 1, T - 1, B);
        goto fail;
    }
    if ((rc = s2s_work_new(m, S, T, B, cfg->threads, &t->w, err)) ||
        (rc = s2s_batch_new(S, T, B, &t->b, err)))
        goto fail;
    t->w->ews->training = t->w->dws->training = 1;
    if ((rc = ws_set_bf16(m->enc, t->w->ews, cfg->bf16, err)) || (rc = ws_set_bf16(m->dec, t->w->dws, cfg->bf16, err)) ||
        (rc = ws_set_recompute(m->enc, t->w->ews, cfg->recompute, err)) ||
        (rc = ws_set_recompute(m->dec, t->w->dws, cfg->recompute, err)))
        goto fail;
    t->cfg.recompute = t->base.recompute = t->w->ews->recompute || t->w->dws->recompute; // as it runs
    if (t->val.n && (rc = s2s_dec_new(m, S, B, s2s_default_maxlen(S - 1), &t->d, err))) goto fail;
    // Its encoder runs forward only, chunk by chunk as training's.
    if (t->d && (rc = s2s_dec_set_recompute(m, t->d, t->cfg.recompute, err))) goto fail;
    t->base.buf[0] = (engine_buf){.w = m->enc->w, .n = m->enc->nw, .name = "encoder"};
    t->base.buf[1] = (engine_buf){.w = m->dec->w, .n = m->dec->nw, .name = "decoder"};
    t->base.nbuf = 2;
    if (m->naw) t->base.buf[t->base.nbuf++] = (engine_buf){.w = m->aw, .n = m->naw, .name = "attention"};
    // Weight decay: the matrices of the encoder, the decoder, W_a and W_c (not b_c).
    t->decay[0] = calloc(2 * (size_t)m->enc->nviews, sizeof(size_t));
    t->decay[1] = calloc(2 * (size_t)m->dec->nviews, sizeof(size_t));
    t->decay[2] = calloc(4, sizeof(size_t));
    if (!t->decay[0] || !t->decay[1] || !t->decay[2]) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    t->base.buf[0].decay = t->decay[0];
    t->base.buf[0].ndecay = model_matrix_ranges(m->enc, t->decay[0]);
    t->base.buf[1].decay = t->decay[1];
    t->base.buf[1].ndecay = model_matrix_ranges(m->dec, t->decay[1]);
    if (m->naw) {
        const size_t He = (size_t)m->He, Hd = (size_t)m->Hd;
        size_t *d = t->decay[2];
        d[0] = m->wa, d[1] = Hd * He, d[2] = m->wc, d[3] = Hd * (He + Hd);
        t->base.buf[2].decay = d;
        t->base.buf[2].ndecay = 2;
    }
    t->base.ntrain = (long long)t->train.n;
    t->base.nval = (long long)t->val.n;
    if ((rc = order_init(&t->ord, t->train.n, cfg->batch, cfg->seed ^ 0x0dde7u, err))) goto fail;
    char *meta = train_meta_json(&t->cfg, t->train.n, t->val.n);
    if (!meta) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    free(m->train_meta);
    m->train_meta = meta;
    return trainer_make(&t->base, cfg, out, err);
fail:
    free(keep);
    s2_free(&t->base);
    return rc;
}

/* ---------------------------------------------------------------- the older calls, as wrappers */

struct recur_seq2seq_trainer {
    recur_trainer *t;
    char *best_path;
};

int recur_seq2seq_trainer_new(recur_seq2seq *m, const recur_train_config *cfg,
                              const recur_pair *train, size_t ntrain, const recur_pair *val,
                              size_t nval, recur_seq2seq_trainer **out, recur_error *err)
{
    if (!out) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    recur_seq2seq_trainer *w = calloc(1, sizeof *w);
    if (!w) return set_error(err, RECUR_ENOMEM, "out of memory");
    int rc = recur_trainer_new_seq2seq(m, cfg, train, ntrain, val, nval, &w->t, err);
    if (rc) {
        free(w);
        return rc;
    }
    *out = w;
    return RECUR_OK;
}

void recur_seq2seq_trainer_free(recur_seq2seq_trainer *t)
{
    if (!t) return;
    recur_trainer_free(t->t);
    free(t);
}

int recur_seq2seq_trainer_set_output(recur_seq2seq_trainer *t, const char *best_path,
                                     recur_error *err)
{
    if (!t) return set_error(err, RECUR_EINVAL, "NULL argument");
    return recur_trainer_set_outputs(t->t, best_path, NULL, err);
}

long long recur_seq2seq_trainer_total_steps(const recur_seq2seq_trainer *t)
{
    return t ? recur_trainer_total_steps(t->t) : 0;
}

typedef struct s2s_relay {
    recur_seq2seq_callback cb;
    void *user;
    int batch;
    long long first; /* the step the run started at */
} s2s_relay;

// The engine's events in the older seq2seq form.
static int relay(const recur_train_event *e, void *user)
{
    s2s_relay *r = user;
    if (!r->cb || e->kind == RECUR_EV_SAMPLE) return 0;
    recur_seq2seq_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = e->kind;
    ev.step = e->step;
    ev.total_steps = e->total_steps;
    ev.epoch = e->epoch;
    ev.train_loss = e->train_loss;
    ev.val_loss = e->val_loss;
    ev.val_exact = e->val_metric;
    ev.best_exact = e->best_metric;
    ev.lr = e->lr;
    ev.grad_norm = e->grad_norm;
    // The engine measures characters; this event has always counted pairs.
    ev.pairs_per_s = e->elapsed_s > 0 ? (double)r->batch * (double)(e->step - r->first) / e->elapsed_s : 0;
    ev.elapsed_s = e->elapsed_s;
    ev.train_pairs = e->train_chars;
    ev.val_pairs = e->val_chars;
    ev.text = e->text;
    return r->cb(&ev, r->user);
}

int recur_seq2seq_trainer_run(recur_seq2seq_trainer *t, recur_seq2seq_callback cb, void *user,
                              recur_error *err)
{
    if (!t) return set_error(err, RECUR_EINVAL, "NULL argument");
    s2s_task *task = (s2s_task *)trainer_task(t->t);
    s2s_relay r = {cb, user, task->w->B, recur_trainer_step(t->t)};
    return recur_trainer_run(t->t, relay, &r, err);
}

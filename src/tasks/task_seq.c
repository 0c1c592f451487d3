/*
 * task_seq.c - the example tasks (classification, tagging, generation by
 * class) as a task of the training engine. Each step takes the next batch of
 * the epoch's order (shuffled, then sorted by length within chunks so that
 * padding stays small), runs the model from a zero state and takes the loss
 * where the targets are: at every real step, or once per sequence on its
 * pooled final states. Validation gives the loss and the accuracy (of the
 * class, the tag, or the next character). Its state file adds the epoch's
 * order, the position in it and the shuffling generator, so a resumed run
 * sees the same batches.
 */
#include "formats/checkpoint.h"
#include "tasks/seqtask.h"
#include "train/order.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct seq_task {
    train_task base;
    train_task_ops ops;
    recur_task kind;
    recur_model *m;
    recur_train_config cfg;
    int pool;
    const seq_item *train, *val;
    size_t ntrain, nval;
    seq_owner owner;
    exbatch bt;
    epoch_order ord;        /* pos: batches of the order taken; epoch: epochs begun */
    size_t per_epoch;       /* batches per epoch */
    keyed *tmp;
    size_t *decay;          /* the model's weight matrices, for weight decay */
} seq_task;

static long long sq_steps_per_epoch(train_task *bt)
{
    return (long long)((seq_task *)bt)->per_epoch;
}

static double sq_epoch(train_task *bt)
{
    seq_task *t = (seq_task *)bt;
    if (t->ord.epoch == 0) return 0;
    return (double)(t->ord.epoch - 1) + (double)t->ord.pos / (double)t->per_epoch;
}

// Data-parallel: this rank's slice of the batch's examples; the mean's
// denominator and the dropout masks are the whole batch's.
static int sq_step_share(seq_task *t, size_t from, int nb, float *const *g, rng *drop, double *loss,
                         long long *chars)
{
    recur_model *m = t->m;
    const size_t *idx = t->ord.idx + from;
    int Tall = 1;
    long long count = 0;
    for (int b = 0; b < nb; b++) {
        const seq_item *it = &t->train[idx[b]];
        if (it->len > Tall) Tall = it->len;
        if (t->pool) {
            count += it->label >= 0;
        } else if (it->tgt) {
            for (int s = 0; s < it->len; s++) count += it->tgt[s] >= 0;
        }
    }
    long long lo, hi;
    engine_share(nb, t->base.rank, t->base.nranks, &lo, &hi);
    const int dropping = model_has_dropout(m) && drop;
    *loss = 0;
    *chars = 0;
    if (hi == lo) {
        // Nothing of this batch here, but the generator moves as on every rank.
        const size_t n = dropping ? model_dropout_draws(m, Tall, nb, t->pool) : 0;
        for (size_t i = 0; i < n; i++) (void)rng_uniform(drop);
        return RECUR_OK;
    }
    int rows = exb_fill(&t->bt, t->train, idx + lo, (int)(hi - lo), t->pool);
    workspace *ws = t->bt.ws;
    ws->drop_T = Tall;
    ws->drop_B = nb;
    ws->drop_off = (int)lo;
    ws_zero_state(m, ws);
    model_forward(m, ws, t->bt.in, dropping ? drop : NULL);
    double sum = softmax_xent_over(ws->logits, t->bt.tgt, rows, m->O, 1, (double)count, NULL);
    *loss = count ? sum / (double)count : 0;
    model_backward(m, ws, g[0]);
    for (long long b = lo; b < hi; b++) *chars += t->train[idx[b]].len;
    return RECUR_OK;
}

static int sq_step(train_task *bt, float *const *g, rng *drop, double *loss, long long *chars,
                   recur_error *err)
{
    seq_task *t = (seq_task *)bt;
    recur_model *m = t->m;
    const int batch = t->cfg.batch;
    epoch_order *o = &t->ord;
    if (o->epoch == 0 || o->pos == t->per_epoch) {
        seq_epoch_order(o->idx, t->ntrain, t->train, batch, &o->shuffle, t->tmp);
        o->pos = 0;
        o->epoch++;
    }
    size_t from = o->pos * (size_t)batch;
    int nb = (int)(t->ntrain - from < (size_t)batch ? t->ntrain - from : (size_t)batch);
    o->pos++;
    if (t->base.nranks > 1) return sq_step_share(t, from, nb, g, drop, loss, chars);
    int rows = exb_fill(&t->bt, t->train, o->idx + from, nb, t->pool);
    ws_zero_state(m, t->bt.ws);
    model_forward(m, t->bt.ws, t->bt.in, model_has_dropout(m) ? drop : NULL);
    int counted = 0;
    double sum = softmax_xent(t->bt.ws->logits, t->bt.tgt, rows, m->O, 1, &counted);
    *loss = counted ? sum / counted : 0;
    model_backward(m, t->bt.ws, g[0]);
    long long n = 0;
    for (int b = 0; b < nb; b++) n += t->train[o->idx[from + (size_t)b]].len;
    *chars = n;
    (void)err;
    return RECUR_OK;
}

static void sq_touch(train_task *bt)
{
    ((seq_task *)bt)->m->version++;
}

static int sq_has_val(train_task *bt)
{
    return ((seq_task *)bt)->nval > 0;
}

static int sq_validate(train_task *bt, engine_val *v, recur_error *err)
{
    seq_task *t = (seq_task *)bt;
    seq_eval e;
    int rc = seq_evaluate_with(t->m, &t->bt, t->val, t->nval, t->pool, &e, NULL, err);
    if (rc) return rc;
    v->loss = e.loss;
    v->metric = e.total ? (double)e.correct / (double)e.total : NAN;
    return RECUR_OK;
}

static int sq_validate_part(train_task *bt, engine_valsum *v, recur_error *err)
{
    seq_task *t = (seq_task *)bt;
    long long lo, hi;
    engine_share((long long)t->nval, bt->rank, bt->nranks, &lo, &hi);
    if (hi == lo) return RECUR_OK;
    seq_eval e;
    t->bt.ws->drop_B = 0;
    int rc = seq_evaluate_with(t->m, &t->bt, t->val + lo, (size_t)(hi - lo), t->pool, &e, NULL, err);
    if (rc) return rc;
    v->loss_sum = e.total ? e.loss * (double)e.total : 0;
    v->count = (double)e.total;
    v->correct = (double)e.correct;
    v->total = (double)e.total;
    return RECUR_OK;
}

static int sq_shard(train_task *bt, recur_error *err)
{
    (void)bt;
    (void)err;
    return RECUR_OK; // each step takes its slice; nothing to set up
}

// The examples (inputs, targets, labels, classes) and the labels' names.
static uint64_t sq_fingerprint(train_task *bt)
{
    seq_task *t = (seq_task *)bt;
    uint64_t h = engine_fnv(ENGINE_FNV0, t->m->vocab->chars, sizeof t->m->vocab->chars[0] * (size_t)t->m->V);
    float s[5];
    model_train_settings(t->m, s);
    h = engine_fnv(h, s, sizeof s);
    for (int i = 0; i < t->m->nlabels; i++) h = engine_fnv(h, t->m->labels[i], strlen(t->m->labels[i]) + 1);
    const seq_item *sets[2] = {t->train, t->val};
    size_t ns[2] = {t->ntrain, t->nval};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < ns[k]; i++) {
            const seq_item *it = &sets[k][i];
            int head[3] = {it->len, it->label, it->cond};
            h = engine_fnv(h, head, sizeof head);
            h = engine_fnv(h, it->ids, sizeof(int32_t) * (size_t)it->len);
            if (it->tgt) h = engine_fnv(h, it->tgt, sizeof(int32_t) * (size_t)it->len);
        }
    return h;
}

static void sq_set_progress(train_task *bt, long long steps, double best_loss, double best_metric)
{
    seq_task *t = (seq_task *)bt;
    t->m->steps = steps;
    t->m->best_val = best_loss;
    (void)best_metric;
}

static int sq_write(train_task *bt, const char *path, const engine_extra *x, recur_error *err)
{
    seq_task *t = (seq_task *)bt;
    if (!x) return recur_model_save(t->m, path, err);
    return checkpoint_write(t->m, x->e, x->ne, x->kv, x->nkv, path, err);
}

static int sq_state_add(train_task *bt, engine_extra *x, recur_error *err)
{
    order_state_add(&((seq_task *)bt)->ord, x);
    (void)err;
    return RECUR_OK;
}

// Whether saved is this very model: task, shape, vocabulary and labels
// (the data the trainer read made the same model).
static int same_model(const recur_model *m, const recur_model *saved, const char *path,
                      recur_error *err)
{
    if (saved->task != m->task || saved->O != m->O || saved->D != m->D || saved->Cc != m->Cc)
        return set_error(err, RECUR_EINVAL, "%s holds a %s model with %d outputs, not the %s model with %d outputs being trained",
                         path, recur_task_name(saved->task), saved->O, recur_task_name(m->task), m->O);
    if (saved->cfg.cell != m->cfg.cell || saved->H != m->H || saved->L != m->L ||
        saved->E != m->E || saved->V != m->V || saved->cfg.relu != m->cfg.relu)
        return set_error(err, RECUR_EINVAL, "%s is a %s (hidden %d, %d layers, embedding %d, vocabulary %d), not the %s (hidden %d, %d layers, embedding %d, vocabulary %d) being trained",
                         path, saved->cell->name, saved->H, saved->L, saved->E, saved->V,
                         m->cell->name, m->H, m->L, m->E, m->V);
    char what[64];
    if (model_dropout_differs(saved, m, what, sizeof what))
        return set_error(err, RECUR_EINVAL, "%s was trained with %s; resume with the same settings",
                         path, what);
    if (saved->nw != m->nw)
        return set_error(err, RECUR_EINVAL, "%s holds %zu parameters, the model being trained %zu", path, saved->nw, m->nw);
    for (int i = 0; i < m->V; i++)
        if (saved->vocab->chars[i] != m->vocab->chars[i])
            return set_error(err, RECUR_EINVAL, "%s was trained on data with other characters (is this the same data?)", path);
    if (saved->nlabels != m->nlabels)
        return set_error(err, RECUR_EINVAL, "%s has %d labels, this data %d", path, saved->nlabels, m->nlabels);
    for (int i = 0; i < m->nlabels; i++)
        if (strcmp(saved->labels[i], m->labels[i]))
            return set_error(err, RECUR_EINVAL, "%s has the label \"%.60s\" where this data has \"%.60s\"",
                             path, saved->labels[i], m->labels[i]);
    return RECUR_OK;
}

static int sq_state_read(train_task *bt, const st_file *f, const char *path, recur_error *err)
{
    seq_task *t = (seq_task *)bt;
    recur_model *saved = NULL;
    int rc = checkpoint_read_model(f, &saved, err);
    if (rc) {
        error_prefix(err, path);
        return rc;
    }
    if ((rc = same_model(t->m, saved, path, err))) goto done;
    if ((rc = order_state_read(&t->ord, f, path, (long)t->per_epoch, "examples", err))) goto done;
    memcpy(t->m->w, saved->w, t->m->nw * sizeof(float));
done:
    recur_model_free(saved);
    return rc;
}

static int sq_load_weights(train_task *bt, const char *path, recur_error *err)
{
    seq_task *t = (seq_task *)bt;
    recur_model *saved = NULL;
    int rc = recur_model_load(path, &saved, err);
    if (!rc) rc = same_model(t->m, saved, path, err);
    if (!rc) memcpy(t->m->w, saved->w, t->m->nw * sizeof(float));
    recur_model_free(saved);
    return rc;
}

static recur_model *sq_model(train_task *bt)
{
    return ((seq_task *)bt)->m;
}

static int sq_report(train_task *bt, recur_report *r, recur_error *err)
{
    seq_task *t = (seq_task *)bt;
    if (!t->owner.report) return set_error(err, RECUR_EINVAL, "this task has no report");
    return t->owner.report(t->owner.data, t->m, t->cfg.threads, r, err);
}

static void sq_free(train_task *bt)
{
    seq_task *t = (seq_task *)bt;
    exb_free(t->m, &t->bt);
    recur_model_free(t->m);
    if (t->owner.free) t->owner.free(t->owner.data);
    order_free(&t->ord);
    free(t->tmp);
    free(t->decay);
    free(t);
}

static const train_task_ops seq_ops = {
    .steps_per_epoch = sq_steps_per_epoch,
    .epoch = sq_epoch,
    .step = sq_step,
    .after_skip = NULL,
    .touch = sq_touch,
    .has_val = sq_has_val,
    .validate = sq_validate,
    .set_progress = sq_set_progress,
    .write = sq_write,
    .state_add = sq_state_add,
    .state_read = sq_state_read,
    .load_weights = sq_load_weights,
    .sample = NULL,
    .model = sq_model,
    .report = sq_report,
    .free = sq_free,
    .shard = sq_shard,
    .validate_part = sq_validate_part,
    .fingerprint = sq_fingerprint,
};

int seq_trainer_new(recur_task kind, recur_model *m, const seq_item *train, size_t ntrain,
                    const seq_item *val, size_t nval, const recur_train_config *cfg,
                    seq_owner owner, recur_trainer **out, recur_error *err)
{
    *out = NULL;
    int rc = RECUR_OK;
    seq_task *t = calloc(1, sizeof *t);
    if (!t) {
        recur_model_free(m);
        if (owner.free) owner.free(owner.data);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    t->m = m;
    t->owner = owner;
    t->ops = seq_ops;
    t->ops.name = recur_task_name(kind);
    t->ops.metric = "accuracy";
    t->ops.best_by_metric = kind != RECUR_TASK_CONDLM;
    t->base.ops = &t->ops;
    t->base.buf[0] = (engine_buf){.w = m->w, .n = m->nw, .name = ""};
    t->base.nbuf = 1;
    t->base.unit = kind == RECUR_TASK_TAG ? "sentences" : "examples";
    t->base.ntrain = (long long)ntrain;
    t->base.nval = (long long)nval;
    t->kind = kind;
    t->cfg = *cfg;
    t->pool = kind == RECUR_TASK_CLASSIFY;
    t->train = train;
    t->val = val;
    t->ntrain = ntrain;
    t->nval = nval;
    if ((rc = engine_check_config(cfg, err))) goto fail;
    if (!(t->decay = calloc(2 * (size_t)m->nviews, sizeof *t->decay))) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    t->base.buf[0].decay = t->decay;
    t->base.buf[0].ndecay = model_matrix_ranges(m, t->decay);
    if (ntrain == 0) {
        rc = set_error(err, RECUR_EINVAL, "no training examples");
        goto fail;
    }
    if (cfg->batch > 4096) {
        rc = set_error(err, RECUR_EINVAL, "--batch must be 1..4096, got %d", cfg->batch);
        goto fail;
    }
    t->per_epoch = (ntrain + (size_t)cfg->batch - 1) / (size_t)cfg->batch;
    if ((rc = order_init(&t->ord, ntrain, cfg->batch, cfg->seed ^ 0x0123456789abcdefull, err))) goto fail;
    if ((rc = exb_new(m, train, ntrain, val, nval, cfg->batch, cfg->threads, &t->bt, err))) goto fail;
    if ((rc = ws_set_bf16(m, t->bt.ws, cfg->bf16, err))) goto fail;
    if ((rc = ws_set_recompute(m, t->bt.ws, cfg->recompute, err))) goto fail;
    t->cfg.recompute = t->base.recompute = t->bt.ws->recompute; // as it runs (not on a vanilla RNN)
    if (!(t->tmp = xcalloc(ntrain, sizeof *t->tmp))) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    return trainer_make(&t->base, cfg, out, err);
fail:
    sq_free(&t->base);
    return rc;
}

recur_model *seq_trainer_take_model(recur_trainer *tr)
{
    seq_task *t = (seq_task *)trainer_task(tr);
    recur_model *m = t->m;
    exb_free(m, &t->bt);
    memset(&t->bt, 0, sizeof t->bt);
    t->m = NULL;
    t->base.buf[0] = (engine_buf){.w = NULL, .n = 0, .name = ""};
    return m;
}
